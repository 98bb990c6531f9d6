package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// recorder is an HTTPS server playing an agent that should never get
// panoptes' credentials: it counts the connections it accepts and the
// handshakes begun, and records any client certificate or Authorization
// header that reaches it.
type recorder struct {
	mu          sync.Mutex
	accepted    int
	hellos      int
	clientCerts int
	authHeaders []string
	requests    int
}

func (r *recorder) counts() (accepted, hellos, clientCerts, requests int, auth []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accepted, r.hellos, r.clientCerts, r.requests, append([]string(nil), r.authHeaders...)
}

type countingListener struct {
	net.Listener
	r *recorder
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.r.mu.Lock()
		l.r.accepted++
		l.r.mu.Unlock()
	}
	return c, err
}

// serveRecorder listens on addr with cert and asks every client for a
// certificate (RequestClientCert: any is taken, none is required), so that
// a client that sends one is seen.
func serveRecorder(t *testing.T, addr string, cert tls.Certificate) *recorder {
	t.Helper()
	r := &recorder{}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			r.mu.Lock()
			r.hellos++
			r.mu.Unlock()
			return nil, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				r.mu.Lock()
				r.clientCerts++
				r.mu.Unlock()
			}
			return nil
		},
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		testkit.Missing(t, "loopback addresses 127.x.y.z", fmt.Sprintf("cannot listen on %s: %v", addr, err))
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests++
		if a := req.Header.Get("Authorization"); a != "" {
			r.authHeaders = append(r.authHeaders, a)
		}
		r.mu.Unlock()
		http.Error(w, "not an agent", http.StatusNotFound)
	})}
	go func() { _ = srv.Serve(tls.NewListener(countingListener{ln, r}, cfg)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

// scrapeErrors reads panoptes_metricsapi_node_scrape_errors_total by node
// and reason, and the number of collection cycles done, from the metrics
// API's /metrics.
func scrapeErrors(t *testing.T, client *http.Client, base string) (map[string]float64, float64) {
	t.Helper()
	resp, err := client.Get(base + "/metrics") //nolint:noctx // test poll
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", base, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	errs := map[string]float64{}
	var cycles float64
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		switch {
		case strings.HasPrefix(name, "panoptes_metricsapi_node_scrape_errors_total{"):
			errs[name[len("panoptes_metricsapi_node_scrape_errors_total"):]] = v
		case name == "panoptes_metricsapi_collection_duration_seconds_count":
			cycles = v
		}
	}
	return errs, cycles
}

// TestMetricsAPIAgentsCredentials is issue 16's item 4 against the real API
// server: `panoptes metrics-api --source=agents` sends its credentials (here
// the admin kubeconfig's client certificate) only to agents in
// --agent-namespace whose serving certificate --kubelet-certificate-authority
// verifies for their pod IP.
//   - Two agents in the namespace, with certificates from that CA: read, and
//     their nodes' and pods' usage served.
//   - A pod with the agent's label in another namespace, whose certificate
//     the CA would even verify: never connected to.
//   - A pod in the agent namespace whose certificate is from another CA: the
//     TLS handshake fails, no client certificate or request reaches it, and
//     the node is counted under reason tls-unknown-authority.
func TestMetricsAPIAgentsCredentials(t *testing.T) {
	env := k8s.Start(t)
	// Nodes 3 and 4 get no fake kubelet: their addresses are the
	// recorders'.
	c := newMetricsCluster(t, env, 4, 3, 4)
	name := func(i int) string { return fmt.Sprintf("mapi-%s-n%d", c.suffix, i) }
	agentPod := func(ns, pod string, node int) {
		t.Helper()
		createRunningPod(t, env, ns, pod, name(node), map[string]any{"app.kubernetes.io/name": "panoptes-agent"}, []any{map[string]any{"name": "agent", "image": "panoptes"}})
		ip := c.nodes[name(node)]
		env.Call(t, http.StatusOK, "PATCH", "/api/v1/namespaces/"+ns+"/pods/"+pod+"/status", "application/merge-patch+json", map[string]any{
			"status": map[string]any{"podIP": ip, "podIPs": []any{map[string]any{"ip": ip}}},
		})
	}
	agentPod(c.ns, "agent-n1", 1)
	agentPod(c.ns, "agent-n2", 2)

	// Another namespace, a labelled pod, and a server on its pod IP with a
	// certificate from the agents' CA: only the namespace keeps it out.
	other := c.ns + "-other"
	env.Call(t, http.StatusCreated, "POST", "/api/v1/namespaces", "", map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": other},
	})
	t.Cleanup(func() { _, _, _ = env.Do(t.Context(), "DELETE", "/api/v1/namespaces/"+other, "", nil) })
	agentPod(other, "impostor", 3)
	certPEM, keyPEM, err := c.kubelets.IssuePEM(c.nodes[name(3)])
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := serveRecorder(t, net.JoinHostPort(c.nodes[name(3)], strconv.Itoa(c.port)), trusted)

	// In the agent namespace, a pod whose certificate is from another CA.
	agentPod(c.ns, "agent-n4", 4)
	rogue := testkit.NewCA(t, "rogue").Issue(t, "rogue", false, c.nodes[name(4)], name(4))
	untrusted := serveRecorder(t, net.JoinHostPort(c.nodes[name(4)], strconv.Itoa(c.port)), rogue.Cert)

	_, base := startMetricsAPI(t, c, "--source=agents", "--agent-namespace="+c.ns, "--agent-port="+strconv.Itoa(c.port))
	client := adminDirect(t, env)

	// Wait until the rogue agent was tried (and refused) in two cycles, so
	// that the impostor had every chance to be contacted.
	unknownCA := `{node="` + name(4) + `",reason="tls-unknown-authority"}`
	deadline := time.Now().Add(90 * time.Second)
	for {
		errs, cycles := scrapeErrors(t, client, base)
		if errs[unknownCA] >= 2 && cycles >= 2 {
			for series := range errs {
				if strings.Contains(series, name(3)) {
					t.Errorf("the impostor's node was scraped: %s", series)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent with another CA's certificate was not refused twice as tls-unknown-authority: errors %v, %v cycles", errs, cycles)
		}
		time.Sleep(500 * time.Millisecond)
	}

	accepted, hellos, certs, requests, auth := elsewhere.counts()
	if accepted+hellos+certs+requests+len(auth) != 0 {
		t.Errorf("the labelled pod in namespace %s was contacted: %d connections, %d handshakes, %d client certificates, %d requests, Authorization %q",
			other, accepted, hellos, certs, requests, auth)
	}
	_, hellos, certs, requests, auth = untrusted.counts()
	if hellos == 0 {
		t.Error("the agent with another CA's certificate saw no handshake: the test proves nothing")
	}
	if certs+requests+len(auth) != 0 {
		t.Errorf("credentials reached the agent whose certificate is from another CA: %d client certificates, %d requests, Authorization %q", certs, requests, auth)
	}

	// The agents from the CA are read and served.
	var got map[string]usage
	deadline = time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if got, _ = readMetrics(t, client, base, c.selector, c.ns); len(got) == 2+4 {
			break
		}
		time.Sleep(2 * time.Second)
	}
	for i := 1; i <= 2; i++ {
		node := c.want[name(i)]
		if u := got["node/"+name(i)][""]; u[0] != node.MilliCPU*1e6 || u[1] != node.Memory {
			t.Errorf("node %s through its agent: %v, want %dm and %d bytes", name(i), u, node.MilliCPU, node.Memory)
		}
	}
	if len(got) != 2+4 {
		t.Errorf("served %d objects, want nodes 1 and 2 and their 4 pods: %v", len(got), got)
	}
}

// TestMetricsAPIAgentsRefusesUnsafeFlags: --source=agents without a
// namespace, without the agents' CA, or with --kubelet-insecure-tls stops
// at start with what to pass.
func TestMetricsAPIAgentsRefusesUnsafeFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--kubelet-certificate-authority=ca.crt"}, []string{"--agent-namespace: required with --source=agents"}},
		{[]string{"--agent-namespace=monitoring"}, []string{"--kubelet-certificate-authority: required with --source=agents"}},
		{[]string{"--agent-namespace=monitoring", "--kubelet-insecure-tls"}, []string{"--kubelet-insecure-tls: refused with --source=agents", "give --kubelet-certificate-authority"}},
	} {
		b, err := exec.Command(panoptesBin, append([]string{"metrics-api", "--source=agents", "--kubeconfig=/nonexistent"}, tt.args...)...).CombinedOutput()
		out := string(b)
		if err == nil {
			t.Errorf("%v: started", tt.args)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, out)
			}
		}
	}
}

