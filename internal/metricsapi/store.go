package metricsapi

import (
	"errors"
	"log/slog"
	"math"
	"math/bits"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/metrics/pkg/apis/metrics"

	"sigs.k8s.io/metrics-server/pkg/api"
)

// freshContainerMinResolution is metrics-server's: a container that started
// between 10 s and one resolution ago gets a synthetic previous point of zero
// CPU at its start time, so that new pods show usage after one scrape.
const freshContainerMinResolution = 10 * time.Second

// Store keeps the last two points of every node and container, the whole of
// what the API serves. A collection cycle replaces it in one step (Update), so
// that nodes and pods that were not in the last cycle (deleted, or whose node
// could not be scraped) are dropped, as in metrics-server.
type Store struct {
	resolution time.Duration
	logger     *slog.Logger

	mu    sync.RWMutex
	nodes map[string]*pair
	pods  map[podKey]*podEntry
	// ready is set by the first Update that stored any point.
	ready bool
}

// pair is the last point and the one before it; prev.ts == 0 when there is
// none yet.
type pair struct{ last, prev point }

type podEntry struct {
	containers []containerEntry
}

type containerEntry struct {
	name string
	pair
}

var _ api.MetricsGetter = (*Store)(nil)

// NewStore returns an empty store for a collection every resolution.
func NewStore(resolution time.Duration, logger *slog.Logger) *Store {
	return &Store{resolution: resolution, logger: logger, nodes: map[string]*pair{}, pods: map[podKey]*podEntry{}}
}

// Ready says whether a collection has stored points yet.
func (s *Store) Ready() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ready
}

// Update stores a cycle's scrapes, keyed by node name. Points move to prev
// only when the new one is newer; a container that restarted (its start
// time is after the stored point) starts over.
func (s *Store) Update(scrapes map[string]*scrape) {
	s.mu.RLock()
	oldNodes, oldPods := s.nodes, s.pods
	s.mu.RUnlock()

	nodes := make(map[string]*pair, len(scrapes))
	npods := 0
	for _, sc := range scrapes {
		npods += len(sc.containers)
	}
	pods := make(map[podKey]*podEntry, npods/2+1)
	for name, sc := range scrapes {
		if sc.nodeOK {
			np := &pair{last: sc.node}
			if old, ok := oldNodes[name]; ok {
				switch {
				case sc.node.ts > old.last.ts:
					np.prev = old.last
				case old.prev.ts != 0 && old.prev.ts < sc.node.ts:
					np.prev = old.prev
				}
			}
			nodes[name] = np
		}
		for i := range sc.containers {
			c := &sc.containers[i]
			key := c.pod
			pe := pods[key]
			if pe == nil {
				pe = &podEntry{}
				pods[key] = pe
			}
			ce := containerEntry{name: c.name, pair: pair{last: c.point}}
			fresh := c.start > 0 && c.start < c.ts && time.Duration(c.ts-c.start) < s.resolution &&
				time.Duration(c.ts-c.start) >= freshContainerMinResolution
			if fresh {
				ce.prev = point{start: c.start, ts: c.start, mem: c.mem}
			} else if old := oldPods[c.pod].find(c.name); old != nil && c.start < old.last.ts {
				switch {
				case c.ts > old.last.ts:
					ce.prev = old.last
				case old.prev.ts != 0 && old.prev.ts < c.ts:
					ce.prev = old.prev
				}
			}
			pe.containers = append(pe.containers, ce)
		}
	}
	s.mu.Lock()
	s.nodes, s.pods = nodes, pods
	if len(nodes) > 0 || len(pods) > 0 {
		s.ready = true
	}
	s.mu.Unlock()
}

func (p *podEntry) find(name string) *containerEntry {
	if p == nil {
		return nil
	}
	for i := range p.containers {
		if p.containers[i].name == name {
			return &p.containers[i]
		}
	}
	return nil
}

// Counts is how many nodes and containers have usage to serve (two points).
func (s *Store) Counts() (nodes, containers int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, n := range s.nodes {
		if n.prev.ts != 0 {
			nodes++
		}
	}
	for _, p := range s.pods {
		for i := range p.containers {
			if p.containers[i].prev.ts != 0 {
				containers++
			}
		}
	}
	return nodes, containers
}

var (
	errStartDecreased = errors.New("unexpected decrease in startTime of node/container")
	errCPUDecreased   = errors.New("unexpected decrease in cumulative CPU usage value")
	errNoWindow       = errors.New("two points with the same timestamp")
)

