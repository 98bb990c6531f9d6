package ui

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	headless "github.com/panoptes-dev/panoptes/internal/testkit/browser"
	"github.com/panoptes-dev/panoptes/internal/testkit/cgroup"
)

// chromiumPath is Debian's chromium, which hack/test-deps.sh installs.
const chromiumPath = "/usr/bin/chromium"

// panoptesBin is built once, with -race, by TestMain (or taken from
// PANOPTES_BIN).
var panoptesBin string

func TestMain(m *testing.M) {
	testkit.Main(m, testkit.Binaries{Panoptes: &panoptesBin})
}

// requireChromium skips when chromium is missing, except under CI=true
// (testkit.Missing).
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		testkit.Missing(t, "chromium", chromiumPath+" is not there; `make deps` as root installs Debian's chromium")
	}
}

// lockedBuffer collects a process's output safely across goroutines.
type lockedBuffer = testkit.LockedBuffer

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	return testkit.FreePort(t)
}

// server is a running all-in-one panoptes.
type server struct {
	addr, dir string
	proc      *testkit.Process
	logs      *lockedBuffer
	args      []string
}

// startServer runs `panoptes` (the all-in-one default: host and container
// collectors every 2 s, the server, the UI) on a free loopback port.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	s := &server{addr: freePort(t), dir: t.TempDir(), args: extra}
	s.start(t)
	return s
}

// start starts panoptes (again, after stop, on the same address and
// storage) and waits until it is ready; it is stopped when the test ends.
func (s *server) start(t *testing.T) {
	t.Helper()
	args := append([]string{"--web.listen-address=" + s.addr, "--storage.tsdb.path=" + s.dir, "--collector.interval=2s", "--log.level=warn"}, s.args...)
	s.proc = testkit.Start(t, panoptesBin, args...)
	s.logs = s.proc.Logs
	s.waitReady(t)
}

// waitReady waits until the started process answers /-/ready.
func (s *server) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.proc.Done:
			t.Fatalf("panoptes exited: %s", s.logs.String())
		default:
		}
		if resp, err := http.Get(s.url("/-/ready")); err == nil { //nolint:noctx // loopback, test
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("panoptes at %s did not become ready:\n%s", s.addr, s.logs.String())
}

// stop sends SIGTERM to the pid, then SIGKILL after 10 s.
func (s *server) stop() { s.proc.Stop() }

func (s *server) url(path string) string { return "http://" + s.addr + path }

// query runs an instant PromQL query and returns the result's samples.
func (s *server) query(t *testing.T, q string) []struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
} {
	t.Helper()
	resp, err := http.Get(s.url("/api/v1/query?query=" + url.QueryEscape(q))) //nolint:noctx // loopback, test
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	if out.Status != "success" {
		t.Fatalf("query %s: %s", q, out.Error)
	}
	return out.Data.Result
}

// waitFor polls the query until it returns at least one sample.
func (s *server) waitFor(t *testing.T, q string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if len(s.query(t, q)) > 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("no result for %s within 60 s", q)
}

// browser is one headless chromium tab; JS exceptions and console errors
// of the page are collected and fail the test at its end.
type browser struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T, width, height int, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	requireChromium(t)
	b := &browser{t: t}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(headless.Options(chromiumPath, t.TempDir(), width, height), extra...)...)
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithListener(func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			b.mu.Lock()
			b.errors = append(b.errors, "exception: "+msg)
			b.mu.Unlock()
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, a.Description+string(a.Value))
				}
				b.mu.Lock()
				b.errors = append(b.errors, "console.error: "+strings.Join(parts, " "))
				b.mu.Unlock()
			}
		}
	}))
	b.ctx = ctx
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return b
}

// pageErrors returns the exceptions and console errors so far.
func (b *browser) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// do runs actions with a time limit.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v (page errors: %v)", err, b.pageErrors())
	}
}

// eval evaluates a JS expression and decodes its value into out.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// open loads u afresh (not a same-document jump to a new fragment) and
// waits until the page's panels have settled.
func (b *browser) open(u string) {
	b.t.Helper()
	b.do(chromedp.Navigate("about:blank"), chromedp.Navigate(u))
	b.waitReady()
}

// waitReady waits for window.__panoptes.ready: every panel loaded (with
// data, no data or an error).
func (b *browser) waitReady() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!(window.__panoptes && window.__panoptes.ready)`, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(55*time.Second)))
		if err == nil {
			return
		}
		// Right after a navigation chromedp may still hold the previous
		// document's execution context (about 1 in 10 opens of the alerts
		// test); the poll does not survive that, so it starts again in the
		// new one.
		if strings.Contains(err.Error(), "Cannot find context with specified id") && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		b.t.Fatalf("page did not settle: %v (page errors: %v)", err, b.pageErrors())
	}
}

// poll waits until a JS expression is truthy.
func (b *browser) poll(expr string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		b.t.Fatalf("waiting for %s: %v (page errors: %v)", expr, err, b.pageErrors())
	}
}

// screenshot saves the whole page as name.png in the test's artifact
// directory: $PANOPTES_TEST_ARTIFACTS when set (CI keeps it), else the
// directory of `go test -artifacts`.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("PANOPTES_TEST_ARTIFACTS")
	if dir != "" {
		dir = filepath.Join(dir, "ui", b.t.Name())
	} else {
		dir = b.t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	ext := ".png"
	if len(png) > 2 && png[0] == 0xff && png[1] == 0xd8 {
		ext = ".jpg"
	}
	p := filepath.Join(dir, name+ext)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
}

// noPageErrors fails the test when the page threw or logged an error.
func (b *browser) noPageErrors() {
	b.t.Helper()
	if errs := b.pageErrors(); len(errs) > 0 {
		b.t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// container is a cgroup laid out as the kubelet's cgroupfs driver does, with
// CPU and memory limits and a process burning CPU and holding memory in it.
type container struct {
	id string // the cgroup path, as the id label has it
}

func makeContainer(t *testing.T) *container {
	t.Helper()
	cgroup.RequireRoot(t)
	rnd := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	uid := fmt.Sprintf("%s-%s-%s-%s-%s", rnd(4), rnd(2), rnd(2), rnd(2), rnd(6))
	rel := "kubepods/burstable/pod" + uid + "/" + rnd(32)
	// Removed when the test ends, after the burner is killed (cleanups run
	// last registered first).
	mounts := cgroup.Make(t, rel)
	// Limits, as the kubelet writes them for a pod with resources.limits:
	// 0.2 CPU (the burner wants about half a core, so it is throttled) and
	// 256 MiB of memory.
	limits := map[string]string{"cpu/cpu.cfs_period_us": "100000", "cpu/cpu.cfs_quota_us": "20000", "memory/memory.limit_in_bytes": strconv.Itoa(256 << 20)}
	for f, v := range limits {
		ctrl, file, _ := strings.Cut(f, "/")
		if err := os.WriteFile(filepath.Join("/sys/fs/cgroup", ctrl, rel, file), []byte(v), 0o644); err != nil {
			t.Fatalf("set %s: %v", f, err)
		}
	}
	// Half a core at most: the machine running the tests is small.
	burner := testkit.StartBurner(t, testkit.BurnOptions{MiB: 32, Cores: 0.5})
	cgroup.Join(t, mounts, rel, burner.Pid())
	burner.Go(t)
	return &container{id: "/" + rel}
}
