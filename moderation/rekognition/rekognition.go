// Package rekognition is a moderation provider backed by AWS Rekognition's
// DetectModerationLabels, through the official AWS SDK for Go v2.
// Rekognition's labels (its moderation taxonomy) are mapped to our flags by
// Options.Flags; labels that map to no flag are kept for the record only.
package rekognition

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"

	"github.com/ximagepipeline/ximagepipeline/moderation"
)

// DefaultMinConfidence (percent, as Rekognition counts) is the least
// confidence of a label Rekognition returns. Rekognition's own default is
// 50, which flags too many swimsuit photos; 60 is AWS' suggested start.
const DefaultMinConfidence = 60

// DefaultFlags maps Rekognition's moderation categories, of its taxonomy
// version 7 and of the earlier version 6, to our flags. A label's own name
// is looked up first, then its parent's, up to its top-level category.
func DefaultFlags() map[string]string {
	return map[string]string{
		// Version 7.
		"Explicit":                  "explicit",
		"Explicit Nudity":           "explicit",
		"Explicit Sexual Activity":  "explicit",
		"Sex Toys":                  "explicit",
		"Non-Explicit Nudity":       "suggestive",
		"Obstructed Intimate Parts": "suggestive",
		"Kissing on the Lips":       "suggestive",
		"Swimwear or Underwear":     "suggestive",
		"Violence":                  "violence",
		"Graphic Violence":          "violence",
		"Visually Disturbing":       "disturbing",
		"Drugs & Tobacco":           "drugs",
		"Alcohol":                   "alcohol",
		"Rude Gestures":             "rude_gestures",
		"Gambling":                  "gambling",
		"Hate Symbols":              "hate_symbols",
		"Non-Explicit Nudity of Intimate parts and Kissing": "suggestive",
		// Version 6 names that differ.
		"Suggestive": "suggestive",
		"Drugs":      "drugs",
		"Tobacco":    "drugs",
	}
}

// API is the part of the Rekognition client used; a *rekognition.Client
// is one.
type API interface {
	DetectModerationLabels(ctx context.Context, in *rekognition.DetectModerationLabelsInput, optFns ...func(*rekognition.Options)) (*rekognition.DetectModerationLabelsOutput, error)
}

// Options configure a Moderator. The zero value uses the AWS SDK's default
// configuration (environment, shared files, instance role).
type Options struct {
	// Region of Rekognition, e.g. "us-east-1". Default: the SDK's (AWS_REGION).
	Region string
	// Endpoint replaces Rekognition's URL (a proxy, a test server).
	// Default: the region's endpoint.
	Endpoint string
	// Credentials replace the SDK's default chain. Default: the chain.
	Credentials aws.CredentialsProvider
	// MinConfidence, 0-100, is the least confidence of a label returned.
	// Default DefaultMinConfidence.
	MinConfidence float32
	// Flags maps Rekognition label names to our flags. Default DefaultFlags().
	Flags map[string]string
	// Client replaces the SDK client built from the fields above.
	Client API
}

// Moderator asks Rekognition.
type Moderator struct {
	api     API
	minConf float32
	flags   map[string]string
}

// New builds a Moderator, loading the AWS configuration unless
// opts.Client is set.
func New(ctx context.Context, opts Options) (*Moderator, error) {
	m := &Moderator{api: opts.Client, minConf: opts.MinConfidence, flags: opts.Flags}
	if m.minConf == 0 {
		m.minConf = DefaultMinConfidence
	}
	if m.minConf < 0 || m.minConf > 100 {
		return nil, fmt.Errorf("rekognition: minimum confidence %v is not in 0..100", m.minConf)
	}
	if m.flags == nil {
		m.flags = DefaultFlags()
	}
	if m.api == nil {
		var load []func(*config.LoadOptions) error
		if opts.Region != "" {
			load = append(load, config.WithRegion(opts.Region))
		}
		if opts.Credentials != nil {
			load = append(load, config.WithCredentialsProvider(opts.Credentials))
		}
		cfg, err := config.LoadDefaultConfig(ctx, load...)
		if err != nil {
			return nil, fmt.Errorf("rekognition: AWS configuration: %w", err)
		}
		if cfg.Region == "" {
			return nil, fmt.Errorf("rekognition: no region: set AWS_REGION or the region option")
		}
		m.api = rekognition.NewFromConfig(cfg, func(o *rekognition.Options) {
			if opts.Endpoint != "" {
				o.BaseEndpoint = aws.String(opts.Endpoint)
			}
		})
	}
	return m, nil
}

// Moderate asks Rekognition for the image's moderation labels and maps
// them to flags, strongest first; the confidence is the strongest flag's.
func (m *Moderator) Moderate(ctx context.Context, img moderation.Image) (moderation.Result, error) {
	out, err := m.api.DetectModerationLabels(ctx, &rekognition.DetectModerationLabelsInput{
		Image:         &types.Image{Bytes: img.Data},
		MinConfidence: aws.Float32(m.minConf),
	})
	if err != nil {
		return moderation.Result{}, fmt.Errorf("rekognition: %w", err)
	}
	return m.result(out.ModerationLabels), nil
}

func (m *Moderator) result(labels []types.ModerationLabel) moderation.Result {
	res := moderation.Result{Provider: "rekognition"}
	parents := map[string]string{}
	for _, l := range labels {
		parents[aws.ToString(l.Name)] = aws.ToString(l.ParentName)
	}
	best := map[string]float64{} // flag -> highest confidence, 0..1
	for _, l := range labels {
		name, conf := aws.ToString(l.Name), float64(aws.ToFloat32(l.Confidence))/100
		res.Labels = append(res.Labels, moderation.Label{Name: name, Parent: aws.ToString(l.ParentName), Confidence: conf})
		if flag := m.flagOf(name, aws.ToString(l.ParentName), parents); flag != "" && conf > best[flag] {
			best[flag] = conf
		}
	}
	for f := range best {
		res.Flags = append(res.Flags, f)
	}
	slices.SortFunc(res.Flags, func(a, b string) int {
		if best[a] != best[b] {
			if best[a] > best[b] {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	})
	if len(res.Flags) > 0 {
		res.Confidence = best[res.Flags[0]]
	}
	return res
}

// flagOf looks the label up, then its ancestors.
func (m *Moderator) flagOf(name, parent string, parents map[string]string) string {
	for range 4 { // the taxonomy has three levels
		if f, ok := m.flags[name]; ok {
			return f
		}
		if parent == "" {
			return ""
		}
		name, parent = parent, parents[parent]
	}
	return ""
}
