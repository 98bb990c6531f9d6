// Command metricsapibench is bench/metricsapi.sh's driver: it simulates a
// cluster of NODES nodes with PODS pods each (Node and Pod objects in a real
// kube-apiserver, fake kubelets on 127.2.x.y addresses served by this one
// process), then runs panoptes metrics-api and metrics-server one after the
// other against it, each registered as v1beta1.metrics.k8s.io in turn, and
// reports side by side: RSS, CPU per collection cycle, cycle duration, and
// the latency of `kubectl top pods -A` (the real kubectl, through the
// aggregator) and of the raw list it makes.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	fakekubelet "github.com/panoptes-dev/panoptes/internal/testkit/kubelet"
)

type config struct {
	kubeconfig, panoptes, metricsServer, kubectl string
	nodes, pods, cycles, tops, workers           int
	resolution                                   time.Duration
	panoptesArgs, msArgs                         string
	profileDir                                   string
}

func main() {
	var c config
	flag.StringVar(&c.kubeconfig, "kubeconfig", "", "admin kubeconfig of the test API server")
	flag.StringVar(&c.panoptes, "panoptes", "bin/panoptes", "panoptes binary")
	flag.StringVar(&c.metricsServer, "metrics-server", "", "metrics-server binary (empty: panoptes only)")
	flag.StringVar(&c.kubectl, "kubectl", "", "kubectl binary")
	flag.IntVar(&c.nodes, "nodes", 1000, "nodes")
	flag.IntVar(&c.pods, "pods", 30, "pods per node")
	flag.IntVar(&c.cycles, "cycles", 4, "collection cycles measured")
	flag.IntVar(&c.tops, "tops", 30, "kubectl top pods -A runs")
	flag.IntVar(&c.workers, "workers", 32, "concurrent API requests when creating objects")
	flag.DurationVar(&c.resolution, "resolution", 15*time.Second, "--metric-resolution of both")
	flag.StringVar(&c.panoptesArgs, "panoptes-args", "", "extra panoptes metrics-api flags")
	flag.StringVar(&c.msArgs, "ms-args", "", "extra metrics-server flags")
	flag.StringVar(&c.profileDir, "profile-dir", "", "write each server's CPU profile over the list runs (its /debug/pprof/profile) into this directory")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if err := run(c); err != nil {
		log.Fatal(err)
	}
}

type result struct {
	name             string
	readyAfter       time.Duration
	rssMean, rssMax  float64 // bytes
	cpuPerCycle      float64 // CPU seconds
	cpuCores         float64 // mean cores over the window
	cycleMean        float64 // seconds
	topP50, topP99   time.Duration
	listP50, listP99 time.Duration
	// direct: the same list from the server itself, without the
	// aggregator's proxy in between.
	directP50, directP99    time.Duration
	podsServed, nodesServed int
}

