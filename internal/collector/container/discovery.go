package container

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/cgroups"
	"github.com/panoptes-dev/panoptes/internal/collector"
)

// The discovery families say where the collector looked for containers, so
// that a host where it finds none (no runtime, no systemd) can say why: the
// UI's Containers page renders them when no container is reported.
var (
	discoveryInfoDesc = collector.NewRawTypedDesc("panoptes_container_discovery_info",
		"Where the container collector looks for containers: the host's cgroup layout (v1, v2, hybrid or none), the hierarchies it walks, and whether it reports every cgroup (--collector.container.all-cgroups).",
		prometheus.GaugeValue, "layout", "walked", "all_cgroups")
	hierarchyInfoDesc = collector.NewRawTypedDesc("panoptes_container_cgroup_hierarchy_info",
		"A cgroup hierarchy mounted on the host: its mount point, v1 or v2 (the unified hierarchy), and its controllers.",
		prometheus.GaugeValue, "mount", "version", "controllers")
	runtimeEndpointDesc = collector.NewRawTypedDesc("panoptes_container_runtime_endpoint_info",
		"A container runtime (CRI) socket the agent asks for container names (--container-runtime-endpoint, else containerd's and CRI-O's), and what is at its path: socket, missing, not-a-socket or unreadable.",
		prometheus.GaugeValue, "endpoint", "state")
	discoveredDesc = collector.NewRawTypedDesc("panoptes_container_discovered_cgroups",
		"Cgroups found by the last walk, by kind: root, pod, pod-container, container, service, and other (reported only with --collector.container.all-cgroups).",
		prometheus.GaugeValue, "kind")
)

// kindNames are the kind label's values.
var kindNames = map[cgroups.Kind]string{
	cgroups.KindRoot:         "root",
	cgroups.KindPod:          "pod",
	cgroups.KindPodContainer: "pod-container",
	cgroups.KindContainer:    "container",
	cgroups.KindService:      "service",
	cgroups.KindOther:        "other",
}

// discovery is what the last Snapshot found, by kind.
type discovery struct {
	counts map[cgroups.Kind]int
}

// record keeps the counts of the last walk for emitDiscovery.
func (c *Collector) record(refs []cgroups.Ref, others int) {
	d := discovery{counts: make(map[cgroups.Kind]int, len(kindNames))}
	for _, r := range refs {
		d.counts[r.Kind]++
	}
	d.counts[cgroups.KindOther] += others
	c.mu.Lock()
	c.found = &d
	c.mu.Unlock()
}

// emitDiscovery sends the discovery families. h is the hierarchy detected,
// nil when none was.
func (c *Collector) emitDiscovery(ch *collector.Sink, h *cgroups.Hierarchy) {
	for _, ep := range c.cfg.RuntimeEndpoints {
		ch.Send(runtimeEndpointDesc.Metric(1, ep, endpointState(ep)))
	}
	all := strconv.FormatBool(c.cfg.AllCgroups)
	if h == nil {
		ch.Send(discoveryInfoDesc.Metric(1, "none", "", all))
		return
	}
	ch.Send(discoveryInfoDesc.Metric(1, h.Layout(), strings.Join(h.Walked(c.cfg.AllCgroups), ","), all))
	// One series per mount: co-mounted controllers (cpu,cpuacct) share one.
	byMount := map[string][]string{}
	for ctrl, m := range h.V1 {
		byMount[m] = append(byMount[m], ctrl)
	}
	for _, m := range slices.Sorted(func(yield func(string) bool) {
		for m := range byMount {
			if !yield(m) {
				return
			}
		}
	}) {
		ctrls := byMount[m]
		slices.Sort(ctrls)
		ch.Send(hierarchyInfoDesc.Metric(1, m, "v1", strings.Join(ctrls, ",")))
	}
	if h.Unified != "" {
		ch.Send(hierarchyInfoDesc.Metric(1, h.Unified, "v2", strings.Join(h.UnifiedControllers, ",")))
	}
	c.mu.Lock()
	d := c.found
	c.mu.Unlock()
	if d == nil {
		return
	}
	for _, k := range []cgroups.Kind{cgroups.KindRoot, cgroups.KindPod, cgroups.KindPodContainer, cgroups.KindContainer, cgroups.KindService, cgroups.KindOther} {
		ch.Send(discoveredDesc.Metric(float64(d.counts[k]), kindNames[k]))
	}
}

// endpointState says what is at a runtime socket's path, without dialling
// it (the resolver dials only when a container needs a name).
func endpointState(path string) string {
	path = strings.TrimPrefix(path, "unix://")
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "missing"
	case err != nil:
		return "unreadable"
	case st.Mode()&fs.ModeSocket == 0:
		return "not-a-socket"
	}
	return "socket"
}
