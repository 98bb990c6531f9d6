package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
	fakekubelet "github.com/panoptes-dev/panoptes/internal/testkit/kubelet"
)

// The HPA tests run the real HorizontalPodAutoscaler controller
// (kube-controller-manager from hack/k8s-testenv, with the Deployment and
// ReplicaSet controllers) against the metrics APIs, through the real
// kube-apiserver's aggregation layer. There is no scheduler or kubelet:
// podDriver binds the ReplicaSet's pods to a fake node, marks them Running
// and Ready, deletes the ones being deleted, and has the node's fake kubelet
// report usage for exactly the pods that run.
//
// The CPU scenario, with the upstream formula desired = ceil(current ×
// utilisation / target) and its limits for an HPA without spec.behavior:
// each pod requests 100m, the target is 50 % and the pods share a load (fake
// kubelet CPU usage) of 350m, so that the recommendation is ceil(350 / 50) =
// 7 whatever the replica count (pods without usage yet count as 0 on a
// scale-up). One step may at most double the replicas, or go to 4
// (ScalingLimited ScaleUpLimit): 1 -> 4, then 4 -> 7 (50 % each). When the
// load falls to 42m the recommendation is ceil(42 / 50) = 1, held for the
// downscale stabilization window (AbleToScale ScaleDownStabilized), then 7 ->
// 1 (42 %). So the decisions are 4, 7, 1, with `panoptes metrics-api` and
// with metrics-server v0.8.0 alike.
const (
	hpaRequestMilli  = 100
	hpaTargetPercent = 50
	hpaHighLoad      = 350 // millicores over all the pods: 7 replicas at 50 %
	hpaLowLoad       = 42  // 1 replica at 42 %
)

// hpaCPUDecisions is what the formula gives for the load above.
var hpaCPUDecisions = []int{4, 7, 1}

// TestHPA runs the scenarios with one kube-controller-manager: the CPU one
// with panoptes metrics-api, then with metrics-server (one metrics.k8s.io
// APIService at a time), and beside them the custom and external metrics
// one (other APIServices). It logs both CPU decision tables.
func TestHPA(t *testing.T) {
	env := k8s.Start(t)
	// Both CPU runs or neither: the point is the comparison.
	cachedPeer(t, "metrics-server-v0.8.0/metrics-server")
	env.StartControllerManager(t, k8s.HPAControllers, k8s.HPAFlags...)

	t.Run("cpu", func(t *testing.T) {
		t.Parallel()
		var ours, theirs []hpaTransition
		t.Run("panoptes metrics-api", func(t *testing.T) {
			ours = hpaCPUScenario(t, env, func(c *metricsCluster) int {
				_, base := startMetricsAPI(t, c)
				port, _ := strconv.Atoi(base[strings.LastIndex(base, ":")+1:])
				return port
			})
		})
		t.Run("metrics-server", func(t *testing.T) {
			theirs = hpaCPUScenario(t, env, func(c *metricsCluster) int {
				_, base := startMetricsServer(t, c)
				port, _ := strconv.Atoi(base[strings.LastIndex(base, ":")+1:])
				return port
			})
		})
		t.Logf("HPA decisions on CPU (request %dm, target %d%%, load %dm then %dm):\n%s\n%s", hpaRequestMilli, hpaTargetPercent, hpaHighLoad, hpaLowLoad,
			hpaTable("panoptes metrics-api", ours), hpaTable("metrics-server v0.8.0", theirs))
		if a, b := hpaDecisions(ours), hpaDecisions(theirs); !slices.Equal(a, b) {
			t.Errorf("decisions differ: panoptes metrics-api %v, metrics-server %v", a, b)
		}
	})
	t.Run("custom and external metrics", func(t *testing.T) {
		t.Parallel()
		hpaCustomScenario(t, env)
	})
}

