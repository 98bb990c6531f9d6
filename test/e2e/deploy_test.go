package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// manifestContainer reads the one container of a workload manifest.
func manifestContainer(t *testing.T, path, kind string) (command, args []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Command []string `yaml:"command"`
						Args    []string `yaml:"args"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	if w.Kind != kind || len(w.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%s: kind %q with %d containers, want one %s container", path, w.Kind, len(w.Spec.Template.Spec.Containers), kind)
	}
	c := w.Spec.Template.Spec.Containers[0]
	return c.Command, c.Args
}

// TestDeployManifestArgs checks that the DaemonSet in deploy/agent runs the
// lean agent build with flags it accepts, so the manifest cannot drift from
// the CLI unnoticed.
func TestDeployManifestArgs(t *testing.T) {
	t.Parallel()
	command, args := manifestContainer(t, "../../deploy/agent/daemonset.yaml", "DaemonSet")
	if len(command) != 1 || command[0] != "/panoptes-agent" {
		t.Errorf("DaemonSet command %q, want the lean build [/panoptes-agent] the Dockerfile installs", command)
	}
	// --help makes cobra parse every flag and stop before serving.
	out, err := exec.Command(agentBin, append(args, "--help")...).CombinedOutput()
	if err != nil {
		t.Fatalf("panoptes-agent %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestServerDeployManifest: the StatefulSet in deploy/server passes flags
// the server accepts, and the server starts with the config of its
// ConfigMap (Kubernetes discovery, which cannot reach a cluster here, is
// logged and does not stop it).
func TestServerDeployManifest(t *testing.T) {
	t.Parallel()
	_, args := manifestContainer(t, "../../deploy/server/statefulset.yaml", "StatefulSet")
	if out, err := exec.Command(panoptesBin, append(args, "--help")...).CombinedOutput(); err != nil {
		t.Fatalf("panoptes %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	_, base := startServer(t, "--config.file=../../deploy/server/prometheus.yml")
	_, body := get(t, base+"/api/v1/status/config")
	for _, job := range []string{"panoptes-server", "node", "kubernetes-pods", "kubernetes-service-endpoints"} {
		if !strings.Contains(string(body), "job_name: "+job) {
			t.Errorf("running config lacks job %s: %s", job, body)
		}
	}
}

// TestAgentRejectsBadFlags: a bad flag value stops the agent (of the lean
// build and of the full one) at start with an error that names the flag,
// before it listens.
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
		for _, bin := range []string{agentBin, panoptesBin} {
			out, err := exec.Command(bin, append([]string{"agent"}, tc.args...)...).CombinedOutput()
			if err == nil {
				t.Errorf("%s agent %v: exited 0", filepath.Base(bin), tc.args)
				continue
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("%s agent %v: output lacks %q:\n%s", filepath.Base(bin), tc.args, tc.want, out)
			}
		}
	}
}

// TestAgentStopsOnSIGTERM: the agent, of the lean build and of the full
// one, shuts down cleanly, exit status 0, when Kubernetes (or a test) sends
// SIGTERM.
func TestAgentStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	for name, bin := range map[string]string{"lean": agentBin, "full": panoptesBin} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, base := startAgentBin(t, bin)
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
		})
	}
}
