package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// panoptesBin is built once by TestMain.
var panoptesBin string

func TestMain(m *testing.M) {
	if kind := os.Getenv(helperEnv); kind != "" {
		runHelper(kind)
	}
	dir, err := os.MkdirTemp("", "panoptes-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	panoptesBin = filepath.Join(dir, "panoptes")
	build := exec.Command("go", "build", "-o", panoptesBin, "github.com/panoptes-dev/panoptes/cmd/panoptes")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build panoptes:", err)
		os.Exit(1)
	}
	code := m.Run()
	k8s.Stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// requirePeer returns the path of a peer program, skipping the test when it
// is missing, except under CI=true where a missing peer is a failure.
func requirePeer(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("peer %s is not installed; `make deps` installs it (CI=true makes this a failure)", name)
	}
	t.Skipf("peer %s is not installed (run `make deps` as root to install it)", name)
	return ""
}

// freePort returns a loopback address that was free a moment ago, for peers
// that cannot report the port they bound.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// process is a started program, stopped by pid when the test ends.
type process struct {
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan struct{}
}

// start runs a program; its output goes to the test log if the test fails.
func start(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), logs: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), p.logs.String())
		}
	})
	return p
}

// stop sends SIGTERM to the pid, then SIGKILL after 10 s.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

var listeningRE = regexp.MustCompile(`msg=listening address=(\S+)`)

// startAgent runs `panoptes agent` on an ephemeral loopback port and returns
// its base URL once it is listening.
func startAgent(t *testing.T, args ...string) (*process, string) {
	t.Helper()
	return waitListening(t, start(t, panoptesBin, append([]string{"agent", "--listen=127.0.0.1:0"}, args...)...), "panoptes agent")
}

// waitHTTP polls url until it answers 200.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url) //nolint:gosec,noctx // test URL on loopback
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not become ready", url)
}

// get fetches url and returns the body.
func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, body
}

// scrape fetches and parses a text exposition.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := get(t, url)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return mfs
}

// lockedBuffer collects a process's output safely across goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cachedPeer returns the newest executable matching glob under
// $PANOPTES_CACHE/peers (default ~/.cache/panoptes/peers), where
// hack/test-deps.sh builds the peers that are not Debian packages. A missing
// peer skips the test, except under CI=true where it is a failure.
func cachedPeer(t *testing.T, glob string) string {
	t.Helper()
	cache := os.Getenv("PANOPTES_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "panoptes")
	}
	matches, _ := filepath.Glob(filepath.Join(cache, "peers", glob))
	sort.Strings(matches)
	for i := len(matches) - 1; i >= 0; i-- {
		if st, err := os.Stat(matches[i]); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return matches[i]
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("peer %s is not built in %s/peers; `make deps` builds it (CI=true makes this a failure)", glob, cache)
	}
	t.Skipf("peer %s is not built in %s/peers (run `make deps` to build it)", glob, cache)
	return ""
}

// prometheusPeer returns Prometheus built at the version of the embedded
// prometheus/prometheus packages: the oracle and benchmark peer of the server.
func prometheusPeer(t *testing.T) string {
	t.Helper()
	return cachedPeer(t, "prometheus-v*/prometheus")
}

// startServer runs `panoptes server` on an ephemeral loopback port and
// returns its base URL once it listens. Unless args name a storage path, the
// data goes to a directory of the test's own.
func startServer(t *testing.T, args ...string) (*process, string) {
	t.Helper()
	full := []string{"server", "--web.listen-address=127.0.0.1:0"}
	if !hasFlag(args, "--storage.tsdb.path") {
		full = append(full, "--storage.tsdb.path="+t.TempDir())
	}
	return waitListening(t, start(t, panoptesBin, append(full, args...)...), "panoptes server")
}

// hasFlag reports whether args set the flag name (as --name=v or --name v).
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// waitListening waits for a panoptes process to log the address it bound
// and returns the process with its base URL.
func waitListening(t *testing.T, p *process, what string) (*process, string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningRE.FindStringSubmatch(p.logs.String()); m != nil {
			return p, "http://" + m[1]
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited early:\n%s", what, p.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not report its address:\n%s", what, p.logs.String())
	return nil, ""
}
