package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ximagepipeline/ximagepipeline/moderation"
	"github.com/ximagepipeline/ximagepipeline/moderation/httpmod"
	"github.com/ximagepipeline/ximagepipeline/moderation/rekognition"
)

// moderationOptions choose a built-in moderation provider and the default
// policy (source types may override it in the config file's sourceTypes).
// Setting --moderation turns moderation on; every other option needs it.
type moderationOptions struct {
	provider      string
	url           string
	timeout       time.Duration
	secret        string
	headers       []string
	region        string
	reject        []string
	minConfidence float64
	failOpen      bool
}

func (o *moderationOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.provider, "moderation", "", `content moderation provider: "http" (an endpoint of the protocol in docs/moderation.md, such as the offline nsfwjs sidecar) or "rekognition" (AWS); the other --moderation-* options need it; default: none`)
	fs.StringVar(&o.url, "moderation-url", "", "http: the endpoint images are POSTed to; rekognition: replaces the AWS endpoint (optional)")
	fs.DurationVar(&o.timeout, "moderation-timeout", httpmod.DefaultTimeout, "http: longest wait for one answer; a timeout is retried like any provider failure")
	fs.StringVar(&o.secret, "moderation-secret", "", "http: signs each request with HMAC-SHA256 (X-Ximagepipeline-Signature); prefer the environment variable MODERATION_SECRET")
	fs.StringArrayVar(&o.headers, "moderation-header", nil, `http: a header sent with each request, "Name: value" (repeatable)`)
	fs.StringVar(&o.region, "moderation-region", "", "rekognition: AWS region (default: the AWS SDK's, from AWS_REGION or ~/.aws/config)")
	fs.StringSliceVar(&o.reject, "moderation-reject", nil, "flags that reject an upload, comma-separated; other flags only annotate (default: every flag rejects)")
	fs.Float64Var(&o.minConfidence, "moderation-min-confidence", 0, "least confidence (0..1) at which a flag rejects; below it the flag only annotates")
	fs.BoolVar(&o.failOpen, "moderation-fail-open", false, "publish an upload whose moderation failed on every attempt (provider down) instead of failing the job")
}

// needProvider is what the moderation options need when no provider is set.
const needProvider = "a moderation provider: set --moderation http or --moderation rekognition"

// on reports whether a provider is chosen.
func (o *moderationOptions) on() bool { return o.provider != "" && o.provider != "none" }

// dependents: each --moderation-* option needs a provider, and some of
// them one provider. A provider is never inferred from the others: even
// --moderation-url also serves rekognition.
func (o *moderationOptions) dependents() []dependent {
	only := func(provider string) string {
		if o.provider == "" {
			return "--moderation " + provider
		}
		return "--moderation " + provider + ", not " + o.provider
	}
	return []dependent{
		{
			names: []string{"moderation-url", "moderation-reject", "moderation-min-confidence", "moderation-fail-open"},
			on:    o.on(),
			need:  needProvider,
		},
		{
			names: []string{"moderation-timeout", "moderation-secret", "moderation-header"},
			on:    o.on() && o.provider != "rekognition",
			need:  only("http"),
		},
		{
			names: []string{"moderation-region"},
			on:    o.on() && o.provider != "http",
			need:  only("rekognition"),
		},
	}
}

// policy is the default moderation policy.
func (o *moderationOptions) policy() moderation.Policy {
	return moderation.Policy{Reject: o.reject, MinConfidence: o.minConfidence, FailOpen: o.failOpen}
}

// moderationState is what serve and worker say about moderation: one line
// of the start-up log, and serve's /readyz.
type moderationState struct {
	On       bool   `json:"on"`
	Provider string `json:"provider,omitempty"` // http or rekognition
	// Policy is the default policy.
	Policy *policyState `json:"policy,omitempty"`
	// SourceTypes are the source types with a policy of their own, as the
	// config file sets it ({"disabled": true}: not checked).
	SourceTypes map[string]moderation.Policy `json:"sourceTypes,omitempty"`
}

// policyState shows a policy with every field, defaults included.
type policyState struct {
	Reject        []string `json:"reject"` // empty: every flag rejects
	MinConfidence float64  `json:"minConfidence"`
	FailOpen      bool     `json:"failOpen"`
}

// moderationState says whether moderation is on, with which provider and
// policies.
func (o *options) moderationState() moderationState {
	if !o.moderation.on() {
		return moderationState{}
	}
	s := moderationState{On: true, Provider: o.moderation.provider, Policy: &policyState{
		Reject:        append([]string{}, o.moderation.reject...),
		MinConfidence: o.moderation.minConfidence,
		FailOpen:      o.moderation.failOpen,
	}}
	for name, st := range o.sourceTypes {
		if st.Moderation != nil {
			if s.SourceTypes == nil {
				s.SourceTypes = map[string]moderation.Policy{}
			}
			s.SourceTypes[name] = *st.Moderation
		}
	}
	return s
}

// log writes the start-up line: "moderation on" with the provider and the
// policies, or "moderation off".
func (s moderationState) log(logger *slog.Logger) {
	if !s.On {
		logger.Info("moderation off")
		return
	}
	attrs := []any{"provider", s.Provider, "policy", s.Policy}
	if s.SourceTypes != nil {
		attrs = append(attrs, "sourceTypes", s.SourceTypes)
	}
	logger.Info("moderation on", attrs...)
}

// open returns the chosen provider, or nil when moderation is off.
func (o *moderationOptions) open(ctx context.Context) (moderation.Moderator, error) {
	switch o.provider {
	case "", "none":
		return nil, nil
	case "http":
		header := http.Header{}
		for _, h := range o.headers {
			name, value, ok := strings.Cut(h, ":")
			if !ok {
				return nil, fmt.Errorf("--moderation-header %q: want \"Name: value\"", h)
			}
			header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
		m, err := httpmod.New(httpmod.Options{URL: o.url, Timeout: o.timeout, Secret: o.secret, Header: header})
		if err != nil {
			return nil, fmt.Errorf("%w (option --moderation-url)", err)
		}
		return m, nil
	case "rekognition":
		m, err := rekognition.New(ctx, rekognition.Options{Region: o.region, Endpoint: o.url})
		if err != nil {
			return nil, fmt.Errorf("%w (options --moderation-*)", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("--moderation %q: choose http or rekognition", o.provider)
}
