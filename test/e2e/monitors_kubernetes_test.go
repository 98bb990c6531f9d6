package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// TestServerMonitors: `panoptes server --kubernetes.monitors`, with
// deploy/server's RBAC against the real API server with deploy/crds'
// ServiceMonitor, PodMonitor and Probe CRDs, scrapes a test server behind
// a Service and an EndpointSlice through a ServiceMonitor, and one in a
// Pod through a PodMonitor, with prometheus-operator's job names and
// labels; a ServiceMonitor with a bad relabel regex is reported (log line,
// gauge, Warning Event) and the others still apply.
func TestServerMonitors(t *testing.T) {
	env := k8s.Start(t)
	kubeconfig := serverKubeconfig(t, env)

	for _, crd := range []struct{ file, resource string }{
		{"servicemonitor.yaml", "servicemonitors"},
		{"podmonitor.yaml", "podmonitors"},
		{"probe.yaml", "probes"},
	} {
		b, err := os.ReadFile("../../deploy/crds/" + crd.file)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(b, &obj); err != nil {
			t.Fatalf("deploy/crds/%s: %v", crd.file, err)
		}
		env.Ensure(t, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", obj)
		deadline := time.Now().Add(60 * time.Second)
		for {
			code, _, err := env.Do(t.Context(), http.MethodGet, "/apis/monitoring.coreos.com/v1/"+crd.resource, "", nil)
			if err == nil && code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the %s CRD is not served: %d %v", crd.resource, code, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Two scraped servers on loopback: one behind the Service, one in the
	// Pod's named container port.
	target := func(metric string) int {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "# TYPE %s gauge\n%s 1\n", metric, metric)
		}))
		t.Cleanup(srv.Close)
		_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		return atoiT(t, port)
	}
	svcPort, podPort := target("monitors_service_probe"), target("monitors_pod_probe")

	ns := "monitors-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	env.Call(t, 201, "POST", "/api/v1/namespaces", "", map[string]any{"metadata": map[string]any{"name": ns}})
	env.Call(t, 201, "POST", "/api/v1/namespaces/"+ns+"/pods", "", map[string]any{
		"metadata": map[string]any{"name": "app", "labels": map[string]any{"app": "demo"}},
		"spec": map[string]any{"containers": []any{map[string]any{
			"name": "app", "image": "example.invalid/app",
			"ports": []any{map[string]any{"name": "metrics", "containerPort": podPort}},
		}}},
	})
	// No kubelet here: the test plays it, running the pod on loopback.
	env.Call(t, 200, "PATCH", "/api/v1/namespaces/"+ns+"/pods/app/status", "application/merge-patch+json", map[string]any{
		"status": map[string]any{"phase": "Running", "podIP": "127.0.0.1", "podIPs": []any{map[string]any{"ip": "127.0.0.1"}}},
	})
	env.Call(t, 201, "POST", "/api/v1/namespaces/"+ns+"/services", "", map[string]any{
		"metadata": map[string]any{"name": "demo-svc", "labels": map[string]any{"app": "demo"}},
		"spec":     map[string]any{"ports": []any{map[string]any{"name": "web", "port": 80, "targetPort": svcPort}}},
	})
	// No EndpointSlice controller either: the test writes the Service's
	// slice, its endpoint being the pod. The API refuses loopback
	// addresses in EndpointSlices, and tests listen on loopback only: the
	// slice has a documentation address (RFC 5737) that the
	// ServiceMonitor's own relabelings (applied after the generated ones,
	// before instance is set) map onto 127.0.0.1.
	env.Call(t, 201, "POST", "/apis/discovery.k8s.io/v1/namespaces/"+ns+"/endpointslices", "", map[string]any{
		"metadata":    map[string]any{"name": "demo-svc-1", "labels": map[string]any{"kubernetes.io/service-name": "demo-svc"}},
		"addressType": "IPv4",
		"endpoints": []any{map[string]any{
			"addresses":  []any{"192.0.2.10"},
			"conditions": map[string]any{"ready": true},
			"targetRef":  map[string]any{"kind": "Pod", "name": "app", "namespace": ns},
		}},
		"ports": []any{map[string]any{"name": "web", "port": svcPort, "protocol": "TCP"}},
	})

	monitor := func(kind, resource, name string, spec map[string]any) {
		env.Call(t, 201, "POST", "/apis/monitoring.coreos.com/v1/namespaces/"+ns+"/"+resource, "", map[string]any{
			"apiVersion": "monitoring.coreos.com/v1", "kind": kind,
			"metadata": map[string]any{"name": name}, "spec": spec,
		})
	}
	selector := map[string]any{"matchLabels": map[string]any{"app": "demo"}}
	monitor("ServiceMonitor", "servicemonitors", "demo", map[string]any{
		"selector": selector, "endpoints": []any{map[string]any{"port": "web", "interval": "1s",
			"relabelings": []any{map[string]any{
				"sourceLabels": []any{"__address__"}, "regex": `192\.0\.2\.10:(\d+)`,
				"targetLabel": "__address__", "replacement": "127.0.0.1:$1",
			}}}},
	})
	monitor("PodMonitor", "podmonitors", "demo", map[string]any{
		"selector": selector, "podMetricsEndpoints": []any{map[string]any{"port": "metrics", "interval": "1s"}},
	})
	monitor("ServiceMonitor", "servicemonitors", "broken", map[string]any{
		"selector": selector, "endpoints": []any{map[string]any{"port": "web", "interval": "1s",
			"relabelings": []any{map[string]any{"sourceLabels": []any{"service"}, "targetLabel": "x", "regex": "([a-z"}}}},
	})

	cfg := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, base := startServer(t, "--config.file="+cfg, "--kubernetes.monitors",
		"--kubernetes.monitors.kubeconfig="+kubeconfig, "--kubernetes.monitors.namespaces="+ns)

	svcLabels := fmt.Sprintf(`job="demo-svc", namespace=%q, service="demo-svc", endpoint="web", pod="app", instance="127.0.0.1:%d"`, ns, svcPort)
	waitQuery(t, base, `monitors_service_probe{`+svcLabels+`}`, 90*time.Second, nil)
	podLabels := fmt.Sprintf(`job="%s/demo", namespace=%q, pod="app", container="app", endpoint="metrics", instance="127.0.0.1:%d"`, ns, ns, podPort)
	waitQuery(t, base, `monitors_pod_probe{`+podLabels+`}`, 90*time.Second, nil)

	_, body := get(t, base+"/api/v1/targets?state=active")
	var targets struct {
		Data struct {
			ActiveTargets []struct {
				ScrapePool string            `json:"scrapePool"`
				Labels     map[string]string `json:"labels"`
				Health     string            `json:"health"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &targets); err != nil {
		t.Fatalf("targets: %v: %s", err, body)
	}
	pools := map[string]bool{}
	for _, tg := range targets.Data.ActiveTargets {
		pools[tg.ScrapePool] = true
	}
	for _, want := range []string{"serviceMonitor/" + ns + "/demo/0", "podMonitor/" + ns + "/demo/0"} {
		if !pools[want] {
			t.Errorf("no active target of job %s in /api/v1/targets: %v", want, pools)
		}
	}
	if pools["serviceMonitor/"+ns+"/broken/0"] {
		t.Errorf("the ServiceMonitor with a bad regex has targets: %v", pools)
	}
	if logs := srv.logs.String(); !strings.Contains(logs, "broken") || !strings.Contains(logs, "error parsing regexp") {
		t.Errorf("the server did not log the ServiceMonitor that does not convert:\n%s", logs)
	}
	if m := string(getBody(t, base+"/metrics")); !strings.Contains(m, `panoptes_monitor_invalid{kind="ServiceMonitor",name="broken",namespace="`+ns+`"} 1`) {
		t.Errorf("no panoptes_monitor_invalid for the broken ServiceMonitor in /metrics:\n%s", grepLines(m, "panoptes_monitor"))
	}
	// The Warning Event on the object (the recorder sends it on its own
	// goroutine).
	deadline := time.Now().Add(60 * time.Second)
	for {
		events := string(env.Call(t, 200, "GET", "/api/v1/namespaces/"+ns+"/events", "", nil))
		if strings.Contains(events, `"reason":"InvalidConfiguration"`) && strings.Contains(events, `"name":"broken"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no InvalidConfiguration Event on the broken ServiceMonitor: %s", events)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
