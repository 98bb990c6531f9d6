package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// TestStateDeploy: deploy/state (kustomize) validates with
// `kubectl apply --dry-run=server` against the real API server; its
// ClusterRole grants list and watch and nothing else, on exactly the
// resources served by default; and panoptes state, run with the
// Deployment's arguments as its ServiceAccount, finds no resource forbidden.
func TestStateDeploy(t *testing.T) {
	env := k8s.Start(t)
	kubectl := k8s.Kubectl(t)
	sfx := uniqueSuffix()
	ns := "state-deploy-" + sfx
	env.Call(t, 201, "POST", "/api/v1/namespaces", "", map[string]any{"metadata": map[string]any{"name": ns}})

	run := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig=" + env.Kubeconfig}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
		}
		return out
	}
	manifests := run(nil, "kustomize", "../../deploy/state")
	// Into a namespace and cluster-wide names of this test's own, so that
	// the test can run against a reused API server.
	manifests = bytes.ReplaceAll(manifests, []byte("namespace: monitoring"), []byte("namespace: "+ns))
	manifests = bytes.ReplaceAll(manifests, []byte("name: panoptes-state\n"), []byte("name: panoptes-state-"+sfx+"\n"))
	out := run(manifests, "apply", "--dry-run=server", "-f", "-")
	t.Logf("dry run:\n%s", out)
	for _, kind := range []string{"serviceaccount", "clusterrole", "clusterrolebinding", "deployment", "service"} {
		if !regexp.MustCompile(`(?m)^` + kind + `[./]`).Match(out) {
			t.Errorf("dry run did not report a %s:\n%s", kind, out)
		}
	}
	run(manifests, "apply", "-f", "-")
	t.Cleanup(func() {
		cmd := exec.Command(kubectl, "--kubeconfig="+env.Kubeconfig, "delete", "--wait=false", "-f", "-")
		cmd.Stdin = bytes.NewReader(manifests)
		_ = cmd.Run()
	})

	var granted []string
	var args []string
	dec := yaml.NewDecoder(bytes.NewReader(manifests))
	for {
		var obj struct {
			Kind  string `yaml:"kind"`
			Rules []struct {
				APIGroups []string `yaml:"apiGroups"`
				Resources []string `yaml:"resources"`
				Verbs     []string `yaml:"verbs"`
			} `yaml:"rules"`
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
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch obj.Kind {
		case "ClusterRole":
			for _, r := range obj.Rules {
				if strings.Join(r.Verbs, ",") != "list,watch" {
					t.Errorf("ClusterRole rule %v grants %v; want list and watch only", r.Resources, r.Verbs)
				}
				granted = append(granted, r.Resources...)
			}
		case "Deployment":
			args = obj.Spec.Template.Spec.Containers[0].Args
		}
	}
	sort.Strings(granted)

	// As the ServiceAccount, with the Deployment's arguments (but on
	// loopback ports and with a kubeconfig instead of the in-cluster one).
	if len(args) == 0 || args[0] != "state" {
		t.Fatalf("Deployment args %q, want the state role", args)
	}
	var keep []string
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "--port") && !strings.HasPrefix(a, "--telemetry-port") {
			keep = append(keep, a)
		}
	}
	_, _, telemetry := startStateReady(t, append(keep, "--kubeconfig="+env.ServiceAccountKubeconfig(t, ns, "panoptes-state-"+sfx))...)
	// Which resources are served is settled at start; poll until the
	// telemetry shows it rather than assume how soon.
	eventually(t, time.Minute, func() string { // only against a hang
		var served, forbidden []string
		for _, line := range scrapeSeries(t, telemetry)["panoptes_state_resource_enabled"] {
			res := between(line, `resource="`, `"`)
			served = append(served, res)
			if strings.Contains(line, `reason="forbidden"`) {
				forbidden = append(forbidden, res)
			}
		}
		sort.Strings(served)
		var msg []string
		if len(forbidden) > 0 {
			msg = append(msg, fmt.Sprintf("resources forbidden to deploy/state's ServiceAccount: %v", forbidden))
		}
		if strings.Join(served, ",") != strings.Join(granted, ",") {
			msg = append(msg, fmt.Sprintf("ClusterRole grants %v;\nserved by default %v", granted, served))
		}
		return strings.Join(msg, "\n")
	})
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}
