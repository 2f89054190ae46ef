package rekognition_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ximagepipeline/ximagepipeline/moderation"
	"github.com/ximagepipeline/ximagepipeline/moderation/rekognition"
	"github.com/ximagepipeline/ximagepipeline/moderation/rekognition/rekognitiontest"
)

// newModerator points the real SDK at srv with static credentials.
func newModerator(t *testing.T, srv *rekognitiontest.Server, opts rekognition.Options) *rekognition.Moderator {
	t.Helper()
	opts.Region, opts.Endpoint = "us-east-1", srv.URL
	opts.Credentials = credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")
	m, err := rekognition.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var img = moderation.Image{Data: []byte("\xff\xd8a jpeg"), ContentType: "image/jpeg", JobID: "job_1"}

// TestModerateMapsLabels: Rekognition's taxonomy (a label, its parent, its
// top-level category) maps to our flags, strongest first; unknown labels
// are kept only as labels.
func TestModerateMapsLabels(t *testing.T) {
	t.Parallel()
	srv := rekognitiontest.New(t,
		rekognitiontest.Label{Name: "Explicit", Confidence: 97.5, TaxonomyLevel: 1},
		rekognitiontest.Label{Name: "Exposed Female Genitalia", ParentName: "Explicit Nudity", Confidence: 97.5, TaxonomyLevel: 3},
		rekognitiontest.Label{Name: "Explicit Nudity", ParentName: "Explicit", Confidence: 97.5, TaxonomyLevel: 2},
		rekognitiontest.Label{Name: "Alcoholic Beverages", ParentName: "Alcohol", Confidence: 71, TaxonomyLevel: 2},
		rekognitiontest.Label{Name: "Brand New Category", Confidence: 88, TaxonomyLevel: 1},
	)
	m := newModerator(t, srv, rekognition.Options{})
	got, err := m.Moderate(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"explicit", "alcohol"}; !reflect.DeepEqual(got.Flags, want) {
		t.Errorf("flags %v, want %v", got.Flags, want)
	}
	if got.Confidence < 0.974 || got.Confidence > 0.976 || got.Provider != "rekognition" || len(got.Labels) != 5 {
		t.Errorf("got %+v, want confidence 0.975 from rekognition with 5 labels", got)
	}
	if l := got.Labels[1]; l.Name != "Exposed Female Genitalia" || l.Parent != "Explicit Nudity" {
		t.Errorf("label %+v, want the raw label", l)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || string(reqs[0].Image) != string(img.Data) || reqs[0].MinConfidence != rekognition.DefaultMinConfidence || !reqs[0].Signed {
		t.Errorf("requests %+v, want one signed request with the image and MinConfidence %d", reqs, rekognition.DefaultMinConfidence)
	}
}

// TestModerateOptions: a custom map and minimum confidence are used.
func TestModerateOptions(t *testing.T) {
	t.Parallel()
	srv := rekognitiontest.New(t, rekognitiontest.Label{Name: "Swimwear or Underwear", Confidence: 91})
	m := newModerator(t, srv, rekognition.Options{MinConfidence: 80, Flags: map[string]string{"Swimwear or Underwear": "swimwear"}})
	got, err := m.Moderate(context.Background(), img)
	if err != nil || !reflect.DeepEqual(got.Flags, []string{"swimwear"}) {
		t.Errorf("got %+v, %v; want flag swimwear", got, err)
	}
	if r := srv.Requests(); len(r) != 1 || r[0].MinConfidence != 80 {
		t.Errorf("requests %+v, want MinConfidence 80", r)
	}
}

// TestModerateNoLabels: no labels is an approval.
func TestModerateNoLabels(t *testing.T) {
	t.Parallel()
	got, err := newModerator(t, rekognitiontest.New(t), rekognition.Options{}).Moderate(context.Background(), img)
	if err != nil || len(got.Flags) != 0 {
		t.Errorf("got %+v, %v; want no flags", got, err)
	}
}

// TestModerateError: Rekognition's errors are errors, never approvals.
func TestModerateError(t *testing.T) {
	t.Parallel()
	srv := rekognitiontest.New(t)
	srv.Answer = func(rekognitiontest.Request) ([]rekognitiontest.Label, string) {
		return nil, "InvalidImageFormatException"
	}
	_, err := newModerator(t, srv, rekognition.Options{}).Moderate(context.Background(), img)
	if err == nil || !strings.Contains(err.Error(), "InvalidImageFormatException") {
		t.Errorf("err = %v, want InvalidImageFormatException", err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := rekognition.New(context.Background(), rekognition.Options{Region: "us-east-1", MinConfidence: 150}); err == nil {
		t.Error("accepted MinConfidence 150")
	}
}
