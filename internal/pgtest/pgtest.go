// Package pgtest starts throwaway PostgreSQL clusters for tests, from the
// server binaries on the machine (initdb, postgres), so that tests of the
// PostgreSQL paths run against the real server on a fresh machine.
//
// Start gives each test a fresh database on one cluster shared by the whole
// test binary; NewCluster gives a test a cluster of its own, which it may
// stop and start again (to test what happens while the database is down).
//
// A cluster lives in a temporary directory, listens on a free loopback TCP
// port (no unix socket), trusts local connections, and runs without fsync:
// fast, and nothing to keep. As root (initdb and postgres refuse to run as
// root) the server runs as the user "postgres", or "nobody" when there is
// none. The server dies with the test binary, even one killed by -timeout.
//
// Missing binaries fail the test, never skip it (a skipped test passes):
// run scripts/install-deps.sh test.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ximagepipeline/ximagepipeline/internal/testproc"
)

// BinDirEnv names an environment variable that, when set, is the directory
// of initdb and postgres.
const BinDirEnv = "PG_BIN_DIR"

var shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
}

// Start returns the URL of a new, empty database on the test binary's shared
// cluster, started at the first call. The database is dropped when the test
// ends; the cluster stops with the test binary (or at Main's end).
func Start(t testing.TB) (databaseURL string) {
	t.Helper()
	shared.once.Do(func() { shared.cluster, shared.err = start() })
	if shared.err != nil {
		t.Fatalf("pgtest: %v", shared.err)
	}
	return shared.cluster.NewDatabase(t)
}

// Main runs the tests and then stops the shared cluster, if one was started,
// removing its directory. Use it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without it the cluster still dies with the test binary, but its
// temporary directory stays behind. m is a *testing.M, or anything that
// runs the tests and returns their exit code (a TestMain that checks
// something after the tests wraps m).
func Main(m interface{ Run() int }) {
	code := m.Run()
	if shared.cluster != nil {
		shared.cluster.stop()
		shared.cluster.remove()
	}
	os.Exit(code)
}

// Cluster is one running PostgreSQL server.
type Cluster struct {
	// Port is the TCP port on 127.0.0.1; it stays the same across Stop and
	// Start.
	Port int

	bin  string // directory of initdb and postgres
	dir  string // data directory
	cred *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *testproc.Buffer
}

// NewCluster starts a cluster of the test's own, stopped and removed when
// the test ends.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := start()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postgres log:\n%s", c.logs.String())
		}
		c.stop()
		c.remove()
	})
	return c
}

// URL is the address of database name, as the superuser "postgres".
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, name)
}

// NewDatabase creates an empty database and returns its URL; it is dropped
// when the test ends.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	name := "test_" + testproc.RandomHex(8)
	if err := c.exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends the connections a test left open.
		if err := c.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil && c.running() {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return c.URL(name)
}

func (c *Cluster) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// Stop shuts the server down at once (clients are disconnected), keeping
// its data: Start brings it back on the same port.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	c.stop()
}

// Start starts a stopped server again, on the same port, and waits until it
// accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if err := c.run(); err != nil {
		t.Fatalf("pgtest: restart: %v", err)
	}
}

func start() (*Cluster, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, dir: dir, cred: cred, logs: &testproc.Buffer{}}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			c.remove()
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"),
		"-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = procAttr(cred)
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		c.remove()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// A free port can be taken between the probe and the bind: try others.
	for range 3 {
		if c.Port, err = testproc.FreePort(); err != nil {
			break
		}
		if err = c.run(); err == nil {
			return c, nil
		}
	}
	c.remove()
	return nil, err
}

// run starts postgres on c.Port and waits until it accepts connections.
func (c *Cluster) run() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return errors.New("already running")
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"),
		"-D", filepath.Join(c.dir, "data"),
		"-p", strconv.Itoa(c.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections=300",
		"-c", "shared_buffers=64MB",
		// Throwaway data: durability only costs time.
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
	)
	cmd.Dir = c.dir
	cmd.SysProcAttr = procAttr(c.cred)
	cmd.Stdout, cmd.Stderr = c.logs, c.logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("postgres exited at start-up:\n%s", c.logs.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("postgres did not accept connections on port %d within 30s: %v\n%s", c.Port, err, c.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.cmd, c.done = cmd, done
	return nil
}

func (c *Cluster) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmd != nil
}

// stop asks for an immediate shutdown (SIGQUIT), killing after 10s.
func (c *Cluster) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

func (c *Cluster) remove() { os.RemoveAll(c.dir) }

// findBinDir finds initdb in $PG_BIN_DIR, PATH, or the newest
// /usr/lib/postgresql/*/bin (Debian's layout, not on PATH), and returns the
// directory of the real binary: postgres lives beside it.
func findBinDir() (string, error) {
	var candidates []string
	if d := os.Getenv(BinDirEnv); d != "" {
		candidates = append(candidates, filepath.Join(d, "initdb"))
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, p)
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(debian, func(i, j int) bool { return version(debian[i]) > version(debian[j]) })
	candidates = append(candidates, debian...)
	for _, p := range candidates {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		dir := filepath.Dir(real)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found in $" + BinDirEnv +
		", PATH or /usr/lib/postgresql/*/bin: run scripts/install-deps.sh test (it installs the Debian package postgresql)")
}

// version is N of /usr/lib/postgresql/N/bin/initdb.
func version(p string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
	return n
}

// serverUser is nil when not root; as root, the credentials of "postgres"
// or "nobody", since the server refuses to run as root.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("running as root and neither user postgres nor nobody exists: PostgreSQL refuses to run as root")
}
