package metricsapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	fakekubelet "github.com/panoptes-dev/panoptes/internal/testkit/kubelet"
)

type staticTargets []target

func (s staticTargets) targets() ([]target, []nodeFailure) { return s, nil }

// freePort is a port free on 127.0.0.1, used on other loopback addresses too.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestCollectorReasons scrapes real TLS endpoints that fail in the ways
// users meet (wrong SAN, unknown CA, nothing listening, 401, 403, a port
// that hangs, a port without TLS) beside a healthy one, and checks that
// each gets its reason while the healthy node is stored with its exact
// rate.
func TestCollectorReasons(t *testing.T) {
	port := freePort(t)
	start := time.Now().Add(-time.Hour)
	good := &fakekubelet.Node{MilliCPU: 250, Memory: 1 << 30, Start: start, Pods: []fakekubelet.Pod{
		{Namespace: "ns", Name: "web", Containers: []fakekubelet.Container{{Name: "app", MilliCPU: 120, Memory: 50 << 20}}},
	}}
	nodes := map[string]*fakekubelet.Node{
		"127.0.0.11": good, "127.0.0.12": good, "127.0.0.13": good, "127.0.0.14": good,
	}
	srv, err := fakekubelet.New(nodes)
	if err != nil {
		t.Fatal(err)
	}
	srv.CertIP = func(ip string) string {
		if ip == "127.0.0.12" {
			return "10.9.8.7" // a certificate for another address
		}
		return ip
	}
	srv.Authorize = func(r *http.Request) int {
		switch {
		case r.Header.Get("Authorization") != "Bearer good-token":
			return http.StatusUnauthorized
		case strings.HasPrefix(r.Host, "127.0.0.14"):
			return http.StatusForbidden
		}
		return 0
	}
	if err := srv.Listen(port); err != nil {
		testkit.Missing(t, "127.0.0.x loopback addresses", fmt.Sprintf("listening on one failed (%v); Linux routes all of 127.0.0.0/8 to lo", err))
	}
	t.Cleanup(srv.Close)

	other, err := fakekubelet.New(map[string]*fakekubelet.Node{"127.0.0.15": good})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Listen(port); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)

	// A port that accepts and never answers, and one that speaks plain HTTP.
	hang, err := net.Listen("tcp", "127.0.0.16:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hang.Close() })
	plainLn, err := net.Listen("tcp", "127.0.0.17:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	plain := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}
	go func() { _ = plain.Serve(plainLn) }()
	t.Cleanup(func() { _ = plain.Close() })

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM)
	client := &http.Client{Transport: &bearerRT{token: "good-token", next: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}}
	mk := func(node, ip string) target {
		return target{node: node, address: ip, addressType: "InternalIP", url: "https://" + net.JoinHostPort(ip, strconv.Itoa(port)) + "/metrics/resource"}
	}
	want := map[string]string{
		"good":       "",
		"san":        reasonTLSSANMismatch,
		"refused":    reasonRefused,
		"forbidden":  reasonForbidden,
		"unknown-ca": reasonTLSUnknownCA,
		"hang":       reasonTimeout,
		"plain":      reasonNotTLS,
	}
	targets := staticTargets{
		mk("good", "127.0.0.11"), mk("san", "127.0.0.12"), mk("refused", "127.0.0.18"), mk("forbidden", "127.0.0.14"),
		mk("unknown-ca", "127.0.0.15"), mk("hang", "127.0.0.16"), mk("plain", "127.0.0.17"),
	}
	reg := prometheus.NewRegistry()
	store := NewStore(15*time.Second, slog.New(slog.DiscardHandler))
	var logs strings.Builder
	c := newCollector(CollectorConfig{Resolution: 15 * time.Second, Timeout: 500 * time.Millisecond, Concurrency: 3}, targets, client, store, reg,
		func() string { return "system:serviceaccount:kube-system:panoptes-metrics-api" }, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()
	c.Collect(ctx)
	time.Sleep(20 * time.Millisecond) // two distinct millisecond timestamps
	c.Collect(ctx)

	if n := testutil.CollectAndCount(c.m.errors); n != len(want)-1 {
		t.Errorf("%d error series, want %d (one per failing node)", n, len(want)-1)
	}
	for node, reason := range want {
		if reason == "" {
			continue
		}
		if got := testutil.ToFloat64(c.m.errors.WithLabelValues(node, reason)); got != 2 {
			t.Errorf("node %s: panoptes_metricsapi_node_scrape_errors_total{reason=%q} = %v, want 2", node, reason, got)
		}
	}
	out := logs.String()
	for _, s := range []string{"10.9.8.7", "not for the address 127.0.0.12", "nodes/metrics", "system:serviceaccount:kube-system:panoptes-metrics-api", "--kubelet-certificate-authority", "connection refused"} {
		if !strings.Contains(out, s) {
			t.Errorf("log lacks %q:\n%s", s, out)
		}
	}
	if strings.Count(out, "reason=tls-san-mismatch") != 1 {
		t.Errorf("the SAN mismatch was logged %d times at warn over two cycles, want once", strings.Count(out, "reason=tls-san-mismatch"))
	}

	ms, _ := store.GetNodeMetrics(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "good"}}, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "san"}})
	if len(ms) != 1 || ms[0].Name != "good" {
		t.Fatalf("node metrics %v, want only the good node", ms)
	}
	if cpu := ms[0].Usage.Cpu().MilliValue(); cpu != 250 {
		t.Errorf("good node CPU %dm, want 250m", cpu)
	}
	if mem := ms[0].Usage.Memory().Value(); mem != 1<<30 {
		t.Errorf("good node memory %d, want %d", mem, 1<<30)
	}
	pm, _ := store.GetPodMetrics(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}})
	if len(pm) != 1 || len(pm[0].Containers) != 1 || pm[0].Containers[0].Usage.Cpu().MilliValue() != 120 {
		t.Errorf("pod metrics %+v, want web/app at 120m", pm)
	}
}

