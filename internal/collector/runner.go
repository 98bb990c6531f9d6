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

// outcome is what one collector's goroutine reports when Update returns.
type outcome struct {
	index    int
	err      error
	duration time.Duration
}

// runAll runs the collectors concurrently, one goroutine each, under one
// shared deadline, and returns per collector what it emitted followed by its
// duration and success samples. A collector that misses the deadline keeps
// its goroutine (it may be blocked in a system call on a dead NFS server):
// its Sink is abandoned, it is reported as failed, and it is not started
// again until that goroutine returns.
func (r *Runner) runAll() [][]prometheus.Metric {
	n := len(r.collectors)
	sinks := make([]*Sink, n)
	errs := make([]error, n)
	durations := make([]time.Duration, n)
	finished := make([]bool, n)
	done := make(chan outcome, n) // buffered: late goroutines never block
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if r.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
	}
	defer cancel()
	ctx = withScrapeMemo(ctx)
	start := time.Now()
	pending := 0
	for i, c := range r.collectors {
		if !c.busy.CompareAndSwap(false, true) {
			errs[i], finished[i] = errStillRunning, true
			continue
		}
		pending++
		sinks[i] = &Sink{}
		go func() {
			begin := time.Now()
			var err error
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
				}
				// Free the collector before reporting: a scrape that starts
				// as soon as this one returns must find it idle.
				c.busy.Store(false)
				done <- outcome{index: i, err: err, duration: time.Since(begin)}
			}()
			err = c.Collector.Update(ctx, sinks[i])
		}()
	}
wait:
	for pending > 0 {
		select {
		case o := <-done:
			errs[o.index], durations[o.index], finished[o.index] = o.err, o.duration, true
			pending--
		case <-ctx.Done():
			break wait
		}
	}
	results := make([][]prometheus.Metric, n)
	for i, c := range r.collectors {
		var metrics []prometheus.Metric
		switch {
		case !finished[i]:
			sinks[i].abandon()
			errs[i] = fmt.Errorf("timed out after %s: %w", r.timeout, ctx.Err())
			durations[i] = time.Since(start)
		case sinks[i] != nil:
			// Like node_exporter, a collector that fails after emitting
			// some metrics keeps them, with success 0.
			metrics = sinks[i].Metrics()
			for _, m := range metrics {
				if _, ok := m.(*Sample); !ok {
					metrics, errs[i] = nil, errForeignMetric
					break
				}
			}
		}
		success := 1.0
		if errs[i] != nil {
			success = 0
		}
		r.logResult(c, errs[i])
		results[i] = append(metrics,
			scrapeDurationDesc.Metric(durations[i].Seconds(), c.Name),
			scrapeSuccessDesc.Metric(success, c.Name))
	}
	return results
}

// errForeignMetric is returned for a collector that emits a metric not made
// by TypedDesc.Metric, which the fast exposition path cannot render.
var errForeignMetric = errors.New("BUG: collector emitted a metric not built with collector.TypedDesc")

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
