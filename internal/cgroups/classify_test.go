package cgroups

import (
	"path"
	"strings"
	"testing"
)

const (
	classifyTestID  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	classifyTestUID = "6b0c5e1a-1f2e-4d3c-9b8a-7f6e5d4c3b2a"
	classifyTestUs  = "6b0c5e1a_1f2e_4d3c_9b8a_7f6e5d4c3b2a" // the UID as the systemd driver writes it
	classifyTestMD5 = "3f5e6d8b4c2a19e7f0d1c2b3a4958677"     // a static pod's UID
)

func TestClassify(t *testing.T) {
	const id, uid, us = classifyTestID, classifyTestUID, classifyTestUs
	upper := strings.ToUpper(id)
	tests := []struct {
		in   string
		want Ref // Path defaults to in
	}{
		{in: "/", want: Ref{Kind: KindRoot}},
		{in: "", want: Ref{Path: "/", Kind: KindRoot}},
		{in: "/..", want: Ref{Path: "/", Kind: KindRoot}},
		{in: "//", want: Ref{Path: "/", Kind: KindRoot}},

		// Kubernetes, cgroupfs driver.
		{in: "/kubepods"},
		{in: "/kubepods/burstable"},
		{in: "/kubepods/besteffort"},
		{in: "/kubepods/pod" + uid, want: Ref{Kind: KindPod, PodUID: uid, QOSClass: "guaranteed"}},
		{in: "/kubepods/pod" + uid + "/" + id, want: Ref{Kind: KindPodContainer, PodUID: uid, QOSClass: "guaranteed", ContainerID: id}},
		{in: "/kubepods/burstable/pod" + uid, want: Ref{Kind: KindPod, PodUID: uid, QOSClass: "burstable"}},
		{in: "/kubepods/burstable/pod" + uid + "/" + id, want: Ref{Kind: KindPodContainer, PodUID: uid, QOSClass: "burstable", ContainerID: id}},
		{in: "/kubepods/besteffort/pod" + uid + "/" + id, want: Ref{Kind: KindPodContainer, PodUID: uid, QOSClass: "besteffort", ContainerID: id}},
		{in: "/kubepods/besteffort/pod" + uid + "/crio-" + id, want: Ref{Kind: KindPodContainer, PodUID: uid, QOSClass: "besteffort", ContainerID: id, Runtime: "crio"}},
		{in: "/kubepods/besteffort/pod" + classifyTestMD5, want: Ref{Kind: KindPod, PodUID: classifyTestMD5, QOSClass: "besteffort"}},
		{in: "kubepods/burstable/pod" + uid + "/" + id + "/", want: Ref{Path: "/kubepods/burstable/pod" + uid + "/" + id, Kind: KindPodContainer, PodUID: uid, QOSClass: "burstable", ContainerID: id}},
		{in: "/kubepods/burstable/pod" + uid + "/" + id + "/nested"},
		{in: "/kubepods/burstable/pod" + uid + "/" + upper},
		{in: "/kubepods/burstable/pod" + uid + "/" + id[:63]},
		{in: "/kubepods/burstable/pod" + uid + "/" + id + "0"},
		{in: "/kubepods/burstable/pod" + uid + "/crio-conmon-" + id},
		{in: "/kubepods/burstable/pod" + us},                   // underscores are the systemd driver's
		{in: "/kubepods/burstable/pod" + strings.ToUpper(uid)}, // not lowercase
		{in: "/kubepods/burstable/pod"},
		{in: "/kubepods/burstable/podfoo"},
		{in: "/kubepods/burstable/burstable/pod" + uid},
		{in: "/kubepods/guaranteed/pod" + uid},
		{in: "/kubepods/pod" + uid + "/" + id + "/" + id},

		// Kubernetes, systemd driver.
		{in: "/kubepods.slice"},
		{in: "/kubepods.slice/kubepods-burstable.slice"},
		{in: "/kubepods.slice/kubepods-pod" + us + ".slice", want: Ref{Kind: KindPod, PodUID: uid, QOSClass: "guaranteed"}},
		{in: "/kubepods.slice/kubepods-pod" + us + ".slice/cri-containerd-" + id + ".scope", want: Ref{Kind: KindPodContainer, PodUID: uid, QOSClass: "guaranteed", ContainerID: id, Runtime: "containerd"}},
		{in: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + us + ".slice", want: Ref{Kind: KindPod, PodUID: uid, QOSClass: "burstable"}},
		{in: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + us + ".slice/cri-containerd-" + id + ".scope", want: Ref{Kind: KindPodContainer, PodUID: uid, QOSClass: "burstable", ContainerID: id, Runtime: "containerd"}},
		{in: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + us + ".slice/crio-" + id + ".scope", want: Ref{Kind: KindPodContainer, PodUID: uid, QOSClass: "burstable", ContainerID: id, Runtime: "crio"}},
		{in: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + us + ".slice/docker-" + id + ".scope", want: Ref{Kind: KindPodContainer, PodUID: uid, QOSClass: "besteffort", ContainerID: id, Runtime: "docker"}},
		{in: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + classifyTestMD5 + ".slice", want: Ref{Kind: KindPod, PodUID: classifyTestMD5, QOSClass: "besteffort"}},
		{in: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + us + ".slice/crio-conmon-" + id + ".scope"},
		{in: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + us + ".slice/crio-" + id + ".scope/container"},
		{in: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + us + ".slice/cri-containerd-" + id},
		{in: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + us + ".slice/" + id},
		{in: "/kubepods.slice/kubepods-besteffort.slice/kubepods-burstable-pod" + us + ".slice"}, // QoS mismatch
		{in: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uid + ".slice"},
		{in: "/kubepods.slice/kubepods-pod" + us},
		{in: "/kubepods.slice/kubepods-burstable-pod" + us + ".slice"},

		// Plain containers.
		{in: "/docker"},
		{in: "/docker/" + id, want: Ref{Kind: KindContainer, ContainerID: id, Runtime: "docker"}},
		{in: "/docker/" + id + "/sub"},
		{in: "/docker/buildkit"},
		{in: "/docker/" + upper},
		{in: "/system.slice/docker-" + id + ".scope", want: Ref{Kind: KindContainer, ContainerID: id, Runtime: "docker"}},
		{in: "/system.slice/crio-" + id + ".scope", want: Ref{Kind: KindContainer, ContainerID: id, Runtime: "crio"}},
		{in: "/system.slice/docker-" + id},
		{in: "/system.slice/docker-" + id + ".scope/init"},
		{in: "/default/" + id, want: Ref{Kind: KindContainer, ContainerID: id, Runtime: "containerd"}},
		{in: "/k8s.io/" + id, want: Ref{Kind: KindContainer, ContainerID: id, Runtime: "containerd"}},
		{in: "/moby/" + id}, // an arbitrary containerd namespace is ambiguous
		{in: "/default/foo"},
		{in: "/machine.slice/libpod-" + id + ".scope", want: Ref{Kind: KindContainer, ContainerID: id, Runtime: "podman"}},
		{in: "/machine.slice/libpod-conmon-" + id + ".scope"},
		{in: "/libpod_parent/libpod-" + id, want: Ref{Kind: KindContainer, ContainerID: id, Runtime: "podman"}},
		{in: "/libpod_parent"},

		// systemd services.
		{in: "/system.slice"},
		{in: "/system.slice/sshd.service", want: Ref{Kind: KindService, Service: "sshd.service"}},
		{in: "/system.slice/containerd.service", want: Ref{Kind: KindService, Service: "containerd.service"}},
		{in: "/system.slice/docker.service", want: Ref{Kind: KindService, Service: "docker.service"}},
		{in: "/system.slice/system-getty.slice/getty@tty1.service", want: Ref{Kind: KindService, Service: "getty@tty1.service"}},
		{in: "/system.slice/a.slice/b.slice/c.service", want: Ref{Kind: KindService, Service: "c.service"}},
		{in: "/system.slice/a.scope/c.service"},
		{in: "/system.slice/.service"},
		{in: "/system.slice/.slice/c.service"},
		{in: "/system.slice/sshd.service/sub"},
		{in: "/system.slice/containerd.service/" + id},
		{in: "/system.slice/system-getty.slice"},
		{in: "/user.slice/user-1000.slice/user@1000.service"},
		{in: "/sshd.service"},
		{in: "/init.scope"},
	}
	for _, tt := range tests {
		want := tt.want
		if want.Path == "" {
			want.Path = tt.in
		}
		if got := Classify(tt.in); got != want {
			t.Errorf("Classify(%q)\n got %+v\nwant %+v", tt.in, got, want)
		}
	}
}

