package testkit

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCA checks that a server certificate from the CA verifies against its
// pool, a client certificate is accepted by a server asking for one, and a
// second CA's certificate is refused.
func TestCA(t *testing.T) {
	ca := NewCA(t, "test-ca")
	srvCert := ca.Issue(t, "server", false, "127.0.0.1")
	cliCert := ca.Issue(t, "client", true)
	other := NewCA(t, "other-ca").Issue(t, "stranger", true)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.TLS.PeerCertificates[0].Subject.CommonName))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{srvCert.Cert}, ClientCAs: ca.Pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()

	get := func(c tls.Certificate) error {
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{c}}}}
		resp, err := cl.Get(srv.URL)
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	}
	if err := get(cliCert.Cert); err != nil {
		t.Fatalf("client certificate from the CA refused: %v", err)
	}
	if err := get(other.Cert); err == nil {
		t.Fatal("a certificate from another CA was accepted")
	}
}
