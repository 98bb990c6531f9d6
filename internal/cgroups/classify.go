package cgroups

import (
	"path"
	"strings"
)

// Quality of service classes of Kubernetes pods, as Ref.QOSClass holds them.
const (
	QOSGuaranteed = "guaranteed"
	QOSBurstable  = "burstable"
	QOSBestEffort = "besteffort"
)

// classifyMaxSegs is how many leading path components Classify looks at; no
// layout it recognises is deeper.
const classifyMaxSegs = 5

// Classify tells what the cgroup at p, a path relative to the hierarchy root,
// holds, judging from the path alone. The returned Ref's Path is
// path.Clean("/" + p).
//
// It recognises, under cgroup v1 and v2 alike:
//
//   - "/": KindRoot;
//   - Kubernetes pods and their containers under the cgroupfs driver,
//     /kubepods[/burstable|/besteffort]/pod<uid>[/<id>|/crio-<id>], and the
//     systemd driver, /kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid>.slice
//     [/cri-containerd-<id>.scope|/crio-<id>.scope|/docker-<id>.scope];
//     the pod's QoS class is "guaranteed" when the path names none;
//   - plain containers: /docker/<id>, /system.slice/docker-<id>.scope,
//     /system.slice/crio-<id>.scope, containerd's /default/<id> and
//     /k8s.io/<id>, podman's /machine.slice/libpod-<id>.scope and
//     /libpod_parent/libpod-<id>;
//   - systemd services: /system.slice/<name>.service, also within a
//     sub-slice of system.slice (/system.slice/system-getty.slice/getty@tty1.service).
//
// A container ID is 64 lowercase hex digits and a pod UID 36 characters
// (8-4-4-4-12 lowercase hex digits; the systemd driver writes underscores for
// the dashes) or 32 lowercase hex digits (static pods); anything else, and
// every other path, is KindOther.
func Classify(p string) Ref {
	if len(p) > 0 && p[0] == '/' {
		p = path.Clean(p) // no allocation when p is already clean
	} else {
		p = path.Clean("/" + p)
	}
	ref := Ref{Path: p}
	if p == "/" {
		ref.Kind = KindRoot
		return ref
	}
	// p is clean and rooted: n components, no empty ones.
	n := strings.Count(p, "/")
	var seg [classifyMaxSegs]string
	rest := p[1:]
	for i := range seg {
		s, r, more := strings.Cut(rest, "/")
		seg[i] = s
		if !more {
			break
		}
		rest = r
	}
	switch seg[0] {
	case "kubepods":
		classifyKubeCgroupfs(&ref, &seg, n)
	case "kubepods.slice":
		classifyKubeSystemd(&ref, &seg, n)
	case "docker":
		if n == 2 && isContainerID(seg[1]) {
			ref.setContainer(seg[1], "docker")
		}
	case "default", "k8s.io":
		if n == 2 && isContainerID(seg[1]) {
			ref.setContainer(seg[1], "containerd")
		}
	case "libpod_parent":
		if id, ok := strings.CutPrefix(seg[1], "libpod-"); n == 2 && ok && isContainerID(id) {
			ref.setContainer(id, "podman")
		}
	case "machine.slice":
		if id, ok := scopeID(seg[1], "libpod-"); n == 2 && ok {
			ref.setContainer(id, "podman")
		}
	case "system.slice":
		classifySystemSlice(&ref, &seg, n)
	}
	return ref
}

func (r *Ref) setContainer(id, runtime string) {
	r.Kind = KindContainer
	r.ContainerID = id
	r.Runtime = runtime
}

// classifySystemSlice classifies the paths below /system.slice.
func classifySystemSlice(ref *Ref, seg *[classifyMaxSegs]string, n int) {
	if n == 2 {
		if id, ok := scopeID(seg[1], "docker-"); ok {
			ref.setContainer(id, "docker")
			return
		}
		if id, ok := scopeID(seg[1], "crio-"); ok {
			ref.setContainer(id, "crio")
			return
		}
	}
	// A service, directly in system.slice or in one of its sub-slices: the
	// last component is the unit, all those between are slices.
	unit := ref.Path[strings.LastIndexByte(ref.Path, '/')+1:]
	if !isUnitName(unit, ".service") {
		return
	}
	for mid := ref.Path[len("/system.slice/") : len(ref.Path)-len(unit)]; mid != ""; {
		var s string
		s, mid, _ = strings.Cut(mid, "/")
		if !isUnitName(s, ".slice") {
			return
		}
	}
	ref.Kind = KindService
	ref.Service = unit
}

