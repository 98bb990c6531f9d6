package metricsapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// CollectorConfig says where and how node usage is read.
type CollectorConfig struct {
	// Resolution is the time between collections (--metric-resolution).
	Resolution time.Duration
	// Timeout bounds one node's scrape (--kubelet-request-timeout); a slow
	// node never holds the others back.
	Timeout time.Duration
	// Concurrency is how many nodes are scraped at once.
	Concurrency int
	// Path is the resource metrics path, /metrics/resource.
	Path string
}

// targetSource lists what to scrape in a cycle.
type targetSource interface {
	targets() ([]target, []nodeFailure)
}

// nodeFailure is a node that has no target (no address of a wanted type).
type nodeFailure struct {
	node, reason, msg string
}

// Collector scrapes every node each Resolution and replaces the store's
// points with the cycle's.
type Collector struct {
	cfg      CollectorConfig
	src      targetSource
	client   *http.Client
	store    *Store
	logger   *slog.Logger
	identity func() string
	m        *collectorMetrics
	eph      *ephemeral // pods' ephemeral storage from the summaries

	mu sync.Mutex
	// lastReason is each failing node's last reason, to log a node's error
	// once when it starts (or changes) rather than every cycle.
	lastReason map[string]string
	lastStart  time.Time
	lastEnd    time.Time
}

type collectorMetrics struct {
	errors       *prometheus.CounterVec
	cycle        prometheus.Histogram
	nodeDuration prometheus.Histogram
	lastSuccess  prometheus.Gauge
	nodesStored  prometheus.GaugeFunc
	contStored   prometheus.GaugeFunc
	nodesScraped prometheus.Gauge
	nodesFailing prometheus.Gauge
}

func newCollectorMetrics(reg prometheus.Registerer, store *Store) *collectorMetrics {
	m := &collectorMetrics{
		// Cardinality: one series per failing node and reason; the series of
		// nodes that left the cluster are deleted.
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "panoptes_metricsapi_node_scrape_errors_total",
			Help: "Failed scrapes of a node's resource metrics, by node and reason (see the log for what to change).",
		}, []string{"node", "reason"}),
		cycle: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "panoptes_metricsapi_collection_duration_seconds",
			Help:    "Time to scrape every node and store the points, per collection cycle.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30},
		}),
		nodeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "panoptes_metricsapi_node_scrape_duration_seconds",
			Help:    "Time to scrape one node's resource metrics.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "panoptes_metricsapi_last_collection_timestamp_seconds",
			Help: "When the last collection cycle ended, in Unix seconds.",
		}),
		nodesScraped: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "panoptes_metricsapi_nodes_scraped",
			Help: "Nodes scraped successfully in the last cycle.",
		}),
		nodesFailing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "panoptes_metricsapi_nodes_failing",
			Help: "Nodes that could not be scraped in the last cycle.",
		}),
	}
	m.nodesStored = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "panoptes_metricsapi_nodes_served",
		Help: "Nodes with usage to serve (two points).",
	}, func() float64 { n, _ := store.Counts(); return float64(n) })
	m.contStored = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "panoptes_metricsapi_containers_served",
		Help: "Containers with usage to serve (two points).",
	}, func() float64 { _, c := store.Counts(); return float64(c) })
	if reg != nil {
		reg.MustRegister(m.errors, m.cycle, m.nodeDuration, m.lastSuccess, m.nodesStored, m.contStored, m.nodesScraped, m.nodesFailing)
	}
	return m
}

// newCollector returns a collector reading src's targets with client.
func newCollector(cfg CollectorConfig, src targetSource, client *http.Client, store *Store, reg prometheus.Registerer, identity func() string, logger *slog.Logger) *Collector {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.Path == "" {
		cfg.Path = "/metrics/resource"
	}
	if identity == nil {
		identity = func() string { return "" }
	}
	eph := newEphemeral(client, cfg.Path, logger)
	if reg != nil {
		reg.MustRegister(eph)
	}
	return &Collector{cfg: cfg, src: src, client: client, store: store, logger: logger, identity: identity,
		m: newCollectorMetrics(reg, store), eph: eph, lastReason: map[string]string{}}
}

