package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// TestStateCustomResources: --custom-resource-state-config (kube-state-
// metrics' format) turns fields of a custom resource into metrics, the same
// series as kube-state-metrics gives with the same config.
func TestStateCustomResources(t *testing.T) {
	env := k8s.Start(t)
	sfx := uniqueSuffix()
	group := "s" + sfx + ".panoptes.dev"
	ns := "state-crd-" + sfx
	env.Call(t, 201, "POST", "/api/v1/namespaces", "", map[string]any{"metadata": map[string]any{"name": ns}})
	open := map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
	env.Call(t, 201, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "", map[string]any{
		"metadata": map[string]any{"name": "widgets." + group},
		"spec": map[string]any{
			"group": group, "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "properties": map[string]any{"spec": open, "status": open}}}}},
		},
	})
	t.Cleanup(func() {
		_, _, _ = env.Do(context.Background(), "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets."+group, "", nil)
	})
	// Served once the CRD is established.
	eventually(t, 30*time.Second, func() string {
		code, _, err := env.Do(t.Context(), "GET", "/apis/"+group+"/v1/namespaces/"+ns+"/widgets", "", nil)
		if err != nil || code != 200 {
			return "custom resource not served yet"
		}
		return ""
	})
	env.Call(t, 201, "POST", "/apis/"+group+"/v1/namespaces/"+ns+"/widgets", "", map[string]any{
		"apiVersion": group + "/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w1"},
		"spec":     map[string]any{"replicas": 3, "color": "blue"},
		"status":   map[string]any{"phase": "Ready"},
	})
	config := `spec:
  resources:
    - groupVersionKind: {group: ` + group + `, version: v1, kind: Widget}
      labelsFromPath:
        name: [metadata, name]
        namespace: [metadata, namespace]
      metrics:
        - name: spec_replicas
          help: Replicas a widget wants.
          each: {type: Gauge, gauge: {path: [spec, replicas]}}
        - name: info
          help: Widget color.
          each: {type: Info, info: {labelsFromPath: {color: [spec, color]}}}
        - name: status_phase
          help: Widget phase.
          each: {type: StateSet, stateSet: {labelName: phase, path: [status, phase], list: [Pending, Ready]}}
`
	args := []string{"--kubeconfig=" + env.Kubeconfig, "--resources=configmaps", "--custom-resource-state-config=" + config}
	_, ours, _ := startStateReady(t, args...)
	crLabels := func(kv ...string) map[string]string {
		m := map[string]string{"namespace": ns, "name": "w1", "customresource_group": group, "customresource_kind": "Widget", "customresource_version": "v1"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	wants := []want{
		{"kube_customresource_spec_replicas", crLabels(), 3},
		{"kube_customresource_info", crLabels("color", "blue"), 1},
		{"kube_customresource_status_phase", crLabels("phase", "Ready"), 1},
		{"kube_customresource_status_phase", crLabels("phase", "Pending"), 0},
	}
	eventually(t, 60*time.Second, func() string {
		if msg := checkWants(scrapeSeries(t, ours), wants); msg != "" {
			return "panoptes state: " + msg
		}
		return ""
	})
	// The same series as kube-state-metrics, when its peer is built.
	t.Run("kube-state-metrics", func(t *testing.T) {
		_, ksm := startKSM(t, args...)
		eventually(t, 60*time.Second, func() string {
			o, k := scrapeSeries(t, ours), scrapeSeries(t, ksm)
			if msg := checkWants(k, wants); msg != "" {
				return "kube-state-metrics: " + msg
			}
			return diffSeries(o, k)
		})
	})
}
