package e2e

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestDeployManifestArgs checks that the DaemonSet in deploy/agent runs the
// agent with flags the binary accepts, so the manifest cannot drift from the
// CLI unnoticed.
func TestDeployManifestArgs(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../deploy/agent/daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Args []string `yaml:"args"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &ds); err != nil {
		t.Fatalf("parse daemonset.yaml: %v", err)
	}
	if ds.Kind != "DaemonSet" || len(ds.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("daemonset.yaml: kind %q with %d containers", ds.Kind, len(ds.Spec.Template.Spec.Containers))
	}
	args := ds.Spec.Template.Spec.Containers[0].Args
	// --help makes cobra parse every flag and stop before serving.
	out, err := exec.Command(panoptesBin, append(args, "--help")...).CombinedOutput()
	if err != nil {
		t.Fatalf("panoptes %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAgentRejectsBadFlags: a bad flag value stops the agent at start with an
// error that names the flag, before it listens.
func TestAgentRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--collector.netstat.fields=("}, "netstat"},
		{[]string{"--collector.cpu", "--no-collector.cpu"}, "contradict"},
		{[]string{"--collector.disable-defaults"}, "no collector is enabled"},
		{[]string{"--log.level=loud"}, "--log.level"},
		{[]string{"--listen=256.0.0.1:1"}, "listen"},
		{[]string{"--collector.nope"}, "unknown flag"},
	} {
		cmd := exec.Command(panoptesBin, append([]string{"agent"}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("agent %v: exited 0", tc.args)
			continue
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("agent %v: output lacks %q:\n%s", tc.args, tc.want, out)
		}
	}
}

// TestAgentStopsOnSIGTERM: the agent shuts down cleanly, exit status 0, when
// Kubernetes (or a test) sends SIGTERM.
func TestAgentStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	p, base := startAgent(t)
	if resp, _ := get(t, base+"/readyz"); resp.StatusCode != 200 {
		t.Fatalf("readyz: %s", resp.Status)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not exit within 10 s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0:\n%s", code, p.logs.String())
	}
}
