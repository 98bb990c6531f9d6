// Command state is the driver of bench/state.sh: it fills a Kubernetes API
// server with objects (pods and nodes with patched status, deployments),
// starts `panoptes state` and kube-state-metrics side by side against it
// with the same flags, and measures for each: time to the first complete
// exposition, RSS in the steady state, CPU time per scrape, scrape latency
// (p50, p99) and the time from an object change to the metric change.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type config struct {
	kubeconfig, panoptes, ksm     string
	pods, deployments, nodes, nss int
	scrapes, changes, workers     int
	settle, window                time.Duration
	skipCreate                    bool
	panoptesArgs, ksmArgs         string
}

func main() {
	var c config
	flag.StringVar(&c.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "admin kubeconfig of the API server")
	flag.StringVar(&c.panoptes, "panoptes", "bin/panoptes", "panoptes binary")
	flag.StringVar(&c.ksm, "ksm", "", "kube-state-metrics binary")
	flag.IntVar(&c.pods, "pods", 10000, "pods to create")
	flag.IntVar(&c.deployments, "deployments", 1000, "deployments to create")
	flag.IntVar(&c.nodes, "nodes", 100, "nodes to create")
	flag.IntVar(&c.nss, "namespaces", 10, "namespaces to spread pods and deployments over")
	flag.IntVar(&c.scrapes, "scrapes", 50, "scrapes of each for CPU and latency")
	flag.IntVar(&c.changes, "changes", 10, "object changes timed to the metric change")
	flag.IntVar(&c.workers, "workers", 32, "concurrent requests while creating")
	flag.DurationVar(&c.settle, "settle", 15*time.Second, "wait after both are complete before measuring RSS")
	flag.DurationVar(&c.window, "window", 20*time.Second, "RSS sampling window")
	flag.BoolVar(&c.skipCreate, "skip-create", false, "the objects exist already")
	flag.StringVar(&c.panoptesArgs, "panoptes-args", "", "extra flags for panoptes state (space-separated)")
	flag.StringVar(&c.ksmArgs, "ksm-args", "", "extra flags for kube-state-metrics (space-separated)")
	flag.Parse()
	if err := run(c); err != nil {
		log.Fatal(err)
	}
}

func run(c config) error {
	restCfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return err
	}
	restCfg.QPS, restCfg.Burst = 5000, 5000
	restCfg.ContentType = "application/vnd.kubernetes.protobuf"
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if !c.skipCreate {
		start := time.Now()
		if err := create(ctx, client, c); err != nil {
			return err
		}
		log.Printf("created %d nodes, %d deployments, %d pods in %s", c.nodes, c.deployments, c.pods, time.Since(start).Round(time.Second))
	}

	resources := "--resources=pods,deployments,nodes,namespaces"
	procs := []*proc{
		{name: "panoptes", bin: c.panoptes, args: append([]string{"state", "--kubeconfig=" + c.kubeconfig, resources}, strings.Fields(c.panoptesArgs)...)},
		{name: "kube-state-metrics", bin: c.ksm, args: append([]string{"--kubeconfig=" + c.kubeconfig, resources}, strings.Fields(c.ksmArgs)...)},
	}
	for _, p := range procs {
		if err := p.start(); err != nil {
			return err
		}
		defer p.stop()
	}
	// Both list at once: each is complete when it exports every pod.
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.syncTime, p.err = p.waitComplete(c.pods)
		}()
	}
	wg.Wait()
	for _, p := range procs {
		if p.err != nil {
			return fmt.Errorf("%s: %w\n%s", p.name, p.err, p.logs.String())
		}
	}
	time.Sleep(c.settle)
	// RSS: mean over the window, sampled every second for both.
	for t := time.Now(); time.Since(t) < c.window; time.Sleep(time.Second) {
		for _, p := range procs {
			p.rss = append(p.rss, rssBytes(p.cmd.Process.Pid))
			p.anon = append(p.anon, statusField(p.cmd.Process.Pid, "RssAnon:"))
			p.file = append(p.file, statusField(p.cmd.Process.Pid, "RssFile:"))
		}
	}
	for _, p := range procs {
		p.hwm = statusField(p.cmd.Process.Pid, "VmHWM:")
	}
	// Scrapes, alternating, each a full read of the plain-text exposition.
	for i := 0; i < c.scrapes; i++ {
		for _, p := range procs {
			cpu0 := cpuSeconds(p.cmd.Process.Pid)
			t0 := time.Now()
			n, err := p.scrape()
			if err != nil {
				return fmt.Errorf("%s scrape: %w", p.name, err)
			}
			p.lat = append(p.lat, time.Since(t0))
			p.cpu += cpuSeconds(p.cmd.Process.Pid) - cpu0
			p.bytes = n
		}
	}
	// Change to metric: flip a pod's phase, time until each exports it.
	for i := 0; i < c.changes; i++ {
		ns, name := fmt.Sprintf("bench-%d", i%c.nss), fmt.Sprintf("pod-%d", i)
		cur, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		phase := "Failed"
		if cur.Status.Phase == v1.PodFailed {
			phase = "Running"
		}
		if _, err := client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, []byte(`{"status":{"phase":"`+phase+`"}}`), metav1.PatchOptions{}, "status"); err != nil {
			return fmt.Errorf("patch %s/%s: %w", ns, name, err)
		}
		t0 := time.Now()
		want := fmt.Sprintf(`namespace="%s",pod="%s",`, ns, name)
		var wg sync.WaitGroup
		for _, p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(t0) < time.Minute {
					if p.hasLine(want, `phase="`+phase+`"} 1`) {
						p.change = append(p.change, time.Since(t0))
						return
					}
				}
				p.change = append(p.change, time.Minute)
			}()
		}
		wg.Wait()
	}
	report(procs, c)
	return nil
}

