package moderation_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/moderation"
)

func TestPolicyDecide(t *testing.T) {
	t.Parallel()
	explicit := moderation.Result{Flags: []string{"explicit", "alcohol"}, Confidence: 0.9}
	tests := []struct {
		name     string
		policy   moderation.Policy
		result   moderation.Result
		rejected bool
		reject   []string
		annotate []string
	}{
		{"no flags approves", moderation.Policy{}, moderation.Result{Confidence: 0.99}, false, nil, nil},
		{"every flag rejects by default", moderation.Policy{}, explicit, true, []string{"explicit", "alcohol"}, nil},
		{"other flags annotate", moderation.Policy{Reject: []string{"explicit"}}, explicit, true, []string{"explicit"}, []string{"alcohol"}},
		{"only annotations", moderation.Policy{Reject: []string{"violence"}}, explicit, false, nil, []string{"explicit", "alcohol"}},
		{"below the threshold annotates", moderation.Policy{MinConfidence: 0.95}, explicit, false, nil, []string{"explicit", "alcohol"}},
		{"at the threshold rejects", moderation.Policy{MinConfidence: 0.9}, explicit, true, []string{"explicit", "alcohol"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := tt.policy.Decide(tt.result)
			if d.Rejected != tt.rejected || !reflect.DeepEqual(d.Rejecting, tt.reject) || !reflect.DeepEqual(d.Annotations, tt.annotate) {
				t.Errorf("got %+v, want rejected %v, rejecting %v, annotations %v", d, tt.rejected, tt.reject, tt.annotate)
			}
		})
	}
}

// TestDetailsShape: the record is the contract's {"flags", "confidence"},
// with extra fields only when there is something to say.
func TestDetailsShape(t *testing.T) {
	t.Parallel()
	r := moderation.Result{Flags: []string{"explicit"}, Confidence: 0.97, Provider: "http"}
	var got map[string]any
	if err := json.Unmarshal(moderation.Policy{}.Decide(r).Details(r), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"flags": []any{"explicit"}, "confidence": 0.97}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("details %v, want %v", got, want)
	}
}
