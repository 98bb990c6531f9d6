package kubelet

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/panoptes-dev/panoptes/internal/collector/container"
)

// decodeSummary decodes /stats/summary into the real v1alpha1.Summary,
// refusing any field the real type does not have.
func decodeSummary(t *testing.T, b []byte) statsapi.Summary {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s statsapi.Summary
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("decode into v1alpha1.Summary: %v\n%s", err, b)
	}
	return s
}

// TestSummaryShape decodes the full and the CPU-and-memory summaries into
// the real k8s.io/kubelet v1alpha1.Summary and checks the values that came
// through.
func TestSummaryShape(t *testing.T) {
	src := &fakeSource{snaps: []container.Snapshot{fixtureSnapshot(0), fixtureSnapshot(1)}}
	h := newSummary(src)
	body(t, get(t, h, "/stats/summary"))
	full := decodeSummary(t, body(t, get(t, h, "/stats/summary")))
	cpuMem := decodeSummary(t, body(t, get(t, h, "/stats/summary?only_cpu_and_memory=true")))

	t1 := t0.Add(10 * time.Second)
	sec := func(tm time.Time) time.Time { return tm.Truncate(time.Second) }
	n := full.Node
	if n.NodeName != "node-a" {
		t.Errorf("nodeName = %q", n.NodeName)
	}
	if want := time.Date(2026, 4, 30, 7, 59, 30, 0, time.UTC); !n.StartTime.Time.Equal(want) {
		t.Errorf("full node startTime = %v, want the boot time %v", n.StartTime, want)
	}
	if want := time.Date(2026, 4, 30, 8, 0, 0, 0, time.UTC); !cpuMem.Node.StartTime.Time.Equal(want) {
		t.Errorf("CPU-and-memory node startTime = %v, want the root cgroup's %v", cpuMem.Node.StartTime, want)
	}
	if n.CPU == nil || !n.CPU.Time.Time.Equal(sec(t1)) || n.CPU.UsageCoreNanoSeconds == nil || *n.CPU.UsageCoreNanoSeconds != 123481789012345 ||
		n.CPU.UsageNanoCores == nil || *n.CPU.UsageNanoCores != 2_500_000_000 {
		t.Errorf("node cpu = %+v", n.CPU)
	}
	if m := n.Memory; m == nil || *m.WorkingSetBytes != 6<<30 || *m.UsageBytes != 8<<30 || *m.RSSBytes != 4<<30 ||
		m.AvailableBytes == nil || *m.AvailableBytes != 10<<30 {
		t.Errorf("node memory = %+v", n.Memory)
	}
	if n.Swap == nil || *n.Swap.SwapUsageBytes != 256<<20 {
		t.Errorf("node swap = %+v", n.Swap)
	}
	if nw := n.Network; nw == nil || nw.Name != "eth0" || *nw.RxBytes != 5_000_000 || *nw.TxErrors != 1 || len(nw.Interfaces) != 2 {
		t.Errorf("node network = %+v", n.Network)
	}
	if cpuMem.Node.Network != nil {
		t.Errorf("only_cpu_and_memory: node network %+v", cpuMem.Node.Network)
	}

	if len(full.Pods) != 2 {
		t.Fatalf("%d pods, want 2", len(full.Pods))
	}
	web, dns := full.Pods[0], full.Pods[1]
	if web.PodRef != (statsapi.PodReference{Name: "web-0", Namespace: "default", UID: uidWeb}) {
		t.Errorf("podRef = %+v", web.PodRef)
	}
	if want := time.Date(2026, 5, 1, 9, 0, 1, 0, time.UTC); !web.StartTime.Time.Equal(want) {
		t.Errorf("pod startTime = %v, want the sandbox's %v", web.StartTime, want)
	}
	var names []string
	for _, c := range append(web.Containers, dns.Containers...) {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "app,sidecar,coredns,metrics" {
		t.Errorf("containers = %s (the sandboxes and the unnamed container must be left out)", got)
	}
	app := web.Containers[0]
	if *app.CPU.UsageCoreNanoSeconds != 255_250_000_000 || *app.CPU.UsageNanoCores != 500_000_000 ||
		*app.Memory.WorkingSetBytes != 180<<20 || *app.Memory.AvailableBytes != 220<<20 || *app.Swap.SwapUsageBytes != 1<<20 {
		t.Errorf("app = cpu %+v memory %+v swap %+v", app.CPU, app.Memory, app.Swap)
	}
	if want := time.Date(2026, 5, 1, 9, 0, 2, 0, time.UTC); !app.StartTime.Time.Equal(want) {
		t.Errorf("app startTime = %v, want %v (to the second)", app.StartTime, want)
	}
	if m := dns.Containers[1].Memory; m == nil || *m.WorkingSetBytes != 0 || m.UsageBytes != nil {
		t.Errorf("a container without the memory controller: memory %+v, want a zero working set only", m)
	}
	if *web.CPU.UsageNanoCores != 750_000_000 || *web.Memory.WorkingSetBytes != 200<<20 {
		t.Errorf("web pod cpu %+v memory %+v", web.CPU, web.Memory)
	}
	if web.Network == nil || web.Network.Name != "eth0" || *web.Network.RxErrors != 1 {
		t.Errorf("web pod network = %+v", web.Network)
	}
	if web.ProcessStats == nil || *web.ProcessStats.ProcessCount != 5 {
		t.Errorf("web pod process_stats = %+v", web.ProcessStats)
	}
	if p := cpuMem.Pods[0]; p.Network != nil || p.ProcessStats != nil || p.CPU.UsageNanoCores == nil {
		t.Errorf("only_cpu_and_memory pod: network %+v process_stats %+v cpu %+v", p.Network, p.ProcessStats, p.CPU)
	}
}

// TestSummaryFirstReading: the first summary has no usageNanoCores yet, as
// a kubelet that has read a cgroup only once.
func TestSummaryFirstReading(t *testing.T) {
	h := newSummary(&fakeSource{snaps: []container.Snapshot{fixtureSnapshot(0)}})
	b := body(t, get(t, h, "/stats/summary"))
	if bytes.Contains(b, []byte("usageNanoCores")) {
		t.Errorf("usageNanoCores on the first reading:\n%s", b)
	}
	decodeSummary(t, b)
}

// TestSummaryTypesMirror walks this package's summary types and checks that
// each JSON field exists in the real type with the same name, omitempty and
// kind: stronger than decoding, which sees only the fields a fixture fills.
func TestSummaryTypesMirror(t *testing.T) {
	mirror(t, "Summary", reflect.TypeFor[Summary](), reflect.TypeFor[statsapi.Summary]())
}

type jsonField struct {
	typ       reflect.Type
	omitempty bool
}

// jsonFields lists a struct's JSON fields, embedded structs flattened.
func jsonFields(t reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = jsonField{f.Type, strings.Contains(opts, "omitempty")}
	}
	return out
}

