package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var testDesc = NewTypedDesc("test", "value", "A test value.", prometheus.GaugeValue)

// funcCollector adapts a function to Collector.
type funcCollector func(ctx context.Context, ch *Sink) error

func (f funcCollector) Update(ctx context.Context, ch *Sink) error {
	return f(ctx, ch)
}

// syncBuffer is a log sink safe for the Runner's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTestRunner(t *testing.T, timeout time.Duration, cs ...Named) (*Runner, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	return NewRunner(cs, timeout, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))), logs
}

// successes returns node_scrape_collector_success by collector.
func successes(t *testing.T, r *Runner) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "node_scrape_collector_success" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestRunnerIsolatesFailures(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	ok := funcCollector(func(_ context.Context, ch *Sink) error {
		ch.Send(testDesc.Metric(1))
		return nil
	})
	failing := funcCollector(func(context.Context, *Sink) error {
		return errors.New("read /proc/x: permission denied")
	})
	noData := funcCollector(func(context.Context, *Sink) error {
		return fmt.Errorf("open /proc/pressure/cpu: %w", ErrNoData)
	})
	panicking := funcCollector(func(context.Context, *Sink) error {
		panic("boom") // the panic must not escape the Runner
	})
	// hanging ignores its context, like a statfs stuck on a dead NFS server.
	hanging := funcCollector(func(_ context.Context, ch *Sink) error {
		<-release
		ch.Send(testDesc.Metric(2))
		return nil
	})
	r, logs := newTestRunner(t, 200*time.Millisecond,
		Named{"ok", ok}, Named{"failing", failing}, Named{"nodata", noData},
		Named{"panicking", panicking}, Named{"hanging", hanging})

	// hanging returns only at cleanup, so a Runner that waited for it would
	// block here for good; the watchdog only turns that hang into a failure
	// (t.Fatal cannot be called from its goroutine), it times nothing.
	watchdog := time.AfterFunc(time.Minute, func() {
		panic("a hanging collector held the scrape for a minute: the Runner's timeout did not cut it off")
	})
	got := successes(t, r)
	watchdog.Stop()
	want := map[string]float64{"ok": 1, "failing": 0, "nodata": 0, "panicking": 0, "hanging": 0}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("success{collector=%q} = %v, want %v (all: %v)", name, got[name], v, got)
		}
	}
	out := logs.String()
	for _, want := range []string{
		`level=ERROR msg="collector failed" collector=failing`,
		`level=DEBUG msg="collector returned no data" collector=nodata`,
		`collector=panicking err="panic: boom`,
		`collector=hanging err="timed out after 200ms`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}

	// While the hung collector has not returned, the next scrape does not
	// start another copy of it.
	if got := successes(t, r); got["hanging"] != 0 {
		t.Errorf("hanging collector reported success while still stuck")
	}
	if !strings.Contains(logs.String(), errStillRunning.Error()) {
		t.Errorf("second scrape did not report %q:\n%s", errStillRunning, logs.String())
	}
}

func TestRunnerLogsEachErrorOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	fail := true
	c := funcCollector(func(_ context.Context, ch *Sink) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("read /proc/loadavg: no such file or directory")
		}
		ch.Send(testDesc.Metric(1))
		return nil
	})
	r, logs := newTestRunner(t, time.Second, Named{"loadavg", c})
	for range 5 {
		successes(t, r)
	}
	if n := strings.Count(logs.String(), "collector failed"); n != 1 {
		t.Errorf("logged the same error %d times, want once:\n%s", n, logs.String())
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	if got := successes(t, r); got["loadavg"] != 1 {
		t.Errorf("collector did not recover: %v", got)
	}
	if !strings.Contains(logs.String(), `msg="collector recovered" collector=loadavg`) {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
}

func TestRunnerOutput(t *testing.T) {
	t.Parallel()
	c := funcCollector(func(_ context.Context, ch *Sink) error {
		ch.Send(testDesc.Metric(42))
		return nil
	})
	r, _ := newTestRunner(t, 0, Named{"x", c})
	if err := testutil.CollectAndCompare(r, strings.NewReader(`
# HELP node_test_value A test value.
# TYPE node_test_value gauge
node_test_value 42
# HELP node_scrape_collector_success node_exporter: Whether a collector succeeded.
# TYPE node_scrape_collector_success gauge
node_scrape_collector_success{collector="x"} 1
`), "node_test_value", "node_scrape_collector_success"); err != nil {
		t.Error(err)
	}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		include, exclude string
		name             string
		ignored          bool
	}{
		{"", "", "eth0", false},
		{"", "^lo$", "lo", true},
		{"", "^lo$", "eth0", false},
		{"^eth", "", "eth0", false},
		{"^eth", "", "lo", true},
	} {
		f, err := NewFilter(tc.include, tc.exclude)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second answer comes from the memo
			if got := f.Ignored(tc.name); got != tc.ignored {
				t.Errorf("include %q exclude %q: Ignored(%q) = %v", tc.include, tc.exclude, tc.name, got)
			}
		}
	}
	if _, err := NewFilter("a", "b"); err == nil {
		t.Error("include and exclude together: no error")
	}
	if _, err := NewFilter("(", ""); err == nil {
		t.Error("invalid pattern: no error")
	}
}

// TestMemoOncePerScrape: collectors of one scrape that ask for the same key
// share one computation; the next scrape computes afresh.
func TestMemoOncePerScrape(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	computed := 0
	read := func(ctx context.Context, _ *Sink) error {
		v, err := Memo(ctx, "proc/stat", func() (int, error) {
			mu.Lock()
			defer mu.Unlock()
			computed++
			return 42, nil
		})
		if err != nil || v != 42 {
			return fmt.Errorf("memo returned %d: %w", v, err)
		}
		return nil
	}
	r, _ := newTestRunner(t, time.Second, Named{"a", funcCollector(read)}, Named{"b", funcCollector(read)})
	for scrape := 1; scrape <= 2; scrape++ {
		got := successes(t, r)
		if got["a"] != 1 || got["b"] != 1 {
			t.Fatalf("scrape %d: %v", scrape, got)
		}
		mu.Lock()
		if computed != scrape {
			t.Errorf("after scrape %d computed %d times, want %d", scrape, computed, scrape)
		}
		mu.Unlock()
	}
	// Outside a scrape Memo simply computes.
	if v, _ := Memo(context.Background(), "k", func() (string, error) { return "x", nil }); v != "x" {
		t.Errorf("Memo outside a scrape = %q", v)
	}
}
