// Command loadgen is an avalanche-style load generator for benchmarking
// Prometheus-compatible servers (bench/server.sh): it serves --targets
// scrape targets, each on its own listener (so every target gets its own
// instance label), each exposing --metrics gauge families of
// --series-per-metric series in the Prometheus text format, with the labels
// avalanche uses (cycle_id, --const-labels label_key_kkkkk_N constants,
// series_id). Values are random integers in [0,100) that change every
// --value-interval; with --series-interval the cycle_id of every series
// changes that often (full churn), otherwise the series set is fixed.
//
// Values depend only on --seed, the target and the time since start, so two
// runs with the same flags serve the same data. A target's body is rendered
// once per value epoch into one buffer from pre-built label strings (and
// gzipped once when a scraper asks for gzip), so scrapes cost the generator
// almost nothing.
//
// It prints one line `listening address=HOST:PORT target=N` per target on
// stderr. It is a benchmark tool, not a test.
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/panoptes-dev/panoptes/internal/httpgzip"
)

type config struct {
	targets, metrics, seriesPerMetric, constLabels int
	valueInterval, seriesInterval                  time.Duration
	seed                                           uint64
	gzip                                           bool
}

// layout holds the pre-built pieces of a body, shared by all targets.
type layout struct {
	headers [][]byte // "# HELP ...\n# TYPE ...\n" per metric
	names   [][]byte // `avalanche_metric_mmmmm_0_7{cycle_id="` per metric
	suffix  [][]byte // `",label_key_kkkkk_0="label_val_vvvvv_0",...,series_id="3"} ` per series
	size    int      // a body's approximate length, to size buffers
}

func newLayout(c config) *layout {
	l := &layout{}
	var consts strings.Builder
	for i := range c.constLabels {
		fmt.Fprintf(&consts, `,label_key_kkkkk_%d="label_val_vvvvv_%d"`, i, i)
	}
	for m := range c.metrics {
		name := fmt.Sprintf("avalanche_metric_mmmmm_0_%d", m)
		l.headers = append(l.headers, fmt.Appendf(nil, "# HELP %s A tasty metric morsel\n# TYPE %s gauge\n", name, name))
		l.names = append(l.names, []byte(name+`{cycle_id="`))
	}
	for s := range c.seriesPerMetric {
		l.suffix = append(l.suffix, fmt.Appendf(nil, `"%s,series_id="%d"} `, consts.String(), s))
	}
	for m := range l.names {
		l.size += len(l.headers[m]) + len(l.names[m])*c.seriesPerMetric
	}
	for _, s := range l.suffix {
		l.size += (len(s) + 8) * c.metrics // + cycle, value, newline
	}
	return l
}

// target is one scrape target: its body for the current epoch.
type target struct {
	id     int
	cfg    config
	layout *layout
	start  time.Time

	mu            sync.Mutex
	epoch, cycle  int64
	plain, zipped []byte
	rendered      bool
}

// epochs returns the value epoch and the series cycle of now.
func (t *target) epochs(now time.Time) (epoch, cycle int64) {
	d := now.Sub(t.start)
	if t.cfg.valueInterval > 0 {
		epoch = int64(d / t.cfg.valueInterval)
	}
	if t.cfg.seriesInterval > 0 {
		cycle = int64(d / t.cfg.seriesInterval)
	}
	return epoch, cycle
}

// body returns the exposition for now, gzipped if asked.
func (t *target) body(now time.Time, gz bool) []byte {
	epoch, cycle := t.epochs(now)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.rendered || epoch != t.epoch || cycle != t.cycle {
		t.plain = t.render(epoch, cycle, make([]byte, 0, t.layout.size))
		t.zipped = nil
		t.epoch, t.cycle, t.rendered = epoch, cycle, true
	}
	if !gz {
		return t.plain
	}
	if t.zipped == nil {
		var b bytes.Buffer
		b.Grow(len(t.plain) / 8)
		w, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		_, _ = w.Write(t.plain) // into memory: cannot fail
		_ = w.Close()
		t.zipped = b.Bytes()
	}
	return t.zipped
}

