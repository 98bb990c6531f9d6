package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServeKubeletSelfSigned(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("node_cpu_usage_seconds_total 1\n"))
	})
	go func() {
		errc <- ServeKubelet(ctx, KubeletConfig{Address: "127.0.0.1:0", Handlers: map[string]http.Handler{"/metrics/resource": h}, Guard: allowAnyone(t)},
			slog.New(slog.DiscardHandler), func(a net.Addr) { addrc <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatal(err)
	}
	// The certificate is for the listening IP: verify it against itself.
	conn, err := tls.Dial("tcp", addr.String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // fetching the self-signed cert
	if err != nil {
		t.Fatal(err)
	}
	cert := conn.ConnectionState().PeerCertificates[0]
	_ = conn.Close()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := client.Get("https://" + addr.String() + "/metrics/resource")
	if err != nil {
		t.Fatalf("verified GET: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(b), "node_cpu_usage_seconds_total") {
		t.Errorf("body %q", b)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestServeKubeletErrors(t *testing.T) {
	t.Parallel()
	h := map[string]http.Handler{"/metrics/resource": http.NotFoundHandler()}
	for _, cfg := range []KubeletConfig{
		{Address: "127.0.0.1:0"},
		{Address: "127.0.0.1:0", Handlers: h, CertFile: "x"},
		{Address: "127.0.0.1:0", Handlers: h, CertFile: "/nonexistent", KeyFile: "/nonexistent"},
		{Address: "no-port", Handlers: h, Guard: allowAnyone(t)},
		{Address: "127.0.0.1:0", Handlers: h}, // no guard
	} {
		if err := ServeKubelet(context.Background(), cfg, slog.New(slog.DiscardHandler), nil); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}
