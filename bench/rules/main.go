// Command rulesgen serves the scrape targets of a synthetic Kubernetes
// cluster for bench/rules.sh: --nodes nodes running --pods-per-node pods of
// --containers-per-pod containers, exposed as kube-prometheus scrapes them,
// so that kube-prometheus-style rules and the built-in rules select real
// work. Per node a node_exporter target (job="node-exporter") and a kubelet
// cAdvisor target (job="kubelet", metrics_path="/metrics/cadvisor"); one
// kube-state-metrics target (job="kube-state-metrics") for the cluster's
// pods, containers, Deployments, ReplicaSets, StatefulSets, the
// node_exporter DaemonSet and the nodes. Names, labels and types are those
// of node_exporter, cAdvisor and kube-state-metrics v2; the defaults total
// about 100,000 series, the load of bench/server.sh.
//
// Every target is served from one listener under its own path; the
// --scrape-config file it writes gives each its job, instance and the
// target labels kube-prometheus' ServiceMonitors add (namespace and pod of
// the node_exporter pod, node of the kubelet, honor_labels for the kubelet
// and kube-state-metrics). Counters grow at a per-series rate and gauges
// move a little every --value-interval; a few containers crash-loop,
// restart or get OOM-killed and a few pods stay Pending, so that some
// alerts fire, as in a real cluster. Values depend only on --seed and the
// time since start, and a target's body is rendered once per value epoch
// (gzipped once), so two servers scraping it at the same instants get the
// same bytes and scrapes cost the generator almost nothing.
//
// It prints `listening address=HOST:PORT series=N targets=N` on stderr. It
// is a benchmark tool, not a test.
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"math"
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
	nodes, podsPerNode, containersPerPod, cpus int
	valueInterval, scrapeInterval              time.Duration
	seed                                       uint64
}

func main() {
	var c config
	listen := flag.String("listen", "127.0.0.1:0", "address to serve every target on")
	scrapeConfig := flag.String("scrape-config", "", "write the scrape_configs of the targets (a prometheus.yml fragment) to this file")
	flag.IntVar(&c.nodes, "nodes", 20, "nodes: a node_exporter and a kubelet cAdvisor target each")
	flag.IntVar(&c.podsPerNode, "pods-per-node", 35, "pods per node, the node_exporter pod included")
	flag.IntVar(&c.containersPerPod, "containers-per-pod", 2, "containers per application pod")
	flag.IntVar(&c.cpus, "cpus", 8, "CPUs per node (node_cpu_seconds_total has 8 modes per CPU)")
	flag.DurationVar(&c.valueInterval, "value-interval", 5*time.Second, "how often the values change")
	flag.DurationVar(&c.scrapeInterval, "scrape-interval", 5*time.Second, "scrape_interval and scrape_timeout written to --scrape-config")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the values")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: rulesgen [flags]\n\nScrape targets of a synthetic Kubernetes cluster (node_exporter, cAdvisor, kube-state-metrics) for benchmarking rule evaluation.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	if c.nodes < 1 || c.podsPerNode < 2 || c.containersPerPod < 1 || c.cpus < 1 || c.valueInterval <= 0 {
		fail(errors.New("--nodes, --containers-per-pod, --cpus must be at least 1, --pods-per-node at least 2 and --value-interval positive"))
	}

	cl := newCluster(c)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fail(fmt.Errorf("listen on %s: %w", *listen, err))
	}
	addr := ln.Addr().String()
	if *scrapeConfig != "" {
		if err := os.WriteFile(*scrapeConfig, cl.scrapeConfigs(addr), 0o644); err != nil {
			fail(fmt.Errorf("write the scrape config: %w", err))
		}
	}
	start := time.Now()
	mux := http.NewServeMux()
	series := 0
	for _, t := range cl.targets {
		t.start, t.interval = start, c.valueInterval
		mux.Handle(t.path, t)
		series += t.series()
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "listening address=%s series=%d targets=%d nodes=%d pods=%d containers=%d\n",
		addr, series, len(cl.targets), c.nodes, cl.pods, cl.containers)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-errc:
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "rulesgen:", err)
	os.Exit(2)
}

// kind is how a series' value moves with time.
type kind uint8

