package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/cgroup"
)

// The helper processes of these tests are this test binary re-executed:
// the CPU burner is testkit's (testkit.StartBurner); with
// PANOPTES_E2E_HELPER=listen (see TestMain) it accepts TCP connections on
// PANOPTES_E2E_ADDR and counts bytes.
const helperEnv = "PANOPTES_E2E_HELPER"

// runHelper is called from TestMain when the binary runs as a helper.
func runHelper(kind string) {
	if kind == "listen" {
		ln, err := net.Listen("tcp", os.Getenv("PANOPTES_E2E_ADDR"))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("ready")
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(0)
			}
			go func() { _, _ = io.Copy(io.Discard, c); _ = c.Close() }()
		}
	}
	os.Exit(2)
}

// startHelper starts a helper process under the command line wrap (if any)
// and waits for its "ready" line. Kind "burn" is testkit's burner holding
// PANOPTES_E2E_MIB (from env) MiB once told to start; it answers
// "allocated".
func startHelper(t *testing.T, kind string, env []string, wrap ...string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	if kind == "burn" {
		var o testkit.BurnOptions
		for _, e := range env {
			if v, ok := strings.CutPrefix(e, "PANOPTES_E2E_MIB="); ok {
				o.MiB, _ = strconv.Atoi(v)
			}
		}
		b := testkit.StartBurner(t, o, wrap...)
		return b.Cmd, b.Stdin, b.Stdout
	}
	args := append(append([]string{}, wrap...), os.Args[0], "-test.run=^$")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(append(os.Environ(), helperEnv+"="+kind), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("helper %s did not start: %q %v", kind, line, err)
	}
	return cmd, stdin, out
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// seriesValue returns the value of the series of family whose label name
// has value want, and whether there is one.
func seriesValue(mf *dto.MetricFamily, label, want string) (float64, bool) {
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == want {
				switch {
				case m.Counter != nil:
					return m.GetCounter().GetValue(), true
				case m.Gauge != nil:
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// TestContainerCgroupsReported makes a pod container cgroup the way the
// kubelet's cgroupfs driver lays it out, runs a CPU burner that also holds
// 64 MiB in it, and checks the agent's cAdvisor-compatible metrics for it.
func TestContainerCgroupsReported(t *testing.T) {
	cgroup.RequireRoot(t)
	uid := fmt.Sprintf("%s-%s-%s-%s-%s", randomHex(t, 4), randomHex(t, 2), randomHex(t, 2), randomHex(t, 2), randomHex(t, 6))
	id := randomHex(t, 32)
	path := "kubepods/burstable/pod" + uid + "/" + id
	mounts := cgroup.Make(t, path)
	const mib = 64
	// The burner burns a fixed amount of CPU time, however long the loaded
	// machine takes to give it, and then idles holding its memory: its CPU
	// time and its cgroup's usage hold still while they are compared.
	burner := testkit.StartBurner(t, testkit.BurnOptions{MiB: mib, CPUSeconds: 0.5})
	cgroup.Join(t, mounts, path, burner.Pid())
	before := burner.CPUSeconds(t) // runtime start-up, outside the cgroup
	burner.Go(t)
	burner.WaitDone(t)

	_, base := startAgent(t)
	mfs := scrape(t, base+"/metrics")
	own := burner.CPUSeconds(t) - before
	cgroupID := "/" + path

	usage, ok := seriesValue(mfs["container_cpu_usage_seconds_total"], "id", cgroupID)
	if !ok {
		t.Fatalf("no container_cpu_usage_seconds_total for %s", cgroupID)
	}
	// The burner's own CPU time since it joined (in clock ticks of 10 ms)
	// against the cgroup's usage (in microseconds), both at rest: within
	// 10%.
	t.Logf("cpu usage %.3f s, burner's own rusage %.3f s", usage, own)
	if own < 0.45 || usage < 0.9*own-0.05 || usage > 1.1*own+0.05 {
		t.Errorf("cpu usage %.3f s, burner's own rusage %.3f s: not within 10%%, or the burner did not burn its 0.5 s", usage, own)
	}
	ws, ok := seriesValue(mfs["container_memory_working_set_bytes"], "id", cgroupID)
	if !ok || ws < mib<<20 {
		t.Errorf("working set %.0f bytes, want at least %d (present %v)", ws, mib<<20, ok)
	}
	if n, ok := seriesValue(mfs["container_processes"], "id", cgroupID); !ok || n < 1 {
		t.Errorf("container_processes = %v (present %v), want >= 1", n, ok)
	}
	if _, ok := seriesValue(mfs["container_cpu_usage_seconds_total"], "id", "/kubepods/burstable/pod"+uid); !ok {
		t.Errorf("the pod-level cgroup is not reported")
	}
	if name, ok := seriesValue(mfs["container_last_seen"], "name", id); !ok || name == 0 {
		t.Errorf("without a runtime the container ID should stand in the name label")
	}
	if _, ok := mfs["machine_cpu_cores"]; !ok {
		t.Errorf("machine_cpu_cores missing")
	}
}

// TestPodNetworkReported puts a pod's process in a network namespace of its
// own, linked to the host by a veth pair, sends it a known number of bytes
// and checks the pod's container_network_receive_bytes_total.
func TestPodNetworkReported(t *testing.T) {
	cgroup.RequireRoot(t)
	ip := requirePeer(t, "ip") // iproute2
	ns := "pnp" + randomHex(t, 4)
	hostIf, podIf := "vh"+randomHex(t, 3), "vp"+randomHex(t, 3)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", ns).Run() })
	run("link", "add", hostIf, "type", "veth", "peer", "name", podIf)
	t.Cleanup(func() { _ = exec.Command(ip, "link", "del", hostIf).Run() })
	run("link", "set", podIf, "netns", ns)
	// Link-local addresses: the pod is a test host of our own, reachable only over the veth.
	run("addr", "add", "169.254.77.1/30", "dev", hostIf)
	run("link", "set", hostIf, "up")
	run("-n", ns, "addr", "add", "169.254.77.2/30", "dev", podIf)
	run("-n", ns, "link", "set", podIf, "up")
	run("-n", ns, "link", "set", "lo", "up")

	uid := fmt.Sprintf("%s-%s-%s-%s-%s", randomHex(t, 4), randomHex(t, 2), randomHex(t, 2), randomHex(t, 2), randomHex(t, 6))
	id := randomHex(t, 32)
	path := "kubepods/besteffort/pod" + uid + "/" + id
	mounts := cgroup.Make(t, path)
	listener, _, _ := startHelper(t, "listen", []string{"PANOPTES_E2E_ADDR=169.254.77.2:7777"}, ip, "netns", "exec", ns)
	cgroup.Join(t, mounts, path, listener.Process.Pid)

	const payload = 3 << 20
	conn, err := net.DialTimeout("tcp", "169.254.77.2:7777", 5*time.Second)
	if err != nil {
		t.Fatalf("dial the pod: %v", err)
	}
	if _, err := conn.Write(make([]byte, payload)); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()

	// The bytes are counted on the pod's interface as the kernel delivers
	// them, which a loaded machine may do after the write returned: scrape
	// until they all are.
	_, base := startAgent(t)
	eventually(t, 60*time.Second, func() string {
		rx := scrape(t, base+"/metrics")["container_network_receive_bytes_total"]
		var got float64
		for _, m := range rx.GetMetric() {
			var idOK, ifOK bool
			for _, l := range m.GetLabel() {
				idOK = idOK || (l.GetName() == "id" && l.GetValue() == "/kubepods/besteffort/pod"+uid)
				ifOK = ifOK || (l.GetName() == "interface" && l.GetValue() == podIf)
			}
			if idOK && ifOK {
				got = m.GetCounter().GetValue()
			}
		}
		if got < payload {
			return fmt.Sprintf("pod received %.0f bytes on %s, want at least %d", got, podIf, payload)
		}
		return ""
	})
}
