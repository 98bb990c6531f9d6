package monitors

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"sigs.k8s.io/yaml"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

func TestMain(m *testing.M) { k8s.Main(m) }

// eventually polls check until it returns "" or a generous deadline (the
// tests pass with both cores busy) passes; then it fails with the last
// answer.
func eventually(t *testing.T, check func() string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90s: %s", msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestWatcherCRDLater: on a control plane without the CRDs each kind is
// off with one log line and the watcher is synced; the ServiceMonitor CRD
// of deploy/crds installed later is picked up, an object's jobs carry the
// Secret it names, and an object whose Secret is missing is reported and
// left out while the other stays.
func TestWatcherCRDLater(t *testing.T) {
	env := k8s.Start(t)
	log := &testkit.LockedBuffer{}
	reg := prometheus.NewRegistry()
	o := NewOptions()
	o.Kubeconfig = env.Kubeconfig
	w, err := New(o, slog.New(slog.NewTextHandler(log, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	w.crdRetry, w.debounce = 500*time.Millisecond, 100*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Logf("watcher's log:\n%s", log.String())
		}
	})

	eventually(t, func() string {
		for _, k := range []string{"ServiceMonitor", "PodMonitor", "Probe"} {
			if !strings.Contains(log.String(), k+" CRD not found") {
				return "no line says the " + k + " CRD is not found"
			}
		}
		if !w.Synced() {
			return "not synced"
		}
		return ""
	})
	time.Sleep(2 * time.Second) // looked for again (every 500ms), said once
	if n := strings.Count(log.String(), "ServiceMonitor CRD not found"); n != 1 {
		t.Errorf("%d lines say the ServiceMonitor CRD is not found, want 1", n)
	}

	b, err := os.ReadFile("../../../deploy/crds/servicemonitor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	env.Ensure(t, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
	eventually(t, func() string {
		if code, _, err := env.Do(t.Context(), "GET", "/apis/monitoring.coreos.com/v1/servicemonitors", "", nil); err != nil || code != http.StatusOK {
			return fmt.Sprintf("servicemonitors not served: %d %v", code, err)
		}
		return ""
	})

	ns := fmt.Sprintf("monitors-%x", time.Now().UnixNano()&0xffffffffff)
	env.Call(t, http.StatusCreated, "POST", "/api/v1/namespaces", "", map[string]any{"metadata": map[string]any{"name": ns}})
	env.Call(t, http.StatusCreated, "POST", "/api/v1/namespaces/"+ns+"/secrets", "", map[string]any{
		"metadata": map[string]any{"name": "token"}, "stringData": map[string]any{"token": "s3cr3t"},
	})
	sm := func(name, secret string) map[string]any {
		return map[string]any{
			"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
			"metadata": map[string]any{"name": name},
			"spec": map[string]any{
				"selector":  map[string]any{"matchLabels": map[string]any{"app": name}},
				"endpoints": []any{map[string]any{"port": "web", "bearerTokenSecret": map[string]any{"name": secret, "key": "token"}}},
			},
		}
	}
	path := "/apis/monitoring.coreos.com/v1/namespaces/" + ns + "/servicemonitors"
	env.Call(t, http.StatusCreated, "POST", path, "", sm("good", "token"))
	env.Call(t, http.StatusCreated, "POST", path, "", sm("bad", "missing"))
	eventually(t, func() string {
		jobs := w.ScrapeConfigs()
		good := string(jobs["serviceMonitor/"+ns+"/good"])
		if !strings.Contains(good, "job_name: serviceMonitor/"+ns+"/good/0") || !strings.Contains(good, "bearer_token: s3cr3t") {
			return fmt.Sprintf("jobs: %q", jobs)
		}
		if _, ok := jobs["serviceMonitor/"+ns+"/bad"]; ok {
			return "the object whose Secret is missing has jobs"
		}
		if !strings.Contains(log.String(), "name=bad") {
			return "the object whose Secret is missing is not logged"
		}
		return ""
	})
	if v := testutil.ToFloat64(w.invalidGauge.WithLabelValues(KindServiceMonitor, ns, "bad")); v != 1 {
		t.Errorf("panoptes_monitor_invalid for the bad object = %v, want 1", v)
	}
	if v := testutil.ToFloat64(w.crdPresent.WithLabelValues(KindServiceMonitor)); v != 1 {
		t.Errorf("panoptes_monitor_crd_present{kind=ServiceMonitor} = %v, want 1", v)
	}
}