// Run collects at once and then every Resolution until ctx ends.
func (c *Collector) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Resolution)
	defer t.Stop()
	for {
		c.Collect(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// LastCycle is when the last cycle started and ended (zero before the first).
func (c *Collector) LastCycle() (start, end time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastStart, c.lastEnd
}

// Collect runs one cycle: every target scraped with at most Concurrency at
// once, each cut off after Timeout, then the store replaced.
func (c *Collector) Collect(ctx context.Context) {
	start := time.Now()
	c.mu.Lock()
	c.lastStart = start
	c.mu.Unlock()

	targets, failures := c.src.targets()
	var (
		mu      sync.Mutex
		results = make(map[string]*scrape, len(targets))
		failed  = map[string]nodeFailure{}
		wg      sync.WaitGroup
		sem     = make(chan struct{}, c.cfg.Concurrency)
	)
	for _, f := range failures {
		failed[f.node] = f
	}
	for _, t := range targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			sc, err := c.scrapeNode(ctx, t)
			if err == nil && c.eph.due(t.node, start) {
				ectx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
				c.eph.scrape(ectx, t)
				cancel()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				reason, msg := explain(t, err, c.identity(), c.cfg.Timeout.String())
				failed[t.node] = nodeFailure{node: t.node, reason: reason, msg: msg}
				return
			}
			if !sc.nodeOK {
				// The kubelet answered but without the node's usage (its
				// cgroup stats are missing); its pods are still served.
				failed[t.node] = nodeFailure{node: t.node, reason: reasonNoNodeUsage,
					msg: "the answer of " + t.url + " has no node_cpu_usage_seconds_total or node_memory_working_set_bytes with a non-zero value"}
			}
			results[t.node] = sc
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	c.eph.retain(targets)
	c.store.Update(results)
	c.report(targets, failed)

	end := time.Now()
	c.m.cycle.Observe(end.Sub(start).Seconds())
	c.m.lastSuccess.Set(float64(end.UnixNano()) / 1e9)
	c.m.nodesScraped.Set(float64(len(results)))
	c.m.nodesFailing.Set(float64(len(failed)))
	c.mu.Lock()
	c.lastEnd = end
	c.mu.Unlock()
	c.logger.Debug("collection cycle done", "nodes", len(targets)+len(failures), "scraped", len(results), "failed", len(failed), "duration", end.Sub(start))
}

// report counts and logs the cycle's failures: a node's error is logged at
// warn level when it starts or its reason changes, and its recovery at info.
func (c *Collector) report(targets []target, failed map[string]nodeFailure) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[string]bool, len(targets)+len(failed))
	for _, t := range targets {
		seen[t.node] = true
	}
	for node, f := range failed {
		seen[node] = true
		c.m.errors.WithLabelValues(node, f.reason).Inc()
		if c.lastReason[node] != f.reason {
			c.logger.Warn("cannot scrape node", "node", node, "reason", f.reason, "err", f.msg)
			c.lastReason[node] = f.reason
		} else {
			c.logger.Debug("cannot scrape node", "node", node, "reason", f.reason, "err", f.msg)
		}
	}
	for node := range c.lastReason {
		if _, still := failed[node]; !still {
			if seen[node] {
				c.logger.Info("node scraped again", "node", node)
			} else {
				// Gone from the cluster: drop its error series.
				c.m.errors.DeletePartialMatch(prometheus.Labels{"node": node})
			}
			delete(c.lastReason, node)
		}
	}
}