// create makes namespaces, nodes (status patched), deployments (status
// patched) and pods (on the nodes, status patched Running), concurrently.
func create(ctx context.Context, client kubernetes.Interface, c config) error {
	for i := 0; i < c.nss; i++ {
		_, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i)}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	var errs atomic.Pointer[error]
	pool := func(n int, f func(i int) error) {
		ch := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < c.workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range ch {
					if err := f(i); err != nil && !apierrors.IsAlreadyExists(err) {
						errs.CompareAndSwap(nil, &err)
					}
				}
			}()
		}
		for i := 0; i < n; i++ {
			ch <- i
		}
		close(ch)
		wg.Wait()
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	pool(c.nodes, func(i int) error {
		name := fmt.Sprintf("bench-node-%d", i)
		n, err := client.CoreV1().Nodes().Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "m5.xlarge"}},
			Spec: v1.NodeSpec{PodCIDR: fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256), ProviderID: "fake://" + name}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		res := v1.ResourceList{v1.ResourceCPU: resource.MustParse("4"), v1.ResourceMemory: resource.MustParse("16Gi"), v1.ResourcePods: resource.MustParse("110")}
		n.Status = v1.NodeStatus{Capacity: res, Allocatable: res,
			Conditions: []v1.NodeCondition{
				{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: v1.NodeMemoryPressure, Status: v1.ConditionFalse, LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: v1.NodeDiskPressure, Status: v1.ConditionFalse, LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: v1.NodePIDPressure, Status: v1.ConditionFalse, LastHeartbeatTime: now, LastTransitionTime: now},
			},
			Addresses: []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: fmt.Sprintf("10.0.%d.%d", i/256, i%256)}, {Type: v1.NodeHostName, Address: name}},
			NodeInfo: v1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 13", KernelVersion: "6.12.0", ContainerRuntimeVersion: "containerd://2.1.0",
				OperatingSystem: "linux", Architecture: "amd64", MachineID: name, SystemUUID: name, BootID: name}}
		_, err = client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	replicas := int32(c.pods / max(c.deployments, 1))
	pool(c.deployments, func(i int) error {
		ns, name := fmt.Sprintf("bench-%d", i%c.nss), fmt.Sprintf("dep-%d", i)
		labels := map[string]string{"app": name, "team": fmt.Sprintf("team-%d", i%7)}
		d, err := client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: v1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec("")}}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: v1.ConditionTrue, Reason: "MinimumReplicasAvailable", LastUpdateTime: now, LastTransitionTime: now}}}
		_, err = client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
		return err
	})
	pool(c.pods, func(i int) error {
		ns, name := fmt.Sprintf("bench-%d", i%c.nss), fmt.Sprintf("pod-%d", i)
		dep := fmt.Sprintf("dep-%d", i%max(c.deployments, 1))
		node := fmt.Sprintf("bench-node-%d", i%max(c.nodes, 1))
		p, err := client.CoreV1().Pods(ns).Create(ctx, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels:          map[string]string{"app": dep, "pod-template-hash": "5d8f9c7b6"},
			Annotations:     map[string]string{"kubectl.kubernetes.io/restartedAt": now.Format(time.RFC3339)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: dep + "-5d8f9c7b6", UID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i%max(c.deployments, 1))), Controller: ptr(true)}}},
			Spec: podSpec(node)}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		p.Status = v1.PodStatus{Phase: v1.PodRunning, QOSClass: v1.PodQOSBurstable, StartTime: &now, HostIP: "10.0.0.1",
			PodIP: fmt.Sprintf("10.%d.%d.%d", 1+i/65536, (i/256)%256, i%256),
			Conditions: []v1.PodCondition{
				{Type: v1.PodScheduled, Status: v1.ConditionTrue, LastTransitionTime: now},
				{Type: v1.PodInitialized, Status: v1.ConditionTrue, LastTransitionTime: now},
				{Type: v1.ContainersReady, Status: v1.ConditionTrue, LastTransitionTime: now},
				{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: now},
			},
			ContainerStatuses: []v1.ContainerStatus{{Name: "app", Image: "registry.example.com/app:1.2.3", ImageID: "registry.example.com/app@sha256:0123456789abcdef",
				ContainerID: fmt.Sprintf("containerd://%064d", i), Ready: true, Started: ptr(true), RestartCount: int32(i % 3),
				State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: now}}}},
		}
		_, err = client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
	if e := errs.Load(); e != nil {
		return *e
	}
	return nil
}