const (
	constant kind = iota // base, always
	gauge                // base, jittered by up to ±amp of it every epoch
	counter              // base + rate × seconds since start
	steps                // floor(base + rate × seconds): event counters (restarts, OOMs)
)

// series is one pre-rendered series of a target: its name and labels
// (`name{labels} `) and how its value moves.
type series struct {
	prefix          []byte
	kind            kind
	base, rate, amp float64
}

// family is one metric family of a target, its HELP and TYPE lines first.
type family struct {
	header []byte
	series []series
}

// target is one scrape target: its families and its body for the current
// epoch.
type target struct {
	path     string
	id       uint64 // mixes the target into the jitter
	families []*family
	start    time.Time
	interval time.Duration
	seed     uint64

	mu            sync.Mutex
	epoch         int64
	plain, zipped []byte
	rendered      bool
}

func (t *target) series() int {
	n := 0
	for _, f := range t.families {
		n += len(f.series)
	}
	return n
}

// family returns the target's family called name, adding it on first use.
func (t *target) family(name, typ, help string) *family {
	for _, f := range t.families {
		if bytes.HasPrefix(f.header, []byte("# HELP "+name+" ")) {
			return f
		}
	}
	f := &family{header: fmt.Appendf(nil, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)}
	t.families = append(t.families, f)
	return f
}

// add appends a series of a family of type typ (the _bucket, _sum and
// _count series of a histogram or summary go to its family); labels are
// alternating names and values.
func (t *target) add(name, typ string, k kind, base, rate, amp float64, labels ...string) {
	fam := name
	if typ == "histogram" || typ == "summary" {
		for _, sfx := range []string{"_bucket", "_sum", "_count"} {
			fam = strings.TrimSuffix(fam, sfx)
		}
	}
	f := t.family(fam, typ, "Synthetic "+fam+" of bench/rules.")
	var b strings.Builder
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			b.WriteString(labels[i+1])
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	f.series = append(f.series, series{prefix: []byte(b.String()), kind: k, base: base, rate: rate, amp: amp})
}

func (t *target) body(now time.Time, gz bool) []byte {
	epoch := int64(now.Sub(t.start) / t.interval)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.rendered || epoch != t.epoch {
		t.plain = t.render(epoch, make([]byte, 0, len(t.plain)+len(t.plain)/8))
		t.zipped = nil
		t.epoch, t.rendered = epoch, true
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

func (t *target) render(epoch int64, b []byte) []byte {
	secs := (time.Duration(epoch) * t.interval).Seconds()
	i := uint64(0)
	for _, f := range t.families {
		b = append(b, f.header...)
		for _, s := range f.series {
			i++
			var v float64
			switch s.kind {
			case constant:
				v = s.base
			case gauge:
				v = s.base * (1 + s.amp*noise(t.seed^t.id<<32^i, uint64(epoch)))
			case counter:
				v = s.base + s.rate*secs
			case steps:
				v = math.Floor(s.base + s.rate*secs)
			}
			b = append(b, s.prefix...)
			if v == math.Trunc(v) && math.Abs(v) < 1e15 {
				b = strconv.AppendInt(b, int64(v), 10)
			} else {
				b = strconv.AppendFloat(b, v, 'g', 10, 64)
			}
			b = append(b, '\n')
		}
	}
	return b
}

func (t *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != t.path {
		http.Error(w, "rulesgen: no target at "+r.URL.Path, http.StatusNotFound)
		return
	}
	gz := httpgzip.Accepts(r.Header.Get("Accept-Encoding"))
	b := t.body(time.Now(), gz)
	h := w.Header()
	h.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if gz {
		h.Set("Content-Encoding", "gzip")
	}
	_, _ = w.Write(b) // a scraper that went away is its own problem
}

// noise is a deterministic value in [-1, 1) of a series and an epoch
// (splitmix64).
func noise(key, epoch uint64) float64 {
	z := key*0x9e3779b97f4a7c15 + epoch*0xbf58476d1ce4e5b9
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11)/float64(1<<52) - 1
}

// unit is a deterministic value in [0, 1) of a key: per-series constants
// (rates, sizes) that do not change with time.
func unit(seed uint64, key string) float64 {
	h := seed
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * 0x100000001b3
	}
	return (noise(h, 0) + 1) / 2
}
