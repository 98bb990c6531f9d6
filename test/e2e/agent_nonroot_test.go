package e2e

import (
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/cgroup"
)

// nobody is the user and group the DaemonSet runs the agent as
// (runAsUser/runAsGroup 65534), as kube-prometheus runs node_exporter.
var nobody = &syscall.Credential{Uid: 65534, Gid: 65534}

// nonRootGaps are the families the agent may serve as root and not as
// nobody, with why; the test logs them and fails on any other family lost.
// None so far: on Debian 12 with cgroup v1 every family and series comes
// as nobody too (the README's "The agent without root").
var nonRootGaps = map[string]string{}

// startAs runs bin with args as cred (nil: as the test, root), from dir,
// stopped by pid when the test ends.
func startAs(t *testing.T, cred *syscall.Credential, dir, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	p := testkit.StartCmd(t, cmd)
	return &process{Process: p, cmd: p.Cmd, logs: p.Logs, done: p.Done}
}

// TestAgentNonRoot runs the lean agent build, the DaemonSet's binary, as
// root and as nobody (65534) side by side on this machine and compares
// what they serve: every host collector and the cgroup-based container
// metrics of a real pod container cgroup must work without root, and the
// host families must cover what node_exporter serves as nobody. The
// container runtime's socket (root-owned, 0660, as containerd's) is out of
// nobody's reach: the agent says so in its log and names containers by ID.
func TestAgentNonRoot(t *testing.T) {
	testkit.RequireRoot(t, "to run the agent as nobody (65534) and make cgroups")

	// The binary where nobody may run it: testkit builds into a 0700
	// directory.
	dir, err := os.MkdirTemp("", "panoptes-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "panoptes-agent")
	copyFile(t, agentBin, bin, 0o755)

	// A CRI socket as containerd leaves it: root:root, 0660. It never
	// answers CRI; what matters is whether nobody may connect.
	sock := filepath.Join(dir, "containerd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	if err := os.Chmod(sock, 0o660); err != nil {
		t.Fatal(err)
	}

	// A pod container's cgroup, as the kubelet's cgroupfs driver lays it
	// out, with a process of root's in it.
	uid := fmt.Sprintf("%s-%s-%s-%s-%s", randomHex(t, 4), randomHex(t, 2), randomHex(t, 2), randomHex(t, 2), randomHex(t, 6))
	id := randomHex(t, 32)
	path := "kubepods/burstable/pod" + uid + "/" + id
	mounts := cgroup.Make(t, path)
	sleeper := start(t, "sleep", "3600")
	cgroup.Join(t, mounts, path, sleeper.cmd.Process.Pid)
	cgroupID := "/" + path

	args := []string{"agent", "--listen=127.0.0.1:0", "--container-runtime-endpoint=" + sock}
	rootAgent, rootURL := waitListening(t, startAs(t, nil, dir, bin, args...), "panoptes agent as root")
	nobodyAgent, nobodyURL := waitListening(t, startAs(t, nobody, dir, bin, args...), "panoptes agent as nobody")
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", nobodyAgent.cmd.Process.Pid)); err != nil || !strings.Contains(string(st), "\nUid:\t65534\t65534\t65534\t65534\n") {
		t.Fatalf("the agent does not run as nobody (%v):\n%s", err, st)
	}
	asRoot := scrape(t, rootURL+"/metrics")
	asNobody := scrape(t, nobodyURL+"/metrics")

	// What works without root: every collector, as with root.
	rootOK, nobodyOK := collectorSuccess(asRoot), collectorSuccess(asNobody)
	for _, name := range slices.Sorted(maps.Keys(rootOK)) {
		if rootOK[name] && !nobodyOK[name] {
			t.Errorf("collector %s succeeds as root and fails as nobody", name)
		}
	}
	t.Logf("collectors succeeding as nobody: %d of %d (%s)", countTrue(nobodyOK), len(nobodyOK), strings.Join(slices.Sorted(maps.Keys(nobodyOK)), ","))

	// What does not: families, and series within the families both serve.
	var lost []string
	for _, name := range slices.Sorted(maps.Keys(asRoot)) {
		mf, ok := asNobody[name]
		switch {
		case !ok:
			lost = append(lost, name)
			if why, known := nonRootGaps[name]; known {
				t.Logf("not served as nobody: %s (%s)", name, why)
			} else {
				t.Errorf("family %s is served as root and not as nobody", name)
			}
		case len(mf.GetMetric()) < len(asRoot[name].GetMetric()):
			t.Logf("fewer series as nobody: %s (%d, root %d)", name, len(mf.GetMetric()), len(asRoot[name].GetMetric()))
		}
	}
	t.Logf("families: %d as root, %d as nobody; lost as nobody: %v", len(asRoot), len(asNobody), lost)

	// The cgroup-based container metrics, for the test's pod container.
	for _, fam := range []string{"container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_memory_usage_bytes", "container_processes", "container_spec_memory_limit_bytes", "container_last_seen"} {
		if _, ok := seriesValue(asNobody[fam], "id", cgroupID); !ok {
			t.Errorf("as nobody, no %s for %s", fam, cgroupID)
		}
	}
	if _, ok := seriesValue(asNobody["container_last_seen"], "name", id); !ok {
		t.Errorf("as nobody, the container ID does not stand in the name label of %s", cgroupID)
	}
	// The CRI socket: nobody may not connect, and the agent says so once
	// (it retries with a backoff, and names containers by ID meanwhile).
	waitLog(t, nobodyAgent, "CRI runtime unavailable")
	if logs := nobodyAgent.logs.String(); !strings.Contains(logs, "permission denied") {
		t.Errorf("the agent as nobody did not log permission denied on the CRI socket:\n%s", logs)
	}
	waitLog(t, rootAgent, "CRI runtime unavailable") // a socket that speaks no CRI
	if logs := rootAgent.logs.String(); strings.Contains(logs, "permission denied") {
		t.Errorf("the agent as root was denied the CRI socket:\n%s", logs)
	}

	// node_exporter as nobody, with the same collectors: every node_*
	// family it serves, the agent serves as nobody too.
	t.Run("node_exporter as nobody", func(t *testing.T) {
		ne := requirePeer(t, "prometheus-node-exporter")
		neAddr := freePort(t)
		neArgs := []string{"--web.listen-address=" + neAddr, "--collector.disable-defaults"}
		for _, n := range defaultCollectors() {
			neArgs = append(neArgs, "--collector."+n)
		}
		startAs(t, nobody, dir, ne, neArgs...)
		waitHTTP(t, "http://"+neAddr+"/metrics")
		want := scrape(t, "http://"+neAddr+"/metrics")
		var missing []string
		for name := range want {
			if strings.HasPrefix(name, "node_") && name != "node_exporter_build_info" {
				if _, ok := asNobody[name]; !ok {
					missing = append(missing, name)
				}
			}
		}
		slices.Sort(missing)
		if len(missing) > 0 {
			t.Errorf("node_exporter as nobody serves %d families the agent as nobody does not: %v", len(missing), missing)
		}
		neOK := collectorSuccess(want)
		for name, ok := range neOK {
			if ok && !nobodyOK[name] {
				t.Errorf("collector %s: succeeds in node_exporter as nobody, fails in the agent as nobody", name)
			}
		}
	})
}

