package install

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/panoptes-dev/panoptes/deploy"
	"github.com/panoptes-dev/panoptes/internal/option"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  func(*Options)
		want []string // the options named, in order
	}{
		{"defaults", func(*Options) {}, nil},
		{"registry image", func(o *Options) { o.Image = "registry.example:5000/team/panoptes:v1.2.3" }, nil},
		{"digest", func(o *Options) { o.Image = "panoptes@sha256:" + strings.Repeat("ab", 32) }, nil},
		{"empty image", func(o *Options) { o.Image = "" }, []string{"Image"}},
		{"image with space", func(o *Options) { o.Image = "panoptes: v1" }, []string{"Image"}},
		{"upper-case repository", func(o *Options) { o.Image = "Panoptes:v1" }, []string{"Image"}},
		{"namespace", func(o *Options) { o.Namespace = "Monitoring" }, []string{"Namespace"}},
		{"long namespace", func(o *Options) { o.Namespace = strings.Repeat("a", 64) }, []string{"Namespace"}},
		{"no role", func(o *Options) { o.Roles = nil }, []string{"Roles"}},
		{"unknown role", func(o *Options) { o.Roles = []string{"agent", "grafana"} }, []string{"Roles"}},
		{"dry run", func(o *Options) { o.DryRun = "true" }, []string{"DryRun"}},
		{"timeout", func(o *Options) { o.Timeout = 0 }, []string{"Timeout"}},
		{"several", func(o *Options) { o.Image, o.DryRun = "", "all" }, []string{"Image", "DryRun"}},
	} {
		o := NewOptions()
		tc.set(o)
		got := option.Names(o.Validate())
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: Validate names %v, want %v (%v)", tc.name, got, tc.want, o.Validate())
		}
	}
}

func TestImageTag(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]string{
		"":       "latest",
		"dev":    "latest",
		"v1.2.3": "v1.2.3",
		"v0.0.0-20261204153926-2ab1382a1b2c+dirty": "v0.0.0-20261204153926-2ab1382a1b2c-dirty",
		"2ab1382-dirty":          "2ab1382-dirty",
		"-x":                     "v-x",
		strings.Repeat("a", 200): strings.Repeat("a", 128),
	} {
		if got := imageTag(v); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", v, got, want)
		}
	}
	if !imageRef.MatchString(DefaultImage()) {
		t.Errorf("DefaultImage() %q is not a valid image reference", DefaultImage())
	}
}

// containers returns the image of every container and init container of
// the workloads in objs, by "kind/name/container".
func containers(t *testing.T, objs []*unstructured.Unstructured) map[string]string {
	t.Helper()
	images := map[string]string{}
	for _, u := range objs {
		for _, field := range []string{"containers", "initContainers"} {
			cs, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", field)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				m := c.(map[string]any)
				images[fmt.Sprintf("%s/%s/%s", u.GetKind(), u.GetName(), m["name"])], _ = m["image"].(string)
			}
		}
	}
	return images
}