func (t *target) render(epoch, cycle int64, b []byte) []byte {
	rng := rand.New(rand.NewPCG(t.cfg.seed, uint64(t.id)<<40^uint64(epoch)))
	cyc := strconv.AppendInt(nil, cycle, 10)
	for m, name := range t.layout.names {
		b = append(b, t.layout.headers[m]...)
		for _, suffix := range t.layout.suffix {
			b = append(b, name...)
			b = append(b, cyc...)
			b = append(b, suffix...)
			b = strconv.AppendInt(b, int64(rng.IntN(100)), 10)
			b = append(b, '\n')
		}
	}
	return b
}

func (t *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.Error(w, "loadgen: only /metrics is served", http.StatusNotFound)
		return
	}
	gz := t.cfg.gzip && httpgzip.Accepts(r.Header.Get("Accept-Encoding"))
	b := t.body(time.Now(), gz)
	h := w.Header()
	h.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if gz {
		h.Set("Content-Encoding", "gzip")
	}
	_, _ = w.Write(b) // a scraper that went away is its own problem
}

func main() {
	var c config
	listen := flag.String("listen", "127.0.0.1:0", "address of the first target; with port 0 every target gets a free port, otherwise targets use consecutive ports")
	series := flag.Int("series", 100000, "active series in all, over all targets (targets × metrics × series-per-metric); ignored when --series-per-metric is set")
	flag.IntVar(&c.targets, "targets", 10, "scrape targets, each on its own listener, serving /metrics")
	flag.IntVar(&c.metrics, "metrics", 100, "metric names per target (avalanche_metric_mmmmm_0_<N>)")
	flag.IntVar(&c.seriesPerMetric, "series-per-metric", 0, "series per metric name per target (series_id label); 0: series / (targets × metrics)")
	flag.IntVar(&c.constLabels, "const-labels", 2, "constant labels label_key_kkkkk_<N>=\"label_val_vvvvv_<N>\" on every series")
	flag.DurationVar(&c.valueInterval, "value-interval", 30*time.Second, "how often the values change")
	flag.DurationVar(&c.seriesInterval, "series-interval", 0, "how often every series is replaced by a new one (cycle_id label); 0: never")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the values")
	flag.BoolVar(&c.gzip, "gzip", true, "gzip the body when the scraper accepts it (as Prometheus does)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: loadgen [flags]\n\nAvalanche-style scrape targets for benchmarking Prometheus-compatible servers.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	if c.targets < 1 || c.metrics < 1 {
		fail(errors.New("--targets and --metrics must be at least 1"))
	}
	if c.seriesPerMetric == 0 {
		c.seriesPerMetric = *series / (c.targets * c.metrics)
		if c.seriesPerMetric < 1 {
			fail(fmt.Errorf("--series %d is less than --targets × --metrics (%d)", *series, c.targets*c.metrics))
		}
	}
	host, portS, err := net.SplitHostPort(*listen)
	if err != nil {
		fail(fmt.Errorf("--listen: %w", err))
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		fail(fmt.Errorf("--listen: port %q", portS))
	}

	lay := newLayout(c)
	start := time.Now()
	errc := make(chan error, c.targets)
	for i := range c.targets {
		p := 0
		if port != 0 {
			p = port + i
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			fail(err)
		}
		t := &target{id: i, cfg: c, layout: lay, start: start}
		srv := &http.Server{Handler: t, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- srv.Serve(ln) }()
		fmt.Fprintf(os.Stderr, "listening address=%s target=%d\n", ln.Addr(), i)
	}
	fmt.Fprintf(os.Stderr, "serving targets=%d metrics=%d series_per_metric=%d series=%d value_interval=%s series_interval=%s\n",
		c.targets, c.metrics, c.seriesPerMetric, c.targets*c.metrics*c.seriesPerMetric, c.valueInterval, c.seriesInterval)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-errc:
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(2)
}
