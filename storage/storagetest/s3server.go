package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ximagepipeline/ximagepipeline/internal/testproc"
)

// S3Server is a versitygw S3 gateway started for a test, with one bucket.
type S3Server struct {
	// Endpoint is host:port, for s3.Config.Endpoint (with Insecure and
	// PathStyle set).
	Endpoint string
	// URL is "http://" + Endpoint.
	URL             string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// Bucket was created empty by StartS3.
	Bucket string
	// Client is a root client, path-style, for setting up and inspecting.
	Client *minio.Client
}

// VersitygwEnv names an environment variable that, when set, is the path of
// the versitygw binary to use.
const VersitygwEnv = "VERSITYGW"

// StartS3 starts a versitygw S3 gateway (posix backend in t.TempDir) on a
// free loopback port, waits until it answers, creates a bucket, and stops
// the gateway when the test ends. Every call starts its own gateway (about
// 50 ms); call NewBucket on one server for more buckets.
//
// A missing binary fails the test rather than skipping it, so a machine
// without versitygw cannot pass the S3 tests by not running them: run
// scripts/install-versitygw.sh.
func StartS3(t testing.TB) *S3Server {
	t.Helper()
	bin, err := findVersitygw()
	if err != nil {
		t.Fatalf("storagetest: %v\n\trun scripts/install-versitygw.sh (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0), or set %s", err, VersitygwEnv)
	}
	srv := &S3Server{
		Region:          "us-east-1",
		AccessKeyID:     "test-access-" + testproc.RandomHex(4),
		SecretAccessKey: "test-secret-" + testproc.RandomHex(12),
	}
	// A free port can be taken by someone else between our probe and the
	// gateway's bind; try again on another one.
	var lastErr error
	for range 3 {
		if lastErr = srv.start(t, bin); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("storagetest: starting versitygw: %v", lastErr)
	}
	srv.Client, err = minio.New(srv.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(srv.AccessKeyID, srv.SecretAccessKey, ""),
		Region:       srv.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatalf("storagetest: minio client: %v", err)
	}
	srv.Bucket = srv.NewBucket(t)
	return srv
}

func (srv *S3Server) start(t testing.TB, bin string) error {
	port, err := testproc.FreePort()
	if err != nil {
		return err
	}
	endpoint := fmt.Sprintf("127.0.0.1:%d", port)
	root := filepath.Join(t.TempDir(), "s3")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	var logs testproc.Buffer
	cmd := exec.Command(bin,
		"--access", srv.AccessKeyID,
		"--secret", srv.SecretAccessKey,
		"--region", srv.Region,
		"--port", endpoint,
		"--quiet",
		"posix", root,
	)
	// The credentials go by flag: clear the environment variables that
	// would otherwise override or add to them.
	cmd.Env = filterEnv(os.Environ(), "ROOT_ACCESS_KEY", "ROOT_SECRET", "VGW_")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// Die with the test binary, even when it is killed by -timeout and
	// no Cleanup runs (Linux only; elsewhere Cleanup alone stops it).
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}

	probe := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("versitygw exited at start-up (%v):\n%s", err, logs.String())
		default:
		}
		// Any HTTP answer (an anonymous request gets 403) means it serves.
		resp, err := probe.Get("http://" + endpoint + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("versitygw did not answer on %s within 20s: %v\n%s", endpoint, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", logs.String())
		}
	})
	srv.Endpoint = endpoint
	srv.URL = "http://" + endpoint
	return nil
}

// PinnedPrefixes are the top-level directories of the storage layout that
// NewBucket pins; see PinPrefixes.
var PinnedPrefixes = []string{"staging/", "media/", "originals/"}

// NewBucket creates a bucket with a random name, pins PinnedPrefixes in it,
// and returns its name.
func (srv *S3Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := "test-" + testproc.RandomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: srv.Region}); err != nil {
		t.Fatalf("storagetest: create bucket %q: %v", name, err)
	}
	srv.PinPrefixes(t, name, PinnedPrefixes...)
	return name
}

// PinPrefixes stores an empty "directory object" (key ending in '/') for
// each prefix. versitygw's posix backend deletes the directories an object
// leaves empty, and in v1.8.0 a PutObject whose MkdirAll races that removal
// fails with 409 ExistingObjectIsDirectory: staging/ empties and refills
// constantly, so tests would flake. A directory stored as an object is
// never removed. Real S3 has no directories and no such race. Directory
// objects are skipped by storage/s3's List.
func (srv *S3Server) PinPrefixes(t testing.TB, bucket string, prefixes ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range prefixes {
		if !strings.HasSuffix(p, "/") {
			p += "/"
		}
		if _, err := srv.Client.PutObject(ctx, bucket, p, bytes.NewReader(nil), 0, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("storagetest: pin %q in bucket %q: %v", p, bucket, err)
		}
	}
}

// AllowAnonymousRead gives everyone s3:GetObject on bucket, as a public
// bucket behind a CDN has, so plain GETs of URLs built by the store work.
func (srv *S3Server) AllowAnonymousRead(t testing.TB, bucket string) {
	t.Helper()
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}`, bucket)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Client.SetBucketPolicy(ctx, bucket, policy); err != nil {
		t.Fatalf("storagetest: set anonymous-read policy on %q: %v", bucket, err)
	}
}

// findVersitygw looks in $VERSITYGW, PATH, then GOBIN or GOPATH/bin, where
// scripts/install-versitygw.sh puts it.
func findVersitygw() (string, error) {
	if p := os.Getenv(VersitygwEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %v", VersitygwEnv, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		// One line each; GOBIN's is usually empty.
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		if len(lines) == 2 {
			if gobin := strings.TrimSpace(lines[0]); gobin != "" {
				dirs = append(dirs, gobin)
			}
			for _, gp := range filepath.SplitList(strings.TrimSpace(lines[1])) {
				dirs = append(dirs, filepath.Join(gp, "bin"))
			}
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("versitygw binary not found in $" + VersitygwEnv + ", PATH, GOBIN or GOPATH/bin (looked in " + strings.Join(dirs, ", ") + ")")
}

func filterEnv(env []string, dropPrefixes ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, p := range dropPrefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}