// TestRenderDeploy: deploy/'s objects as rendered have the image asked for
// in every container of every role, the Namespace first, and the metrics
// API's APIService.
func TestRenderDeploy(t *testing.T) {
	t.Parallel()
	o := NewOptions()
	o.Image = "registry.example/panoptes:v9.9.9"
	objs, err := Render(deploy.Manifest, o)
	if err != nil {
		t.Fatal(err)
	}
	all, err := Parse(deploy.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != len(all) {
		t.Errorf("every role: %d objects rendered, the manifest has %d", len(objs), len(all))
	}
	if objs[0].GetKind() != "Namespace" || objs[0].GetName() != "monitoring" {
		t.Errorf("first object %s %s, want the Namespace monitoring", objs[0].GetKind(), objs[0].GetName())
	}
	apiServices := 0
	for _, u := range objs {
		if u.GetKind() == "APIService" && u.GetName() == metricsAPIServiceName {
			apiServices++
		}
	}
	if apiServices != 1 {
		t.Errorf("%d APIServices %s, want 1", apiServices, metricsAPIServiceName)
	}
	images := containers(t, objs)
	for _, w := range []string{"DaemonSet/panoptes-agent/agent", "StatefulSet/panoptes-server/server",
		"Deployment/panoptes-state/state", "Deployment/panoptes-metrics-api/metrics-api"} {
		if _, ok := images[w]; !ok {
			t.Errorf("no container %s in %v", w, images)
		}
	}
	for c, image := range images {
		if image != o.Image {
			t.Errorf("%s: image %q, want %q", c, image, o.Image)
		}
	}
	// The manifest itself is left as it was (panoptes:latest).
	for c, image := range containers(t, all) {
		if image != "panoptes:latest" {
			t.Errorf("deploy/ %s: image %q, want panoptes:latest as the kustomizations have it", c, image)
		}
	}
}

func TestRenderInitContainers(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/initcontainers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o := NewOptions()
	o.Image = "panoptes:v1"
	objs, err := Render(b, o)
	if err != nil {
		t.Fatal(err)
	}
	images := containers(t, objs)
	if len(images) != 3 {
		t.Fatalf("containers %v, want two init containers and one container", images)
	}
	for c, image := range images {
		if image != "panoptes:v1" {
			t.Errorf("%s: image %q, want panoptes:v1", c, image)
		}
	}
}

// TestRenderNamespace: with another namespace nothing is left in (or
// pointing at) monitoring, but the RoleBinding that must be in kube-system
// stays there.
func TestRenderNamespace(t *testing.T) {
	t.Parallel()
	o := NewOptions()
	o.Namespace = "observability"
	objs, err := Render(deploy.Manifest, o)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteYAML(&buf, objs); err != nil {
		t.Fatal(err)
	}
	// (monitoring.coreos.com, the server's API group for PrometheusRules
	// and monitors, is not a namespace.)
	if strings.Contains(strings.ReplaceAll(buf.String(), "monitoring.coreos.com", ""), "monitoring") {
		t.Errorf("rendered objects still mention monitoring:\n%s", buf.String())
	}
	var kubeSystem []string
	for _, u := range objs {
		switch ns := u.GetNamespace(); ns {
		case "", "observability":
		case "kube-system":
			kubeSystem = append(kubeSystem, u.GetKind()+"/"+u.GetName())
		default:
			t.Errorf("%s %s in namespace %q", u.GetKind(), u.GetName(), ns)
		}
		if u.GetKind() == "APIService" {
			if ns, _, _ := unstructured.NestedString(u.Object, "spec", "service", "namespace"); ns != "observability" {
				t.Errorf("APIService's Service in %q, want observability", ns)
			}
		}
	}
	if strings.Join(kubeSystem, ",") != "RoleBinding/panoptes-metrics-api-auth-reader" {
		t.Errorf("objects in kube-system: %v, want the RoleBinding to extension-apiserver-authentication-reader only", kubeSystem)
	}
	if objs[0].GetKind() != "Namespace" || objs[0].GetName() != "observability" {
		t.Errorf("first object %s %s, want the Namespace observability", objs[0].GetKind(), objs[0].GetName())
	}
}

func TestRenderRoles(t *testing.T) {
	t.Parallel()
	o := NewOptions()
	o.Roles = []string{"agent", "state"}
	objs, err := Render(deploy.Manifest, o)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, u := range objs {
		if u.GetKind() == "Namespace" {
			continue
		}
		seen[u.GetLabels()[roleLabel]] = true
		if u.GetKind() == "APIService" {
			t.Error("the APIService is rendered without the metrics-api role")
		}
	}
	if len(seen) != 2 || !seen["panoptes-agent"] || !seen["panoptes-state"] {
		t.Errorf("roles rendered %v, want panoptes-agent and panoptes-state", seen)
	}
}

// TestRenderRoundTrip: what WriteYAML prints parses back to the same
// objects, so `panoptes install --dry-run | kubectl apply -f -` applies what
// install would.
func TestRenderRoundTrip(t *testing.T) {
	t.Parallel()
	objs, err := Render(deploy.Manifest, NewOptions())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteYAML(&buf, objs); err != nil {
		t.Fatal(err)
	}
	back, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(objs) {
		t.Fatalf("%d objects printed, %d read back", len(objs), len(back))
	}
	for i := range objs {
		a, _ := objs[i].MarshalJSON()
		b, _ := back[i].MarshalJSON()
		if !bytes.Equal(a, b) {
			t.Errorf("object %d differs after printing:\n%s\n%s", i, a, b)
		}
	}
}

// unreachableKubeconfig writes a kubeconfig whose API server is a loopback
// port nothing listens on.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://` + addr + `", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return kc
}

// TestRunUnreachable: without --replace-metrics-server, a cluster that
// cannot be asked whether another metrics API is registered is an error,
// also for --dry-run; with it (or without the metrics API role) the
// objects are printed without asking.
func TestRunUnreachable(t *testing.T) {
	t.Parallel()
	kc := unreachableKubeconfig(t)
	for _, dryRun := range []string{DryRunClient, DryRunServer, DryRunNone} {
		o := NewOptions()
		o.Kubeconfig, o.DryRun = kc, dryRun
		var out bytes.Buffer
		err := Run(context.Background(), &out, o)
		if err == nil || !strings.Contains(err.Error(), "cannot check the cluster for another metrics API") ||
			!strings.Contains(err.Error(), "--replace-metrics-server") {
			t.Errorf("--dry-run=%s against an unreachable cluster: error %v, want one that says it cannot check and names --replace-metrics-server", dryRun, err)
		}
		if out.Len() > 0 {
			t.Errorf("--dry-run=%s: printed %q before failing", dryRun, out.String())
		}
	}

	for _, set := range []func(*Options){
		func(o *Options) { o.ReplaceMetricsServer = true },
		func(o *Options) { o.Roles = []string{"agent", "server", "state"} },
	} {
		o := NewOptions()
		o.Kubeconfig, o.DryRun = kc, DryRunClient
		set(o)
		var out bytes.Buffer
		if err := Run(context.Background(), &out, o); err != nil {
			t.Fatalf("roles %v, replace %v: %v", o.Roles, o.ReplaceMetricsServer, err)
		}
		want, err := Render(deploy.Manifest, o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(out.Bytes())
		if err != nil {
			t.Fatalf("printed objects: %v\n%s", err, out.String())
		}
		if len(got) != len(want) {
			t.Errorf("roles %v: printed %d objects, want %d", o.Roles, len(got), len(want))
		}
	}

	// Applying needs the cluster whatever the flags.
	o := NewOptions()
	o.Kubeconfig, o.ReplaceMetricsServer = kc, true
	if err := Run(context.Background(), new(bytes.Buffer), o); err == nil {
		t.Error("applying to an unreachable cluster succeeded")
	}
}