// classifyKubeCgroupfs classifies the paths below /kubepods (cgroupfs driver).
func classifyKubeCgroupfs(ref *Ref, seg *[classifyMaxSegs]string, n int) {
	i, qos := 1, QOSGuaranteed
	if n > 1 && (seg[1] == QOSBurstable || seg[1] == QOSBestEffort) {
		i, qos = 2, seg[1]
	}
	if n <= i || n > i+2 {
		return // the kubepods or QoS cgroup, or below a container
	}
	uid, ok := strings.CutPrefix(seg[i], "pod")
	if !ok || !isPodUID(uid, '-') {
		return
	}
	if n == i+1 {
		ref.Kind, ref.PodUID, ref.QOSClass = KindPod, uid, qos
		return
	}
	id, runtime := seg[i+1], ""
	if s, ok := strings.CutPrefix(id, "crio-"); ok {
		id, runtime = s, "crio"
	}
	if !isContainerID(id) {
		return
	}
	ref.Kind, ref.PodUID, ref.QOSClass = KindPodContainer, uid, qos
	ref.ContainerID, ref.Runtime = id, runtime
}

// classifyKubeSystemd classifies the paths below /kubepods.slice (systemd
// driver).
func classifyKubeSystemd(ref *Ref, seg *[classifyMaxSegs]string, n int) {
	i, qos, prefix := 1, QOSGuaranteed, "kubepods-pod"
	switch seg[1] {
	case "kubepods-burstable.slice":
		i, qos, prefix = 2, QOSBurstable, "kubepods-burstable-pod"
	case "kubepods-besteffort.slice":
		i, qos, prefix = 2, QOSBestEffort, "kubepods-besteffort-pod"
	}
	if n <= i || n > i+2 {
		return
	}
	uid, ok := strings.CutPrefix(seg[i], prefix)
	if !ok {
		return
	}
	if uid, ok = strings.CutSuffix(uid, ".slice"); !ok || !isPodUID(uid, '_') {
		return
	}
	var id, runtime string
	if n == i+2 {
		switch name := seg[i+1]; {
		case strings.HasPrefix(name, "cri-containerd-"):
			id, ok = scopeID(name, "cri-containerd-")
			runtime = "containerd"
		case strings.HasPrefix(name, "crio-"):
			id, ok = scopeID(name, "crio-")
			runtime = "crio"
		case strings.HasPrefix(name, "docker-"):
			id, ok = scopeID(name, "docker-")
			runtime = "docker"
		default:
			ok = false
		}
		if !ok {
			return
		}
	}
	ref.PodUID = strings.ReplaceAll(uid, "_", "-")
	ref.QOSClass = qos
	if n == i+1 {
		ref.Kind = KindPod
		return
	}
	ref.Kind, ref.ContainerID, ref.Runtime = KindPodContainer, id, runtime
}

// scopeID returns the container ID of a systemd scope named
// <prefix><id>.scope.
func scopeID(name, prefix string) (string, bool) {
	id, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return "", false
	}
	if id, ok = strings.CutSuffix(id, ".scope"); !ok || !isContainerID(id) {
		return "", false
	}
	return id, true
}

// isUnitName reports whether s is a systemd unit name with the given suffix
// (".service", ".slice") and a non-empty name before it.
func isUnitName(s, suffix string) bool {
	return len(s) > len(suffix) && strings.HasSuffix(s, suffix)
}

// isContainerID reports whether s is 64 lowercase hex digits.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerHex(s[i]) {
			return false
		}
	}
	return true
}

// isPodUID reports whether s is a pod UID: 8-4-4-4-12 lowercase hex digits
// separated by sep, or 32 lowercase hex digits.
func isPodUID(s string, sep byte) bool {
	switch len(s) {
	case 32:
		for i := 0; i < len(s); i++ {
			if !isLowerHex(s[i]) {
				return false
			}
		}
		return true
	case 36:
		for i := 0; i < len(s); i++ {
			switch i {
			case 8, 13, 18, 23:
				if s[i] != sep {
					return false
				}
			default:
				if !isLowerHex(s[i]) {
					return false
				}
			}
		}
		return true
	}
	return false
}

func isLowerHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
}