// hpaCPUScenario runs the CPU scenario on a cluster of its own, with
// metrics.k8s.io served by the server that serve starts (it returns the
// server's port), and returns the HPA's transitions.
func hpaCPUScenario(t *testing.T, env *k8s.Env, serve func(c *metricsCluster) int) []hpaTransition {
	c := newMetricsCluster(t, env, 1)
	d := startPodDriver(t, c, nil)
	d.setLoad("cpu", hpaHighLoad)
	// Registered first, so that the cleanups delete the HPA before the
	// APIService it reads.
	registerMetricsAPIService(t, env, serve(c))
	createHPADeployment(t, env, c.ns, "cpu")
	// The HPA starts once its pod has usage, so that its first decision is
	// made on the load and not on missing metrics.
	waitPodCPU(t, env, c.ns, "app=cpu", hpaHighLoad)

	createHPA(t, env, c.ns, "cpu", 1, 10, map[string]any{"type": "Resource", "resource": map[string]any{
		"name": "cpu", "target": map[string]any{"type": "Utilization", "averageUtilization": hpaTargetPercent},
	}})
	w := &hpaWatch{env: env, ns: c.ns, name: "cpu", start: time.Now()}

	st := w.until(t, "7 replicas at 50 %", 4*time.Minute, func(s hpaState) bool {
		return s.CurrentReplicas == 7 && s.DesiredReplicas == 7 && s.utilization() == 50
	})
	st.checkConditions(t, "True/ValidMetricFound", "False/DesiredWithinRange")
	if got := st.cpuMilli(); got != hpaHighLoad/7 {
		t.Errorf("currentMetrics: %dm per pod, want %dm", got, hpaHighLoad/7)
	}
	if !w.saw(func(tr hpaTransition) bool { return tr.Desired == 4 && tr.Limited == "True/ScaleUpLimit" }) {
		t.Errorf("never saw 1 -> 4 limited by the scale-up limit (ScalingLimited True/ScaleUpLimit):\n%s", hpaTable("", w.log))
	}
	if got := deploymentReplicas(t, env, c.ns, "cpu"); got != 7 {
		t.Errorf("Deployment spec.replicas %d, want 7", got)
	}

	d.setLoad("cpu", hpaLowLoad)
	st = w.until(t, "1 replica at 42 %", 4*time.Minute, func(s hpaState) bool {
		return s.CurrentReplicas == 1 && s.DesiredReplicas == 1 && s.utilization() == hpaLowLoad
	})
	st.checkConditions(t, "True/ValidMetricFound", "False/DesiredWithinRange")
	if got := st.cpuMilli(); got != hpaLowLoad {
		t.Errorf("currentMetrics: %dm per pod, want %dm", got, hpaLowLoad)
	}
	if !w.saw(func(tr hpaTransition) bool { return tr.Desired == 7 && tr.Able == "True/ScaleDownStabilized" }) {
		t.Errorf("the scale-down was not held by the stabilization window (AbleToScale True/ScaleDownStabilized):\n%s", hpaTable("", w.log))
	}
	if got := deploymentReplicas(t, env, c.ns, "cpu"); got != 1 {
		t.Errorf("Deployment spec.replicas %d, want 1", got)
	}
	if got := hpaDecisions(w.log); !slices.Equal(got, hpaCPUDecisions) {
		t.Errorf("decisions %v, want %v:\n%s", got, hpaCPUDecisions, hpaTable("", w.log))
	}
	return w.log
}

