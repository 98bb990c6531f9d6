package container

import (
	"testing"
)

var kmsgSeeds = []struct {
	rec   string
	memcg string
	ok    bool
}{
	{"6,3187,39543127517,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/job,task_memcg=/job,task=tail,pid=17311,uid=0\n", "/job", true},
	{"6,3187,39543127517,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-0123.scope,mems_allowed=0,oom_memcg=/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b0c5e1a_3f2d.slice/cri-containerd-0123.scope,task_memcg=/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b0c5e1a_3f2d.slice/cri-containerd-0123.scope,task=java,pid=4242,uid=1000\n SUBSYSTEM=memory\n",
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b0c5e1a_3f2d.slice/cri-containerd-0123.scope", true},
	// A global OOM kill of a task in the root cgroup.
	{"6,99,1,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task=stress,pid=1,uid=0", "/", true},
	{"3,3188,39543127533,-;Memory cgroup out of memory: Killed process 17311 (tail) total-vm:10940kB\n", "", false},
	{"4,3180,39543127400,-;tail invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0\n", "", false},
	{"6,1,1,-;oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=,task=x", "", false},
	{"6,1,1,-;oom-kill:constraint=CONSTRAINT_MEMCG,task_memcg=relative,task=x", "", false},
	{"", "", false},
}

func TestParseKmsgOOM(t *testing.T) {
	t.Parallel()
	for _, tc := range kmsgSeeds {
		memcg, ok := parseKmsgOOM([]byte(tc.rec))
		if memcg != tc.memcg || ok != tc.ok {
			t.Errorf("parseKmsgOOM(%q) = %q, %v; want %q, %v", tc.rec, memcg, ok, tc.memcg, tc.ok)
		}
	}
}

func FuzzParseKmsgOOM(f *testing.F) {
	for _, tc := range kmsgSeeds {
		f.Add([]byte(tc.rec))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		if len(rec) > kmsgMaxRecord {
			return
		}
		memcg, ok := parseKmsgOOM(rec)
		if ok != (memcg != "") || ok && memcg[0] != '/' {
			t.Errorf("parseKmsgOOM(%q) = %q, %v: want a rooted path exactly when ok", rec, memcg, ok)
		}
	})
}
