package top

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Agent reads a panoptes agent (or a kubelet's read-only port) on a host
// without the metrics API: two samples of /metrics/resource Interval apart
// give the CPU rate, and the agent's machine_cpu_cores and
// machine_memory_bytes the percentages.
type Agent struct {
	// URL is the agent's base URL, e.g. http://127.0.0.1:9100.
	URL      string
	Client   *http.Client
	Interval time.Duration
}

// resourceSample is one /metrics/resource read: cumulative CPU seconds and
// working set per object at a time.
type resourceSample struct {
	cpu, mem map[string]float64
	ts       map[string]int64 // milliseconds
}

// key of the node is "", of a container "ns/pod/container".
func (a *Agent) sample(ctx context.Context) (*resourceSample, error) {
	fams, err := a.get(ctx, "/metrics/resource")
	if err != nil {
		return nil, err
	}
	s := &resourceSample{cpu: map[string]float64{}, mem: map[string]float64{}, ts: map[string]int64{}}
	read := func(name string, into map[string]float64, withTime bool) {
		f := fams[name]
		if f == nil {
			return
		}
		for _, m := range f.GetMetric() {
			var ns, pod, c string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "namespace":
					ns = l.GetValue()
				case "pod":
					pod = l.GetValue()
				case "container":
					c = l.GetValue()
				}
			}
			k := ""
			if pod != "" {
				k = ns + "/" + pod + "/" + c
			}
			into[k] = value(m)
			if withTime {
				s.ts[k] = m.GetTimestampMs()
			}
		}
	}
	read("node_cpu_usage_seconds_total", s.cpu, true)
	read("node_memory_working_set_bytes", s.mem, false)
	read("container_cpu_usage_seconds_total", s.cpu, true)
	read("container_memory_working_set_bytes", s.mem, false)
	return s, nil
}

func (a *Agent) get(ctx context.Context, path string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(a.URL, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read the local agent (start `panoptes agent`, or give --agent): %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		if resp.StatusCode == http.StatusNotFound {
			// The pod inventories are opt-in on the agent's plain port: they
			// list every pod and its usage without authentication.
			return nil, fmt.Errorf("GET %s%s: HTTP 404: the agent serves %s on its plain port only when started with --web.enable-kubelet-endpoints", a.URL, path, path)
		}
		return nil, fmt.Errorf("GET %s%s: HTTP %d: %s", a.URL, path, resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("parse %s%s: %w", a.URL, path, err)
	}
	return fams, nil
}

// usage samples twice and returns each object's CPU (cores) and memory.
func (a *Agent) usage(ctx context.Context) (cpu, mem map[string]float64, err error) {
	first, err := a.sample(ctx)
	if err != nil {
		return nil, nil, err
	}
	select {
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-time.After(a.Interval):
	}
	second, err := a.sample(ctx)
	if err != nil {
		return nil, nil, err
	}
	cpu = map[string]float64{}
	for k, v := range second.cpu {
		v0, ok := first.cpu[k]
		dt := float64(second.ts[k]-first.ts[k]) / 1000
		if !ok || v < v0 {
			continue
		}
		if dt <= 0 {
			// Samples without timestamps: the time between the reads.
			dt = a.Interval.Seconds()
		}
		cpu[k] = (v - v0) / dt
	}
	return cpu, second.mem, nil
}

// value is a sample's value whatever its type (untyped without # TYPE).
func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}

func cores(v float64) resource.Quantity {
	return *resource.NewScaledQuantity(int64(v*1e9), resource.Nano)
}

func bytesQ(v float64) resource.Quantity { return *resource.NewQuantity(int64(v), resource.BinarySI) }

