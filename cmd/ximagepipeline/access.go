package main

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/ximagepipeline/ximagepipeline/internal/access"
)

// accessOptions guard the standalone server (see internal/access).
type accessOptions struct {
	apiKeys        []string
	allowAnonymous bool
	corsOrigins    []string
	uploadRate     float64
	uploadBurst    int
	trustedProxies []string
}

func (a *accessOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&a.apiKeys, "api-key", nil, `API key required of clients, "TOKEN" or "TOKEN:upload,read,delete" (repeatable; without any, only loopback clients are let in)`)
	fs.BoolVar(&a.allowAnonymous, "allow-anonymous", false, "without API keys (not with --api-key), let in clients from any address (behind an authenticating proxy only)")
	fs.StringArrayVar(&a.corsOrigins, "cors-origin", nil, `origin allowed to call the API from a browser, or "*" (repeatable)`)
	fs.Float64Var(&a.uploadRate, "upload-rate", 0, "uploads per second allowed per client (0: no limit)")
	fs.IntVar(&a.uploadBurst, "upload-burst", 20, "uploads a client may send at once above --upload-rate (needs it)")
	fs.StringArrayVar(&a.trustedProxies, "trusted-proxy", nil, `address or CIDR prefix of a reverse proxy whose X-Forwarded-For names the client, such as "127.0.0.1" for nginx on this host (repeatable; Forwarded is not read)`)
}

// dependents: the burst is that of --upload-rate.
func (a *accessOptions) dependents() []dependent {
	return []dependent{{names: []string{"upload-burst"}, on: a.uploadRate > 0, need: "--upload-rate above 0"}}
}

func (a *accessOptions) config() (access.Config, error) {
	if a.allowAnonymous && len(a.apiKeys) > 0 {
		return access.Config{}, errors.New("--allow-anonymous lets clients in without a key, but --api-key requires one of every client: keep one of them")
	}
	c := access.Config{
		AllowAnonymous: a.allowAnonymous, CORSOrigins: a.corsOrigins,
		UploadRate: a.uploadRate, UploadBurst: a.uploadBurst,
	}
	for _, s := range a.trustedProxies {
		p, err := parsePrefix(s)
		if err != nil {
			return access.Config{}, fmt.Errorf("--trusted-proxy %q: %w", s, err)
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
	}
	for _, s := range a.apiKeys {
		k, err := access.ParseKey(s)
		if err != nil {
			return access.Config{}, err
		}
		c.Keys = append(c.Keys, k)
	}
	return c, nil
}
