package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
)

// remoteWritePath is where the remote_write receiver listens (Prometheus's
// API v1, mounted at /api/v1/).
const remoteWritePath = "/api/v1/write"

// webGuard is the middleware in front of every route of the server and of
// the all-in-one, which refuses what a web page the user opens could
// otherwise do to a server it can reach (127.0.0.1:9090 from any tab):
//
//   - A request that changes state (any method but GET, HEAD, OPTIONS) with
//     a foreign Origin: remote write, /-/reload, the admin API, the built-in
//     Alertmanager's silences. Browsers send Origin with every such request
//     (same-origin ones included), and a page cannot forge it; programs
//     (Prometheus, amtool, curl) send none.
//
//   - A remote write without the protocol's headers. A page may POST
//     cross-site without asking (no CORS preflight) only with a "simple"
//     Content-Type (text/plain, a form) and no Content-Encoding; the
//     remote-write spec requires "Content-Type: application/x-protobuf"
//     and "Content-Encoding: snappy" of every sender, so requiring them
//     refuses nothing a real sender sends. (Prometheus's own receiver takes
//     a request without them as protobuf and snappy.)
//
//   - On a loopback listener (the all-in-one's 127.0.0.1:9090), any request
//     whose Host is not a loopback address, "localhost" or the external
//     URL's host. A page of a site whose DNS name is made to resolve to
//     127.0.0.1 (DNS rebinding) is same-origin with itself, so the Origin
//     check lets it through and it could read every answer; its requests
//     still name its own host in Host, which no loopback client does.
//
// It also holds the receiver's limits: at most maxWrites requests at once
// (503 with Retry-After beyond, which senders retry), and each request's
// decoded size reserved against the disk guard before it is handled.
type webGuard struct {
	next http.Handler
	// allowedHosts are the hosts (host[:port], lower case) an Origin may
	// name besides the request's own Host: the external URL's.
	allowedHosts []string
	// remoteWrite enables the receiver's checks; when the receiver is off
	// the API answers 404 itself, as Prometheus does.
	remoteWrite bool
	// loopbackOnly: the listener is on a loopback address, and requests
	// naming another Host are refused (DNS rebinding).
	loopbackOnly bool
	writes       chan struct{}
	disk         *diskGuard
	// enablePprof serves the CPU profile and the execution trace.
	enablePprof bool
	refused     *prometheus.CounterVec
}

// The reasons of panoptes_http_requests_refused_total.
const (
	refusedCrossOrigin     = "cross_origin"
	refusedContentType     = "content_type"
	refusedContentEncoding = "content_encoding"
	refusedConcurrency     = "concurrency"
	refusedDiskSpace       = "disk_space"
	refusedPprof           = "pprof"
	refusedHost            = "host"
)

// newWebGuard wraps next with the checks the options ask for; the refusals
// are counted on reg.
func newWebGuard(next http.Handler, o *Options, externalURL *url.URL, disk *diskGuard, reg prometheus.Registerer) *webGuard {
	g := &webGuard{
		next:         next,
		remoteWrite:  o.EnableRemoteWriteReceiver,
		writes:       make(chan struct{}, max(o.RemoteWriteMaxConcurrentRequests, 1)),
		disk:         disk,
		enablePprof:  o.EnablePprof,
		loopbackOnly: loopbackListener(o.ListenAddress),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "panoptes_http_requests_refused_total",
			Help: "HTTP requests refused before their handler, by reason: cross_origin (a state-changing request from another site's page), content_type and content_encoding (a remote write without the protocol's headers), concurrency (--web.remote-write-receiver.max-concurrent-requests), disk_space (--storage.tsdb.min-free-space, bytes in flight included), pprof (a CPU profile or trace without --web.enable-pprof), host (a request to a loopback listener naming another host: DNS rebinding).",
		}, []string{"reason"}),
	}
	if o.ExternalURL != "" && externalURL != nil && externalURL.Host != "" {
		g.allowedHosts = append(g.allowedHosts, strings.ToLower(externalURL.Host))
	}
	for _, r := range []string{refusedCrossOrigin, refusedContentType, refusedContentEncoding, refusedConcurrency, refusedDiskSpace, refusedPprof, refusedHost} {
		g.refused.WithLabelValues(r)
	}
	if reg != nil {
		if err := reg.Register(g.refused); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if c, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
					g.refused = c
				}
			}
		}
	}
	return g
}

func (g *webGuard) refuse(w http.ResponseWriter, reason string, code int, msg string) {
	g.refused.WithLabelValues(reason).Inc()
	http.Error(w, msg, code)
}

func (g *webGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.loopbackOnly && !g.loopbackHost(r.Host) {
		g.refuse(w, refusedHost, http.StatusMisdirectedRequest, fmt.Sprintf(
			"host %q refused: this server listens on a loopback address and answers only requests for localhost, a loopback address or its --web.external-url host (a page of another site resolving to 127.0.0.1 cannot read it). Behind a proxy, set --web.external-url to the name it is reached by.",
			r.Host))
		return
	}
	if !safeMethod(r.Method) && !g.sameOrigin(r) {
		g.refuse(w, refusedCrossOrigin, http.StatusForbidden, fmt.Sprintf(
			"cross-origin request refused: a %s from a page at %s may not change this server's state. Programs send no Origin header; a browser page must be served by this server (%s).",
			r.Method, r.Header.Get("Origin"), r.Host))
		return
	}
	// Match the path as the mux will route it: a path with "//" or "/./"
	// is redirected there, and comes back through here.
	p := path.Clean(r.URL.Path)
	switch {
	case g.remoteWrite && p == remoteWritePath && r.Method == http.MethodPost:
		g.serveRemoteWrite(w, r)
		return
	case !g.enablePprof && (p == "/debug/pprof/profile" || p == "/debug/pprof/trace"):
		g.refuse(w, refusedPprof, http.StatusForbidden,
			"CPU profiles and execution traces are off: they keep the server busy for as long as the caller asks. Start it with --web.enable-pprof to serve them (the heap, goroutine and other profiles under /debug/pprof/ are served regardless).")
		return
	}
	g.next.ServeHTTP(w, r)
}

