package main

import (
	"bytes"
	"fmt"
	"strconv"
)

// cluster is the synthetic cluster: its nodes, workloads and pods, and the
// targets that expose them.
type cluster struct {
	cfg               config
	nodes             []string
	pods              int
	containers        int
	targets           []*target
	nodeExporterPods  []string // per node
	ksm, firstKubelet int      // indices into targets
}

type pod struct {
	namespace, name, uid, node string
	ownerKind, ownerName       string // the controller: ReplicaSet, StatefulSet or DaemonSet
	pending                    bool
	containers                 []container
}

type container struct {
	name, image, id string
	// crashLooping: restarts every 2 minutes, waiting in CrashLoopBackOff
	// between; oomKilled: the OOM killer ends it every 10 minutes.
	crashLooping, oomKilled bool
	cpuRequest, memRequest  float64 // cores, bytes
	cpuLimit, memLimit      float64
}

type workload struct {
	kind, namespace, name, replicaSet string
	replicas, ready                   int
}

var namespaces = []string{"default", "kube-system", "monitoring", "payments", "checkout", "search", "catalog", "identity", "analytics", "ingress"}

var appNames = []string{"api", "web", "worker", "cache", "gateway", "frontend", "backend", "scheduler", "indexer", "notifier", "auth", "billing"}

// suffix is a deterministic Kubernetes-style random name suffix.
func suffix(seed uint64, key string, n int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[int(unit(seed, key+strconv.Itoa(i))*float64(len(alphabet)))]
	}
	return string(b)
}

func hexID(seed uint64, key string, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[int(unit(seed, key+strconv.Itoa(i))*16)]
	}
	return string(b)
}

