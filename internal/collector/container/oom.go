package container

import (
	"sync"
	"time"

	"github.com/panoptes-dev/panoptes/internal/cgroups"
)

// oomIdentityTTL is how long the OOM kills of a container identity that no
// cgroup holds any more are remembered: long enough for a container in
// CrashLoopBackOff (at most five minutes between restarts) or a cgroup that
// is recreated by hand; after it, the identity's counter starts again at 0,
// which Prometheus's rate() reads as a counter reset.
const oomIdentityTTL = time.Hour

// oomTracker makes container_oom_events_total count kills per container
// identity rather than per cgroup. The kernel's oom_kill counter (v1
// memory.oom_control, v2 memory.events) belongs to one cgroup and starts at
// 0 in a new one, and a restarted container is a new cgroup: a new
// container ID for Kubernetes, the same path made again otherwise. The
// tracker remembers the last count of every incarnation (cgroup path and
// creation time) of an identity and reports their sum, so that a container
// OOM-killed twice across a restart reads 2.
//
// A container killed for memory usually exits, and its cgroup is removed,
// before the next read of its counter: the kernel log's record of the kill
// (watchKmsg) is then added to the incarnation it names, if that is still
// the cgroup at that path (its creation time matches). Each incarnation
// counts the larger of its counter and its kernel log kills, so a kill seen
// both ways counts once.
type oomTracker struct {
	mu  sync.Mutex
	ids map[oomKey]*oomIdentity
	// gen numbers the calls of apply: an incarnation whose seen is not the
	// current gen was not present in the last one.
	gen uint64
	// byPath is the last incarnation read at each cgroup path, for the
	// kernel log's kills.
	byPath map[string]*oomCount
}

// oomIncarnation is one cgroup that held an identity.
type oomIncarnation struct {
	path  string
	start int64 // creation time, Unix ns; 0 when unknown
}

type oomIdentity struct {
	// retired is what the identity's gone incarnations counted.
	retired uint64
	// live is the last count read from each incarnation still present.
	live map[oomIncarnation]*oomCount
	// seen is when a cgroup of the identity was last present.
	seen time.Time
}

// oomCount is an incarnation's last count, and the apply that saw it.
type oomCount struct {
	kills, gen uint64
	// logged is the kills the kernel log named the incarnation's cgroup
	// in; start is the incarnation's creation time, to tell it from a
	// cgroup made again at its path.
	logged uint64
	start  int64
}

// total is what the incarnation counts: its counter, or the kernel log's
// kills when more (the counter was not read after the last one).
func (n *oomCount) total() uint64 { return max(n.kills, n.logged) }

// logged adds a kill the kernel log reported in the cgroup memcg, created
// at start (Unix ns, 0 if unknown), to the incarnation last read there,
// if that is the same cgroup. A kill in a cgroup no read has seen yet is
// left to its counter.
func (t *oomTracker) logged(memcg string, start int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.byPath[memcg]
	if n == nil || n.start != start {
		return false
	}
	n.logged++
	return true
}

// oomKey is a container identity: a struct rather than a joined string, so
// that looking one up allocates nothing.
type oomKey struct {
	kind                     cgroups.Kind
	namespace, pod, name, id string
}

// oomIdentityKey is what a container is across restarts: namespace, pod
// and container name for a named Kubernetes container (and namespace and
// pod for a pod's own cgroup), else its cgroup path.
func oomIdentityKey(ct *Container) oomKey {
	switch ct.Ref.Kind {
	case cgroups.KindPodContainer, cgroups.KindPod:
		if ct.Info.Pod != "" {
			return oomKey{kind: ct.Ref.Kind, namespace: ct.Info.Namespace, pod: ct.Info.Pod, name: ct.Info.Container}
		}
	}
	return oomKey{kind: cgroups.KindOther, id: ct.Ref.Path}
}

// apply replaces the OOM kill count of every container whose memory was read
// by its identity's total. complete says that cts is every cgroup present
// now (a full discovery and read, not one cut short by a cancelled
// context): only then is an incarnation missing from it gone, its count
// retired into the identity's total.
func (t *oomTracker) apply(cts []Container, now time.Time, complete bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ids == nil {
		t.ids = map[oomKey]*oomIdentity{}
		t.byPath = map[string]*oomCount{}
	}
	t.gen++
	keys := make([]*oomIdentity, len(cts))
	for i := range cts {
		ct := &cts[i]
		k := oomIdentityKey(ct)
		id := t.ids[k]
		if id == nil {
			id = &oomIdentity{live: map[oomIncarnation]*oomCount{}}
			t.ids[k] = id
		}
		id.seen = now
		keys[i] = id
		inc := oomIncarnation{path: ct.Ref.Path}
		if !ct.StartTime.IsZero() {
			inc.start = ct.StartTime.UnixNano()
		}
		n := id.live[inc]
		if n == nil {
			n = &oomCount{start: inc.start}
			id.live[inc] = n
		}
		n.gen = t.gen
		t.byPath[inc.path] = n
		if ct.Stats.HasMemory {
			// A count only grows within a cgroup; keep the larger, so
			// that a short read never takes kills back.
			n.kills = max(n.kills, ct.Stats.Memory.OOMKills)
		}
	}
	if complete {
		for k, id := range t.ids {
			for inc, n := range id.live {
				if n.gen != t.gen {
					id.retired += n.total()
					delete(id.live, inc)
					if t.byPath[inc.path] == n {
						delete(t.byPath, inc.path)
					}
				}
			}
			if len(id.live) == 0 && now.Sub(id.seen) > oomIdentityTTL {
				delete(t.ids, k)
			}
		}
	}
	for i := range cts {
		if !cts[i].Stats.HasMemory {
			continue
		}
		id := keys[i]
		total := id.retired
		for _, n := range id.live {
			total += n.total()
		}
		cts[i].Stats.Memory.OOMKills = total
	}
}
