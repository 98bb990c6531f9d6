package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// metricsServerAPIService is the APIService of metrics-server's
// components.yaml: v1beta1.metrics.k8s.io served by kube-system/metrics-server.
const metricsServerAPIService = `apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.metrics.k8s.io
  labels:
    k8s-app: metrics-server
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service:
    name: metrics-server
    namespace: kube-system
`

// manifestIDs returns kubectl's name of each object of a rendered manifest,
// "kind[.group]/name", in order.
func manifestIDs(t *testing.T, manifest string) []string {
	t.Helper()
	var ids []string
	dec := yaml.NewDecoder(strings.NewReader(manifest))
	for {
		var obj struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Metadata   struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		}
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		id := strings.ToLower(obj.Kind)
		if group, _, ok := strings.Cut(obj.APIVersion, "/"); ok {
			id += "." + group
		}
		ids = append(ids, id+"/"+obj.Metadata.Name)
	}
	return ids
}

// apiServiceBackend returns the namespace/name of the Service that
// v1beta1.metrics.k8s.io points at.
func apiServiceBackend(t *testing.T, env *k8s.Env) string {
	t.Helper()
	var as struct {
		Spec struct {
			Service struct{ Namespace, Name string }
		}
	}
	if err := json.Unmarshal(env.Call(t, 200, "GET", "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io", "", nil), &as); err != nil {
		t.Fatal(err)
	}
	return as.Spec.Service.Namespace + "/" + as.Spec.Service.Name
}

