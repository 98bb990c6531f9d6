package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// TestMetricsAPICustomMetrics serves custom.metrics.k8s.io and
// external.metrics.k8s.io from PromQL against a real `panoptes server` that
// scrapes an application's per-pod gauge, with prometheus-adapter-style
// rules, and asks through the real kube-apiserver what an HPA asks: the
// metric of every pod matching the target's selector (Pods metric), one
// object's (Object metric) and an external metric. Each value must be the
// one the server's PromQL computes.
func TestMetricsAPICustomMetrics(t *testing.T) {
	env := k8s.Start(t)
	c := newMetricsCluster(t, env, 1)

	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE queue_depth gauge\nqueue_depth{namespace=%q,pod=\"web-1-1\"} 3\nqueue_depth{namespace=%q,pod=\"web-1-2\"} 5.5\nqueue_depth{namespace=\"elsewhere\",pod=\"web-1-1\"} 100\n", c.ns, c.ns)
		fmt.Fprintf(w, "# TYPE queue_messages_ready gauge\nqueue_messages_ready{namespace=%q,queue=\"orders\"} 42\nqueue_messages_ready{namespace=%q,queue=\"mail\"} 7\n", c.ns, c.ns)
	}))
	t.Cleanup(app.Close)
	prom := startScrapingServer(t, app.URL)

	startCustomMetricsAPI(t, env, c, prom, `rules:
  - seriesQuery: 'queue_depth{namespace!="",pod!=""}'
    resources:
      overrides:
        namespace: {resource: "namespace"}
        pod: {resource: "pod"}
    name: {matches: "^(.*)$", as: "${1}"}
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
externalRules:
  - seriesQuery: 'queue_messages_ready{queue!=""}'
    resources:
      overrides:
        namespace: {resource: "namespace"}
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)'
`)

	// PromQL as the server computes it.
	promValue := func(q string) map[string]float64 {
		t.Helper()
		resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(q)) //nolint:noctx // test
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		var r struct {
			Data struct {
				Result []struct {
					Metric map[string]string
					Value  [2]any
				}
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, s := range r.Data.Result {
			v, _ := strconv.ParseFloat(s.Value[1].(string), 64)
			out[s.Metric["pod"]+s.Metric["queue"]] = v
		}
		return out
	}
	type item struct {
		DescribedObject struct{ Kind, Namespace, Name string }
		MetricName      string
		MetricLabels    map[string]string
		Value           string
	}
	list := func(path string, want int) []item {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		var last []byte
		for time.Now().Before(deadline) {
			code, b, err := env.Do(t.Context(), "GET", path, "", nil)
			last = b
			if err == nil && code == http.StatusOK {
				var l struct{ Items []item }
				if err := json.Unmarshal(b, &l); err == nil && len(l.Items) == want {
					return l.Items
				}
			}
			time.Sleep(time.Second)
		}
		t.Fatalf("GET %s never had %d items: %s", path, want, last)
		return nil
	}
	val := func(s string) float64 {
		q, err := resource.ParseQuantity(s)
		if err != nil {
			t.Fatalf("value %q: %v", s, err)
		}
		return q.AsApproximateFloat64()
	}

	// The HPA's Pods metric: every pod of the target's selector.
	pods := list("/apis/custom.metrics.k8s.io/v1beta2/namespaces/"+c.ns+"/pods/*/queue_depth?labelSelector=app%3Dweb", 2)
	want := promValue(fmt.Sprintf(`sum(queue_depth{namespace=%q,pod=~"web-1-1|web-1-2"}) by (pod)`, c.ns))
	if len(want) != 2 || want["web-1-1"] != 3 || want["web-1-2"] != 5.5 {
		t.Fatalf("the server's PromQL gave %v", want)
	}
	for _, it := range pods {
		if it.DescribedObject.Kind != "Pod" || it.DescribedObject.Namespace != c.ns || val(it.Value) != want[it.DescribedObject.Name] {
			t.Errorf("custom metric %+v, want %v for its pod", it, want)
		}
	}
	// The Object metric of one pod.
	code, b, err := env.Do(t.Context(), "GET", "/apis/custom.metrics.k8s.io/v1beta2/namespaces/"+c.ns+"/pods/web-1-2/queue_depth", "", nil)
	if err != nil || code != http.StatusOK || !strings.Contains(string(b), `"value":"5500m"`) {
		t.Errorf("one pod's metric: %d %v %s", code, err, b)
	}
	// Discovery lists the metric.
	code, b, _ = env.Do(t.Context(), "GET", "/apis/custom.metrics.k8s.io/v1beta2", "", nil)
	if code != http.StatusOK || !strings.Contains(string(b), "pods/queue_depth") {
		t.Errorf("discovery: %d %s", code, b)
	}
	// An external metric, narrowed by a label selector.
	ext := list("/apis/external.metrics.k8s.io/v1beta1/namespaces/"+c.ns+"/queue_messages_ready?labelSelector=queue%3Dorders", 1)
	wantExt := promValue(fmt.Sprintf(`sum(queue_messages_ready{queue="orders",namespace=%q}) by (queue)`, c.ns))
	if ext[0].MetricLabels["queue"] != "orders" || val(ext[0].Value) != wantExt["orders"] || wantExt["orders"] != 42 {
		t.Errorf("external metric %+v, want %v", ext[0], wantExt)
	}
	// A metric nobody defined.
	code, _, _ = env.Do(t.Context(), "GET", "/apis/custom.metrics.k8s.io/v1beta2/namespaces/"+c.ns+"/pods/*/no_such_metric", "", nil)
	if code != http.StatusNotFound {
		t.Errorf("unknown metric: status %d, want 404", code)
	}

}

// startScrapingServer runs a panoptes server that scrapes target (a URL)
// every second, keeping its labels, and returns the server's base URL.
func startScrapingServer(t *testing.T, target string) string {
	t.Helper()
	promCfg := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(promCfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: app
    honor_labels: true
    static_configs:
      - targets: [%q]
`, strings.TrimPrefix(target, "http://"))), 0o600); err != nil {
		t.Fatal(err)
	}
	_, prom := startServer(t, "--config.file="+promCfg)
	return prom
}

// startCustomMetricsAPI runs panoptes metrics-api for c with the
// prometheus-adapter rules given, reading the server at prom, and
// registers it as custom.metrics.k8s.io and external.metrics.k8s.io.
func startCustomMetricsAPI(t *testing.T, env *k8s.Env, c *metricsCluster, prom, rules string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	_, base := startMetricsAPI(t, c, "--prometheus-url="+prom, "--custom-metrics-config="+path, "--metrics-relist-interval=2s")
	port, _ := strconv.Atoi(base[strings.LastIndex(base, ":")+1:])
	registerAPIService(t, env, port, "custom.metrics.k8s.io", "v1beta2")
	registerAPIService(t, env, port, "external.metrics.k8s.io", "v1beta1")
}
