package metricsapi

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// seen is what one TLS server received: handshakes begun, client
// certificates and Authorization headers.
type seen struct {
	mu          sync.Mutex
	hellos      int
	clientCerts int
	auth        []string
}

// serveSeen serves HTTPS on 127.0.0.1 with cert, asking every client for a
// certificate (any, none required) so that one sent is recorded.
func serveSeen(t *testing.T, cert tls.Certificate) (*seen, string) {
	t.Helper()
	s := &seen{}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			s.mu.Lock()
			s.hellos++
			s.mu.Unlock()
			return nil, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				s.mu.Lock()
				s.clientCerts++
				s.mu.Unlock()
			}
			return nil
		},
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The refused handshakes are the point: keep them out of the log.
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s, "https://" + ln.Addr().String() + "/metrics/resource"
}

// TestAgentTransportCredentials: with Source agents, the transport built
// from the options sends the bearer token, or the client certificate, to an
// agent whose certificate the agents' CA verifies for the address dialled,
// and nothing at all to one whose certificate is from another CA or for
// another address: the handshake fails first. Real TLS servers, the real
// client-go transport.
func TestAgentTransportCredentials(t *testing.T) {
	t.Parallel()
	agentCA := testkit.NewCA(t, "panoptes-agent-ca")
	otherCA := testkit.NewCA(t, "other")
	clientCert := otherCA.Issue(t, "system:serviceaccount:kube-system:panoptes-metrics-api", true)

	for _, creds := range []string{"token", "client certificate"} {
		t.Run(creds, func(t *testing.T) {
			t.Parallel()
			// Issue writes <CA dir>/<name>.crt: one name per subtest.
			id := strings.ReplaceAll(creds, " ", "-")
			o := NewOptions()
			o.Source, o.Agents.Namespace, o.Kubelet.CAFile = SourceAgents, "monitoring", agentCA.CertFile
			// The API server's own CA and name, which must not be used for
			// the agents.
			cfg := &rest.Config{Host: "https://10.96.0.1", TLSClientConfig: rest.TLSClientConfig{CAFile: otherCA.CertFile, ServerName: "kubernetes.default.svc"}}
			if creds == "token" {
				cfg.BearerToken = "secret-token"
			} else {
				o.Kubelet.ClientCertFile, o.Kubelet.ClientKeyFile = clientCert.CertFile, clientCert.KeyFile
			}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			rt, err := o.kubeletTransport(cfg)
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Transport: rt, Timeout: 10 * time.Second}
			get := func(url string) error {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if err != nil {
					return err
				}
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				return resp.Body.Close()
			}

			good, goodURL := serveSeen(t, agentCA.Issue(t, "agent-good-"+id, false, "127.0.0.1", "node-a").Cert)
			if err := get(goodURL); err != nil {
				t.Fatalf("the agent with a certificate from the CA: %v", err)
			}
			good.mu.Lock()
			if creds == "token" && (len(good.auth) != 1 || good.auth[0] != "Bearer secret-token") {
				t.Errorf("the verified agent got Authorization %q, want the token", good.auth)
			}
			if creds != "token" && good.clientCerts != 1 {
				t.Errorf("the verified agent got %d client certificates, want 1", good.clientCerts)
			}
			good.mu.Unlock()

			for _, bad := range []struct {
				name string
				cert tls.Certificate
				want string
			}{
				{"another CA", otherCA.Issue(t, "agent-rogue-"+id, false, "127.0.0.1").Cert, reasonTLSUnknownCA},
				{"another address", agentCA.Issue(t, "agent-elsewhere-"+id, false, "10.1.2.3", "node-b").Cert, reasonTLSSANMismatch},
			} {
				s, url := serveSeen(t, bad.cert)
				err := get(url)
				if err == nil {
					t.Errorf("%s: the request succeeded", bad.name)
					continue
				}
				if reason, _ := explain(target{node: "n", url: url, address: "127.0.0.1", addressType: "agent pod IP"}, err, "", "10s"); reason != bad.want {
					t.Errorf("%s: reason %s (%v), want %s", bad.name, reason, err, bad.want)
				}
				s.mu.Lock()
				if s.hellos == 0 {
					t.Errorf("%s: no handshake reached the server: the test proves nothing", bad.name)
				}
				if s.clientCerts != 0 || len(s.auth) != 0 {
					t.Errorf("%s: credentials reached it: %d client certificates, Authorization %q", bad.name, s.clientCerts, s.auth)
				}
				s.mu.Unlock()
			}
		})
	}
}