var timeTypes = map[reflect.Type]bool{reflect.TypeFor[Time](): true}

func mirror(t *testing.T, path string, ours, theirs reflect.Type) {
	t.Helper()
	if ours.Kind() == reflect.Pointer || ours.Kind() == reflect.Slice {
		if theirs.Kind() != ours.Kind() {
			t.Errorf("%s: %v, the real type has %v", path, ours, theirs)
			return
		}
		mirror(t, path, ours.Elem(), theirs.Elem())
		return
	}
	if timeTypes[ours] {
		if theirs.String() != "v1.Time" {
			t.Errorf("%s: a time, the real type has %v", path, theirs)
		}
		return
	}
	if ours.Kind() != reflect.Struct {
		if ours.Kind() != theirs.Kind() {
			t.Errorf("%s: %v, the real type has %v", path, ours, theirs)
		}
		return
	}
	real := jsonFields(theirs)
	for name, f := range jsonFields(ours) {
		rf, ok := real[name]
		if !ok {
			t.Errorf("%s.%s: not in the real %v", path, name, theirs)
			continue
		}
		if f.omitempty != rf.omitempty {
			t.Errorf("%s.%s: omitempty %v, the real type's %v", path, name, f.omitempty, rf.omitempty)
		}
		mirror(t, path+"."+name, f.typ, rf.typ)
	}
}