func uid(seed uint64, key string) string {
	h := hexID(seed, key, 32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func newCluster(c config) *cluster {
	cl := &cluster{cfg: c}
	for n := range c.nodes {
		cl.nodes = append(cl.nodes, fmt.Sprintf("node-%03d", n))
	}
	// Pods: a node_exporter pod per node (the DaemonSet), then the
	// workloads' pods spread round-robin over the nodes.
	var pods []*pod
	var workloads []*workload
	seed := c.seed
	newContainers := func(p *pod, names ...string) {
		for i, name := range names {
			g := cl.containers
			cl.containers++
			key := p.uid + name
			ct := container{
				name:         name,
				image:        fmt.Sprintf("registry.example.com/%s/%s:v1.%d.%d", p.namespace, name, g%7, g%13),
				id:           hexID(seed, key, 64),
				crashLooping: g%97 == 13,
				oomKilled:    g%211 == 50,
				cpuRequest:   []float64{0.05, 0.1, 0.25, 0.5, 1}[g%5],
				memRequest:   float64([]int{64, 128, 256, 512}[g%4]) * 1024 * 1024,
			}
			if i == 0 || g%3 != 0 { // sidecars often have no limits
				ct.cpuLimit, ct.memLimit = 2*ct.cpuRequest, 2*ct.memRequest
			}
			p.containers = append(p.containers, ct)
		}
	}
	for _, node := range cl.nodes {
		p := &pod{namespace: "monitoring", name: "node-exporter-" + suffix(seed, node, 5), node: node, ownerKind: "DaemonSet", ownerName: "node-exporter"}
		p.uid = uid(seed, p.name)
		names := []string{"node-exporter", "kube-rbac-proxy"}
		for i := 2; i < c.containersPerPod; i++ {
			names = append(names, "sidecar-"+strconv.Itoa(i))
		}
		newContainers(p, names[:max(1, min(len(names), c.containersPerPod))]...)
		cl.nodeExporterPods = append(cl.nodeExporterPods, p.name)
		pods = append(pods, p)
	}
	apps := c.nodes * (c.podsPerNode - 1)
	for w := 0; apps > 0; w++ {
		wl := &workload{kind: "Deployment", namespace: namespaces[w%len(namespaces)], replicas: []int{3, 2, 1, 4, 3, 2, 5, 1}[w%8]}
		wl.name = fmt.Sprintf("%s-%d", appNames[w%len(appNames)], w/len(appNames))
		if w%10 == 9 {
			wl.kind = "StatefulSet"
		}
		wl.replicas = min(wl.replicas, apps)
		apps -= wl.replicas
		if wl.kind == "Deployment" {
			wl.replicaSet = wl.name + "-" + hexID(seed, wl.name, 10)[:9]
		}
		for r := range wl.replicas {
			p := &pod{namespace: wl.namespace, node: cl.nodes[len(pods)%c.nodes]}
			if wl.kind == "Deployment" {
				p.name, p.ownerKind, p.ownerName = wl.replicaSet+"-"+suffix(seed, wl.name+strconv.Itoa(r), 5), "ReplicaSet", wl.replicaSet
			} else {
				p.name, p.ownerKind, p.ownerName = wl.name+"-"+strconv.Itoa(r), "StatefulSet", wl.name
			}
			p.uid = uid(seed, p.namespace+p.name)
			p.pending = len(pods)%53 == 7
			names := []string{"app"}
			for i := 1; i < c.containersPerPod; i++ {
				names = append(names, []string{"istio-proxy", "log-shipper", "config-reloader"}[(i-1)%3]+suffixIf(i > 3, i))
			}
			newContainers(p, names...)
			if !p.pending {
				wl.ready++
			}
			pods = append(pods, p)
		}
		workloads = append(workloads, wl)
	}
	cl.pods = len(pods)

	byNode := map[string][]*pod{}
	for _, p := range pods {
		byNode[p.node] = append(byNode[p.node], p)
	}
	for i, node := range cl.nodes {
		cl.targets = append(cl.targets, cl.nodeExporter(i, node))
	}
	cl.firstKubelet = len(cl.targets)
	for i, node := range cl.nodes {
		cl.targets = append(cl.targets, cl.cadvisor(i, node, byNode[node]))
	}
	cl.ksm = len(cl.targets)
	cl.targets = append(cl.targets, cl.kubeStateMetrics(pods, workloads))
	for i, t := range cl.targets {
		t.id, t.seed = uint64(i+1), seed
	}
	return cl
}

func suffixIf(ok bool, i int) string {
	if ok {
		return "-" + strconv.Itoa(i)
	}
	return ""
}

// scrapeConfigs is the scrape_configs of the targets, with the job names
// and target labels of kube-prometheus.
func (cl *cluster) scrapeConfigs(addr string) []byte {
	var b bytes.Buffer
	iv := cl.cfg.scrapeInterval
	job := func(name string, honor bool) {
		fmt.Fprintf(&b, "  - job_name: %s\n    scrape_interval: %s\n    scrape_timeout: %s\n    honor_labels: %t\n    static_configs:\n", name, iv, iv, honor)
	}
	b.WriteString("scrape_configs:\n")
	job("node-exporter", false)
	for i, node := range cl.nodes {
		fmt.Fprintf(&b, "      - targets: [%q]\n        labels: {__metrics_path__: %q, instance: %q, namespace: monitoring, pod: %q, container: kube-rbac-proxy, service: node-exporter, endpoint: https}\n",
			addr, cl.targets[i].path, node, cl.nodeExporterPods[i])
	}
	job("kubelet", true)
	for i, node := range cl.nodes {
		fmt.Fprintf(&b, "      - targets: [%q]\n        labels: {__metrics_path__: %q, instance: \"10.0.%d.%d:10250\", node: %q, metrics_path: /metrics/cadvisor, service: kubelet, endpoint: https-metrics}\n",
			addr, cl.targets[cl.firstKubelet+i].path, i/250, i%250+1, node)
	}
	job("kube-state-metrics", true)
	fmt.Fprintf(&b, "      - targets: [%q]\n        labels: {__metrics_path__: %q, instance: \"10.1.0.10:8443\", service: kube-state-metrics, endpoint: https-main}\n",
		addr, cl.targets[cl.ksm].path)
	return b.Bytes()
}

// nodeExporter is a node's node_exporter target.
func (cl *cluster) nodeExporter(i int, node string) *target {
	t := &target{path: "/nodes/" + node + "/metrics"}
	seed := cl.cfg.seed
	u := func(key string) float64 { return unit(seed, node+key) }
	uptime := 86400 * (10 + 20*u("boot"))
	modes := []struct {
		mode  string
		share float64
	}{{"idle", 0.6}, {"iowait", 0.02}, {"irq", 0.001}, {"nice", 0.001}, {"softirq", 0.01}, {"steal", 0.005}, {"system", 0.1}, {"user", 0.25}}
	for cpu := range cl.cfg.cpus {
		for _, m := range modes {
			r := m.share * (0.5 + u(strconv.Itoa(cpu)+m.mode))
			t.add("node_cpu_seconds_total", "counter", counter, uptime*r, r, 0, "cpu", strconv.Itoa(cpu), "mode", m.mode)
		}
	}
	load := float64(cl.cfg.cpus) * (0.2 + 0.5*u("load"))
	for _, l := range []string{"node_load1", "node_load5", "node_load15"} {
		t.add(l, "gauge", gauge, load, 0, 0.1)
	}
	total := float64(int64(32+32*(i%3)) << 30)
	avail := total * (0.2 + 0.6*u("mem"))
	if i == 3 { // one node short of memory
		avail = total * 0.04
	}
	for _, m := range []struct {
		name  string
		value float64
		amp   float64
	}{
		{"MemTotal", total, 0}, {"MemFree", avail * 0.3, 0.02}, {"MemAvailable", avail, 0.01}, {"Buffers", total * 0.01, 0.01},
		{"Cached", avail * 0.6, 0.01}, {"Slab", total * 0.02, 0.01}, {"SReclaimable", total * 0.01, 0.01}, {"SUnreclaim", total * 0.01, 0.01},
		{"Active", total * 0.4, 0.01}, {"Inactive", total * 0.2, 0.01}, {"Active_anon", total * 0.3, 0.01}, {"Inactive_anon", total * 0.05, 0.01},
		{"Active_file", total * 0.1, 0.01}, {"Inactive_file", total * 0.15, 0.01}, {"Dirty", 1 << 20, 0.5}, {"Writeback", 0, 0},
		{"Mapped", total * 0.03, 0.01}, {"Shmem", total * 0.01, 0.01}, {"SwapTotal", 0, 0}, {"SwapFree", 0, 0},
		{"PageTables", total * 0.005, 0.01}, {"Committed_AS", total * 0.7, 0.01}, {"HugePages_Total", 0, 0}, {"Hugepagesize", 2 << 20, 0},
	} {
		t.add("node_memory_"+m.name+"_bytes", "gauge", gauge, float64(int64(m.value)), 0, m.amp)
	}
	type fs struct{ device, fstype, mountpoint string }
	for j, f := range []fs{{"/dev/sda1", "ext4", "/"}, {"/dev/sda15", "vfat", "/boot/efi"}, {"/dev/sdb1", "ext4", "/var/lib/kubelet"}, {"/dev/sdb2", "xfs", "/var/lib/containerd"}, {"tmpfs", "tmpfs", "/run"}, {"tmpfs", "tmpfs", "/run/lock"}} {
		size := float64(int64(20+80*u(f.mountpoint)) << 30)
		free := 0.3 + 0.6*u(f.mountpoint+"free")
		fill := 0.0 // bytes per second
		if (i+j)%37 == 5 {
			free, fill = 0.08, size*1e-6 // filling up
		}
		lbl := []string{"device", f.device, "fstype", f.fstype, "mountpoint", f.mountpoint}
		t.add("node_filesystem_size_bytes", "gauge", constant, size, 0, 0, lbl...)
		t.add("node_filesystem_avail_bytes", "gauge", counter, size*free, -fill, 0, lbl...)
		t.add("node_filesystem_free_bytes", "gauge", counter, size*(free+0.05), -fill, 0, lbl...)
		t.add("node_filesystem_files", "gauge", constant, 6553600, 0, 0, lbl...)
		t.add("node_filesystem_files_free", "gauge", gauge, 6553600*(0.5+0.4*u(f.mountpoint+"inodes")), 0, 0.001, lbl...)
		t.add("node_filesystem_readonly", "gauge", constant, 0, 0, 0, lbl...)
		t.add("node_filesystem_device_error", "gauge", constant, 0, 0, 0, lbl...)
	}
	for _, d := range []string{"sda", "sdb", "dm-0"} {
		r := u(d)
		t.add("node_disk_io_time_seconds_total", "counter", counter, uptime*0.05*r, 0.05*r, 0, "device", d)
		t.add("node_disk_io_time_weighted_seconds_total", "counter", counter, uptime*0.1*r, 0.1*r, 0, "device", d)
		t.add("node_disk_read_bytes_total", "counter", steps, uptime*1e5*r, 1e5*r, 0, "device", d)
		t.add("node_disk_written_bytes_total", "counter", steps, uptime*3e5*r, 3e5*r, 0, "device", d)
		t.add("node_disk_reads_completed_total", "counter", steps, uptime*10*r, 10*r, 0, "device", d)
		t.add("node_disk_writes_completed_total", "counter", steps, uptime*30*r, 30*r, 0, "device", d)
	}
	for _, d := range []string{"lo", "eth0", "cni0", "flannel.1"} {
		r := 1e6 * u(d)
		errs := 0.0
		if d == "eth0" && i%11 == 4 {
			errs = 0.02 * r / 1000 // a bad NIC
		}
		for _, dir := range []string{"receive", "transmit"} {
			t.add("node_network_"+dir+"_bytes_total", "counter", steps, uptime*r, r, 0, "device", d)
			t.add("node_network_"+dir+"_packets_total", "counter", steps, uptime*r/1000, r/1000, 0, "device", d)
			t.add("node_network_"+dir+"_errs_total", "counter", steps, uptime*errs, errs, 0, "device", d)
			t.add("node_network_"+dir+"_drop_total", "counter", steps, 0, 0, 0, "device", d)
		}
	}
	for _, v := range []string{"pgmajfault", "pgpgin", "pgpgout", "oom_kill"} {
		r := 0.0
		if v != "oom_kill" {
			r = 10 * u(v)
		}
		t.add("node_vmstat_"+v, "untyped", steps, uptime*r, r, 0)
	}
	t.add("node_timex_sync_status", "gauge", constant, 1, 0, 0)
	t.add("node_timex_maxerror_seconds", "gauge", gauge, 0.2, 0, 0.5)
	t.add("node_timex_offset_seconds", "gauge", gauge, 0.0001, 0, 1)
	t.add("node_boot_time_seconds", "gauge", constant, 1.7e9, 0, 0)
	t.add("node_uname_info", "gauge", constant, 1, 0, 0, "domainname", "(none)", "machine", "x86_64", "nodename", node, "release", "6.8.0-45-generic", "sysname", "Linux", "version", "#45-Ubuntu SMP")
	t.add("node_os_info", "gauge", constant, 1, 0, 0, "id", "ubuntu", "name", "Ubuntu", "pretty_name", "Ubuntu 24.04.1 LTS", "version_id", "24.04")
	for _, coll := range []string{"arp", "bcache", "bonding", "conntrack", "cpu", "cpufreq", "diskstats", "edac", "entropy", "filefd", "filesystem", "hwmon", "infiniband", "ipvs", "loadavg", "mdadm", "meminfo", "netclass", "netdev", "netstat", "nfs", "nfsd", "powersupplyclass", "pressure", "rapl", "schedstat", "sockstat", "stat", "textfile", "thermal_zone", "time", "timex", "uname", "vmstat", "xfs", "zfs"} {
		t.add("node_scrape_collector_duration_seconds", "gauge", gauge, 0.001+0.01*u(coll), 0, 0.3, "collector", coll)
		t.add("node_scrape_collector_success", "gauge", constant, 1, 0, 0, "collector", coll)
	}
	addRuntime(t, u)
	return t
}

// addRuntime adds an exporter's own Go and process metrics.
func addRuntime(t *target, u func(string) float64) {
	for _, g := range []string{"go_goroutines", "go_threads", "go_memstats_alloc_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_objects",
		"go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes", "go_memstats_next_gc_bytes", "go_memstats_last_gc_time_seconds", "process_resident_memory_bytes",
		"process_virtual_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds"} {
		t.add(g, "gauge", gauge, float64(int64(1e7*(1+u(g)))), 0, 0.05)
	}
	for _, c := range []string{"go_memstats_alloc_bytes_total", "go_memstats_mallocs_total", "go_memstats_frees_total", "process_cpu_seconds_total"} {
		t.add(c, "counter", counter, 1e6*u(c), 100*u(c), 0)
	}
	for _, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		t.add("go_gc_duration_seconds", "summary", gauge, 0.0001*(1+u(q)), 0, 0.2, "quantile", q)
	}
	t.add("go_gc_duration_seconds_sum", "summary", counter, 1, 0.001, 0)
	t.add("go_gc_duration_seconds_count", "summary", steps, 1000, 0.2, 0)
}

// cgroup is one cAdvisor container: a node's system cgroup, a pod or a
// container of a pod.
func (cl *cluster) addCgroup(t *target, key string, cpu, mem, cpuLimit, memLimit float64, oom bool, labels []string) {
	u := func(k string) float64 { return unit(cl.cfg.seed, key+k) }
	up := 3600 * (1 + 48*u("start"))
	c := func(name string, base, rate float64) {
		t.add(name, "counter", counter, base, rate, 0, labels...)
	}
	g := func(name string, base, amp float64) {
		t.add(name, "gauge", gauge, float64(int64(base)), 0, amp, labels...)
	}
	c("container_cpu_usage_seconds_total", up*cpu, cpu)
	c("container_cpu_user_seconds_total", up*cpu*0.7, cpu*0.7)
	c("container_cpu_system_seconds_total", up*cpu*0.3, cpu*0.3)
	throttled := 0.0
	if cpuLimit > 0 {
		throttled = 0.4 * u("throttle") * u("throttle2") // a few are throttled over 25%
	}
	t.add("container_cpu_cfs_periods_total", "counter", steps, up*10, 10, 0, labels...)
	t.add("container_cpu_cfs_throttled_periods_total", "counter", steps, up*10*throttled, 10*throttled, 0, labels...)
	c("container_cpu_cfs_throttled_seconds_total", up*throttled, throttled)
	c("container_fs_reads_bytes_total", up*1e4*u("r"), 1e4*u("r"))
	c("container_fs_writes_bytes_total", up*4e4*u("w"), 4e4*u("w"))
	oomRate := 0.0
	if oom {
		oomRate = 1.0 / 600
	}
	t.add("container_oom_events_total", "counter", steps, 0, oomRate, 0, labels...)
	t.add("container_memory_failcnt", "counter", constant, 0, 0, 0, labels...)
	g("container_memory_working_set_bytes", mem, 0.02)
	g("container_memory_rss", mem*0.8, 0.02)
	g("container_memory_cache", mem*0.3, 0.02)
	g("container_memory_swap", 0, 0)
	g("container_memory_usage_bytes", mem*1.1, 0.02)
	g("container_memory_mapped_file", mem*0.05, 0.01)
	g("container_spec_memory_limit_bytes", memLimit, 0)
	g("container_spec_cpu_shares", 1024*max(cpu, 0.002), 0)
	g("container_spec_cpu_quota", cpuLimit*100000, 0)
	g("container_spec_cpu_period", 100000, 0)
	g("container_start_time_seconds", 1.7e9+u("t")*1e6, 0)
	g("container_last_seen", 1.7e9+2e6, 0)
	g("container_threads", 4+60*u("th"), 0.05)
	g("container_processes", 1+3*u("pr"), 0)
}

// cadvisor is a node's kubelet /metrics/cadvisor target: the node's
// system cgroups, its running pods and their containers.
func (cl *cluster) cadvisor(i int, node string, pods []*pod) *target {
	t := &target{path: "/nodes/" + node + "/metrics/cadvisor"}
	cores := float64(cl.cfg.cpus)
	for _, id := range []string{"/", "/kubepods.slice", "/kubepods.slice/kubepods-burstable.slice", "/kubepods.slice/kubepods-besteffort.slice", "/system.slice", "/system.slice/containerd.service", "/system.slice/kubelet.service"} {
		share := map[string]float64{"/": 0.4, "/kubepods.slice": 0.3, "/system.slice": 0.05}[id] + 0.01
		cl.addCgroup(t, node+id, cores*share, 30e9*share, 0, 0, false,
			[]string{"container", "", "id", id, "image", "", "name", "", "namespace", "", "pod", ""})
	}
	for _, p := range pods {
		if p.pending {
			continue
		}
		podID := "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + p.uid + ".slice"
		var cpu, mem, cpuLim, memLim float64
		for _, c := range p.containers {
			u := unit(cl.cfg.seed, p.uid+c.name)
			ccpu, cmem := c.cpuRequest*(0.2+1.2*u), c.memRequest*(0.5+0.7*u)
			cpu, mem, cpuLim, memLim = cpu+ccpu, mem+cmem, cpuLim+c.cpuLimit, memLim+c.memLimit
			cl.addCgroup(t, p.uid+c.name, ccpu, cmem, c.cpuLimit, c.memLimit, c.oomKilled,
				[]string{"container", c.name, "id", podID + "/cri-containerd-" + c.id + ".scope", "image", c.image, "name", c.id, "namespace", p.namespace, "pod", p.name})
		}
		lbl := []string{"container", "", "id", podID, "image", "", "name", "", "namespace", p.namespace, "pod", p.name}
		cl.addCgroup(t, p.uid, cpu, mem, cpuLim, memLim, false, lbl)
		u := unit(cl.cfg.seed, p.uid+"net")
		for _, dir := range []string{"receive", "transmit"} {
			l := append([]string{"interface", "eth0"}, lbl...)
			t.add("container_network_"+dir+"_bytes_total", "counter", steps, 1e9*u, 1e5*u, 0, l...)
			t.add("container_network_"+dir+"_packets_total", "counter", steps, 1e6*u, 100*u, 0, l...)
			t.add("container_network_"+dir+"_errors_total", "counter", constant, 0, 0, 0, l...)
			t.add("container_network_"+dir+"_packets_dropped_total", "counter", constant, 0, 0, 0, l...)
		}
	}
	t.add("machine_cpu_cores", "gauge", constant, cores, 0, 0)
	t.add("machine_memory_bytes", "gauge", constant, float64(int64(32+32*(i%3))<<30), 0, 0)
	return t
}

// kubeStateMetrics is the cluster's kube-state-metrics target.
func (cl *cluster) kubeStateMetrics(pods []*pod, workloads []*workload) *target {
	t := &target{path: "/kube-state-metrics/metrics"}
	seed := cl.cfg.seed
	one := func(name string, v float64, labels ...string) { t.add(name, "gauge", constant, v, 0, 0, labels...) }
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for i, node := range cl.nodes {
		n := []string{"node", node}
		one("kube_node_info", 1, "node", node, "kernel_version", "6.8.0-45-generic", "os_image", "Ubuntu 24.04.1 LTS", "container_runtime_version", "containerd://1.7.22",
			"kubelet_version", "v1.31.2", "kubeproxy_version", "v1.31.2", "provider_id", "aws:///eu-west-1a/i-0"+hexID(seed, node, 16), "pod_cidr", fmt.Sprintf("10.244.%d.0/24", i), "internal_ip", fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
		one("kube_node_labels", 1, "node", node, "label_kubernetes_io_os", "linux", "label_topology_kubernetes_io_zone", "eu-west-1"+string(rune('a'+i%3)))
		one("kube_node_created", 1.7e9, n...)
		one("kube_node_spec_unschedulable", 0, n...)
		for _, cond := range []string{"Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"} {
			for _, st := range []string{"true", "false", "unknown"} {
				ok := (cond == "Ready") == (st == "true")
				if st == "unknown" {
					ok = false
				}
				one("kube_node_status_condition", b2f(ok), "node", node, "condition", cond, "status", st)
			}
		}
		mem := float64(int64(32+32*(i%3)) << 30)
		for _, r := range []struct{ resource, unit string }{{"cpu", "core"}, {"memory", "byte"}, {"pods", "integer"}, {"ephemeral_storage", "byte"}} {
			v := map[string]float64{"cpu": float64(cl.cfg.cpus), "memory": mem, "pods": 110, "ephemeral_storage": 100 << 30}[r.resource]
			one("kube_node_status_capacity", v, "node", node, "resource", r.resource, "unit", r.unit)
			one("kube_node_status_allocatable", v*0.95, "node", node, "resource", r.resource, "unit", r.unit)
		}
	}
	for _, ns := range namespaces {
		one("kube_namespace_status_phase", 1, "namespace", ns, "phase", "Active")
		one("kube_namespace_status_phase", 0, "namespace", ns, "phase", "Terminating")
		one("kube_namespace_created", 1.6e9, "namespace", ns)
	}
	for pi, p := range pods {
		id := []string{"namespace", p.namespace, "pod", p.name, "uid", p.uid}
		with := func(extra ...string) []string { return append(append([]string{}, id...), extra...) }
		one("kube_pod_info", 1, with("host_ip", "10.0.0.1", "pod_ip", fmt.Sprintf("10.244.%d.%d", pi/250, pi%250+2), "node", p.node, "created_by_kind", p.ownerKind,
			"created_by_name", p.ownerName, "priority_class", "", "host_network", "false")...)
		one("kube_pod_owner", 1, with("owner_kind", p.ownerKind, "owner_name", p.ownerName, "owner_is_controller", "true")...)
		one("kube_pod_labels", 1, with("label_app_kubernetes_io_name", p.ownerName)...)
		one("kube_pod_created", 1.7e9+float64(pi), id...)
		one("kube_pod_start_time", 1.7e9+float64(pi)+2, id...)
		one("kube_pod_status_scheduled_time", 1.7e9+float64(pi)+1, id...)
		if !p.pending {
			one("kube_pod_status_ready_time", 1.7e9+float64(pi)+9, id...)
			one("kube_pod_status_container_ready_time", 1.7e9+float64(pi)+9, id...)
		}
		one("kube_pod_restart_policy", 1, with("type", "Always")...)
		one("kube_pod_service_account", 1, with("service_account", "default")...)
		one("kube_pod_scheduler", 1, with("name", "default-scheduler")...)
		one("kube_pod_ips", 1, with("ip", fmt.Sprintf("10.244.%d.%d", pi/250, pi%250+2), "ip_family", "4")...)
		one("kube_pod_tolerations", 1, with("key", "node.kubernetes.io/not-ready", "operator", "Exists", "effect", "NoExecute", "toleration_seconds", "300")...)
		one("kube_pod_tolerations", 1, with("key", "node.kubernetes.io/unreachable", "operator", "Exists", "effect", "NoExecute", "toleration_seconds", "300")...)
		phase := "Running"
		if p.pending {
			phase = "Pending"
		}
		for _, ph := range []string{"Pending", "Succeeded", "Failed", "Unknown", "Running"} {
			one("kube_pod_status_phase", b2f(ph == phase), with("phase", ph)...)
		}
		for _, c := range []string{"true", "false", "unknown"} {
			one("kube_pod_status_ready", b2f((c == "true") == !p.pending && c != "unknown"), with("condition", c)...)
			one("kube_pod_status_scheduled", b2f(c == "true"), with("condition", c)...)
		}
		for _, q := range []string{"BestEffort", "Burstable", "Guaranteed"} {
			one("kube_pod_status_qos_class", b2f(q == "Burstable"), with("qos_class", q)...)
		}
		for _, c := range p.containers {
			cid := with("container", c.name)
			running := !p.pending && !c.crashLooping
			one("kube_pod_container_info", 1, with("container", c.name, "image_spec", c.image, "image", c.image, "image_id", "docker-pullable://"+c.image+"@sha256:"+c.id, "container_id", "containerd://"+c.id)...)
			one("kube_pod_container_status_waiting", b2f(!running), cid...)
			one("kube_pod_container_status_running", b2f(running), cid...)
			one("kube_pod_container_status_terminated", 0, cid...)
			one("kube_pod_container_status_ready", b2f(running), cid...)
			one("kube_pod_container_state_started", 1.7e9+float64(pi)+5, cid...)
			switch {
			case p.pending:
				one("kube_pod_container_status_waiting_reason", 1, with("container", c.name, "reason", "ContainerCreating")...)
			case c.crashLooping:
				one("kube_pod_container_status_waiting_reason", 1, with("container", c.name, "reason", "CrashLoopBackOff")...)
			}
			restarts := 0.0
			switch {
			case c.crashLooping:
				restarts = 1.0 / 120
				one("kube_pod_container_status_last_terminated_reason", 1, with("container", c.name, "reason", "Error")...)
			case c.oomKilled:
				restarts = 1.0 / 600
				one("kube_pod_container_status_last_terminated_reason", 1, with("container", c.name, "reason", "OOMKilled")...)
			}
			t.add("kube_pod_container_status_restarts_total", "counter", steps, float64(int(10*unit(seed, c.id))), restarts, 0, cid...)
			for _, r := range []struct {
				resource, unit string
				req, lim       float64
			}{{"cpu", "core", c.cpuRequest, c.cpuLimit}, {"memory", "byte", c.memRequest, c.memLimit}} {
				one("kube_pod_container_resource_requests", r.req, with("container", c.name, "node", p.node, "resource", r.resource, "unit", r.unit)...)
				if r.lim > 0 {
					one("kube_pod_container_resource_limits", r.lim, with("container", c.name, "node", p.node, "resource", r.resource, "unit", r.unit)...)
				}
			}
		}
	}
	for _, w := range workloads {
		switch w.kind {
		case "Deployment":
			d := []string{"namespace", w.namespace, "deployment", w.name}
			one("kube_deployment_created", 1.6e9, d...)
			one("kube_deployment_labels", 1, append(d, "label_app_kubernetes_io_name", w.name)...)
			one("kube_deployment_metadata_generation", 3, d...)
			one("kube_deployment_status_observed_generation", 3, d...)
			one("kube_deployment_spec_replicas", float64(w.replicas), d...)
			one("kube_deployment_spec_paused", 0, d...)
			one("kube_deployment_spec_strategy_rollingupdate_max_unavailable", 1, d...)
			one("kube_deployment_spec_strategy_rollingupdate_max_surge", 1, d...)
			one("kube_deployment_status_replicas", float64(w.replicas), d...)
			one("kube_deployment_status_replicas_available", float64(w.ready), d...)
			one("kube_deployment_status_replicas_unavailable", float64(w.replicas-w.ready), d...)
			one("kube_deployment_status_replicas_updated", float64(w.replicas), d...)
			one("kube_deployment_status_replicas_ready", float64(w.ready), d...)
			for _, cond := range []string{"Available", "Progressing"} {
				for _, st := range []string{"true", "false", "unknown"} {
					one("kube_deployment_status_condition", b2f(st == "true"), append(d, "condition", cond, "status", st)...)
				}
			}
			rs := []string{"namespace", w.namespace, "replicaset", w.replicaSet}
			one("kube_replicaset_owner", 1, append(rs, "owner_kind", "Deployment", "owner_name", w.name, "owner_is_controller", "true")...)
			one("kube_replicaset_created", 1.6e9, rs...)
			one("kube_replicaset_labels", 1, append(rs, "label_app_kubernetes_io_name", w.name)...)
			one("kube_replicaset_metadata_generation", 1, rs...)
			one("kube_replicaset_status_observed_generation", 1, rs...)
			one("kube_replicaset_spec_replicas", float64(w.replicas), rs...)
			one("kube_replicaset_status_replicas", float64(w.replicas), rs...)
			one("kube_replicaset_status_ready_replicas", float64(w.ready), rs...)
			one("kube_replicaset_status_fully_labeled_replicas", float64(w.replicas), rs...)
		case "StatefulSet":
			s := []string{"namespace", w.namespace, "statefulset", w.name}
			one("kube_statefulset_created", 1.6e9, s...)
			one("kube_statefulset_labels", 1, append(s, "label_app_kubernetes_io_name", w.name)...)
			one("kube_statefulset_metadata_generation", 2, s...)
			one("kube_statefulset_status_observed_generation", 2, s...)
			one("kube_statefulset_replicas", float64(w.replicas), s...)
			one("kube_statefulset_status_replicas", float64(w.replicas), s...)
			one("kube_statefulset_status_replicas_ready", float64(w.ready), s...)
			one("kube_statefulset_status_replicas_current", float64(w.replicas), s...)
			one("kube_statefulset_status_replicas_updated", float64(w.replicas), s...)
		}
	}
	ds := []string{"namespace", "monitoring", "daemonset", "node-exporter"}
	n := float64(len(cl.nodes))
	for _, m := range []string{"desired_number_scheduled", "current_number_scheduled", "number_ready", "number_available", "updated_number_scheduled"} {
		one("kube_daemonset_status_"+m, n, ds...)
	}
	one("kube_daemonset_status_number_misscheduled", 0, ds...)
	one("kube_daemonset_status_number_unavailable", 0, ds...)
	// The exporter's own telemetry (kube-prometheus scrapes it in the same
	// job): one /metrics request per scrape interval, mostly fast.
	perSec := 1 / cl.cfg.scrapeInterval.Seconds()
	for _, le := range []struct {
		le  string
		cdf float64
	}{{"0.005", 0}, {"0.01", 0}, {"0.025", 0.05}, {"0.05", 0.3}, {"0.1", 0.7}, {"0.25", 0.95}, {"0.5", 0.99}, {"1", 1}, {"2.5", 1}, {"5", 1}, {"10", 1}, {"+Inf", 1}} {
		t.add("http_request_duration_seconds_bucket", "histogram", steps, 0, perSec*le.cdf, 0, "handler", "metrics", "method", "get", "le", le.le)
	}
	t.add("http_request_duration_seconds_sum", "histogram", counter, 0, perSec*0.08, 0, "handler", "metrics", "method", "get")
	t.add("http_request_duration_seconds_count", "histogram", steps, 0, perSec, 0, "handler", "metrics", "method", "get")
	for _, r := range []string{"pods", "deployments", "replicasets", "statefulsets", "daemonsets", "nodes", "namespaces"} {
		t.add("kube_state_metrics_list_total", "counter", steps, 10, 1.0/300, 0, "resource", "*v1."+r, "result", "success")
		t.add("kube_state_metrics_list_total", "counter", constant, 0, 0, 0, "resource", "*v1."+r, "result", "error")
	}
	addRuntime(t, func(k string) float64 { return unit(seed, "ksm"+k) })
	return t
}
