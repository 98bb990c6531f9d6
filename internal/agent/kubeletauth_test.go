package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/panoptes-dev/panoptes/internal/option"
	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// allowAnyone is a guard that lets every request through, for tests of the
// serving itself.
func allowAnyone(t *testing.T) KubeletGuard {
	t.Helper()
	g, err := NewStdKubeletGuard(context.Background(), KubeletAuthOptions{Anonymous: true, AuthorizationMode: AuthorizationAlwaysAllow}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestKubeletRequestAttributes: the kubelet's mapping of a request to the
// SubjectAccessReview it asks for (pkg/kubelet/server/auth.go).
func TestKubeletRequestAttributes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method, path string
		verb, sub    string
	}{
		{"GET", "/metrics/resource", "get", "metrics"},
		{"GET", "/metrics", "get", "metrics"},
		{"GET", "/metrics/cadvisor", "get", "metrics"},
		{"GET", "/stats/summary", "get", "stats"},
		{"GET", "/stats", "get", "stats"},
		{"GET", "/stats/", "get", "stats"},
		{"GET", "/healthz", "get", "healthz"},
		{"GET", "/logs/syslog", "get", "log"},
		{"GET", "/spec/", "get", "spec"},
		{"GET", "/metricsx", "get", "proxy"},
		{"GET", "/statsummary", "get", "proxy"},
		{"GET", "/pods", "get", "proxy"},
		{"GET", "/", "get", "proxy"},
		{"POST", "/stats/summary", "create", "stats"},
		{"PUT", "/metrics/resource", "update", "metrics"},
		{"PATCH", "/metrics/resource", "patch", "metrics"},
		{"DELETE", "/metrics/resource", "delete", "metrics"},
		// As the kubelet: no verb, which no role grants.
		{"HEAD", "/metrics/resource", "", "metrics"},
		{"OPTIONS", "/stats/summary", "", "stats"},
	} {
		got := KubeletRequestAttributes(tc.method, tc.path, "node-1")
		want := KubeletAttributes{Verb: tc.verb, Resource: "nodes", Subresource: tc.sub, Name: "node-1", Path: tc.path}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s %s (-want +got):\n%s", tc.method, tc.path, d)
		}
	}
}

func TestKubeletAuthOptionsValidate(t *testing.T) {
	t.Parallel()
	if err := (&Options{Listen: ":9100", MetricsPath: "/metrics", Kubelet: KubeletConfig{Auth: NewKubeletAuthOptions()}, Collectors: NewCollectorOptions()}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, tc := range []struct {
		edit  func(*KubeletAuthOptions)
		field string
	}{
		{func(o *KubeletAuthOptions) { o.AuthorizationMode = "RBAC" }, "Kubelet.Auth.AuthorizationMode"},
		{func(o *KubeletAuthOptions) { o.TokenWebhookCacheTTL = -time.Second }, "Kubelet.Auth.TokenWebhookCacheTTL"},
		{func(o *KubeletAuthOptions) { o.UnauthorizedTTL = -time.Second }, "Kubelet.Auth.UnauthorizedTTL"},
		{func(o *KubeletAuthOptions) { o.TokenWebhook = false }, "Kubelet.Auth.TokenWebhook"},
	} {
		o := NewOptions()
		o.Kubelet.Address = "127.0.0.1:10250"
		tc.edit(&o.Kubelet.Auth)
		err := o.Validate()
		var oe *option.Error
		if !errors.As(err, &oe) || oe.Option != tc.field {
			t.Errorf("want an error on %s, got %v", tc.field, err)
		}
	}
}

// TestKubeletGuardClientCertificates serves the kubelet-shaped endpoint with
// the standard library's guard and --client-ca-file only (no API server):
// a certificate the CA signed authenticates, one from another CA, none, or a
// token nobody can review do not (401); with anonymous requests allowed the
// last three get in as system:anonymous.
func TestKubeletGuardClientCertificates(t *testing.T) {
	t.Parallel()
	ca := testkit.NewCA(t, "clients")
	other := testkit.NewCA(t, "strangers")
	good := ca.Issue(t, "metrics-reader", true)
	bad := other.Issue(t, "metrics-reader", true)
	serverOnly := ca.Issue(t, "not-a-client", false)

	for _, anonymous := range []bool{false, true} {
		o := KubeletAuthOptions{ClientCAFile: ca.CertFile, Anonymous: anonymous, AuthorizationMode: AuthorizationAlwaysAllow}
		g, err := NewStdKubeletGuard(context.Background(), o, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		var seen string
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, _, _ := g.Authenticate(r)
			seen = u.Name
			_, _ = w.Write([]byte("ok"))
		})
		base := serveKubeletTest(t, KubeletConfig{Address: "127.0.0.1:0", Handlers: map[string]http.Handler{"/metrics/resource": h}, Guard: g, NodeName: "n1"})
		get := func(cert *tls.Certificate) int {
			t.Helper()
			cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the self-signed serving certificate
			if cert != nil {
				cfg.Certificates = []tls.Certificate{*cert}
			}
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
			resp, err := c.Get(base + "/metrics/resource")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			return resp.StatusCode
		}
		if code := get(&good.Cert); code != http.StatusOK || seen != "metrics-reader" {
			t.Errorf("anonymous=%v: the CA's client certificate: %d as %q, want 200 as metrics-reader", anonymous, code, seen)
		}
		want := http.StatusUnauthorized
		if anonymous {
			want = http.StatusOK
		}
		for name, cert := range map[string]*tls.Certificate{"another CA's": &bad.Cert, "a server-only": &serverOnly.Cert, "no": nil} {
			seen = ""
			if code := get(cert); code != want || (anonymous && seen != "system:anonymous") {
				t.Errorf("anonymous=%v: %s certificate: %d as %q, want %d", anonymous, name, code, seen, want)
			}
		}
	}
}

func serveKubeletTest(t *testing.T, cfg KubeletConfig) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() { errc <- ServeKubelet(ctx, cfg, slog.New(slog.DiscardHandler), func(a net.Addr) { addrc <- a }) }()
	select {
	case a := <-addrc:
		t.Cleanup(func() {
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
		return "https://" + a.String()
	case err := <-errc:
		cancel()
		t.Fatal(err)
	}
	return ""
}

func TestTTLCache(t *testing.T) {
	t.Parallel()
	c := newTTLCache[int]()
	c.put("a", 1, time.Hour)
	c.put("b", 2, 0) // not kept
	if v, ok := c.get("a"); !ok || v != 1 {
		t.Errorf("a: %d %v", v, ok)
	}
	if _, ok := c.get("b"); ok {
		t.Error("a zero TTL was kept")
	}
	for i := range maxCacheEntries + 10 {
		c.put(strings.Repeat("x", i), i, time.Hour)
	}
	if n := len(c.m); n > maxCacheEntries {
		t.Errorf("%d entries, bound %d", n, maxCacheEntries)
	}
}
