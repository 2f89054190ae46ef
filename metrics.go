package ximagepipeline

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ximagepipeline/ximagepipeline/failure"
)

// metrics are the pipeline's Prometheus series, in a registry of its own
// so that several pipelines (tests, a host app) never collide.
type metrics struct {
	registry      *prometheus.Registry
	uploads       *prometheus.CounterVec   // by outcome: accepted or a refusal code
	uploadSeconds prometheus.Histogram     // receiving, checking and staging an upload
	attempts      *prometheus.CounterVec   // by source type and result
	attemptTime   *prometheus.HistogramVec // by source type and result
	inFlight      prometheus.Gauge
	stageTime     *prometheus.HistogramVec // by stage of an attempt
}

func newMetrics(p *Pipeline) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ximagepipeline_uploads_total", Help: "Uploads by outcome: accepted, or the refusal's code.",
		}, []string{"outcome"}),
		uploadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ximagepipeline_upload_seconds", Help: "Time to receive, check, stage and queue an accepted upload.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ximagepipeline_job_attempts_total", Help: "Processing attempts by source type and result (COMPLETE, REJECTED, FAILED, RETRY).",
		}, []string{"source_type", "result"}),
		attemptTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ximagepipeline_job_attempt_seconds", Help: "Time of a processing attempt (read, process, moderate, store).",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}, []string{"source_type", "result"}),
		stageTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ximagepipeline_stage_seconds", Help: "Time of each stage of a processing attempt: read, imaging, moderation (the wait beyond imaging), store.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"stage"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ximagepipeline_jobs_in_flight", Help: "Jobs being processed by this process.",
		}),
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ximagepipeline_queue_depth", Help: "Jobs waiting to be processed (queued or waiting for a retry).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := p.jobs.Depth(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	vipsMem := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ximagepipeline_libvips_memory_bytes", Help: "Bytes libvips holds for pixels now.",
	}, func() float64 { cur, _ := libvipsMemory(); return float64(cur) })
	vipsPeak := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ximagepipeline_libvips_memory_peak_bytes", Help: "Most bytes libvips has held for pixels at once.",
	}, func() float64 { _, peak := libvipsMemory(); return float64(peak) })
	m.registry.MustRegister(m.uploads, m.uploadSeconds, m.attempts, m.attemptTime, m.stageTime, m.inFlight, depth, vipsMem, vipsPeak,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// MetricsHandler serves the pipeline's metrics in the Prometheus format.
func (p *Pipeline) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(p.metrics.registry, promhttp.HandlerOpts{})
}

// observer feeds the waiters and the metrics from the worker's attempts.
type observer struct{ p *Pipeline }

func (o observer) AttemptStarted(jobID string) {
	o.p.metrics.inFlight.Inc()
	o.p.waiters.wake(jobID)
}

func (o observer) StageTook(stage string, took time.Duration) {
	o.p.metrics.stageTime.WithLabelValues(stage).Observe(took.Seconds())
}

func (o observer) AttemptEnded(jobID, sourceType, result string, took time.Duration) {
	o.p.metrics.inFlight.Dec()
	o.p.metrics.attempts.WithLabelValues(sourceType, result).Inc()
	o.p.metrics.attemptTime.WithLabelValues(sourceType, result).Observe(took.Seconds())
	o.p.waiters.wake(jobID)
}

// traceUpload starts an upload's span; the returned func ends it with the
// outcome and counts the upload in the metrics.
func (p *Pipeline) traceUpload(ctx context.Context) (context.Context, func(jobID string, err error)) {
	start := time.Now()
	ctx, span := p.tracer.Start(ctx, "ximagepipeline.upload")
	return ctx, func(jobID string, err error) {
		outcome := "accepted"
		if err != nil {
			outcome = failure.As(err, ErrBadUpload).Code
			span.SetStatus(codes.Error, outcome)
		} else {
			p.metrics.uploadSeconds.Observe(time.Since(start).Seconds())
			span.SetAttributes(attribute.String("ximagepipeline.job_id", jobID))
		}
		p.metrics.uploads.WithLabelValues(outcome).Inc()
		span.SetAttributes(attribute.String("ximagepipeline.outcome", outcome))
		span.End()
	}
}