func run(c config) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 2000, 4000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	port, err := freePort()
	if err != nil {
		return err
	}
	ips := make([]string, c.nodes)
	fakes := map[string]*fakekubelet.Node{}
	start := time.Now().Add(-time.Hour)
	for i := range ips {
		ips[i] = fmt.Sprintf("127.2.%d.%d", i/250, i%250+1)
		n := &fakekubelet.Node{MilliCPU: int64(500 + i%1000), Memory: int64(2+i%6) << 30, Start: start}
		for j := 0; j < c.pods; j++ {
			n.Pods = append(n.Pods, fakekubelet.Pod{Namespace: "bench-mapi", Name: fmt.Sprintf("p-%04d-%02d", i, j),
				Containers: []fakekubelet.Container{{Name: "app", MilliCPU: int64(1 + (i+j)%50), Memory: int64(16+(i*j)%200) << 20}}})
		}
		fakes[ips[i]] = n
	}
	kubelets, err := fakekubelet.New(fakes)
	if err != nil {
		return err
	}
	if err := kubelets.Listen(port); err != nil {
		return err
	}
	defer kubelets.Close()
	dir, err := os.MkdirTemp("", "metricsapibench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	caFile := filepath.Join(dir, "kubelet-ca.crt")
	if err := os.WriteFile(caFile, kubelets.CAPEM, 0o600); err != nil {
		return err
	}

	t0 := time.Now()
	if err := createObjects(ctx, client, c, ips, port); err != nil {
		return err
	}
	log.Printf("%d nodes and %d running pods in the API in %s; fake kubelets on 127.2.x.y:%d", c.nodes, c.nodes*c.pods, time.Since(t0).Round(time.Second), port)

	admin, err := adminDirect(cfg)
	if err != nil {
		return err
	}
	var results []result
	servers := []string{"panoptes"}
	if c.metricsServer != "" {
		servers = append(servers, "metrics-server")
	}
	for _, name := range servers {
		r, err := measure(ctx, c, name, cfg, admin, caFile, dir)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, r)
	}
	report(c, results)
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// parallel runs f(i) for i < n with workers at once.
func parallel(n, workers int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func createObjects(ctx context.Context, client kubernetes.Interface, c config, ips []string, port int) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench-mapi"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"), corev1.ResourcePods: resource.MustParse("110")}
	err = parallel(len(ips), c.workers, func(i int) error {
		name := fmt.Sprintf("bench-n%04d", i)
		_, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"panoptes-bench": "metricsapi"}}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{
			"capacity": capacity, "allocatable": capacity,
			"conditions":      []any{map[string]any{"type": "Ready", "status": "True", "reason": "KubeletReady"}},
			"addresses":       []any{map[string]any{"type": "InternalIP", "address": ips[i]}},
			"daemonEndpoints": map[string]any{"kubeletEndpoint": map[string]any{"Port": port}},
		}})
		_, err = client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
		return err
	})
	if err != nil {
		return fmt.Errorf("create nodes: %w", err)
	}
	running, _ := json.Marshal(map[string]any{"status": map[string]any{"phase": "Running"}})
	return parallel(len(ips)*c.pods, c.workers, func(k int) error {
		i, j := k/c.pods, k%c.pods
		name := fmt.Sprintf("p-%04d-%02d", i, j)
		_, err := client.CoreV1().Pods("bench-mapi").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
			Spec:       corev1.PodSpec{NodeName: fmt.Sprintf("bench-n%04d", i), Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create pod %s: %w", name, err)
		}
		_, err = client.CoreV1().Pods("bench-mapi").Patch(ctx, name, types.MergePatchType, running, metav1.PatchOptions{}, "status")
		return err
	})
}

// adminDirect is the admin's TLS client without verification of the
// (self-signed) aggregated servers.
func adminDirect(cfg *rest.Config) (*http.Client, error) {
	tc, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, err
	}
	tc = tc.Clone()
	tc.InsecureSkipVerify = true //nolint:gosec // self-signed servers on loopback
	rt, err := rest.HTTPWrappersForConfig(cfg, &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 4})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: rt, Timeout: 2 * time.Minute}, nil
}