// hpaCustomScenario: an application whose pods serve requests (a counter
// per pod, as its /metrics would expose) and a queue (a gauge), scraped by
// `panoptes server`; `panoptes metrics-api` serves requests per second from
// PromQL as custom.metrics.k8s.io and the queue as external.metrics.k8s.io.
// Deployment api scales on http_requests_per_second (a Pods metric, target
// 20 per pod): 100 requests per second over its pods gives ceil(100 / 20) =
// 5, and 30 per second later gives ceil(30 / 20) = 2. Deployment worker
// scales on queue_messages_ready{queue="orders"} = 30 (an External metric,
// target 10 per pod): ceil(30 / 10) = 3.
func hpaCustomScenario(t *testing.T, env *k8s.Env) {
	c := newMetricsCluster(t, env, 1)
	app := &requestsApp{ns: c.ns, rate: 100, perPod: map[string]*counter{}}
	startPodDriver(t, c, func(running map[string][]string) { app.setPods(running["api"]) })
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)

	prom := startScrapingServer(t, srv.URL)
	startCustomMetricsAPI(t, env, c, prom, `rules:
  - seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
    resources:
      overrides:
        namespace: {resource: "namespace"}
        pod: {resource: "pod"}
    name: {matches: "^(.*)_total$", as: "${1}_per_second"}
    metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[10s])) by (<<.GroupBy>>)'
externalRules:
  - seriesQuery: 'queue_messages_ready{queue!=""}'
    resources:
      overrides:
        namespace: {resource: "namespace"}
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)'
`)

	createHPADeployment(t, env, c.ns, "api")
	createHPADeployment(t, env, c.ns, "worker")
	// Both metrics exist before the HPAs look for them.
	waitCustomMetric(t, env, "/apis/custom.metrics.k8s.io/v1beta2/namespaces/"+c.ns+"/pods/*/http_requests_per_second?labelSelector=app%3Dapi")
	waitCustomMetric(t, env, "/apis/external.metrics.k8s.io/v1beta1/namespaces/"+c.ns+"/queue_messages_ready?labelSelector=queue%3Dorders")

	createHPA(t, env, c.ns, "api", 1, 10, map[string]any{"type": "Pods", "pods": map[string]any{
		"metric": map[string]any{"name": "http_requests_per_second"},
		"target": map[string]any{"type": "AverageValue", "averageValue": "20"},
	}})
	createHPA(t, env, c.ns, "worker", 1, 10, map[string]any{"type": "External", "external": map[string]any{
		"metric": map[string]any{"name": "queue_messages_ready", "selector": map[string]any{"matchLabels": map[string]any{"queue": "orders"}}},
		"target": map[string]any{"type": "AverageValue", "averageValue": "10"},
	}})
	api := &hpaWatch{env: env, ns: c.ns, name: "api", start: time.Now()}
	worker := &hpaWatch{env: env, ns: c.ns, name: "worker", start: time.Now()}

	st := api.until(t, "api: 5 replicas at 20 requests/s each", 4*time.Minute, func(s hpaState) bool {
		return s.CurrentReplicas == 5 && s.DesiredReplicas == 5 && near(s.average(), 20)
	})
	st.checkConditions(t, "True/ValidMetricFound", "False/DesiredWithinRange")
	st = worker.until(t, "worker: 3 replicas for 30 messages", 4*time.Minute, func(s hpaState) bool {
		return s.CurrentReplicas == 3 && s.DesiredReplicas == 3 && near(s.average(), 10)
	})
	st.checkConditions(t, "True/ValidMetricFound", "False/DesiredWithinRange")

	app.setRate(30)
	st = api.until(t, "api: 2 replicas at 15 requests/s each", 4*time.Minute, func(s hpaState) bool {
		return s.CurrentReplicas == 2 && s.DesiredReplicas == 2 && near(s.average(), 15)
	})
	st.checkConditions(t, "True/ValidMetricFound", "False/DesiredWithinRange")
	if got := deploymentReplicas(t, env, c.ns, "api"); got != 2 {
		t.Errorf("Deployment api spec.replicas %d, want 2", got)
	}
	if got := deploymentReplicas(t, env, c.ns, "worker"); got != 3 {
		t.Errorf("Deployment worker spec.replicas %d, want 3", got)
	}
	t.Logf("HPA decisions on a custom and an external metric:\n%s\n%s", hpaTable("api, http_requests_per_second (Pods, 20 per pod; 100/s then 30/s)", api.log),
		hpaTable("worker, queue_messages_ready (External, 10 per pod; 30)", worker.log))
}

func near(got, want float64) bool { return got > want-0.5 && got < want+0.5 }

