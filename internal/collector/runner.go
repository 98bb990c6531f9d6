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
	scrapeDurationDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "scrape", "collector_duration_seconds"),
		"node_exporter: Duration of a collector scrape.",
		[]string{"collector"}, nil,
	)
	scrapeSuccessDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "scrape", "collector_success"),
		"node_exporter: Whether a collector succeeded.",
		[]string{"collector"}, nil,
	)
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
	var wg sync.WaitGroup
	wg.Add(len(r.collectors))
	for _, c := range r.collectors {
		go func() {
			defer wg.Done()
			r.run(c, ch)
		}()
	}
	wg.Wait()
}

func (r *Runner) run(c *runState, ch chan<- prometheus.Metric) {
	start := time.Now()
	err := r.update(c, ch)
	duration := time.Since(start).Seconds()
	success := 1.0
	if err != nil {
		success = 0
	}
	r.logResult(c, err)
	ch <- prometheus.MustNewConstMetric(scrapeDurationDesc, prometheus.GaugeValue, duration, c.Name)
	ch <- prometheus.MustNewConstMetric(scrapeSuccessDesc, prometheus.GaugeValue, success, c.Name)
}

// update runs one collector. Its metrics pass through a channel of its own so
// that, once the timeout fires, a collector that is still blocked can finish
// later without writing to the scrape's channel after Collect has returned.
func (r *Runner) update(c *runState, ch chan<- prometheus.Metric) error {
	if !c.busy.CompareAndSwap(false, true) {
		return errStillRunning
	}
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if r.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
	}
	inner := make(chan prometheus.Metric, 64)
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
	defer cancel()
	for {
		select {
		case m, ok := <-inner:
			if !ok {
				return <-done
			}
			ch <- m
		case <-ctx.Done():
			// Keep draining in the background so the stuck collector can
			// finish whenever its system call returns.
			go func() {
				for range inner { //nolint:revive // draining on purpose
				}
			}()
			return fmt.Errorf("timed out after %s: %w", r.timeout, ctx.Err())
		}
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