type bearerRT struct {
	token string
	next  http.RoundTripper
}

func (b *bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func TestKubeletTargets(t *testing.T) {
	t.Parallel()
	n := func(name string, port int32, addrs ...string) *corev1.Node {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		for i := 0; i < len(addrs); i += 2 {
			node.Status.Addresses = append(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeAddressType(addrs[i]), Address: addrs[i+1]})
		}
		node.Status.DaemonEndpoints.KubeletEndpoint.Port = port
		return node
	}
	lister := fakeNodes{n("a", 10255, "Hostname", "a.local", "InternalIP", "10.0.0.1"), n("b", 0, "ExternalIP", "1.2.3.4"), n("c", 0)}
	k := &kubeletTargets{nodes: lister, addressTypes: []corev1.NodeAddressType{"InternalIP", "Hostname"}, port: 10250, useNodeStatusPort: true, path: "/metrics/resource"}
	ts, fails := k.targets()
	if len(ts) != 1 || ts[0].url != "https://10.0.0.1:10255/metrics/resource" || ts[0].addressType != "InternalIP" {
		t.Errorf("targets %+v, want node a on its InternalIP and status port", ts)
	}
	if len(fails) != 2 || fails[0].reason != reasonNoAddress || !strings.Contains(fails[0].msg, "--kubelet-preferred-address-types") {
		t.Errorf("failures %+v, want b and c without a wanted address", fails)
	}
	k.useNodeStatusPort = false
	if ts, _ := k.targets(); ts[0].url != "https://10.0.0.1:10250/metrics/resource" {
		t.Errorf("url %s, want --kubelet-port", ts[0].url)
	}
}

type fakeNodes []*corev1.Node

func (f fakeNodes) List(_ labels.Selector) ([]*corev1.Node, error) { return f, nil }

type fakePods []*corev1.Pod

func (f fakePods) List(_ labels.Selector) ([]*corev1.Pod, error) { return f, nil }

func TestAgentTargets(t *testing.T) {
	t.Parallel()
	pod := func(name, node, ip string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "monitoring", Name: name},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase, PodIP: ip}}
	}
	a := &agentTargets{pods: fakePods{
		pod("agent-a", "node-a", "10.0.0.1", corev1.PodRunning),
		pod("agent-a2", "node-a", "10.0.0.9", corev1.PodRunning), // a second agent pod on one node: one target
		pod("agent-b", "node-b", "", corev1.PodRunning),
		pod("agent-c", "node-c", "10.0.0.3", corev1.PodPending),
		pod("agent-d", "", "10.0.0.4", corev1.PodRunning),
	}, namespace: "monitoring", port: 10250, path: "/metrics/resource"}
	// A labelled pod elsewhere, had the lister not been scoped: never a target.
	elsewhere := pod("agent-e", "node-e", "10.0.0.5", corev1.PodRunning)
	elsewhere.Namespace = "default"
	a.pods = append(a.pods.(fakePods), elsewhere)
	ts, fails := a.targets()
	if len(ts) != 1 || ts[0].node != "node-a" || ts[0].url != "https://10.0.0.1:10250/metrics/resource" {
		t.Errorf("targets %+v, want node-a's agent", ts)
	}
	if len(fails) != 1 || fails[0].node != "node-b" || fails[0].reason != reasonNoAddress {
		t.Errorf("failures %+v, want node-b without a pod IP", fails)
	}
}
