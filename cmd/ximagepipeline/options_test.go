package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestOptionsWithoutTheirSwitch: an option that means nothing without
// another one (a --moderation-* option without a provider, an --s3-* option
// without a bucket, a webhook option without a URL, a burst without a rate)
// makes serve and worker refuse to start, naming the option, where it came
// from and what it needs, rather than drop it in silence. Given means
// present, even empty.
func TestOptionsWithoutTheirSwitch(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	const provider = "a moderation provider: set --moderation http or --moderation rekognition"
	cases := []struct {
		name   string
		args   []string // the command and its flags
		env    []string
		config string // the config file, if any
		want   string // stderr
	}{{
		name: "moderation URL alone (the README's example)",
		args: []string{"serve", "--moderation-url", "http://127.0.0.1:8790/classify"},
		want: "--moderation-url needs " + provider,
	}, {
		name: "worker: moderation URL alone",
		args: []string{"worker", "--moderation-url", "http://127.0.0.1:8790/classify"},
		want: "--moderation-url needs " + provider,
	}, {
		name: "policy from the environment",
		args: []string{"serve"},
		env:  []string{"MODERATION_REJECT=explicit", "MODERATION_MIN_CONFIDENCE=0.8"},
		want: "--moderation-reject (environment variable MODERATION_REJECT) and --moderation-min-confidence (environment variable MODERATION_MIN_CONFIDENCE) need " + provider,
	}, {
		name:   "fail-open from the config file",
		args:   []string{"worker"},
		config: "moderation-fail-open: false\n",
		want:   "--moderation-fail-open (config file key moderation-fail-open) needs " + provider,
	}, {
		name: "an empty variable is given",
		args: []string{"serve"},
		env:  []string{"MODERATION_URL="},
		want: "--moderation-url (environment variable MODERATION_URL) needs " + provider,
	}, {
		name: "provider none",
		args: []string{"serve", "--moderation", "none", "--moderation-reject", "explicit"},
		want: "--moderation-reject needs " + provider,
	}, {
		name: "http options alone",
		args: []string{"serve", "--moderation-secret", "s3cret", "--moderation-header", "X-Key: k", "--moderation-timeout", "5s"},
		want: "--moderation-timeout, --moderation-secret and --moderation-header need --moderation http",
	}, {
		name: "http option with rekognition",
		args: []string{"worker", "--moderation", "rekognition", "--moderation-region", "eu-west-1"},
		env:  []string{"MODERATION_SECRET=s3cret"},
		want: "--moderation-secret (environment variable MODERATION_SECRET) needs --moderation http, not rekognition",
	}, {
		name: "rekognition option alone",
		args: []string{"worker", "--moderation-region", "eu-west-1"},
		want: "--moderation-region needs --moderation rekognition",
	}, {
		name: "rekognition option with http",
		args: []string{"serve", "--moderation", "http", "--moderation-url", "http://127.0.0.1:8790/classify", "--moderation-region", "eu-west-1"},
		want: "--moderation-region needs --moderation rekognition, not http",
	}, {
		name:   "URL and a source type's policy",
		args:   []string{"serve", "--moderation-url", "http://127.0.0.1:8790/classify"},
		config: "sourceTypes:\n  avatar: {variants: [xs], moderation: {reject: [explicit]}}\n  hero: {variants: [lg], moderation: {disabled: true}}\n",
		want: "--moderation-url needs " + provider +
			`; the moderation policy of source type "avatar" (config file key sourceTypes) needs ` + provider,
	}, {
		name:   "S3 without a bucket",
		args:   []string{"serve", "--s3-endpoint", "http://127.0.0.1:9000"},
		env:    []string{"S3_REGION=auto"},
		config: "s3-prefix: tenant-a\ns3-path-style: true\n",
		want:   "--s3-endpoint, --s3-region (environment variable S3_REGION), --s3-path-style (config file key s3-path-style) and --s3-prefix (config file key s3-prefix) need --s3-bucket (without it, files are stored under --data-dir)",
	}, {
		name: "S3 credentials with an empty bucket",
		args: []string{"worker"},
		env:  []string{"S3_BUCKET=", "S3_ACCESS_KEY_ID=AKIA", "S3_SECRET_ACCESS_KEY=secret"},
		want: "--s3-access-key-id (environment variable S3_ACCESS_KEY_ID) and --s3-secret-access-key (environment variable S3_SECRET_ACCESS_KEY) need --s3-bucket (without it, files are stored under --data-dir)",
	}, {
		name:   "webhook options without a URL",
		args:   []string{"worker", "--webhook-secret", "s3cret"},
		env:    []string{"WEBHOOK_TIMEOUT=3s"},
		config: "webhook-max-attempts: 3\n",
		want:   "--webhook-secret, --webhook-max-attempts (config file key webhook-max-attempts) and --webhook-timeout (environment variable WEBHOOK_TIMEOUT) need --webhook-url",
	}, {
		name: "several groups at once",
		args: []string{"serve", "--webhook-secret", "s3cret", "--moderation-fail-open", "--s3-prefix", "a"},
		want: "--moderation-fail-open needs " + provider +
			"; --s3-prefix needs --s3-bucket (without it, files are stored under --data-dir); --webhook-secret needs --webhook-url",
	}, {
		name: "a burst without a rate",
		args: []string{"serve", "--upload-burst", "5"},
		want: "--upload-burst needs --upload-rate above 0",
	}, {
		name:   "token lifetimes without a secret",
		args:   []string{"serve", "--upload-token-lifetime", "5m"},
		config: "upload-token-max-lifetime: 30m\n",
		want:   "--upload-token-lifetime and --upload-token-max-lifetime (config file key upload-token-max-lifetime) need --upload-token-secret (upload tokens are off without it)",
	}, {
		name: "fetch options with URL ingest off",
		args: []string{"serve", "--url-ingest=false", "--fetch-allow", "10.0.0.0/8"},
		env:  []string{"FETCH_TIMEOUT=5s"},
		want: "--fetch-allow and --fetch-timeout (environment variable FETCH_TIMEOUT) need URL ingest on (it is by default: drop --url-ingest=false)",
	}, {
		name: "a short token secret",
		args: []string{"serve", "--upload-token-secret", "too-short"},
		want: "config: uploadTokenSecret: uploadtoken: secret too short: 9 bytes, want at least 32 (openssl rand -hex 32 makes one)",
	}, {
		name: "a token lifetime past the staging grace",
		args: []string{"worker", "--staging-grace", "10m", "--upload-token-max-lifetime", "20m"},
		env:  []string{"UPLOAD_TOKEN_SECRET=0123456789abcdef0123456789abcdef"},
		want: "config: uploadTokenMaxLifetime (20m0s) must not exceed stagingGrace (10m0s): the staging sweep would remove a direct upload before its token expires",
	}, {
		name: "a fetch allow-list entry that is no address",
		args: []string{"serve", "--fetch-allow", "intranet.example"},
		want: `--fetch-allow "intranet.example": not an address or CIDR prefix such as 10.0.0.0/8`,
	}, {
		name: "a trusted proxy that is no address",
		args: []string{"serve", "--trusted-proxy", "garbage"},
		want: `--trusted-proxy "garbage": not an address or CIDR prefix such as 10.0.0.0/8`,
	}, {
		name: "trusted proxies from the environment, one a name",
		args: []string{"serve"},
		env:  []string{"TRUSTED_PROXY=127.0.0.1 nginx.internal"},
		want: `--trusted-proxy "nginx.internal": not an address or CIDR prefix such as 10.0.0.0/8`,
	}, {
		name:   "trusted proxies from the config file, one a bad prefix",
		args:   []string{"serve"},
		config: "trusted-proxy: [10.0.0.0/8, \"fd00::/8\", 10.0.0.0/33]\n",
		want:   `--trusted-proxy "10.0.0.0/33": not an address or CIDR prefix such as 10.0.0.0/8`,
	}, {
		name: "anonymous clients with API keys",
		args: []string{"serve", "--allow-anonymous", "--api-key", "0123456789abcdef"},
		want: "--allow-anonymous lets clients in without a key, but --api-key requires one of every client: keep one of them",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args := append(c.args, "--data-dir", filepath.Join(dir, "data"))
			if c.config != "" {
				file := filepath.Join(dir, "config.yaml")
				if err := os.WriteFile(file, []byte(c.config), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", file)
			}
			// A process that starts instead of refusing is killed after a
			// minute, a bound that only catches that.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(os.Environ(), c.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("%v started instead of refusing (killed after a minute)\nstderr: %s", args, stderr.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != exitError {
				t.Fatalf("%v: exit status %d, want %d (a refusal)\nstderr: %s", args, code, exitError, stderr.String())
			}
			if want := "ximagepipeline: " + c.want + "\n"; stderr.String() != want {
				t.Errorf("%v: stderr\n%s\nwant\n%s", args, stderr.String(), want)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
				t.Errorf("%v: the data directory was created (%v): the refusal must come before anything is opened", args, err)
			}
		})
	}
}