// scrapeNode reads and decodes one node's resource metrics.
func (c *Collector) scrapeNode(ctx context.Context, t target) (*scrape, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	start := time.Now()
	defer func() { c.m.nodeDuration.Observe(time.Since(start).Seconds()) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return nil, &statusError{code: resp.StatusCode, body: string(b)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResourceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.url, err)
	}
	if len(b) > maxResourceBytes {
		return nil, &decodeError{fmt.Errorf("body larger than %d bytes", maxResourceBytes)}
	}
	sc, err := decodeResource(b, start)
	if err != nil {
		return nil, &decodeError{err}
	}
	return sc, nil
}

// NodeLister lists the nodes to scrape (client-go's lister satisfies it).
type NodeLister interface {
	List(selector labels.Selector) ([]*corev1.Node, error)
}

// kubeletTargets resolves each node's kubelet address as metrics-server
// does: the first address of the first type in AddressTypes, on Port or the
// node's own kubelet port.
type kubeletTargets struct {
	nodes             NodeLister
	selector          labels.Selector
	addressTypes      []corev1.NodeAddressType
	port              int
	useNodeStatusPort bool
	path              string
}

func (k *kubeletTargets) targets() ([]target, []nodeFailure) {
	nodes, err := k.nodes.List(k.selector)
	if err != nil {
		return nil, nil
	}
	ts := make([]target, 0, len(nodes))
	var fails []nodeFailure
	for _, n := range nodes {
		addr, typ, ok := nodeAddress(n, k.addressTypes)
		if !ok {
			fails = append(fails, nodeFailure{node: n.Name, reason: reasonNoAddress,
				msg: fmt.Sprintf("node %s has no address of the types %v in its status; add the type it has to --kubelet-preferred-address-types", n.Name, k.addressTypes)})
			continue
		}
		port := k.port
		if p := int(n.Status.DaemonEndpoints.KubeletEndpoint.Port); k.useNodeStatusPort && p != 0 {
			port = p
		}
		ts = append(ts, target{node: n.Name, address: addr, addressType: string(typ),
			url: "https://" + net.JoinHostPort(addr, strconv.Itoa(port)) + k.path})
	}
	return ts, fails
}

// nodeAddress picks the node's address by type priority.
func nodeAddress(n *corev1.Node, types []corev1.NodeAddressType) (string, corev1.NodeAddressType, bool) {
	for _, typ := range types {
		for _, a := range n.Status.Addresses {
			if a.Type == typ && a.Address != "" {
				return a.Address, typ, true
			}
		}
	}
	return "", "", false
}

// PodLister lists pods (client-go's lister satisfies it).
type PodLister interface {
	List(selector labels.Selector) ([]*corev1.Pod, error)
}

// agentTargets finds the panoptes agents through the API: the pods in
// namespace that match selector (the agent DaemonSet's), scraped on their
// pod IP and port, each standing for the node it runs on. This avoids the
// kubelets' serving certificates; the agents' are verified against
// --kubelet-certificate-authority for the pod IP before any credential is
// sent (the transport's job).
type agentTargets struct {
	pods PodLister
	// namespace is the only one agents are taken from. The lister is
	// scoped to it already; checking again keeps a lister that is not
	// from sending credentials to a labelled pod anywhere else.
	namespace string
	selector  labels.Selector
	port      int
	path      string
}

func (a *agentTargets) targets() ([]target, []nodeFailure) {
	pods, err := a.pods.List(a.selector)
	if err != nil {
		return nil, nil
	}
	ts := make([]target, 0, len(pods))
	seen := map[string]bool{}
	var fails []nodeFailure
	for _, p := range pods {
		node := p.Spec.NodeName
		if p.Namespace != a.namespace || node == "" || seen[node] || p.Status.Phase != corev1.PodRunning {
			continue
		}
		seen[node] = true
		if p.Status.PodIP == "" {
			fails = append(fails, nodeFailure{node: node, reason: reasonNoAddress,
				msg: fmt.Sprintf("agent pod %s/%s on node %s has no pod IP yet", p.Namespace, p.Name, node)})
			continue
		}
		ts = append(ts, target{node: node, address: p.Status.PodIP, addressType: "agent pod IP",
			url: "https://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(a.port)) + a.path})
	}
	return ts, fails
}
