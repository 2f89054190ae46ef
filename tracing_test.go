package ximagepipeline_test

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// TestTracing: with a TracerProvider configured, an upload and its
// processing attempt are spans, the attempt's stages its children.
func TestTracing(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	e := newEnv(t, func(cfg *xip.Config) { cfg.TracerProvider = tp })
	id := e.uploadOK("avatar", "u1", "a.jpg", testimages.JPEG(testimages.Quadrants(80, 60), 90))
	e.wait(id)
	e.upload(field("sourceType", "nope"), field("sourceId", "u1"), file("a.jpg", testimages.JPEG(testimages.Quadrants(8, 8), 90)))

	attr := func(s sdktrace.ReadOnlySpan, key string) string {
		for _, kv := range s.Attributes() {
			if kv.Key == attribute.Key(key) {
				return kv.Value.String()
			}
		}
		return ""
	}
	var process sdktrace.ReadOnlySpan
	outcomes := map[string]bool{}
	stages := map[string]sdktrace.ReadOnlySpan{}
	// The attempt's span ends just after the status turns COMPLETE.
	for deadline := time.Now().Add(pollDeadline); process == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, s := range spans.Ended() {
			switch s.Name() {
			case "ximagepipeline.upload":
				outcomes[attr(s, "ximagepipeline.outcome")] = true
			case "ximagepipeline.process":
				if attr(s, "ximagepipeline.job_id") == id {
					process = s
				}
			default:
				stages[s.Name()] = s
			}
		}
	}
	if !outcomes["accepted"] || !outcomes["UNKNOWN_SOURCE_TYPE"] {
		t.Errorf("upload spans' outcomes %v, want accepted and UNKNOWN_SOURCE_TYPE", outcomes)
	}
	if process == nil {
		t.Fatal("no span for the processing attempt")
	}
	if got := attr(process, "ximagepipeline.result"); got != "COMPLETE" {
		t.Errorf("attempt result %q, want COMPLETE", got)
	}
	for _, name := range []string{"read", "imaging", "moderation", "store"} {
		s, ok := stages["ximagepipeline."+name]
		if !ok {
			t.Errorf("no span for the %s stage", name)
			continue
		}
		if s.Parent().SpanID() != process.SpanContext().SpanID() {
			t.Errorf("the %s stage is not a child of the attempt", name)
		}
	}
}