// TestClassifyAllocs checks that classifying a clean path allocates nothing,
// except the dashed UID of the systemd driver's pods.
func TestClassifyAllocs(t *testing.T) {
	for _, p := range []string{
		"/kubepods/burstable/pod" + classifyTestUID + "/" + classifyTestID,
		"/system.slice/system-getty.slice/getty@tty1.service",
		"/docker/" + classifyTestID,
		"/user.slice/user-1000.slice/session-3.scope",
	} {
		if n := testing.AllocsPerRun(100, func() { Classify(p) }); n != 0 {
			t.Errorf("Classify(%q): %v allocations, want 0", p, n)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"/", "", "..", "/kubepods/burstable/pod" + classifyTestUID + "/" + classifyTestID,
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + classifyTestUs + ".slice/crio-" + classifyTestID + ".scope",
		"/kubepods.slice/kubepods-pod" + classifyTestUs + ".slice",
		"/system.slice/docker-" + classifyTestID + ".scope", "/system.slice/a.slice/b.service",
		"/machine.slice/libpod-" + classifyTestID + ".scope", "/default/" + classifyTestID,
		"kubepods//pod" + classifyTestMD5 + "/../x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 64<<10 {
			return
		}
		r := Classify(in)
		if want := path.Clean("/" + in); r.Path != want {
			t.Fatalf("Classify(%q).Path = %q, want %q", in, r.Path, want)
		}
		if (r.Kind == KindRoot) != (r.Path == "/") {
			t.Fatalf("Classify(%q) = %+v: root kind for a non-root path or the reverse", in, r)
		}
		switch r.Kind {
		case KindOther, KindRoot:
			if r != (Ref{Path: r.Path, Kind: r.Kind}) {
				t.Fatalf("Classify(%q) = %+v: fields set for kind %d", in, r, r.Kind)
			}
		case KindPod, KindPodContainer:
			if !isPodUID(r.PodUID, '-') || (r.QOSClass != QOSGuaranteed && r.QOSClass != QOSBurstable && r.QOSClass != QOSBestEffort) {
				t.Fatalf("Classify(%q) = %+v: bad pod UID or QoS class", in, r)
			}
			if (r.Kind == KindPodContainer) != isContainerID(r.ContainerID) {
				t.Fatalf("Classify(%q) = %+v: bad container ID", in, r)
			}
		case KindContainer:
			if !isContainerID(r.ContainerID) || r.Runtime == "" || r.PodUID != "" {
				t.Fatalf("Classify(%q) = %+v", in, r)
			}
		case KindService:
			if !strings.HasSuffix(r.Path, "/"+r.Service) || !isUnitName(r.Service, ".service") {
				t.Fatalf("Classify(%q) = %+v", in, r)
			}
		default:
			t.Fatalf("Classify(%q) = %+v: unknown kind", in, r)
		}
		if r.ContainerID != "" && !strings.Contains(r.Path, r.ContainerID) {
			t.Fatalf("Classify(%q) = %+v: container ID not in the path", in, r)
		}
		// Classify is idempotent.
		if again := Classify(r.Path); again != r {
			t.Fatalf("Classify(%q) = %+v, but Classify(%q) = %+v", in, r, r.Path, again)
		}
	})
}
