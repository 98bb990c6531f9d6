package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// TestStateAutomaticSharding: with --pod and --pod-namespace naming a pod
// of a StatefulSet, the shard is the pod's ordinal and the number of shards
// the StatefulSet's replicas, as kube-state-metrics does: the instance
// exports what --shard=1 --total-shards=2 exports.
func TestStateAutomaticSharding(t *testing.T) {
	env := k8s.Start(t)
	sfx := uniqueSuffix()
	ns := "state-autoshard-" + sfx
	stateObjects(t, env, ns, sfx)
	b := env.Call(t, 201, "POST", "/apis/apps/v1/namespaces/"+ns+"/statefulsets", "", map[string]any{
		"metadata": map[string]any{"name": "ksm"},
		"spec": map[string]any{"replicas": 2, "serviceName": "ksm", "selector": map[string]any{"matchLabels": map[string]any{"app": "ksm"}},
			"template": podTemplate(map[string]any{"app": "ksm"})},
	})
	var ss struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(b, &ss); err != nil || ss.Metadata.UID == "" {
		t.Fatalf("StatefulSet uid: %v %s", err, b)
	}
	env.Call(t, 201, "POST", "/api/v1/namespaces/"+ns+"/pods", "", map[string]any{
		"metadata": map[string]any{"name": "ksm-1", "labels": map[string]any{"app": "ksm"},
			"ownerReferences": []any{map[string]any{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "ksm", "uid": ss.Metadata.UID, "controller": true}}},
		"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": "busybox"}}},
	})
	args := stateArgs(env.Kubeconfig)
	_, auto, autoTel := startStateReady(t, append(args, "--pod=ksm-1", "--pod-namespace="+ns)...)
	_, fixed, _ := startStateReady(t, append(args, "--shard=1", "--total-shards=2")...)
	eventually(t, 60*time.Second, func() string {
		tel := scrapeSeries(t, autoTel)
		if msg := checkWants(tel, []want{
			{"kube_state_metrics_shard_ordinal", map[string]string{"shard_ordinal": "1"}, 1},
			{"kube_state_metrics_total_shards", map[string]string{}, 2},
		}); msg != "" {
			return msg
		}
		a, f := scrapeSeries(t, auto), scrapeSeries(t, fixed)
		if len(a["kube_pod_info"]) == 0 {
			return "the automatic shard exports no pods"
		}
		var msgs []string
		for name := range f {
			if strings.Join(a[name], "\n") != strings.Join(f[name], "\n") {
				msgs = append(msgs, name+": automatic shard differs from --shard=1 --total-shards=2:\n only automatic: "+
					setMinusLines(a[name], f[name])+"\n only fixed: "+setMinusLines(f[name], a[name]))
			}
		}
		return strings.Join(msgs, "\n")
	})
}