// collectorSuccess maps each collector to node_scrape_collector_success.
func collectorSuccess(mfs map[string]*dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for _, m := range mfs["node_scrape_collector_success"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "collector" {
				out[l.GetValue()] = m.GetGauge().GetValue() == 1
			}
		}
	}
	return out
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// waitLog waits until p has logged s.
func waitLog(t *testing.T, p *process, s string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the log to say %q", s), func() bool { return strings.Contains(p.logs.String(), s) })
}

// copyFile copies src to dst with mode.
func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// podSpec is what TestDeployLimits reads of a workload manifest.
type podSpec struct {
	TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
		RunAsUser    *int  `yaml:"runAsUser"`
		RunAsGroup   *int  `yaml:"runAsGroup"`
	} `yaml:"securityContext"`
	Containers []struct {
		Env []struct {
			Name      string `yaml:"name"`
			ValueFrom struct {
				ResourceFieldRef struct {
					Resource string `yaml:"resource"`
				} `yaml:"resourceFieldRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		Resources struct {
			Limits map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		VolumeMounts []struct {
			Name     string `yaml:"name"`
			ReadOnly bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	} `yaml:"containers"`
	Volumes []struct {
		Name     string `yaml:"name"`
		HostPath *struct {
			Path string `yaml:"path"`
		} `yaml:"hostPath"`
	} `yaml:"volumes"`
}

func readPodSpec(t *testing.T, path string) podSpec {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		Spec struct {
			Template struct {
				Spec podSpec `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return w.Spec.Template.Spec
}

// TestDeployLimits: the DaemonSet runs the agent as nobody with
// runAsNonRoot and mounts only the host's /proc, /sys and /, read-only;
// every role with a memory limit gets GOMEMLIMIT from it; the server has
// the grace period its remote-write flush (one minute) and TSDB shutdown
// need.
func TestDeployLimits(t *testing.T) {
	t.Parallel()
	ds := readPodSpec(t, "../../deploy/agent/daemonset.yaml")
	sc := ds.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65534 || sc.RunAsGroup == nil || *sc.RunAsGroup != 65534 {
		t.Errorf("DaemonSet securityContext %+v: want runAsNonRoot, runAsUser and runAsGroup 65534", sc)
	}
	hostPaths := map[string]string{}
	for _, v := range ds.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
			if !slices.Contains([]string{"/proc", "/sys", "/"}, v.HostPath.Path) {
				t.Errorf("DaemonSet mounts the host's %s: node_exporter reads only /proc, /sys and /", v.HostPath.Path)
			}
		}
	}
	for _, m := range ds.Containers[0].VolumeMounts {
		if p, host := hostPaths[m.Name]; host && !m.ReadOnly {
			t.Errorf("DaemonSet mounts the host's %s writable", p)
		}
	}
	for _, path := range []string{"../../deploy/agent/daemonset.yaml", "../../deploy/server/statefulset.yaml", "../../deploy/state/deployment.yaml"} {
		for _, c := range readPodSpec(t, path).Containers {
			if c.Resources.Limits["memory"] == "" {
				continue
			}
			ok := false
			for _, e := range c.Env {
				ok = ok || (e.Name == "GOMEMLIMIT" && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory")
			}
			if !ok {
				t.Errorf("%s: a memory limit of %s without GOMEMLIMIT from resourceFieldRef limits.memory", path, c.Resources.Limits["memory"])
			}
		}
	}
	if g := readPodSpec(t, "../../deploy/server/statefulset.yaml").TerminationGracePeriodSeconds; g == nil || *g < 90 {
		t.Errorf("server terminationGracePeriodSeconds %v: want room for the one-minute remote-write flush and the TSDB's close", g)
	}
}
