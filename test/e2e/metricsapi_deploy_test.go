package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// TestMetricsAPIDeployManifests validates deploy/metrics-api with the real
// API server (kubectl apply --dry-run=server: every object, RBAC role
// references, the APIService; into the namespace monitoring, which a dry
// run does not create, but for the RoleBinding in kube-system) and checks that the Deployment's args, and the
// args of metrics-server's own components.yaml, are flags that
// `panoptes metrics-api` accepts.
func TestMetricsAPIDeployManifests(t *testing.T) {
	env := k8s.Start(t)
	env.Ensure(t, "/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "monitoring"}})
	out, err := kubectl(t, env, "apply", "--dry-run=server", "-k", "../../deploy/metrics-api")
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server -k deploy/metrics-api: %v\n%s", err, out)
	}
	for _, want := range []string{
		"serviceaccount/panoptes-metrics-api", "clusterrole.rbac.authorization.k8s.io/system:aggregated-metrics-reader",
		"clusterrole.rbac.authorization.k8s.io/system:panoptes-metrics-api", "clusterrolebinding.rbac.authorization.k8s.io/panoptes-metrics-api:system:auth-delegator",
		"rolebinding.rbac.authorization.k8s.io/panoptes-metrics-api-auth-reader", "service/panoptes-metrics-api",
		"deployment.apps/panoptes-metrics-api", "apiservice.apiregistration.k8s.io/v1beta1.metrics.k8s.io",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %s:\n%s", want, out)
		}
	}

	_, args := manifestContainer(t, "../../deploy/metrics-api/deployment.yaml", "Deployment")
	// metrics-server v0.8.0's components.yaml.
	metricsServerArgs := []string{"metrics-api", "--cert-dir=/tmp", "--secure-port=10250",
		"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname", "--kubelet-use-node-status-port", "--metric-resolution=15s"}
	for _, a := range [][]string{args, metricsServerArgs} {
		if out, err := exec.Command(panoptesBin, append(a, "--help")...).CombinedOutput(); err != nil {
			t.Errorf("panoptes %s: %v\n%s", strings.Join(a, " "), err, out)
		}
	}
	if out, err := exec.Command(panoptesBin, "metrics-api", "--no-such-flag", "--help").CombinedOutput(); err == nil {
		t.Errorf("an unknown flag was accepted: the check above cannot fail:\n%s", out)
	}
}