// Nodes is this host's row, named by its host name.
func (a *Agent) Nodes(ctx context.Context, o Options) ([]Row, error) {
	if o.Selector != "" {
		return nil, errors.New("--selector needs the metrics API; the local agent has no labels")
	}
	cpu, mem, err := a.usage(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := cpu[""]; !ok {
		return nil, fmt.Errorf("%s/metrics/resource has no node_cpu_usage_seconds_total: %w", a.URL, ErrNoMetrics)
	}
	name, _ := os.Hostname()
	r := Row{Name: name, CPU: cores(cpu[""]), Memory: bytesQ(mem[""])}
	if fams, err := a.get(ctx, "/metrics?collect[]=container"); err == nil {
		if f := fams["machine_cpu_cores"]; f != nil && len(f.GetMetric()) > 0 {
			r.CPUAvail = *resource.NewQuantity(int64(value(f.GetMetric()[0])), resource.DecimalSI)
		}
		if f := fams["machine_memory_bytes"]; f != nil && len(f.GetMetric()) > 0 {
			r.MemAvail = bytesQ(value(f.GetMetric()[0]))
		}
	}
	return []Row{r}, nil
}

// Pods lists the host's pods (or containers) from the agent.
func (a *Agent) Pods(ctx context.Context, containers bool, o Options) ([]Row, error) {
	if o.Selector != "" {
		return nil, errors.New("--selector needs the metrics API; the local agent has no labels")
	}
	cpu, mem, err := a.usage(ctx)
	if err != nil {
		return nil, err
	}
	byPod := map[string]*Row{}
	var rows []Row
	for k, c := range cpu {
		if k == "" {
			continue
		}
		parts := strings.SplitN(k, "/", 3)
		if len(parts) != 3 || (!o.AllNamespaces && o.Namespace != "" && parts[0] != o.Namespace) {
			continue
		}
		m, ok := mem[k]
		if !ok {
			continue
		}
		if containers {
			rows = append(rows, Row{Namespace: parts[0], Name: parts[1], Container: parts[2], CPU: cores(c), Memory: bytesQ(m)})
			continue
		}
		pk := parts[0] + "/" + parts[1]
		r := byPod[pk]
		if r == nil {
			r = &Row{Namespace: parts[0], Name: parts[1]}
			byPod[pk] = r
		}
		r.CPU.Add(cores(c))
		r.Memory.Add(bytesQ(m))
	}
	for _, r := range byPod {
		rows = append(rows, *r)
	}
	if len(rows) == 0 {
		return nil, ErrNoMetrics
	}
	// Ephemeral storage is in the summary only; an agent without it (an
	// older one, or no CRI runtime reporting writable layers) leaves the
	// column out.
	if eph, err := a.ephemeral(ctx); err == nil {
		for i := range rows {
			r := &rows[i]
			if v, ok := eph[r.Namespace+"/"+r.Name+"/"+r.Container]; ok {
				q := bytesQ(v)
				r.Ephemeral = &q
			}
		}
	}
	return rows, nil
}

// summaryFs is the part of the kubelet's /stats/summary the ephemeral
// storage column reads.
type summaryFs struct {
	Pods []struct {
		PodRef struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"podRef"`
		Containers []struct {
			Name   string  `json:"name"`
			Rootfs *fsUsed `json:"rootfs"`
			Logs   *fsUsed `json:"logs"`
		} `json:"containers"`
		Ephemeral *fsUsed `json:"ephemeral-storage"`
	} `json:"pods"`
}

type fsUsed struct {
	UsedBytes *uint64 `json:"usedBytes"`
}

// ephemeral reads the agent's /stats/summary: each pod's ephemeral storage
// by "ns/pod/" and each container's writable layer plus logs by
// "ns/pod/container", where the summary has them.
func (a *Agent) ephemeral(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(a.URL, "/")+"/stats/summary", nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read %s/stats/summary: %w", a.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/stats/summary: HTTP %d", a.URL, resp.StatusCode)
	}
	var s summaryFs
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&s); err != nil {
		return nil, fmt.Errorf("parse %s/stats/summary: %w", a.URL, err)
	}
	out := map[string]float64{}
	for _, p := range s.Pods {
		k := p.PodRef.Namespace + "/" + p.PodRef.Name + "/"
		if p.Ephemeral != nil && p.Ephemeral.UsedBytes != nil {
			out[k] = float64(*p.Ephemeral.UsedBytes)
		}
		for _, c := range p.Containers {
			if c.Rootfs == nil || c.Rootfs.UsedBytes == nil {
				continue
			}
			v := float64(*c.Rootfs.UsedBytes)
			if c.Logs != nil && c.Logs.UsedBytes != nil {
				v += float64(*c.Logs.UsedBytes)
			}
			out[k+c.Name] = v
		}
	}
	return out, nil
}