// TestMetricsAPIAgentsDeploy: deploy/metrics-api-agents, with a CA made by
// the openssl recipe of its kustomization.yaml, is accepted by the real API
// server (kubectl apply --dry-run=server); its init container's step,
// `panoptes agent-cert` with its args, issues a certificate that the CA
// verifies for the pod IP and the node name; and the agent's and the metrics
// API's args are flags they accept.
func TestMetricsAPIAgentsDeploy(t *testing.T) {
	env := k8s.Start(t)
	openssl := requirePeer(t, "openssl")
	_, overlay := agentsOverlay(t, openssl)

	env.Ensure(t, "/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "monitoring"}})
	out, err := kubectl(t, env, "apply", "--dry-run=server", "-k", overlay)
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server -k deploy/metrics-api-agents: %v\n%s", err, out)
	}
	for _, want := range []string{"secret/panoptes-agent-ca", "configmap/panoptes-agent-ca", "daemonset.apps/panoptes-agent", "deployment.apps/panoptes-metrics-api"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %s:\n%s", want, out)
		}
	}

	rendered, err := kubectl(t, env, "kustomize", overlay)
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, rendered)
	}
	type container struct {
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
	}
	var agentInit, agentMain, metricsAPI *container
	dec := yaml.NewDecoder(strings.NewReader(rendered))
	for {
		var obj struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name, Namespace string
			} `yaml:"metadata"`
			Spec struct {
				Template struct {
					Spec struct {
						InitContainers []container `yaml:"initContainers"`
						Containers     []container `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&obj); err != nil {
			break
		}
		pod := obj.Spec.Template.Spec
		switch {
		case obj.Kind == "DaemonSet" && len(pod.InitContainers) == 1 && len(pod.Containers) == 1:
			agentInit, agentMain = &pod.InitContainers[0], &pod.Containers[0]
		case obj.Kind == "Deployment" && len(pod.Containers) == 1:
			metricsAPI = &pod.Containers[0]
		case obj.Kind == "Secret" && obj.Metadata.Namespace != "monitoring":
			t.Errorf("the CA Secret (with its key) is in namespace %q, want the agents' only", obj.Metadata.Namespace)
		case obj.Kind == "ConfigMap" && obj.Metadata.Namespace != "monitoring":
			t.Errorf("the CA ConfigMap is in namespace %q, want the metrics API's (monitoring)", obj.Metadata.Namespace)
		}
	}
	if agentInit == nil || metricsAPI == nil {
		t.Fatalf("no DaemonSet with one init container or no Deployment in:\n%s", rendered)
	}

	// The pod's environment and volumes, moved to the test's directories.
	serving := t.TempDir()
	pod := strings.NewReplacer("$(POD_IP)", "127.0.0.1", "$(NODE_NAME)", "node-a",
		"/etc/panoptes/agent-ca", overlay, "/var/run/panoptes/serving", serving)
	local := func(args []string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			out[i] = pod.Replace(a)
		}
		return out
	}
	if len(agentInit.Command) != 1 || agentInit.Command[0] != "/panoptes-agent" {
		t.Errorf("init container command %q, want the lean build", agentInit.Command)
	}
	if out, err := exec.Command(agentBin, local(agentInit.Args)...).CombinedOutput(); err != nil {
		t.Fatalf("panoptes-agent %s: %v\n%s", strings.Join(agentInit.Args, " "), err, out)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(serving, "tls.crt"), filepath.Join(serving, "tls.key"))
	if err != nil {
		t.Fatalf("the init container's files: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(overlay, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	for _, host := range []string{"127.0.0.1", "node-a"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("the agent's certificate is not verified for %s by the CA: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.2"}); err == nil {
		t.Error("the agent's certificate is verified for another address")
	}

	for _, c := range []struct {
		bin  string
		args []string
	}{{agentBin, agentMain.Args}, {panoptesBin, metricsAPI.Args}} {
		if out, err := exec.Command(c.bin, append(local(c.args), "--help")...).CombinedOutput(); err != nil {
			t.Errorf("%s %s: %v\n%s", filepath.Base(c.bin), strings.Join(c.args, " "), err, out)
		}
	}
	if !strings.Contains(strings.Join(metricsAPI.Args, " "), "--source=agents --agent-namespace=monitoring") {
		t.Errorf("metrics API args %q lack --source=agents and its namespace", metricsAPI.Args)
	}
}

// agentsOverlay copies deploy/ into a temporary directory and makes the
// agents' CA in deploy/metrics-api-agents there by the recipe its
// kustomization.yaml gives. It returns the copy of deploy/ and the overlay.
func agentsOverlay(t *testing.T, openssl string) (deployDir, overlay string) {
	t.Helper()
	deployDir = filepath.Join(t.TempDir(), "deploy")
	if err := os.CopyFS(deployDir, os.DirFS("../../deploy")); err != nil {
		t.Fatal(err)
	}
	overlay = filepath.Join(deployDir, "metrics-api-agents")
	ca := exec.Command(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "ca.key", "-out", "ca.crt", "-days", "3650", "-subj", "/CN=panoptes-agent-ca",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
	ca.Dir = overlay
	if out, err := ca.CombinedOutput(); err != nil {
		t.Fatalf("the agent CA recipe: %v\n%s", err, out)
	}
	return deployDir, overlay
}