func measure(ctx context.Context, c config, name string, cfg *rest.Config, admin *http.Client, caFile, dir string) (result, error) {
	r := result{name: name}
	port, err := freePort()
	if err != nil {
		return r, err
	}
	certDir := filepath.Join(dir, name)
	args := []string{
		"--kubeconfig=" + c.kubeconfig, "--authentication-kubeconfig=" + c.kubeconfig, "--authorization-kubeconfig=" + c.kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port), "--cert-dir=" + certDir,
		"--kubelet-certificate-authority=" + caFile, "--kubelet-use-node-status-port", "--kubelet-preferred-address-types=InternalIP",
		"--metric-resolution=" + c.resolution.String(), "--kubelet-request-timeout=" + (c.resolution / 2).String(),
		"--node-selector=panoptes-bench=metricsapi",
	}
	bin := c.metricsServer
	extra := c.msArgs
	if name == "panoptes" {
		bin, extra = c.panoptes, c.panoptesArgs
		args = append([]string{"metrics-api", "--log.level=warn"}, args...)
	}
	args = append(args, strings.Fields(extra)...)
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return r, err
	}
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	pid := cmd.Process.Pid
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	if err := registerAPIService(ctx, admin, cfg.Host, port); err != nil {
		return r, err
	}
	// Ready: every pod served through the aggregator.
	want := c.nodes * c.pods
	deadline := time.Now().Add(5*c.resolution + 2*time.Minute)
	for {
		n, _ := countItems(admin, cfg.Host+"/apis/metrics.k8s.io/v1beta1/pods")
		if n >= want {
			break
		}
		exited := false
		select {
		case <-done:
			exited = true
		default:
		}
		if exited || time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			return r, fmt.Errorf("only %d of %d pods served after %s; log:\n%s", n, want, time.Since(started).Round(time.Second), tail(b, 3000))
		}
		time.Sleep(time.Second)
	}
	r.readyAfter = time.Since(started)
	log.Printf("%s: all %d pods served %s after start", name, want, r.readyAfter.Round(time.Second))

	// One more cycle to settle, then the measured window.
	time.Sleep(c.resolution)
	sum0, n0, err := cycleStats(admin, base, name)
	if err != nil {
		return r, err
	}
	cpu0, err := cpuSeconds(pid)
	if err != nil {
		return r, err
	}
	window := time.Duration(c.cycles) * c.resolution
	var rss []float64
	end := time.Now().Add(window)
	for time.Now().Before(end) {
		if v, err := rssBytes(pid); err == nil {
			rss = append(rss, v)
		}
		time.Sleep(time.Second)
	}
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return r, err
	}
	sum1, n1, err := cycleStats(admin, base, name)
	if err != nil {
		return r, err
	}
	cycles := n1 - n0
	if cycles <= 0 {
		return r, fmt.Errorf("no collection cycle ended in %s", window)
	}
	r.cycleMean = (sum1 - sum0) / cycles
	r.cpuPerCycle = (cpu1 - cpu0) / cycles
	r.cpuCores = (cpu1 - cpu0) / window.Seconds()
	for _, v := range rss {
		r.rssMean += v / float64(len(rss))
		if v > r.rssMax {
			r.rssMax = v
		}
	}
	r.nodesServed, _ = countItems(admin, cfg.Host+"/apis/metrics.k8s.io/v1beta1/nodes")
	r.podsServed, _ = countItems(admin, cfg.Host+"/apis/metrics.k8s.io/v1beta1/pods")

	// kubectl top pods -A through the aggregator, the list it makes, and
	// the same list straight from the server.
	profiled := make(chan error, 1)
	if c.profileDir != "" {
		// About 3 s per run: the profile covers most of them.
		secs := max(10, 3*c.tops)
		go func() {
			profiled <- fetchTo(admin, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs), filepath.Join(c.profileDir, name+".cpu.pprof"))
		}()
	} else {
		profiled <- nil
	}
	var tops, lists, directs []time.Duration
	for i := 0; i < c.tops; i++ {
		t := time.Now()
		out, err := exec.Command(c.kubectl, "--kubeconfig="+c.kubeconfig, "top", "pods", "-A").Output()
		if err != nil {
			return r, fmt.Errorf("kubectl top pods -A: %w", err)
		}
		tops = append(tops, time.Since(t))
		if lines := strings.Count(string(out), "\n"); lines < want {
			return r, fmt.Errorf("kubectl top pods -A printed %d lines, want %d", lines, want+1)
		}
		t = time.Now()
		if _, err := countItems(admin, cfg.Host+"/apis/metrics.k8s.io/v1beta1/pods"); err != nil {
			return r, err
		}
		lists = append(lists, time.Since(t))
		t = time.Now()
		if _, err := countItems(admin, base+"/apis/metrics.k8s.io/v1beta1/pods"); err != nil {
			return r, err
		}
		directs = append(directs, time.Since(t))
	}
	if err := <-profiled; err != nil {
		return r, fmt.Errorf("profile: %w", err)
	}
	r.topP50, r.topP99 = percentile(tops, 0.5), percentile(tops, 0.99)
	r.listP50, r.listP99 = percentile(lists, 0.5), percentile(lists, 0.99)
	r.directP50, r.directP99 = percentile(directs, 0.5), percentile(directs, 0.99)
	return r, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1)*p + 0.5)
	return s[i]
}

func registerAPIService(ctx context.Context, admin *http.Client, host string, port int) error {
	apply := func(path string, obj map[string]any) error {
		b, _ := json.Marshal(obj)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, host+path+"?fieldManager=bench&force=true", strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/apply-patch+yaml")
		resp, err := admin.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
			body, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("apply %s: %d %s", path, resp.StatusCode, body)
		}
		return nil
	}
	if err := apply("/api/v1/namespaces/kube-system/services/metrics-bench", map[string]any{
		"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "metrics-bench", "namespace": "kube-system"},
		"spec": map[string]any{"type": "ExternalName", "externalName": "localhost",
			"ports": []any{map[string]any{"name": "https", "port": port, "protocol": "TCP"}}},
	}); err != nil {
		return err
	}
	return apply("/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io", map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": map[string]any{"name": "v1beta1.metrics.k8s.io"},
		"spec": map[string]any{"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
			"insecureSkipTLSVerify": true, "service": map[string]any{"name": "metrics-bench", "namespace": "kube-system", "port": port}},
	})
}

func countItems(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url) //nolint:noctx // bench
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return 0, fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	var l struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return 0, err
	}
	return len(l.Items), nil
}

