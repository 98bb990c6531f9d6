// Command cadvisorpeer serves cAdvisor's /metrics the way the kubelet embeds
// cAdvisor: its library (github.com/google/cadvisor/lib: the manager, the raw
// cgroup handler, the Prometheus collectors) with the kubelet's container
// labels (container, id, image, name, namespace, pod). The standalone
// cAdvisor command is a nested module the Go module proxy does not serve,
// and it labels series differently (id, image, name, container_label_*), so
// this is the peer the end-to-end tests and bench/containers.sh compare
// Panoptes with. It is a test and benchmark tool in a module of its own,
// never a dependency of Panoptes; hack/test-deps.sh builds it.
//
// Flags follow cAdvisor's names; the library registers most of them
// (--housekeeping_interval, --allow_dynamic_housekeeping, --docker_only, ...).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/cadvisor/lib/cache/memory"
	"github.com/google/cadvisor/lib/container"
	"github.com/google/cadvisor/lib/manager"
	"github.com/google/cadvisor/lib/metrics"
	info "github.com/google/cadvisor/lib/model"
	"github.com/google/cadvisor/lib/utils/sysfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// kubeletMetrics is the metric set the kubelet enables in its embedded
// cAdvisor (pkg/kubelet/cadvisor/cadvisor_linux.go), less the ones that
// need a container runtime, a filesystem scan or netlink (disk, app,
// cpuLoad).
const kubeletMetrics = "cpu,memory,diskIO,network,process,oom_event"

// The Kubernetes labels the kubelet reads from a container's spec.
const (
	podNameLabel       = "io.kubernetes.pod.name"
	podNamespaceLabel  = "io.kubernetes.pod.namespace"
	containerNameLabel = "io.kubernetes.container.name"
)

// kubeletLabels is the kubelet's containerPrometheusLabelsFunc, without its
// pod lookup for pod-level cgroups (there is no API server here).
func kubeletLabels(c *info.ContainerInfo) map[string]string {
	name := ""
	if len(c.Aliases) > 0 {
		name = c.Aliases[0]
	}
	return map[string]string{
		metrics.LabelID:    c.Name,
		metrics.LabelName:  name,
		metrics.LabelImage: c.Spec.Image,
		"pod":              c.Spec.Labels[podNameLabel],
		"namespace":        c.Spec.Labels[podNamespaceLabel],
		"container":        c.Spec.Labels[containerNameLabel],
	}
}

func main() {
	listenIP := flag.String("listen_ip", "127.0.0.1", "IP to listen on")
	port := flag.Int("port", 8080, "port to listen on (0: any free port, printed on stdout)")
	enable := flag.String("enable_metrics", kubeletMetrics, "comma-separated metric kinds to collect (cAdvisor's --enable_metrics)")
	whitelist := flag.String("raw_cgroup_prefix_whitelist", "", "comma-separated cgroup path prefixes to collect (empty: all)")
	klog.InitFlags(nil)
	flag.Parse()

	var included container.MetricSet
	if err := included.Set(*enable); err != nil {
		log.Fatalf("--enable_metrics: %v", err)
	}
	// As cAdvisor's command: "" (every cgroup) when the flag is empty.
	prefixes := strings.Split(*whitelist, ",")
	m, err := manager.New(memory.New(2*time.Minute, nil), sysfs.NewRealSysFs(),
		manager.HousekeepingConfigFlags,
		included, prefixes, nil, "", 0)
	if err != nil {
		log.Fatalf("cadvisor manager: %v", err)
	}
	if err := m.Start(); err != nil {
		log.Fatalf("start cadvisor manager: %v", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		metrics.NewPrometheusCollector(m, kubeletLabels, included, clock.RealClock{},
			info.RequestOptions{IdType: info.TypeName, Count: 1, Recursive: true}),
		metrics.NewPrometheusMachineCollector(m, included),
	)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })

	ln, err := net.Listen("tcp", net.JoinHostPort(*listenIP, strconv.Itoa(*port)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		_ = m.Stop()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