// nanocores is cpu core-nanoseconds over window in nanocores, computed
// exactly in 128 bits (metrics-server divides in floating point, which can
// give 99999999n for 100m).
func nanocores(cpu uint64, window time.Duration) uint64 {
	hi, lo := bits.Mul64(cpu, uint64(time.Second))
	w := uint64(window)
	if hi >= w {
		return math.MaxUint64 // beyond any machine; keeps Div64 from panicking
	}
	q, _ := bits.Div64(hi, lo, w)
	return q
}

// usage is metrics-server's resourceUsage: CPU is the rate between the two
// cumulative points in nanocores, memory the last working set.
func usage(p *pair) (corev1.ResourceList, api.TimeInfo, error) {
	last, prev := p.last, p.prev
	if last.start < prev.start {
		return nil, api.TimeInfo{}, errStartDecreased
	}
	if last.cpu < prev.cpu {
		return nil, api.TimeInfo{}, errCPUDecreased
	}
	window := time.Duration(last.ts - prev.ts)
	if window <= 0 {
		return nil, api.TimeInfo{}, errNoWindow
	}
	return corev1.ResourceList{
			corev1.ResourceCPU:    quantity(nanocores(last.cpu-prev.cpu, window), resource.DecimalSI, -9),
			corev1.ResourceMemory: quantity(last.mem, resource.BinarySI, 0),
		}, api.TimeInfo{
			Timestamp: time.Unix(0, last.ts),
			Window:    window,
		}, nil
}

func quantity(v uint64, format resource.Format, scale resource.Scale) resource.Quantity {
	var q resource.Quantity
	if v > math.MaxInt64 {
		q = *resource.NewScaledQuantity(int64(v/10), scale+1)
	} else {
		q = *resource.NewScaledQuantity(int64(v), scale)
	}
	q.Format = format
	return q
}

// GetNodeMetrics implements api.NodeMetricsGetter.
func (s *Store) GetNodeMetrics(nodes ...*corev1.Node) ([]metrics.NodeMetrics, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := metav1.Now()
	out := make([]metrics.NodeMetrics, 0, len(nodes))
	for _, n := range nodes {
		p, ok := s.nodes[n.Name]
		if !ok || p.prev.ts == 0 {
			continue
		}
		rl, ti, err := usage(p)
		if err != nil {
			s.logger.Debug("skipping node usage", "node", n.Name, "err", err)
			continue
		}
		out = append(out, metrics.NodeMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels, CreationTimestamp: now},
			Timestamp:  metav1.NewTime(ti.Timestamp),
			Window:     metav1.Duration{Duration: ti.Window},
			Usage:      rl,
		})
	}
	return out, nil
}

// GetPodMetrics implements api.PodMetricsGetter. A pod is served only when
// every container has two points; its timestamp and window are those of its
// earliest container.
func (s *Store) GetPodMetrics(pods ...*metav1.PartialObjectMetadata) ([]metrics.PodMetrics, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := metav1.Now()
	out := make([]metrics.PodMetrics, 0, len(pods))
	for _, pod := range pods {
		pe, ok := s.pods[podKey{pod.Namespace, pod.Name}]
		if !ok {
			continue
		}
		cms := make([]metrics.ContainerMetrics, 0, len(pe.containers))
		var earliest api.TimeInfo
		complete := true
		for i := range pe.containers {
			c := &pe.containers[i]
			if c.prev.ts == 0 {
				complete = false
				break
			}
			rl, ti, err := usage(&c.pair)
			if err != nil {
				s.logger.Debug("skipping container usage", "pod", pod.Namespace+"/"+pod.Name, "container", c.name, "err", err)
				continue
			}
			cms = append(cms, metrics.ContainerMetrics{Name: c.name, Usage: rl})
			if earliest.Timestamp.IsZero() || earliest.Timestamp.After(ti.Timestamp) {
				earliest = ti
			}
		}
		if !complete {
			continue
		}
		sort.Slice(cms, func(i, j int) bool { return cms[i].Name < cms[j].Name })
		out = append(out, metrics.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels, CreationTimestamp: now},
			Timestamp:  metav1.NewTime(earliest.Timestamp),
			Window:     metav1.Duration{Duration: earliest.Window},
			Containers: cms,
		})
	}
	return out, nil
}