// fetchTo writes the body of a GET of url into file.
func fetchTo(c *http.Client, url, file string) error {
	resp, err := c.Get(url) //nolint:noctx // bench
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// cycleStats reads the sum and count of the collection cycle histogram.
func cycleStats(c *http.Client, base, name string) (sum, count float64, err error) {
	metric := "panoptes_metricsapi_collection_duration_seconds"
	if name != "panoptes" {
		metric = "metrics_server_manager_tick_duration_seconds"
	}
	resp, err := c.Get(base + "/metrics") //nolint:noctx // bench
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	found := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case metric + "_sum":
			sum, found = v, found+1
		case metric + "_count":
			count, found = v, found+1
		}
	}
	if found != 2 {
		return 0, 0, errors.New("no " + metric + " in " + base + "/metrics")
	}
	return sum, count, nil
}

func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ
}

func rssBytes(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

func report(c config, rs []result) {
	nodes := float64(c.nodes)
	fmt.Printf("\nmetrics API benchmark: %d nodes x %d pods (%d pods), --metric-resolution=%s, %d cycles measured, %d kubectl top pods -A; %d cores\n\n",
		c.nodes, c.pods, c.nodes*c.pods, c.resolution, c.cycles, c.tops, numCPU())
	row := func(label string, f func(r result) string) {
		fmt.Printf("%-34s", label)
		for _, r := range rs {
			fmt.Printf("%18s", f(r))
		}
		fmt.Println()
	}
	row("", func(r result) string { return r.name })
	row("nodes / pods served", func(r result) string { return fmt.Sprintf("%d / %d", r.nodesServed, r.podsServed) })
	row("all pods served after start", func(r result) string { return r.readyAfter.Round(100 * time.Millisecond).String() })
	row("RSS mean (MiB)", func(r result) string { return fmt.Sprintf("%.1f", r.rssMean/(1<<20)) })
	row("RSS max (MiB)", func(r result) string { return fmt.Sprintf("%.1f", r.rssMax/(1<<20)) })
	row("RSS per node (KiB)", func(r result) string { return fmt.Sprintf("%.0f", r.rssMean/nodes/1024) })
	row("CPU per cycle (s)", func(r result) string { return fmt.Sprintf("%.3f", r.cpuPerCycle) })
	row("CPU per node (mCPU)", func(r result) string { return fmt.Sprintf("%.3f", r.cpuCores*1000/nodes) })
	row("cycle duration mean (s)", func(r result) string { return fmt.Sprintf("%.3f", r.cycleMean) })
	row("kubectl top pods -A p50", func(r result) string { return r.topP50.Round(time.Millisecond).String() })
	row("kubectl top pods -A p99", func(r result) string { return r.topP99.Round(time.Millisecond).String() })
	row("GET .../v1beta1/pods p50", func(r result) string { return r.listP50.Round(time.Millisecond).String() })
	row("GET .../v1beta1/pods p99", func(r result) string { return r.listP99.Round(time.Millisecond).String() })
	row("the same, direct p50", func(r result) string { return r.directP50.Round(time.Millisecond).String() })
	row("the same, direct p99", func(r result) string { return r.directP99.Round(time.Millisecond).String() })
	if len(rs) == 2 {
		p, m := rs[0], rs[1]
		fmt.Printf("\npanoptes / metrics-server: RSS %.2f, CPU per cycle %.2f, cycle %.2f, top p99 %.2f, list p50 %.2f p99 %.2f, direct list p50 %.2f p99 %.2f\n",
			p.rssMean/m.rssMean, p.cpuPerCycle/m.cpuPerCycle, p.cycleMean/m.cycleMean,
			float64(p.topP99)/float64(m.topP99), float64(p.listP50)/float64(m.listP50), float64(p.listP99)/float64(m.listP99),
			float64(p.directP50)/float64(m.directP50), float64(p.directP99)/float64(m.directP99))
	}
	p := rs[0]
	fmt.Printf("targets (panoptes): memory <= 1 MB/node: %.2f MB %s; CPU <= 0.5 mCPU/node: %.3f %s; cycle < 5 s: %.2f s %s; top p99 < 200 ms: %s %s\n",
		p.rssMean/nodes/1e6, ok(p.rssMean/nodes <= 1e6), p.cpuCores*1000/nodes, ok(p.cpuCores*1000/nodes <= 0.5),
		p.cycleMean, ok(p.cycleMean < 5), p.topP99.Round(time.Millisecond), ok(p.topP99 < 200*time.Millisecond))
}

func ok(b bool) string {
	if b {
		return "(met)"
	}
	return "(MISSED)"
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}
