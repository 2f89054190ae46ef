package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// buildBinary builds the command into a temporary directory, with env
// added to the build's environment (CGO_ENABLED=0, say).
func buildBinary(t *testing.T, env ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ximagepipeline")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), env...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %v: %v\n%s", env, err, out)
	}
	return bin
}

// server is a process of the built binary: `serve` on a free loopback
// port, or a `worker`.
type server struct {
	cmd    *exec.Cmd
	addr   string     // serve only
	log    syncBuffer // stderr, shown when the test fails
	exited chan struct{}
}

// startServer runs `serve` with args (and env added to the environment)
// and returns once it answers /healthz. It is stopped when the test ends.
func startServer(t *testing.T, bin string, env []string, args ...string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := startProcess(t, bin, env, append([]string{"serve", "--addr", addr}, args...)...)
	s.addr = addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + s.addr + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case <-s.exited:
			t.Fatalf("server exited at start: %v", s.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
	}
}

// startProcess runs the binary with args (and env added to the
// environment), logging warnings and errors only unless args set
// --log-level. It is stopped when the test ends.
func startProcess(t *testing.T, bin string, env []string, args ...string) *server {
	t.Helper()
	s := &server{exited: make(chan struct{})}
	if !slices.Contains(args, "--log-level") {
		args = slices.Concat(args, []string{"--log-level", "warn"})
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stderr = &s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.exited:
		case <-time.After(time.Minute):
			s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("%v log:\n%s", args, s.log.String())
		}
	})
	return s
}

// base is the API's base URL.
func (s *server) base() string { return "http://" + s.addr + "/image-pipeline" }

func (s *server) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// waitStopping returns once the server refuses new connections: it got the
// signal and is draining.
func (s *server) waitStopping(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		conn, err := net.Dial("tcp", s.addr)
		if err != nil {
			return
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still takes connections after the signal")
		}
	}
}

// waitExit returns the exit status; the test fails if the process runs
// past within (a bound that only catches a hang).
func (s *server) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("the server did not exit within %s of the signal", within)
		return -1
	}
}

// newFlagSet is serve's flag set, bound to o.
func newFlagSet(o *options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	o.addFlags(fs, true)
	return fs
}

// syncBuffer is a bytes.Buffer that a process writes while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
