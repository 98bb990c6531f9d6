package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// panoptesBin (every role) and agentBin (the lean agent build the DaemonSet
// runs) are built once, with -race, by TestMain.
var panoptesBin, agentBin string

func TestMain(m *testing.M) {
	if kind := os.Getenv(helperEnv); kind != "" {
		runHelper(kind)
	}
	testkit.Main(m, testkit.Binaries{Panoptes: &panoptesBin, Agent: &agentBin}, k8s.Stop)
}

// requirePeer returns the path of a peer program on $PATH, or skips the
// test naming it (fails under CI=true): testkit.Peer.
func requirePeer(t *testing.T, name string) string {
	t.Helper()
	return testkit.Peer(t, name)
}

// freePort returns a loopback address that was free a moment ago, for peers
// that cannot report the port they bound.
func freePort(t *testing.T) string {
	t.Helper()
	return testkit.FreePort(t)
}

// process is a started program, stopped by pid when the test ends
// (testkit.Process, with the short names the tests use).
type process struct {
	*testkit.Process
	cmd  *exec.Cmd
	logs *testkit.LockedBuffer
	done <-chan struct{}
}

// start runs a program; its output goes to the test log if the test fails.
func start(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := testkit.Start(t, name, args...)
	return &process{Process: p, cmd: p.Cmd, logs: p.Logs, done: p.Done}
}

// stop sends SIGTERM to the pid, then SIGKILL after 10 s.
func (p *process) stop() { p.Stop() }

var listeningRE = regexp.MustCompile(`msg=listening address=(\S+)`)

// startAgent runs the lean agent build, the binary the DaemonSet ships, on
// an ephemeral loopback port and returns its base URL once it is listening.
func startAgent(t *testing.T, args ...string) (*process, string) {
	t.Helper()
	return startAgentBin(t, agentBin, args...)
}

// startAgentBin runs `bin agent` (agentBin or panoptesBin) as startAgent
// does.
func startAgentBin(t *testing.T, bin string, args ...string) (*process, string) {
	t.Helper()
	return waitListening(t, start(t, bin, append([]string{"agent", "--listen=127.0.0.1:0"}, args...)...), "panoptes agent")
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

// waitTCP polls addr until it accepts a TCP connection.
func waitTCP(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept connections: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
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

// cachedPeer returns the newest (by semantic version) executable matching
// glob under $PANOPTES_CACHE/peers, where hack/test-deps.sh builds the peers
// that are not Debian packages, or skips the test naming it (fails under
// CI=true): testkit.CachedPeer.
func cachedPeer(t *testing.T, glob string) string {
	t.Helper()
	return testkit.CachedPeer(t, glob)
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
