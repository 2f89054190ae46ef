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

// TestReviewShape: the record kept with a published upload says approved
// or unchecked, then only what the provider said.
func TestReviewShape(t *testing.T) {
	t.Parallel()
	approved := func(r moderation.Result) moderation.Review {
		return moderation.Policy{Reject: []string{"explicit"}}.Decide(r).Review(r)
	}
	tests := []struct {
		name   string
		review moderation.Review
		want   string
	}{
		{"annotated", approved(moderation.Result{Flags: []string{"suggestive"}, Confidence: 0.9, Provider: "http",
			Labels: []moderation.Label{{Name: "Sexy", Confidence: 0.9}}}),
			`{"status":"approved","annotations":["suggestive"],"confidence":0.9,"provider":"http","labels":[{"name":"Sexy","confidence":0.9}]}`},
		{"clean", approved(moderation.Result{Confidence: 0.99, Provider: "rekognition"}),
			`{"status":"approved","confidence":0.99,"provider":"rekognition"}`},
		{"unchecked", moderation.Review{Status: moderation.Unchecked}, `{"status":"unchecked"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tt.review)
			if err != nil || string(got) != tt.want {
				t.Errorf("got %s (%v), want %s", got, err, tt.want)
			}
		})
	}
}