// TestInstall: `kubectl apply --server-side -k deploy/` passes the real API
// server's dry run and applies; `panoptes install` (server dry run, then for
// real, twice) applies the same objects over it and changes nothing the
// second time; each role's ServiceAccount may do what its role needs and
// not more; and the metrics-server guard: install refuses while
// metrics-server's APIService is registered and --replace-metrics-server
// takes it over, where kubectl's server-side apply reports a conflict only
// when kubectl's client-side apply did not make the APIService.
//
// Not parallel: it registers v1beta1.metrics.k8s.io, as the metrics API
// tests do, and removes it when done.
func TestInstall(t *testing.T) {
	env := k8s.Start(t)
	ctx := context.Background()
	deleteAPIService := func() {
		_, _, _ = env.Do(ctx, "DELETE", "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io", "", nil)
	}
	deleteAPIService()
	t.Cleanup(deleteAPIService)
	mustKubectl := func(args ...string) string {
		t.Helper()
		out, err := kubectl(t, env, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	install := func(args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(panoptesBin, append([]string{"install", "--kubeconfig=" + env.Kubeconfig}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			err = errors.Join(err, errors.New(stderr.String()))
		}
		return string(out), err
	}
	ids := manifestIDs(t, mustKubectl("kustomize", "../../deploy"))
	for _, want := range []string{"namespace/monitoring", "daemonset.apps/panoptes-agent", "statefulset.apps/panoptes-server",
		"deployment.apps/panoptes-state", "deployment.apps/panoptes-metrics-api", "apiservice.apiregistration.k8s.io/v1beta1.metrics.k8s.io"} {
		if !strings.Contains(strings.Join(ids, " "), want) {
			t.Errorf("deploy/ lacks %s: %v", want, ids)
		}
	}
	// Every object, in kubectl's words, with the given suffix.
	checkApplied := func(what, out, suffix string) {
		t.Helper()
		for _, id := range ids {
			if !strings.Contains(out, id+" serverside-applied"+suffix+"\n") {
				t.Errorf("%s did not apply %s:\n%s", what, id, out)
			}
		}
	}

	// A dry run stores nothing, the Namespace included, so the namespace
	// its other objects go into must exist before: on a new cluster the
	// dry run fails with namespaces "monitoring" not found. Shown here with
	// a namespace of this test's own, which is never created.
	fresh := "install-fresh-" + uniqueSuffix()
	printed, err := install("--dry-run", "--namespace="+fresh, "--roles=agent")
	if err != nil {
		t.Fatalf("panoptes install --dry-run --namespace=%s: %v", fresh, err)
	}
	cmd := exec.Command(k8s.Kubectl(t), "--kubeconfig="+env.Kubeconfig, "apply", "--server-side", "--dry-run=server", "-f", "-")
	cmd.Stdin = strings.NewReader(printed)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), `namespaces "`+fresh+`" not found`) {
		t.Errorf("server dry run into a namespace that does not exist: %v, want namespaces %q not found\n%s", err, fresh, out)
	}
	env.Ensure(t, "/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "monitoring"}})
	checkApplied("kubectl apply --server-side --dry-run=server -k deploy/",
		mustKubectl("apply", "--server-side", "--dry-run=server", "-k", "../../deploy"), " (server dry run)")
	checkApplied("kubectl apply --server-side -k deploy/", mustKubectl("apply", "--server-side", "-k", "../../deploy"), "")

	// panoptes install over it, with the manifests' image (kubectl's field
	// manager owns the image field now).
	out, err := install("--image=panoptes:latest", "--dry-run=server")
	if err != nil {
		t.Fatalf("panoptes install --dry-run=server: %v\n%s", err, out)
	}
	checkApplied("panoptes install --dry-run=server", out, " (server dry run)")
	out, err = install("--image=panoptes:latest")
	if err != nil {
		t.Fatalf("panoptes install: %v\n%s", err, out)
	}
	checkApplied("panoptes install", out, "")
	versions := func() string {
		return mustKubectl("get", "-f", "../../deploy/panoptes.yaml", "-o",
			`jsonpath={range .items[*]}{.kind}/{.metadata.name} {.metadata.resourceVersion}{"\n"}{end}`)
	}
	before := versions()
	if out, err := install("--image=panoptes:latest"); err != nil {
		t.Fatalf("panoptes install, again: %v\n%s", err, out)
	}
	if after := versions(); after != before {
		t.Errorf("a second panoptes install changed objects:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// What is in the cluster now is deploy/ exactly.
	if out, err := kubectl(t, env, "diff", "--server-side", "-k", "../../deploy"); err != nil {
		t.Errorf("kubectl diff -k deploy/ after panoptes install: %v\n%s", err, out)
	}
	// Another image conflicts with kubectl's field manager, as kubectl's
	// own apply would, until --force-conflicts.
	if out, err := install("--image=panoptes:v0.0.1"); err == nil || !strings.Contains(err.Error(), "--force-conflicts") {
		t.Errorf("panoptes install of another image over kubectl's apply: %v, want a conflict naming --force-conflicts\n%s", err, out)
	}
	if out, err := install("--image=panoptes:v0.0.1", "--force-conflicts"); err != nil {
		t.Errorf("panoptes install --force-conflicts: %v\n%s", err, out)
	}
	if got := mustKubectl("-n", "monitoring", "get", "daemonset/panoptes-agent", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); got != "panoptes:v0.0.1" {
		t.Errorf("agent image %q after --force-conflicts, want panoptes:v0.0.1", got)
	}
	// Back to deploy/'s image, so that kubectl's applies below meet no
	// conflict but the APIService's.
	if out, err := install("--image=panoptes:latest", "--force-conflicts"); err != nil {
		t.Fatalf("panoptes install --force-conflicts: %v\n%s", err, out)
	}

	t.Run("RBAC", func(t *testing.T) { installRBAC(t, env) })
	t.Run("MetricsServerGuard", func(t *testing.T) { installGuard(t, env, install, mustKubectl, deleteAPIService) })
}

// installRBAC: each role's ServiceAccount, as deploy/ binds it, may do the
// key things its role does, and not the others'. (kubectl auth can-i reads
// nodes/metrics as the node named metrics: subresources go in
// --subresource.)
func installRBAC(t *testing.T, env *k8s.Env) {
	for _, c := range []struct {
		sa  string
		yes [][]string
		no  [][]string
	}{
		{"panoptes-agent",
			// --kubelet-address's delegated authentication and authorization.
			[][]string{{"create", "tokenreviews.authentication.k8s.io"}, {"create", "subjectaccessreviews.authorization.k8s.io"}},
			[][]string{{"list", "pods"}, {"list", "nodes"}, {"get", "nodes", "--subresource=metrics"}, {"get", "secrets"}, {"create", "events"}}},
		{"panoptes-server",
			[][]string{{"list", "endpoints"}, {"watch", "endpointslices.discovery.k8s.io"}, {"list", "pods"}, {"watch", "nodes"},
				{"get", "nodes", "--subresource=metrics"}, {"get", "/metrics"}, {"create", "events"}, {"list", "namespaces"}},
			[][]string{{"create", "pods"}, {"delete", "endpoints"}, {"list", "secrets"}, {"get", "nodes", "--subresource=proxy"}, {"update", "configmaps"}}},
		{"panoptes-state",
			[][]string{{"list", "pods"}, {"watch", "nodes"}, {"list", "deployments.apps"}, {"watch", "jobs.batch"}, {"list", "secrets"},
				{"list", "leases.coordination.k8s.io"}},
			[][]string{{"get", "pods"}, {"create", "pods"}, {"get", "nodes", "--subresource=metrics"}, {"delete", "secrets"}, {"create", "tokenreviews.authentication.k8s.io"}}},
		{"panoptes-metrics-api",
			[][]string{{"get", "nodes", "--subresource=metrics"}, {"get", "nodes", "--subresource=stats"}, {"list", "pods"}, {"watch", "nodes"},
				{"create", "tokenreviews.authentication.k8s.io"}, {"create", "subjectaccessreviews.authorization.k8s.io"},
				{"get", "configmaps/extension-apiserver-authentication", "-n", "kube-system"}},
			[][]string{{"list", "secrets"}, {"get", "configmaps", "-n", "monitoring"}, {"delete", "pods"}, {"get", "nodes", "--subresource=proxy"}}},
	} {
		for _, want := range []struct {
			answer string
			cases  [][]string
		}{{"yes", c.yes}, {"no", c.no}} {
			for _, a := range want.cases {
				args := append([]string{"auth", "can-i", "--as=system:serviceaccount:monitoring:" + c.sa}, a...)
				out, _ := kubectl(t, env, args...) // exit status 1 means "no"
				if got := lastLine(out); got != want.answer {
					t.Errorf("%s: can-i %s: %q, want %s", c.sa, strings.Join(a, " "), out, want.answer)
				}
			}
		}
	}
}

// lastLine is kubectl auth can-i's answer, after any warnings.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// installGuard: with metrics-server's APIService registered, panoptes
// install refuses, printing and applying alike, and leaves it alone; with
// --replace-metrics-server it takes it over. kubectl's server-side apply of
// deploy/ is checked against the same APIService, created as kubectl create
// and as kubectl's client-side apply leave it.
func installGuard(t *testing.T, env *k8s.Env, install func(...string) (string, error), mustKubectl func(...string) string, deleteAPIService func()) {
	ms := filepath.Join(t.TempDir(), "metrics-server-apiservice.yaml")
	if err := os.WriteFile(ms, []byte(metricsServerAPIService), 0o600); err != nil {
		t.Fatal(err)
	}

	deleteAPIService()
	mustKubectl("create", "-f", ms)
	for _, args := range [][]string{{}, {"--dry-run"}, {"--dry-run=server"}} {
		out, err := install(append([]string{"--image=panoptes:latest"}, args...)...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("panoptes install %v with metrics-server registered: %v, want a non-zero exit status\n%s", args, err, out)
		}
		for _, want := range []string{"kube-system/metrics-server", "--replace-metrics-server", "Deployment"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("panoptes install %v: the error lacks %q: %v", args, want, err)
			}
		}
		if out != "" {
			t.Errorf("panoptes install %v printed before refusing:\n%s", args, out)
		}
	}
	if got := apiServiceBackend(t, env); got != "kube-system/metrics-server" {
		t.Fatalf("after the refusals the APIService points at %s", got)
	}

	// kubectl's server-side apply over `kubectl create`'s APIService: the
	// fields are kubectl-create's, and kubectl reports a conflict.
	out, err := kubectl(t, env, "apply", "--server-side", "-k", "../../deploy")
	if err == nil || !strings.Contains(out, "conflict") || !strings.Contains(out, ".spec.service.name") {
		t.Errorf("kubectl apply --server-side -k deploy/ over kubectl create's APIService: %v, want a conflict on .spec.service.name\n%s", err, out)
	}
	if got := apiServiceBackend(t, env); got != "kube-system/metrics-server" {
		t.Errorf("after kubectl's conflict the APIService points at %s", got)
	}

	out, err = install("--image=panoptes:latest", "--replace-metrics-server")
	if err != nil {
		t.Fatalf("panoptes install --replace-metrics-server: %v\n%s", err, out)
	}
	if !strings.Contains(out, "apiservice.apiregistration.k8s.io/v1beta1.metrics.k8s.io serverside-applied\n") {
		t.Errorf("panoptes install --replace-metrics-server did not apply the APIService:\n%s", out)
	}
	if got := apiServiceBackend(t, env); got != "monitoring/panoptes-metrics-api" {
		t.Errorf("after --replace-metrics-server the APIService points at %s, want monitoring/panoptes-metrics-api", got)
	}
	// Now it is ours: install needs no flag.
	if out, err := install("--image=panoptes:latest", "--dry-run"); err != nil {
		t.Errorf("panoptes install --dry-run with our APIService: %v\n%s", err, out)
	}

	// metrics-server installed with kubectl's client-side apply, as its
	// README says: kubectl's server-side apply (field manager kubectl)
	// first moves the client-side apply's fields to itself, and then
	// changes them without a conflict. The README says so; only panoptes
	// install's guard stops that.
	deleteAPIService()
	mustKubectl("apply", "-f", ms)
	if out, err := install("--image=panoptes:latest"); err == nil {
		t.Errorf("panoptes install over a client-side applied metrics-server APIService succeeded:\n%s", out)
	}
	mustKubectl("apply", "--server-side", "-k", "../../deploy")
	if got := apiServiceBackend(t, env); got != "monitoring/panoptes-metrics-api" {
		t.Errorf("kubectl apply --server-side -k deploy/ over a client-side applied metrics-server APIService: it points at %s, want monitoring/panoptes-metrics-api (taken over without a conflict)", got)
	}
}
