// Package kubelet serves the kubelet's /metrics/resource for nodes that
// do not exist, for the metrics API's tests and benchmark: one process
// serves many nodes, each on its own address (127.0.0.x), over TLS with a
// certificate per address signed by a test CA. Usage is synthetic and
// exact: each node and container uses a constant number of millicores, so
// its cumulative CPU grows linearly and any two scrapes give that rate back,
// whoever scrapes and whenever; memory is constant. A test that changes
// the usage over time (the HPA's) stages the node's new pods with Stage:
// they take effect at the node's next scrape, with every container's
// cumulative CPU continuing from its value then, so that each interval
// between two scrapes has one usage and its rate is that usage exactly.
//
// It is test support: it imports only the standard library, and Panoptes'
// binary never imports it.
package kubelet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Container is one container's constant usage.
type Container struct {
	Name string
	// MilliCPU is its CPU usage in millicores.
	MilliCPU int64
	// Memory is its working set in bytes.
	Memory int64

	// base is the cumulative CPU in core-nanoseconds at since, when Stage
	// changed the usage; with since zero the usage is constant from the
	// node's Start.
	base  int64
	since time.Time
}

// cpu is the container's cumulative CPU at now.
func (c *Container) cpu(start, now time.Time) int64 {
	if c.since.IsZero() {
		return cumulative(c.MilliCPU, start, now)
	}
	return c.base + cumulative(c.MilliCPU, c.since, now)
}

// Pod is a pod and its containers.
type Pod struct {
	Namespace, Name string
	Containers      []Container
}

// Node is what one fake kubelet reports.
type Node struct {
	MilliCPU int64
	Memory   int64
	Pods     []Pod
	// Start is when the node and its containers started (cumulative CPU
	// zero); the containers report it as container_start_time_seconds.
	Start time.Time
}

// cumulative is the core-nanoseconds used from start to now at milli
// millicores, in whole nanoseconds so that rates come back exactly.
func cumulative(milli int64, start, now time.Time) int64 {
	return milli * now.Sub(start).Milliseconds() * 1000
}

func appendSeconds(b []byte, ns int64) []byte {
	b = strconv.AppendInt(b, ns/1e9, 10)
	b = append(b, '.')
	frac := strconv.AppendInt(nil, 1e9+ns%1e9, 10)
	return append(b, frac[1:]...)
}

// Render appends the node's /metrics/resource at now, in the kubelet's
// format (internal/kubelet's golden file): families sorted by name,
// timestamps in milliseconds.
func (n *Node) Render(b []byte, now time.Time) []byte {
	now = now.Truncate(time.Millisecond)
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	series := func(b []byte, name string, c *Container, p *Pod) []byte {
		b = append(b, name...)
		b = append(b, `{container="`...)
		b = append(b, c.Name...)
		b = append(b, `",namespace="`...)
		b = append(b, p.Namespace...)
		b = append(b, `",pod="`...)
		b = append(b, p.Name...)
		return append(b, `"} `...)
	}
	b = append(b, "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds\n# TYPE container_cpu_usage_seconds_total counter\n"...)
	for i := range n.Pods {
		p := &n.Pods[i]
		for j := range p.Containers {
			c := &p.Containers[j]
			b = series(b, "container_cpu_usage_seconds_total", c, p)
			b = appendSeconds(b, c.cpu(n.Start, now))
			b = append(b, ' ')
			b = append(b, ts...)
			b = append(b, '\n')
		}
	}
	b = append(b, "# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes\n# TYPE container_memory_working_set_bytes gauge\n"...)
	for i := range n.Pods {
		p := &n.Pods[i]
		for j := range p.Containers {
			c := &p.Containers[j]
			b = series(b, "container_memory_working_set_bytes", c, p)
			b = strconv.AppendInt(b, c.Memory, 10)
			b = append(b, ' ')
			b = append(b, ts...)
			b = append(b, '\n')
		}
	}
	b = append(b, "# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds\n# TYPE container_start_time_seconds gauge\n"...)
	for i := range n.Pods {
		p := &n.Pods[i]
		for j := range p.Containers {
			b = series(b, "container_start_time_seconds", &p.Containers[j], p)
			b = strconv.AppendInt(b, n.Start.Unix(), 10)
			b = append(b, '\n')
		}
	}
	b = append(b, "# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds\n# TYPE node_cpu_usage_seconds_total counter\nnode_cpu_usage_seconds_total "...)
	b = appendSeconds(b, cumulative(n.MilliCPU, n.Start, now))
	b = append(b, ' ')
	b = append(b, ts...)
	b = append(b, "\n# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes\n# TYPE node_memory_working_set_bytes gauge\nnode_memory_working_set_bytes "...)
	b = strconv.AppendInt(b, n.Memory, 10)
	b = append(b, ' ')
	b = append(b, ts...)
	b = append(b, "\n# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise\n# TYPE resource_scrape_error gauge\nresource_scrape_error 0\n"...)
	return b
}