func podSpec(node string) v1.PodSpec {
	return v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "app", Image: "registry.example.com/app:1.2.3",
		Resources: v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   v1.ResourceList{v1.ResourceMemory: resource.MustParse("256Mi")}},
		Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}
}

func ptr[T any](v T) *T { return &v }

type proc struct {
	name, bin string
	args      []string
	cmd       *exec.Cmd
	logs      strings.Builder
	logsMu    sync.Mutex
	url       string
	err       error
	start0    time.Time

	syncTime time.Duration
	rss      []int64
	anon     []int64
	file     []int64
	hwm      int64
	lat      []time.Duration
	cpu      float64
	bytes    int64
	change   []time.Duration
}

func (p *proc) Write(b []byte) (int, error) {
	p.logsMu.Lock()
	defer p.logsMu.Unlock()
	if p.logs.Len() < 1<<20 {
		p.logs.Write(b)
	}
	return len(b), nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

func (p *proc) start() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	tport, err := freePort()
	if err != nil {
		return err
	}
	p.args = append(p.args, "--host=127.0.0.1", "--port="+port, "--telemetry-host=127.0.0.1", "--telemetry-port="+tport)
	p.url = "http://127.0.0.1:" + port + "/metrics"
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.start0 = time.Now()
	return p.cmd.Start()
}

func (p *proc) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

var plain = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 2 * time.Minute}

// waitComplete polls until the exposition has a kube_pod_info line for
// every pod, and returns the time since start.
func (p *proc) waitComplete(pods int) (time.Duration, error) {
	for time.Since(p.start0) < 10*time.Minute {
		n, err := p.count("kube_pod_info{")
		if err == nil && n >= pods {
			return time.Since(p.start0), nil
		}
		if p.cmd.ProcessState != nil {
			return 0, errors.New("exited")
		}
		time.Sleep(500 * time.Millisecond)
	}
	return 0, errors.New("not complete after 10 minutes")
}

func (p *proc) count(prefix string) (int, error) {
	resp, err := plain.Get(p.url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			n++
		}
	}
	return n, sc.Err()
}

func (p *proc) scrape() (int64, error) {
	resp, err := plain.Get(p.url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("status %s", resp.Status)
	}
	return io.Copy(io.Discard, resp.Body)
}

// hasLine reads the pods' exposition until a kube_pod_status_phase line
// holding both parts, stopping there.
func (p *proc) hasLine(a, b string) bool {
	resp, err := plain.Get(p.url + "?resources=pods")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "kube_pod_status_phase{") && strings.Contains(l, a) && strings.HasSuffix(l, b) {
			return true
		}
	}
	return false
}

func statusField(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func rssBytes(pid int) int64 { return statusField(pid, "VmRSS:") }

// cpuSeconds is utime+stime of pid.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func pct(d []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func mean(v []int64) float64 {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(max(len(v), 1))
}

func report(procs []*proc, c config) {
	ours, peer := procs[0], procs[1]
	fmt.Printf("\n%d pods, %d deployments, %d nodes; %d scrapes each, %d changes\n\n", c.pods, c.deployments, c.nodes, c.scrapes, c.changes)
	fmt.Printf("%-34s %16s %20s %8s\n", "", "panoptes state", "kube-state-metrics", "ratio")
	row := func(name string, a, b float64, unit string) {
		ratio := "-"
		if b != 0 {
			ratio = fmt.Sprintf("%.2f", a/b)
		}
		fmt.Printf("%-34s %13.1f %-2s %17.1f %-2s %8s\n", name, a, unit, b, unit, ratio)
	}
	row("time to complete exposition", ours.syncTime.Seconds(), peer.syncTime.Seconds(), "s")
	row("RSS steady (mean)", mean(ours.rss)/(1<<20), mean(peer.rss)/(1<<20), "MB")
	row("  of which anonymous (heap, stacks)", mean(ours.anon)/(1<<20), mean(peer.anon)/(1<<20), "MB")
	row("  of which file (binary text)", mean(ours.file)/(1<<20), mean(peer.file)/(1<<20), "MB")
	row("RSS peak (VmHWM)", float64(ours.hwm)/(1<<20), float64(peer.hwm)/(1<<20), "MB")
	row("CPU per scrape", ours.cpu/float64(c.scrapes)*1000, peer.cpu/float64(c.scrapes)*1000, "ms")
	row("scrape p50", float64(pct(ours.lat, 0.5).Microseconds())/1000, float64(pct(peer.lat, 0.5).Microseconds())/1000, "ms")
	row("scrape p99", float64(pct(ours.lat, 0.99).Microseconds())/1000, float64(pct(peer.lat, 0.99).Microseconds())/1000, "ms")
	row("exposition size", float64(ours.bytes)/(1<<20), float64(peer.bytes)/(1<<20), "MB")
	row("change to metric p50", float64(pct(ours.change, 0.5).Microseconds())/1000, float64(pct(peer.change, 0.5).Microseconds())/1000, "ms")
	row("change to metric max", float64(pct(ours.change, 1).Microseconds())/1000, float64(pct(peer.change, 1).Microseconds())/1000, "ms")
}
