package ui

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/cgroups"
)

// TestContainersEmptyExplains: on a host with no container runtime and no
// systemd, the Containers page says what the agent looked for: the runtime
// sockets with what is at each path, the cgroup layout and hierarchies it
// walked, what it found there, and the flag that lists every cgroup.
//
// The agent reads a copy of this machine's mount table (its real cgroup
// layout) over an empty cgroup tree with one cgroup of no container's kind,
// and a root file system where containerd's socket listens and CRI-O's is
// absent: the real /sys may hold the containers of tests running beside
// this one.
func TestContainersEmptyExplains(t *testing.T) {
	requireChromium(t)
	dir := t.TempDir()
	procRoot, sysRoot, rootFS := filepath.Join(dir, "proc"), filepath.Join(dir, "sys"), filepath.Join(dir, "root")
	mi, err := os.ReadFile("/proc/1/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var mounts []string
	for line := range strings.SplitSeq(string(mi), "\n") {
		f := strings.Fields(line)
		for i := 6; i+1 < len(f); i++ {
			if f[i] == "-" && (f[i+1] == "cgroup" || f[i+1] == "cgroup2") && strings.HasPrefix(f[4], "/sys/") {
				mounts = append(mounts, f[4])
			}
		}
	}
	if len(mounts) == 0 {
		t.Skip("this machine mounts no cgroup hierarchy under /sys") // then the page says so, but the test checks a layout
	}
	mustMkdir := func(p string) {
		t.Helper()
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustMkdir(filepath.Join(procRoot, "1"))
	if err := os.WriteFile(filepath.Join(procRoot, "1", "mountinfo"), mi, 0o644); err != nil {
		t.Fatal(err)
	}
	// The machine's CPU count and memory, which the container collector
	// reports with the cgroups.
	for _, f := range []string{"stat", "meminfo"} {
		if err := os.Symlink(filepath.Join("/proc", f), filepath.Join(procRoot, f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range mounts {
		mustMkdir(filepath.Join(sysRoot, strings.TrimPrefix(m, "/sys/")))
	}
	// One cgroup of no container's kind in every hierarchy (a user's session
	// scope, as a login makes): listed only with all-cgroups.
	for _, m := range mounts {
		mustMkdir(filepath.Join(sysRoot, strings.TrimPrefix(m, "/sys/"), "session-1.scope"))
	}
	mustMkdir(filepath.Join(rootFS, "run", "containerd"))
	ln, err := net.Listen("unix", filepath.Join(rootFS, "run", "containerd", "containerd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })

	// What the page must say of the layout, as the agent detects it.
	h, err := cgroups.Detect(procRoot, sysRoot)
	if err != nil {
		t.Fatal(err)
	}
	layout := map[string]string{"v1": "cgroup v1", "v2": "cgroup v2", "hybrid": "hybrid"}[h.Layout()]

	s := startServer(t, "--path.procfs="+procRoot, "--path.sysfs="+sysRoot, "--path.rootfs="+rootFS)
	s.waitFor(t, `panoptes_container_discovered_cgroups{kind="other"} == 1`)
	b := newBrowser(t, 1400, 900)
	b.open(s.url("/#/containers?range=5m"))
	b.poll(`!!document.querySelector('.discovery-agent')`, time.Minute)
	text := eval[string](b, `document.querySelector('.nodata.discovery').innerText`)
	b.screenshot("containers-empty")
	t.Logf("the page says:\n%s", text)
	for _, want := range []string{
		"No container is reported yet.",
		filepath.Join(rootFS, "run/containerd/containerd.sock") + " (a socket)",
		filepath.Join(rootFS, "var/run/crio/crio.sock") + " (not there)",
		"--container-runtime-endpoint",
		"Cgroup layout: " + layout,
		"Walked " + strings.Join(h.Walked(false), ", ") + " and found 0 pods, 0 pod containers, 0 other containers, 0 systemd services, 1 other cgroups.",
		"To see every cgroup (1 more here), start the agent with --collector.container.all-cgroups.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the empty Containers page does not say %q; it says:\n%s", want, text)
		}
	}
	b.noPageErrors()
}