// Server serves many fake kubelets, one per listening address.
type Server struct {
	// Nodes maps a listening IP to its node.
	Nodes map[string]*Node
	// Authorize, when set, answers each request: 0 lets it through, any
	// other code is returned (401, 403) as a kubelet would.
	Authorize func(r *http.Request) int
	// CertIP, when set, names the IP that an address's certificate is
	// issued for, to play a kubelet whose certificate lacks its address.
	CertIP func(ip string) string

	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	// CAPEM is the test CA that signs every address's certificate.
	CAPEM []byte

	mu    sync.Mutex
	certs map[string]*tls.Certificate
	// nodesMu guards the nodes' pods against Stage.
	nodesMu sync.Mutex
	staged  map[string][]Pod
	bufs    sync.Pool
	lns     []net.Listener
	srv     *http.Server
}

// New returns a server with a fresh test CA.
func New(nodes map[string]*Node) (*Server, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fake-kubelet-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Server{Nodes: nodes, ca: ca, caKey: key, CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		certs: map[string]*tls.Certificate{}}, nil
}

// certFor issues (once) the serving certificate of an address.
func (s *Server) certFor(ip string) (*tls.Certificate, error) {
	if s.CertIP != nil {
		ip = s.CertIP(ip)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.certs[ip]; ok {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "kubelet@" + ip},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP(ip)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, &key.PublicKey, s.caKey)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	s.certs[ip] = c
	return c, nil
}

// IssuePEM issues a serving certificate for ip signed by the test CA, in
// PEM, for a real program (a panoptes agent) to play a kubelet beside the
// fake ones.
func (s *Server) IssuePEM(ip string) (certPEM, keyPEM []byte, err error) {
	c, err := s.certFor(ip)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// Listen opens a TLS listener on ip:port for every node (port 0 is not
// allowed: each node's kubelet port must be known) and serves them all.
func (s *Server) Listen(port int) error {
	if port == 0 {
		return fmt.Errorf("fakekubelet: a fixed port is needed")
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			host, _, err := net.SplitHostPort(hello.Conn.LocalAddr().String())
			if err != nil {
				return nil, err
			}
			return s.certFor(host)
		},
	}
	// Handshakes that the client refuses on purpose (tests of wrong
	// certificates) are not worth a log line.
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, TLSConfig: cfg, ErrorLog: log.New(io.Discard, "", 0)}
	for ip := range s.Nodes {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			s.Close()
			return fmt.Errorf("fakekubelet: listen on %s:%d: %w", ip, port, err)
		}
		s.lns = append(s.lns, ln)
		go func() { _ = s.srv.Serve(tls.NewListener(ln, cfg)) }()
	}
	return nil
}

// Close stops serving.
func (s *Server) Close() {
	if s.srv != nil {
		_ = s.srv.Close()
	}
	for _, ln := range s.lns {
		_ = ln.Close()
	}
}

// Stage sets the pods (and their usage) that the node at ip reports from
// its next scrape on: a pod or container that it reports now keeps its
// cumulative CPU and grows at the new rate from that scrape, a new one starts
// as if it had used its rate since the node's Start. Changing the usage at a
// scrape, not between two, gives every scraper a rate that is one of the
// staged usages, never a blend of two.
func (s *Server) Stage(ip string, pods []Pod) {
	s.nodesMu.Lock()
	defer s.nodesMu.Unlock()
	if s.staged == nil {
		s.staged = map[string][]Pod{}
	}
	s.staged[ip] = pods
}

// apply replaces the node's pods with pods at now, each container's
// cumulative CPU continuing from the one it replaces.
func (n *Node) apply(pods []Pod, now time.Time) {
	old := map[[3]string]*Container{}
	for i := range n.Pods {
		p := &n.Pods[i]
		for j := range p.Containers {
			old[[3]string{p.Namespace, p.Name, p.Containers[j].Name}] = &p.Containers[j]
		}
	}
	next := make([]Pod, len(pods))
	for i, p := range pods {
		next[i] = Pod{Namespace: p.Namespace, Name: p.Name, Containers: append([]Container(nil), p.Containers...)}
		for j := range next[i].Containers {
			c := &next[i].Containers[j]
			if o := old[[3]string{p.Namespace, p.Name, c.Name}]; o != nil {
				c.base, c.since = o.cpu(n.Start, now), now
			}
		}
	}
	n.Pods = next
}

// ServeHTTP answers /metrics/resource for the node of the address the
// request came in on.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics/resource" {
		http.NotFound(w, r)
		return
	}
	if s.Authorize != nil {
		if code := s.Authorize(r); code != 0 {
			http.Error(w, http.StatusText(code), code)
			return
		}
	}
	la, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	host := ""
	if la != nil {
		host, _, _ = net.SplitHostPort(la.String())
	}
	n := s.Nodes[host]
	if n == nil {
		http.NotFound(w, r)
		return
	}
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	now := time.Now().Truncate(time.Millisecond)
	s.nodesMu.Lock()
	if pods, ok := s.staged[host]; ok {
		n.apply(pods, now)
		delete(s.staged, host)
	}
	b := n.Render((*bp)[:0], now)
	s.nodesMu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(b)
	*bp = b
	s.bufs.Put(bp)
}
