package metricsapi

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
)

// point is one sample of a node or a container, as metrics-server's
// MetricsPoint: times in Unix nanoseconds, CPU in cumulative core
// nanoseconds, memory (working set) in bytes. 32 bytes, no pointers, so
// that the store of 30,000 pods stays small and cheap for the GC.
type point struct {
	// start is when the container (or node) started; its cumulative CPU was
	// zero then. 0 when unknown.
	start int64
	// ts is when the sample was measured (the CPU sample's time).
	ts  int64
	cpu uint64
	mem uint64
}

// podKey names a pod.
type podKey struct{ namespace, name string }

// containerPoint is one container's sample in a scrape.
type containerPoint struct {
	pod  podKey
	name string
	point
}

// scrape is what one node's /metrics/resource held.
type scrape struct {
	node       point
	nodeOK     bool
	containers []containerPoint
}

// maxResourceBytes caps the body read from one kubelet: 110 pods of a few
// containers take about 100 KiB.
const maxResourceBytes = 16 << 20

// decodeResource parses the kubelet's /metrics/resource (Prometheus text
// format) as metrics-server's decoder does: samples without a timestamp get
// defaultTime, CPU seconds become nanoseconds, and containers missing CPU or
// memory are left out with the rest of their pod.
func decodeResource(b []byte, defaultTime time.Time) (*scrape, error) {
	p := textparse.NewPromParser(b, labels.NewSymbolTable(), false)
	def := defaultTime.UnixNano()
	s := &scrape{}
	idx := map[containerKey]int{}
	var lset labels.Labels
	for {
		et, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse /metrics/resource: %w", err)
		}
		if et != textparse.EntrySeries {
			continue
		}
		series, tsp, v := p.Series()
		ts := def
		if tsp != nil {
			ts = *tsp * int64(time.Millisecond)
		}
		name := metricName(series)
		switch string(name) {
		case "node_cpu_usage_seconds_total":
			s.node.cpu, s.node.ts = seconds(v), ts
		case "node_memory_working_set_bytes":
			s.node.mem, s.node.ts = bytesOf(v), ts
		case "container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_start_time_seconds":
			p.Labels(&lset)
			k := containerKey{podKey{lset.Get("namespace"), lset.Get("pod")}, lset.Get("container")}
			i, ok := idx[k]
			if !ok {
				i = len(s.containers)
				idx[k] = i
				s.containers = append(s.containers, containerPoint{pod: k.pod, name: k.container})
			}
			c := &s.containers[i]
			switch string(name) {
			case "container_cpu_usage_seconds_total":
				c.cpu, c.ts = seconds(v), ts
			case "container_memory_working_set_bytes":
				c.mem, c.ts = bytesOf(v), ts
			default:
				c.start = int64(v * 1e9)
			}
		}
	}
	s.nodeOK = s.node.ts != 0 && s.node.cpu != 0 && s.node.mem != 0
	s.containers = completePods(s.containers)
	return s, nil
}

type containerKey struct {
	pod       podKey
	container string
}

// completePods drops every pod with a container that lacks CPU or memory, as
// metrics-server's checkContainerMetrics does: a pod whose usage is only
// partly known would under-report to the HPA.
func completePods(cs []containerPoint) []containerPoint {
	bad := map[podKey]bool{}
	for i := range cs {
		if cs[i].cpu == 0 || cs[i].mem == 0 || cs[i].ts == 0 {
			bad[cs[i].pod] = true
		}
	}
	if len(bad) == 0 {
		return cs
	}
	out := cs[:0]
	for _, c := range cs {
		if !bad[c.pod] {
			out = append(out, c)
		}
	}
	return out
}

// metricName is the metric name at the start of a series' text.
func metricName(series []byte) []byte {
	for i, c := range series {
		if c == '{' {
			return series[:i]
		}
	}
	return series
}

func seconds(v float64) uint64 {
	if v <= 0 || v != v {
		return 0
	}
	// Rounded, not truncated: 360.1 s is 360099999999.99994 ns in floating
	// point.
	return uint64(math.Round(v * 1e9))
}

func bytesOf(v float64) uint64 {
	if v <= 0 || v != v {
		return 0
	}
	return uint64(v)
}