// loopbackListener reports whether addr (HOST:PORT) listens on loopback
// only: a loopback IP or "localhost". ":9090" (every interface) is not.
func loopbackListener(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackHost reports whether a Host header names this loopback server:
// a loopback IP, localhost (or a name under .localhost, which resolvers
// keep on loopback), or the external URL's host.
func (g *webGuard) loopbackHost(hostport string) bool {
	host := strings.ToLower(hostport)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, a := range g.allowedHosts {
		if h, _, err := net.SplitHostPort(a); err == nil {
			a = h
		}
		if host == strings.Trim(a, "[]") {
			return true
		}
	}
	return false
}

// safeMethod: requests that change no state, and that a page may send
// cross-origin anyway (links, images).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin reports whether r carries no Origin (a program, not a page) or
// one whose host is the request's own Host or an allowed one. "null" (a
// sandboxed frame, a file:// page) is foreign.
func (g *webGuard) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Host)
	if host == strings.ToLower(r.Host) || withDefaultPort(host, u.Scheme) == withDefaultPort(strings.ToLower(r.Host), u.Scheme) {
		return true
	}
	// Behind a reverse proxy that rewrites Host, the proxy names the
	// original one. A page cannot set this header cross-origin without a
	// CORS preflight, which this server never grants.
	if fwd := r.Header.Get("X-Forwarded-Host"); fwd != "" && strings.EqualFold(strings.TrimSpace(strings.Split(fwd, ",")[0]), host) {
		return true
	}
	for _, h := range g.allowedHosts {
		if host == h || withDefaultPort(host, u.Scheme) == withDefaultPort(h, u.Scheme) {
			return true
		}
	}
	return false
}

// withDefaultPort adds the scheme's default port to a host without one, so
// that "example.org" and "example.org:443" compare equal over https.
func withDefaultPort(host, scheme string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// The remote-write protocol's headers (the remote-write spec 1.0 and 2.0).
const (
	remoteWriteContentType     = "application/x-protobuf"
	remoteWriteContentEncoding = "snappy"
)

// serveRemoteWrite checks a remote write's headers, takes one of the
// concurrent slots and reserves its decoded size against the disk guard,
// then hands it to the receiver.
func (g *webGuard) serveRemoteWrite(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != remoteWriteContentType {
		g.refuse(w, refusedContentType, http.StatusUnsupportedMediaType, fmt.Sprintf(
			"remote write needs \"Content-Type: %s\" (with proto=prometheus.WriteRequest or proto=io.prometheus.write.v2.Request, or none for 1.0), as the remote-write spec requires; got %q",
			remoteWriteContentType, ct))
		return
	}
	if ce := r.Header.Get("Content-Encoding"); !strings.EqualFold(strings.TrimSpace(ce), remoteWriteContentEncoding) {
		g.refuse(w, refusedContentEncoding, http.StatusUnsupportedMediaType, fmt.Sprintf(
			"remote write needs \"Content-Encoding: %s\" (a snappy block-compressed body), as the remote-write spec requires; got %q",
			remoteWriteContentEncoding, ce))
		return
	}
	select {
	case g.writes <- struct{}{}:
		defer func() { <-g.writes }()
	default:
		w.Header().Set("Retry-After", "1")
		g.refuse(w, refusedConcurrency, http.StatusServiceUnavailable, fmt.Sprintf(
			"too many remote writes at once (--web.remote-write-receiver.max-concurrent-requests=%d): retry later", cap(g.writes)))
		return
	}
	if g.disk.enabled() {
		// A snappy block starts with its decoded length: reserve that much
		// before the body is read whole. A malformed header is left for
		// the receiver to refuse with its own message.
		br := bufio.NewReaderSize(r.Body, 16)
		head, _ := br.Peek(binaryMaxVarintLen32)
		r.Body = readCloser{br, r.Body}
		if n, err := snappy.DecodedLen(head); err == nil && n >= 0 && n <= maxDecodedSize {
			release, err := g.disk.reserve(uint64(n))
			if err != nil {
				g.refuse(w, refusedDiskSpace, http.StatusInsufficientStorage, err.Error())
				return
			}
			defer release()
		}
	}
	g.next.ServeHTTP(w, r)
}

// maxDecodedSize is the receiver's limit on a request's decoded size
// (client_golang's exp/api/remote): a larger one is refused by it, and is
// not reserved.
const maxDecodedSize = 32 << 20

// binaryMaxVarintLen32 is the longest snappy length header (a uvarint of at
// most 32 bits).
const binaryMaxVarintLen32 = 5

// readCloser reads from a buffered reader and closes the body under it.
type readCloser struct {
	io.Reader
	io.Closer
}
