package metricsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ephemeralEvery is how often a node's pods' ephemeral storage is read from
// its /stats/summary: the kubelet (and the panoptes agent) measure disk use
// once a minute (--volume-stats-agg-period), so reading it more often would
// only cost the node a full summary per resolution.
const ephemeralEvery = time.Minute

// maxSummaryBytes bounds a summary read (a node with hundreds of pods
// answers a few MB).
const maxSummaryBytes = 32 << 20

// podEphemeral is one pod's ephemeral-storage from a node's summary.
type podEphemeral struct {
	namespace, pod                        string
	used, capacity, available, inodesUsed *uint64
}

// ephemeral keeps each node's pods' ephemeral storage and exports it as
// panoptes_pod_ephemeral_storage_*: metrics.k8s.io has no field for it, so
// it is served on the metrics API's own /metrics only. Cardinality: up to
// four series per pod.
type ephemeral struct {
	client *http.Client
	path   string // the resource path its targets' URLs end in
	logger *slog.Logger

	mu     sync.Mutex
	byNode map[string][]podEphemeral
	read   map[string]time.Time // when each node's summary was last read

	used, capacity, available, inodesUsed *prometheus.Desc
}

func newEphemeral(client *http.Client, path string, logger *slog.Logger) *ephemeral {
	l := []string{"node", "namespace", "pod"}
	return &ephemeral{
		client: client, path: path, logger: logger,
		byNode: map[string][]podEphemeral{}, read: map[string]time.Time{},
		used:       prometheus.NewDesc("panoptes_pod_ephemeral_storage_used_bytes", "Bytes of the node's root filesystem the pod uses: its containers' writable layers and logs and its own log files, as the kubelet's /stats/summary reports ephemeral-storage.", l, nil),
		capacity:   prometheus.NewDesc("panoptes_pod_ephemeral_storage_capacity_bytes", "Size of the filesystem that holds the pod's ephemeral storage (the kubelet's root filesystem).", l, nil),
		available:  prometheus.NewDesc("panoptes_pod_ephemeral_storage_available_bytes", "Bytes still available on the filesystem that holds the pod's ephemeral storage.", l, nil),
		inodesUsed: prometheus.NewDesc("panoptes_pod_ephemeral_storage_inodes_used", "Inodes the pod's ephemeral storage uses.", l, nil),
	}
}

// due reports whether a node's summary should be read in the cycle that
// started at now, and if so takes the slot.
func (e *ephemeral) due(node string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if last, ok := e.read[node]; ok && now.Sub(last) < ephemeralEvery {
		return false
	}
	e.read[node] = now
	return true
}

// scrape reads a node's summary next to its resource metrics. A node that
// does not serve it (an old agent, a kubelet that refuses nodes/stats) keeps
// no figures; the error is logged at debug level: it does not make the node
// fail, as its CPU and memory still came through.
func (e *ephemeral) scrape(ctx context.Context, t target) {
	pods, err := e.get(ctx, strings.TrimSuffix(t.url, e.path)+"/stats/summary")
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		delete(e.byNode, t.node)
		e.logger.Debug("no ephemeral storage for node", "node", t.node, "err", err)
		return
	}
	e.byNode[t.node] = pods
}

func (e *ephemeral) get(ctx context.Context, url string) ([]podEphemeral, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	var s struct {
		Pods []struct {
			PodRef struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"podRef"`
			Ephemeral *struct {
				AvailableBytes *uint64 `json:"availableBytes"`
				CapacityBytes  *uint64 `json:"capacityBytes"`
				UsedBytes      *uint64 `json:"usedBytes"`
				InodesUsed     *uint64 `json:"inodesUsed"`
			} `json:"ephemeral-storage"`
		} `json:"pods"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSummaryBytes)).Decode(&s); err != nil {
		return nil, fmt.Errorf("decode %s: %w", url, err)
	}
	var out []podEphemeral
	for _, p := range s.Pods {
		if es := p.Ephemeral; es != nil {
			out = append(out, podEphemeral{namespace: p.PodRef.Namespace, pod: p.PodRef.Name,
				used: es.UsedBytes, capacity: es.CapacityBytes, available: es.AvailableBytes, inodesUsed: es.InodesUsed})
		}
	}
	return out, nil
}

// retain forgets the nodes not in the cycle's targets.
func (e *ephemeral) retain(targets []target) {
	keep := make(map[string]bool, len(targets))
	for _, t := range targets {
		keep[t.node] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for node := range e.read {
		if !keep[node] {
			delete(e.read, node)
			delete(e.byNode, node)
		}
	}
}

// Describe implements prometheus.Collector.
func (e *ephemeral) Describe(ch chan<- *prometheus.Desc) {
	ch <- e.used
	ch <- e.capacity
	ch <- e.available
	ch <- e.inodesUsed
}

// Collect implements prometheus.Collector.
func (e *ephemeral) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for node, pods := range e.byNode {
		for _, p := range pods {
			for _, s := range []struct {
				d *prometheus.Desc
				v *uint64
			}{{e.used, p.used}, {e.capacity, p.capacity}, {e.available, p.available}, {e.inodesUsed, p.inodesUsed}} {
				if s.v != nil {
					ch <- prometheus.MustNewConstMetric(s.d, prometheus.GaugeValue, float64(*s.v), node, p.namespace, p.pod)
				}
			}
		}
	}
}
