package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	scrapeDurationDesc = NewTypedDesc("scrape", "collector_duration_seconds",
		"node_exporter: Duration of a collector scrape.", prometheus.GaugeValue, "collector")
	scrapeSuccessDesc = NewTypedDesc("scrape", "collector_success",
		"node_exporter: Whether a collector succeeded.", prometheus.GaugeValue, "collector")
)

// errStillRunning is reported for a collector whose previous Update has not
// returned yet (it hung past its timeout): starting another one would pile up
// goroutines blocked on the same stuck file system.
var errStillRunning = errors.New("previous collection still running")

// Runner runs a set of collectors on every scrape and reports their duration
// and success. It implements prometheus.Collector as an "unchecked" collector
// (Describe sends nothing) because the families of most host collectors
// depend on the host.
type Runner struct {
	collectors []*runState
	timeout    time.Duration
	logger     *slog.Logger
}

type runState struct {
	Named
	busy atomic.Bool

	mu      sync.Mutex
	lastErr string // the error last logged, to log each distinct error once
}

var _ prometheus.Collector = (*Runner)(nil)

// NewRunner returns a Runner for the given collectors. A timeout of zero or
// less means no timeout.
func NewRunner(collectors []Named, timeout time.Duration, logger *slog.Logger) *Runner {
	r := &Runner{timeout: timeout, logger: logger}
	for _, c := range collectors {
		r.collectors = append(r.collectors, &runState{Named: c})
	}
	return r
}

// Names returns the names of the collectors, in the order given to NewRunner.
func (r *Runner) Names() []string {
	names := make([]string, len(r.collectors))
	for i, c := range r.collectors {
		names[i] = c.Name
	}
	return names
}

// Describe implements prometheus.Collector. It sends nothing, which makes the
// Runner an unchecked collector.
func (r *Runner) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector: it runs every collector
// concurrently and returns when all have finished or timed out.
func (r *Runner) Collect(ch chan<- prometheus.Metric) {
	for _, metrics := range r.runAll() {
		for _, m := range metrics {
			ch <- m
		}
	}
}

// Scrape runs every collector concurrently, like Collect, and returns the
// samples for the fast exposition path (GroupFamilies, AppendText).
func (r *Runner) Scrape() []*Sample {
	results := r.runAll()
	n := 0
	for _, metrics := range results {
		n += len(metrics)
	}
	out := make([]*Sample, 0, n)
	for _, metrics := range results {
		for _, m := range metrics {
			out = append(out, m.(*Sample)) // update lets nothing else through
		}
	}
	return out
}

// runAll runs the collectors concurrently under one shared deadline and
// returns, per collector, what it emitted followed by its duration and
// success samples.
func (r *Runner) runAll() [][]prometheus.Metric {
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if r.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
	}
	defer cancel()
	results := make([][]prometheus.Metric, len(r.collectors))
	var wg sync.WaitGroup
	wg.Add(len(r.collectors))
	for i, c := range r.collectors {
		go func() {
			defer wg.Done()
			start := time.Now()
			metrics, err := r.update(ctx, c)
			success := 1.0
			if err != nil {
				success = 0
			}
			r.logResult(c, err)
			results[i] = append(metrics,
				scrapeDurationDesc.Metric(time.Since(start).Seconds(), c.Name),
				scrapeSuccessDesc.Metric(success, c.Name))
		}()
	}
	wg.Wait()
	return results
}

// errForeignMetric is returned for a collector that emits a metric not made
// by TypedDesc.Metric, which the fast exposition path cannot render.
var errForeignMetric = errors.New("BUG: collector emitted a metric not built with collector.TypedDesc")

// update runs one collector and returns what it emitted. Like node_exporter,
// a collector that fails after emitting some metrics keeps them (with
// success 0). Its metrics pass through a channel of its own so that, once
// the deadline passes, a collector that is still blocked can finish later
// without anyone waiting for it; what a timed-out collector emitted is
// dropped, since it may be half of a consistent set.
func (r *Runner) update(ctx context.Context, c *runState) ([]prometheus.Metric, error) {
	if !c.busy.CompareAndSwap(false, true) {
		return nil, errStillRunning
	}
	inner := make(chan prometheus.Metric, 256)
	done := make(chan error, 1)
	go func() {
		defer c.busy.Store(false)
		defer close(inner)
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			}
		}()
		done <- c.Collector.Update(ctx, inner)
	}()
	var out []prometheus.Metric
	for {
		select {
		case m, ok := <-inner:
			if !ok {
				return out, <-done
			}
			if _, ok := m.(*Sample); !ok {
				go drain(inner)
				return out, errForeignMetric
			}
			out = append(out, m)
		case <-ctx.Done():
			// Keep draining in the background so the stuck collector can
			// finish whenever its system call returns.
			go drain(inner)
			return nil, fmt.Errorf("timed out after %s: %w", r.timeout, ctx.Err())
		}
	}
}

func drain(ch <-chan prometheus.Metric) {
	for range ch { //nolint:revive // draining on purpose
	}
}

// logResult logs each distinct error of a collector once, and its recovery,
// instead of one line per scrape.
func (r *Runner) logResult(c *runState, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		if c.lastErr != "" {
			r.logger.Info("collector recovered", "collector", c.Name)
			c.lastErr = ""
		}
		return
	}
	msg := err.Error()
	if msg == c.lastErr {
		return
	}
	c.lastErr = msg
	if errors.Is(err, ErrNoData) {
		r.logger.Debug("collector returned no data", "collector", c.Name, "err", err)
		return
	}
	r.logger.Error("collector failed", "collector", c.Name, "err", err)
}

// Subset returns a Runner over the collectors whose names keep accepts. It
// shares their state with r, so a collector still hung in one scrape is not
// started again through the other.
func (r *Runner) Subset(keep func(name string) bool) *Runner {
	sub := &Runner{timeout: r.timeout, logger: r.logger}
	for _, c := range r.collectors {
		if keep(c.Name) {
			sub.collectors = append(sub.collectors, c)
		}
	}
	return sub
}