// createHPADeployment creates Deployment name with one replica whose pods
// (label app=name) request 100m CPU each.
func createHPADeployment(t *testing.T, env *k8s.Env, ns, name string) {
	t.Helper()
	labels := map[string]any{"app": name, "hpa-e2e": "true"}
	env.Call(t, http.StatusCreated, "POST", "/apis/apps/v1/namespaces/"+ns+"/deployments", "", map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": name},
		"spec": map[string]any{"replicas": 1, "selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": "busybox",
					"resources": map[string]any{"requests": map[string]any{"cpu": strconv.Itoa(hpaRequestMilli) + "m", "memory": "64Mi"}}}}}}},
	})
	// Without the garbage collector nothing deletes a Deployment's
	// ReplicaSets and pods: the cleanup does, the HPA first so that it stops
	// scaling.
	t.Cleanup(func() {
		ctx := context.Background()
		_, _, _ = env.Do(ctx, "DELETE", "/apis/autoscaling/v2/namespaces/"+ns+"/horizontalpodautoscalers/"+name, "", nil)
		_, _, _ = env.Do(ctx, "DELETE", "/apis/apps/v1/namespaces/"+ns+"/deployments/"+name, "", nil)
		_, _, _ = env.Do(ctx, "DELETE", "/apis/apps/v1/namespaces/"+ns+"/replicasets?labelSelector=app%3D"+name, "", nil)
		_, _, _ = env.Do(ctx, "DELETE", "/api/v1/namespaces/"+ns+"/pods?labelSelector=app%3D"+name, "", []byte(`{"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":0}`))
	})
}

func createHPA(t *testing.T, env *k8s.Env, ns, name string, minReplicas, maxReplicas int, metric map[string]any) {
	t.Helper()
	env.Call(t, http.StatusCreated, "POST", "/apis/autoscaling/v2/namespaces/"+ns+"/horizontalpodautoscalers", "", map[string]any{
		"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"scaleTargetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
			"minReplicas":    minReplicas, "maxReplicas": maxReplicas,
			"metrics": []any{metric},
		},
	})
}

func deploymentReplicas(t *testing.T, env *k8s.Env, ns, name string) int {
	t.Helper()
	var d struct{ Spec struct{ Replicas int } }
	if err := json.Unmarshal(env.Call(t, http.StatusOK, "GET", "/apis/apps/v1/namespaces/"+ns+"/deployments/"+name, "", nil), &d); err != nil {
		t.Fatal(err)
	}
	return d.Spec.Replicas
}

// waitPodCPU waits until metrics.k8s.io serves the CPU usage of the pods
// of selector, summed, as milli millicores.
func waitPodCPU(t *testing.T, env *k8s.Env, ns, selector string, milli int64) {
	t.Helper()
	path := "/apis/metrics.k8s.io/v1beta1/namespaces/" + ns + "/pods?labelSelector=" + url.QueryEscape(selector)
	deadline := time.Now().Add(2 * time.Minute)
	var last []byte
	for time.Now().Before(deadline) {
		code, b, err := env.Do(t.Context(), "GET", path, "", nil)
		last = b
		if err == nil && code == http.StatusOK {
			var l struct {
				Items []struct {
					Containers []struct{ Usage map[string]string }
				}
			}
			if json.Unmarshal(b, &l) == nil && len(l.Items) > 0 {
				var sum int64
				for _, it := range l.Items {
					for _, c := range it.Containers {
						q, err := resource.ParseQuantity(c.Usage["cpu"])
						if err != nil {
							t.Fatalf("cpu %q: %v", c.Usage["cpu"], err)
						}
						sum += q.MilliValue()
					}
				}
				if sum == milli {
					return
				}
			}
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("GET %s never summed to %dm: %s", path, milli, last)
}

// waitCustomMetric waits until a custom or external metrics path lists an
// item.
func waitCustomMetric(t *testing.T, env *k8s.Env, path string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var last []byte
	for time.Now().Before(deadline) {
		code, b, err := env.Do(t.Context(), "GET", path, "", nil)
		last = b
		var l struct{ Items []any }
		if err == nil && code == http.StatusOK && json.Unmarshal(b, &l) == nil && len(l.Items) > 0 {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("GET %s never listed an item: %s", path, last)
}

// podDriver plays the scheduler and the kubelet for the Deployments' pods
// (label hpa-e2e) of a one-node metricsCluster: it binds new pods to the
// node, marks them Running and Ready, deletes for good the pods being
// deleted (a kubelet confirms the deletion), and stages on the node's fake
// kubelet the node's pods with each app's load shared evenly by its running
// pods.
type podDriver struct {
	env        *k8s.Env
	c          *metricsCluster
	node, ip   string
	static     []fakekubelet.Pod
	onRunning  func(running map[string][]string)
	mu         sync.Mutex
	load       map[string]int64 // app -> millicores over its pods
	lastStaged string
}

// startPodDriver starts the driver's rounds, every half second until the
// test ends; onRunning, when not nil, is told each new set of running pods
// by app.
func startPodDriver(t *testing.T, c *metricsCluster, onRunning func(running map[string][]string)) *podDriver {
	t.Helper()
	d := &podDriver{env: c.env, c: c, load: map[string]int64{}, onRunning: onRunning}
	for name, ip := range c.nodes {
		d.node, d.ip = name, ip
		// Before any Stage, the node's pods are only read here.
		d.static = append([]fakekubelet.Pod(nil), c.want[name].Pods...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			d.step(ctx, t)
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func (d *podDriver) setLoad(app string, milli int64) {
	d.mu.Lock()
	d.load[app] = milli
	d.mu.Unlock()
}

// step does one round; errors other than a pod gone meanwhile fail the test.
func (d *podDriver) step(ctx context.Context, t *testing.T) {
	pods := "/api/v1/namespaces/" + d.c.ns + "/pods"
	code, b, err := d.env.Do(ctx, "GET", pods+"?labelSelector=hpa-e2e", "", nil)
	if ctx.Err() != nil {
		return
	}
	if err != nil || code != http.StatusOK {
		t.Errorf("pod driver: list pods: %d %v %s", code, err, b)
		return
	}
	var list struct {
		Items []struct {
			Metadata struct {
				Name              string
				Labels            map[string]string
				DeletionTimestamp string
			}
			Spec   struct{ NodeName string }
			Status struct{ Phase string }
		}
	}
	if err := json.Unmarshal(b, &list); err != nil {
		t.Errorf("pod driver: %v", err)
		return
	}
	ok := func(what string, want int, code int, err error, body []byte) {
		if ctx.Err() == nil && (err != nil || (code != want && code != http.StatusNotFound && code != http.StatusConflict)) {
			t.Errorf("pod driver: %s: %d %v %s", what, code, err, body)
		}
	}
	running := map[string][]string{}
	for _, p := range list.Items {
		name := p.Metadata.Name
		switch {
		case p.Metadata.DeletionTimestamp != "":
			code, b, err := d.env.Do(ctx, "DELETE", pods+"/"+name, "", []byte(`{"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":0}`))
			ok("delete "+name, http.StatusOK, code, err, b)
			continue
		case p.Spec.NodeName == "":
			body, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Binding", "metadata": map[string]any{"name": name},
				"target": map[string]any{"apiVersion": "v1", "kind": "Node", "name": d.node}})
			code, b, err := d.env.Do(ctx, "POST", pods+"/"+name+"/binding", "", body)
			ok("bind "+name, http.StatusCreated, code, err, b)
			if code != http.StatusCreated {
				continue
			}
			fallthrough
		case p.Status.Phase != "Running":
			now := time.Now().UTC().Format(time.RFC3339)
			var conds []any
			for _, c := range []string{"PodScheduled", "Initialized", "ContainersReady", "Ready"} {
				conds = append(conds, map[string]any{"type": c, "status": "True", "lastTransitionTime": now})
			}
			body, _ := json.Marshal(map[string]any{"status": map[string]any{
				"phase": "Running", "startTime": now, "hostIP": d.ip, "conditions": conds,
				"containerStatuses": []any{map[string]any{"name": "app", "image": "busybox", "imageID": "", "ready": true, "started": true,
					"restartCount": 0, "state": map[string]any{"running": map[string]any{"startedAt": now}}}},
			}})
			code, b, err := d.env.Do(ctx, "PATCH", pods+"/"+name+"/status", "application/merge-patch+json", body)
			ok("mark "+name+" running", http.StatusOK, code, err, b)
			if code != http.StatusOK {
				continue
			}
		}
		app := p.Metadata.Labels["app"]
		running[app] = append(running[app], name)
	}
	d.stage(running)
}

// stage puts the running pods, with their share of their app's load, on
// the fake kubelet when they or the load changed.
func (d *podDriver) stage(running map[string][]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	apps := make([]string, 0, len(running))
	for app := range running {
		sort.Strings(running[app])
		apps = append(apps, app)
	}
	sort.Strings(apps)
	pods := append([]fakekubelet.Pod(nil), d.static...)
	var key strings.Builder
	for _, app := range apps {
		share := d.load[app] / int64(len(running[app]))
		fmt.Fprintf(&key, "%s=%d:%v;", app, share, running[app])
		for _, name := range running[app] {
			pods = append(pods, fakekubelet.Pod{Namespace: d.c.ns, Name: name,
				Containers: []fakekubelet.Container{{Name: "app", MilliCPU: share, Memory: 64 << 20}}})
		}
	}
	if key.String() == d.lastStaged {
		return
	}
	d.lastStaged = key.String()
	d.c.kubelets.Stage(d.ip, pods)
	if d.onRunning != nil {
		d.onRunning(running)
	}
}

// requestsApp is an application's /metrics: a request counter per pod,
// growing at an equal share of a total rate, and a queue gauge. A change of
// pods or rate keeps every counter continuous.
type requestsApp struct {
	ns     string
	mu     sync.Mutex
	rate   float64 // requests per second over all pods
	perPod map[string]*counter
}

type counter struct {
	base  float64
	since time.Time
	rate  float64
}

func (c *counter) at(now time.Time) float64 { return c.base + c.rate*now.Sub(c.since).Seconds() }

// setPods shares the rate among pods.
func (a *requestsApp) setPods(pods []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.split(pods, a.rate)
}

// setRate shares a new rate among the same pods.
func (a *requestsApp) setRate(rate float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	pods := make([]string, 0, len(a.perPod))
	for p := range a.perPod {
		pods = append(pods, p)
	}
	a.split(pods, rate)
}

func (a *requestsApp) split(pods []string, rate float64) {
	now := time.Now()
	next := map[string]*counter{}
	for _, p := range pods {
		c := &counter{since: now, rate: rate / float64(len(pods))}
		if old := a.perPod[p]; old != nil {
			c.base = old.at(now)
		}
		next[p] = c
	}
	a.perPod, a.rate = next, rate
}

func (a *requestsApp) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	fmt.Fprintln(w, "# TYPE http_requests_total counter")
	for p, c := range a.perPod {
		fmt.Fprintf(w, "http_requests_total{namespace=%q,pod=%q} %.3f\n", a.ns, p, c.at(now))
	}
	fmt.Fprintf(w, "# TYPE queue_messages_ready gauge\nqueue_messages_ready{namespace=%q,queue=\"orders\"} 30\nqueue_messages_ready{namespace=%q,queue=\"mail\"} 7\n", a.ns, a.ns)
}

// hpaState is the part of an HPA's status the tests check.
type hpaState struct {
	CurrentReplicas, DesiredReplicas int
	CurrentMetrics                   []struct {
		Type     string
		Resource *struct {
			Current struct {
				AverageUtilization *int
				AverageValue       string
			}
		}
		Pods *struct {
			Current struct{ AverageValue string }
		}
		External *struct {
			Current struct{ AverageValue, Value string }
		}
	}
	Conditions []struct{ Type, Status, Reason, Message string }
}

// utilization is the CPU utilisation the HPA last computed, or -1.
func (s hpaState) utilization() int {
	for _, m := range s.CurrentMetrics {
		if m.Resource != nil && m.Resource.Current.AverageUtilization != nil {
			return *m.Resource.Current.AverageUtilization
		}
	}
	return -1
}

// cpuMilli is the CPU per pod (averageValue) the HPA last computed, in
// millicores, or -1.
func (s hpaState) cpuMilli() int64 {
	for _, m := range s.CurrentMetrics {
		if m.Resource != nil {
			if q, err := resource.ParseQuantity(m.Resource.Current.AverageValue); err == nil {
				return q.MilliValue()
			}
		}
	}
	return -1
}

// average is the Pods or External metric's average per pod, or -1.
func (s hpaState) average() float64 {
	for _, m := range s.CurrentMetrics {
		v := ""
		switch {
		case m.Pods != nil:
			v = m.Pods.Current.AverageValue
		case m.External != nil:
			v = m.External.Current.AverageValue
		}
		if q, err := resource.ParseQuantity(v); err == nil && v != "" {
			return q.AsApproximateFloat64()
		}
	}
	return -1
}

func (s hpaState) condition(typ string) string {
	for _, c := range s.Conditions {
		if c.Type == typ {
			return c.Status + "/" + c.Reason
		}
	}
	return "-"
}

// checkConditions checks ScalingActive and ScalingLimited (status/reason)
// and that the HPA is AbleToScale.
func (s hpaState) checkConditions(t *testing.T, active, limited string) {
	t.Helper()
	if got := s.condition("AbleToScale"); !strings.HasPrefix(got, "True/") {
		t.Errorf("AbleToScale %s, want True: %+v", got, s.Conditions)
	}
	if got := s.condition("ScalingActive"); got != active {
		t.Errorf("ScalingActive %s, want %s: %+v", got, active, s.Conditions)
	}
	if got := s.condition("ScalingLimited"); got != limited {
		t.Errorf("ScalingLimited %s, want %s: %+v", got, limited, s.Conditions)
	}
}

// hpaTransition is one change of an HPA's status as the watch saw it.
type hpaTransition struct {
	At                            time.Duration
	Desired, Current              int
	Metric, Able, Active, Limited string
}

func (tr hpaTransition) String() string {
	return fmt.Sprintf("%7.1fs  desired=%-2d current=%-2d metric=%-6s AbleToScale=%-30s ScalingActive=%-22s ScalingLimited=%s",
		tr.At.Seconds(), tr.Desired, tr.Current, tr.Metric, tr.Able, tr.Active, tr.Limited)
}

// hpaWatch polls an HPA and keeps each change of its status.
type hpaWatch struct {
	env     *k8s.Env
	ns      string
	name    string
	start   time.Time
	log     []hpaTransition
	last    hpaState
	lastKey string
}

// until polls until ok holds and returns that state; it fails the test
// after within.
func (w *hpaWatch) until(t *testing.T, what string, within time.Duration, ok func(hpaState) bool) hpaState {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var h struct{ Status hpaState }
		b := w.env.Call(t, http.StatusOK, "GET", "/apis/autoscaling/v2/namespaces/"+w.ns+"/horizontalpodautoscalers/"+w.name, "", nil)
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatalf("HPA %s: %v: %s", w.name, err, b)
		}
		s := h.Status
		metric := "-"
		if u := s.utilization(); u >= 0 {
			metric = strconv.Itoa(u) + "%"
		} else if a := s.average(); a >= 0 {
			metric = strconv.FormatFloat(a, 'f', 1, 64)
		}
		tr := hpaTransition{At: time.Since(w.start), Desired: s.DesiredReplicas, Current: s.CurrentReplicas, Metric: metric,
			Able: s.condition("AbleToScale"), Active: s.condition("ScalingActive"), Limited: s.condition("ScalingLimited")}
		key := fmt.Sprint(tr.Desired, tr.Current, tr.Metric, tr.Able, tr.Active, tr.Limited)
		if key != w.lastKey {
			w.log = append(w.log, tr)
			w.lastKey = key
		}
		w.last = s
		if ok(s) {
			return s
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("HPA %s/%s: never %s within %s; transitions:\n%s", w.ns, w.name, what, within, hpaTable("", w.log))
	return hpaState{}
}

func (w *hpaWatch) saw(f func(hpaTransition) bool) bool {
	return slices.ContainsFunc(w.log, f)
}

// hpaDecisions is the sequence of the HPA's desired replica counts.
func hpaDecisions(log []hpaTransition) []int {
	var out []int
	for _, tr := range log {
		if tr.Desired != 0 && (len(out) == 0 || out[len(out)-1] != tr.Desired) {
			out = append(out, tr.Desired)
		}
	}
	return out
}

func hpaTable(title string, log []hpaTransition) string {
	var b strings.Builder
	if title != "" {
		fmt.Fprintf(&b, "%s: decisions %v\n", title, hpaDecisions(log))
	}
	for _, tr := range log {
		b.WriteString("  " + tr.String() + "\n")
	}
	return b.String()
}
