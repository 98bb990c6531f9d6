package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// webConfig is what a test puts in an exporter-toolkit web config file.
type webConfig struct {
	// cert and key are the serving pair; empty serves plain HTTP.
	cert, key string
	// clientCA, when set, requires client certificates it signed
	// (RequireAndVerifyClientCert).
	clientCA string
	// users are basic auth users by name, with their clear passwords
	// (written as bcrypt hashes).
	users map[string]string
}

// writeWebConfig writes c to path in exporter-toolkit's format, with a
// response header to check that http_server_config applies.
func writeWebConfig(t *testing.T, path string, c webConfig) {
	t.Helper()
	var b strings.Builder
	if c.cert != "" {
		fmt.Fprintf(&b, "tls_server_config:\n  cert_file: %s\n  key_file: %s\n  min_version: TLS12\n", c.cert, c.key)
		if c.clientCA != "" {
			fmt.Fprintf(&b, "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: %s\n", c.clientCA)
		}
	}
	b.WriteString("http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n")
	if len(c.users) > 0 {
		b.WriteString("basic_auth_users:\n")
		for u, p := range c.users {
			// The lowest cost keeps the race-built binaries quick on two
			// busy cores; the format is the same at any cost.
			h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "  %s: %s\n", u, h)
		}
	}
	// Written to a temporary name and renamed, so that a listener reading
	// it for a request never sees half of it.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tlsSetup is a CA, a serving certificate for 127.0.0.1 and a web config
// file with TLS and the user "prom" (password "secret").
type tlsSetup struct {
	ca     *testkit.CA
	server testkit.Issued
	file   string
}

func newTLSSetup(t *testing.T, clientCerts bool) tlsSetup {
	t.Helper()
	ca := testkit.NewCA(t, "panoptes-test-ca")
	s := tlsSetup{ca: ca, server: ca.Issue(t, "server", false, "127.0.0.1", "localhost"), file: filepath.Join(t.TempDir(), "web-config.yml")}
	c := webConfig{cert: s.server.CertFile, key: s.server.KeyFile, users: map[string]string{"prom": "secret"}}
	if clientCerts {
		c.clientCA = ca.CertFile
	}
	writeWebConfig(t, s.file, c)
	return s
}

// httpsURL turns the http://host:port that waitListening returns into
// https://.
func httpsURL(base string) string { return "https://" + strings.TrimPrefix(base, "http://") }

// tlsGet does GET url with a client that trusts pool and presents certs,
// with basic auth when user is not empty, and returns the status and body.
func tlsGet(t *testing.T, u string, ca *testkit.CA, certs []tls.Certificate, user, pass string) (int, string, error) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: certs, MinVersion: tls.VersionTLS12},
	}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// curl runs the system's curl with args and returns the HTTP status it
// printed and its exit error.
func curl(t *testing.T, args ...string) (code string, out string, err error) {
	t.Helper()
	bin := requirePeer(t, "curl")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-sS", "-o", "/dev/stderr", "-w", "%{http_code}", "--max-time", "30"}, args...)...) //nolint:gosec // the test's own arguments
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return stdout.String(), stderr.String(), err
}

// checkRefusals checks what a TLS listener with basic auth refuses: no
// credentials and a wrong password get 401 with Basic asked for, plain
// HTTP gets Go's 400, a client that does not trust the CA fails the
// handshake. base is the https:// URL of a route.
func checkRefusals(t *testing.T, s tlsSetup, u string) {
	t.Helper()
	if code, out, err := curl(t, "--cacert", s.ca.CertFile, u); err != nil || code != "401" {
		t.Errorf("curl without credentials: %s %v\n%s", code, err, out)
	}
	if code, out, err := curl(t, "--cacert", s.ca.CertFile, "-u", "prom:wrong", u); err != nil || code != "401" {
		t.Errorf("curl with a wrong password: %s %v\n%s", code, err, out)
	}
	if code, out, err := curl(t, "--cacert", s.ca.CertFile, "-u", "nobody:secret", u); err != nil || code != "401" {
		t.Errorf("curl with an unknown user: %s %v\n%s", code, err, out)
	}
	plain := "http://" + strings.TrimPrefix(u, "https://")
	if code, out, err := curl(t, plain); err != nil || code != "400" || !strings.Contains(out, "HTTP request to an HTTPS server") {
		t.Errorf("curl over plain HTTP: %s %v\n%s", code, err, out)
	}
	if _, out, err := curl(t, "-u", "prom:secret", u); err == nil {
		t.Errorf("curl without the CA trusted the server's certificate:\n%s", out)
	}
	other := testkit.NewCA(t, "other-ca")
	if _, _, err := tlsGet(t, u, other, nil, "prom", "secret"); err == nil {
		t.Error("a Go client trusting another CA completed the handshake")
	}
}

// TestWebConfigAgentTLSBasicAuth: the agent behind TLS and basic auth is
// scraped by curl and by Debian's Prometheus (scheme https, tls_config,
// basic_auth); wrong credentials, an untrusted certificate and plain HTTP
// are refused, and the web config's header is sent.
func TestWebConfigAgentTLSBasicAuth(t *testing.T) {
	s := newTLSSetup(t, false)
	_, base := startAgent(t, "--web.config.file="+s.file)
	base = httpsURL(base)

	code, out, err := curl(t, "--cacert", s.ca.CertFile, "-u", "prom:secret", "-D", "/dev/stderr", base+"/metrics")
	if err != nil || code != "200" || !strings.Contains(out, "node_") {
		t.Fatalf("curl https with basic auth: %s %v\n%.2000s", code, err, out)
	}
	if !strings.Contains(strings.ToLower(out), "x-content-type-options: nosniff") {
		t.Errorf("the web config's header is not sent:\n%.1000s", out)
	}
	checkRefusals(t, s, base+"/metrics")
	// Every route is behind the web config, the probes' too.
	if code, out, err := curl(t, "--cacert", s.ca.CertFile, base+"/healthz"); err != nil || code != "401" {
		t.Errorf("/healthz without credentials: %s %v\n%s", code, err, out)
	}

	// Debian's Prometheus scrapes it as it would node_exporter with the
	// same web config.
	prom := requirePeer(t, "prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	host := strings.TrimPrefix(base, "https://")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: agent
    scheme: https
    tls_config:
      ca_file: %s
    basic_auth:
      username: prom
      password: secret
    static_configs:
      - targets: [%q]
`, s.ca.CertFile, host)), 0o600); err != nil {
		t.Fatal(err)
	}
	promAddr := freePort(t)
	start(t, prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	promURL := "http://" + promAddr
	eventually(t, 90*time.Second, func() string {
		v, err := promQuery(promURL, `count({job="agent"})`)
		if err != nil {
			return err.Error()
		}
		up, err := promQuery(promURL, `up{job="agent"}`)
		if err != nil {
			return err.Error()
		}
		if up != "1" || v == "" || v == "0" {
			return fmt.Sprintf("up=%q, samples=%q; targets: %s", up, v, promTargets(promURL))
		}
		return ""
	})
}

// promQuery runs an instant query against a Prometheus API and returns the
// first sample's value, "" when the result is empty.
func promQuery(base, q string) (string, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q)) //nolint:gosec,noctx // loopback test URL
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", fmt.Errorf("query %s: %s: %w", q, resp.Status, err)
	}
	if len(r.Data.Result) == 0 || len(r.Data.Result[0].Value) != 2 {
		return "", nil
	}
	v, _ := r.Data.Result[0].Value[1].(string)
	return v, nil
}

// promTargets is a Prometheus's /api/v1/targets, for failure messages.
func promTargets(base string) string {
	resp, err := http.Get(base + "/api/v1/targets") //nolint:gosec,noctx // loopback test URL
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestWebConfigAgentClientCerts: with client_auth_type
// RequireAndVerifyClientCert, a client certificate of the CA is let in
// (curl and Go), none or one of another CA fails the handshake.
func TestWebConfigAgentClientCerts(t *testing.T) {
	s := newTLSSetup(t, true)
	_, base := startAgent(t, "--web.config.file="+s.file)
	u := httpsURL(base) + "/metrics"
	client := s.ca.Issue(t, "scraper", true)

	if code, out, err := curl(t, "--cacert", s.ca.CertFile, "--cert", client.CertFile, "--key", client.KeyFile, "-u", "prom:secret", u); err != nil || code != "200" {
		t.Fatalf("curl with the CA's client certificate: %s %v\n%.2000s", code, err, out)
	}
	if code, body, err := tlsGet(t, u, s.ca, []tls.Certificate{client.Cert}, "prom", "secret"); err != nil || code != http.StatusOK {
		t.Fatalf("Go client with the CA's client certificate: %d %v\n%.1000s", code, err, body)
	}
	if code, out, err := curl(t, "--cacert", s.ca.CertFile, "-u", "prom:secret", u); err == nil {
		t.Errorf("curl without a client certificate got %s:\n%.1000s", code, out)
	}
	if code, _, err := tlsGet(t, u, s.ca, nil, "prom", "secret"); err == nil {
		t.Errorf("Go client without a client certificate got %d", code)
	}
	other := testkit.NewCA(t, "other-ca").Issue(t, "intruder", true)
	if code, out, err := curl(t, "--cacert", s.ca.CertFile, "--cert", other.CertFile, "--key", other.KeyFile, "-u", "prom:secret", u); err == nil {
		t.Errorf("curl with another CA's client certificate got %s:\n%.1000s", code, out)
	}
	if code, _, err := tlsGet(t, u, s.ca, []tls.Certificate{other.Cert}, "prom", "secret"); err == nil {
		t.Errorf("Go client with another CA's client certificate got %d", code)
	}
}

// TestWebConfigBadFile: every role refuses to start on a web config that
// does not parse, naming the flag and the file; a missing certificate is
// reported the same way.
func TestWebConfigBadFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad-web.yml")
	if err := os.WriteFile(bad, []byte("tls_server_config:\n  cert_file: [not a string\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing-cert.yml")
	if err := os.WriteFile(missing, []byte("tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	amCfg := writeAMConfig(t, dir, "route:\n  receiver: x\nreceivers:\n  - name: x\n")
	for _, tc := range []struct {
		name, flag string
		args       []string
	}{
		{"agent", "--web.config.file", []string{"agent", "--listen=127.0.0.1:0"}},
		{"server", "--web.config.file", []string{"server", "--web.listen-address=127.0.0.1:0", "--storage.tsdb.path=" + filepath.Join(dir, "data")}},
		{"all-in-one", "--web.config.file", []string{"--listen=127.0.0.1:0", "--storage.tsdb.path=" + filepath.Join(dir, "data1")}},
		{"alertmanager", "--web.config.file", []string{"alertmanager", "--web.listen-address=127.0.0.1:0", "--config.file=" + amCfg, "--storage.path=" + filepath.Join(dir, "am")}},
		{"state", "--tls-config", []string{"state", "--listen=127.0.0.1:0", "--telemetry-port=0", "--kubeconfig=" + filepath.Join(dir, "no-kubeconfig")}},
	} {
		for _, file := range []string{bad, missing} {
			t.Run(tc.name+"/"+filepath.Base(file), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				out, err := exec.CommandContext(ctx, panoptesBin, append(tc.args, tc.flag+"="+file)...).CombinedOutput() //nolint:gosec // the test's own arguments
				var exit *exec.ExitError
				if !errors.As(err, &exit) {
					t.Fatalf("want a non-zero exit, got %v:\n%s", err, out)
				}
				if !strings.Contains(string(out), tc.flag) || !strings.Contains(string(out), file) {
					t.Errorf("the error does not name %s and %s:\n%s", tc.flag, file, out)
				}
			})
		}
	}
}

// TestWebConfigServerReload: the server behind TLS and basic auth serves
// its API (and /-/healthy only with credentials, as Prometheus); a changed
// password takes effect without a restart, and SIGHUP checks the file: a
// broken one is logged as a failed reload while the server keeps running.
func TestWebConfigServerReload(t *testing.T) {
	s := newTLSSetup(t, false)
	p, base := startServer(t, "--web.config.file="+s.file)
	base = httpsURL(base)

	eventually(t, 60*time.Second, func() string {
		code, body, err := tlsGet(t, base+"/api/v1/query?query=up", s.ca, nil, "prom", "secret")
		if err != nil || code != http.StatusOK || !strings.Contains(body, `"status":"success"`) {
			return fmt.Sprintf("query over TLS: %d %v %s", code, err, body)
		}
		return ""
	})
	checkRefusals(t, s, base+"/api/v1/query?query=up")
	if code, out, err := curl(t, "--cacert", s.ca.CertFile, base+"/-/healthy"); err != nil || code != "401" {
		t.Errorf("/-/healthy without credentials: %s %v\n%s", code, err, out)
	}
	if code, out, err := curl(t, "--cacert", s.ca.CertFile, "-u", "prom:secret", base+"/-/healthy"); err != nil || code != "200" {
		t.Errorf("/-/healthy with credentials: %s %v\n%s", code, err, out)
	}

	// A new password, then SIGHUP: the new one is let in, the old one is
	// not, with no restart.
	writeWebConfig(t, s.file, webConfig{cert: s.server.CertFile, key: s.server.KeyFile, users: map[string]string{"prom": "changed"}})
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() string {
		if !strings.Contains(p.logs.String(), "config reloaded") {
			return "no reload logged"
		}
		return ""
	})
	if code, _, err := tlsGet(t, base+"/api/v1/status/buildinfo", s.ca, nil, "prom", "changed"); err != nil || code != http.StatusOK {
		t.Errorf("the new password after SIGHUP: %d %v", code, err)
	}
	if code, _, err := tlsGet(t, base+"/api/v1/status/buildinfo", s.ca, nil, "prom", "secret"); err != nil || code != http.StatusUnauthorized {
		t.Errorf("the old password after SIGHUP: %d %v", code, err)
	}

	// A broken web config: SIGHUP reports it, naming the file.
	if err := os.WriteFile(s.file, []byte("basic_auth_users: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() string {
		if !strings.Contains(p.logs.String(), "web config "+s.file) {
			return "no failed reload naming the web config logged"
		}
		return ""
	})
	select {
	case <-p.done:
		t.Fatalf("the server exited on a broken web config:\n%s", p.logs.String())
	default:
	}
}

// TestWebConfigAllInOneAlertmanager: the all-in-one behind TLS and basic
// auth still delivers its alerts to its built-in Alertmanager (in process,
// not over the listener), which amtool reads over TLS with basic auth
// (--http.config.file).
func TestWebConfigAllInOneAlertmanager(t *testing.T) {
	amtoolBin := requirePeer(t, "amtool")
	s := newTLSSetup(t, false)
	dir := t.TempDir()
	am := writeAMConfig(t, dir, "route:\n  receiver: none\n  group_wait: 1s\nreceivers:\n  - name: none\n")
	rules := filepath.Join(dir, "rules.yml")
	if err := os.WriteFile(rules, []byte("groups:\n  - name: tls\n    rules:\n      - alert: OverTLS\n        expr: vector(1)\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  evaluation_interval: 1s\nrule_files: ["+rules+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, base := waitListening(t, start(t, panoptesBin, "--listen=127.0.0.1:0", "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--config.file="+cfg, "--alertmanager.config.file="+am, "--web.config.file="+s.file), "panoptes")
	base = httpsURL(base)

	httpCfg := filepath.Join(dir, "amtool-http.yml")
	if err := os.WriteFile(httpCfg, []byte(fmt.Sprintf("basic_auth:\n  username: prom\n  password: secret\ntls_config:\n  ca_file: %s\n", s.ca.CertFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, func() string {
		cmd := exec.Command(amtoolBin, "alert", "query", "alertname=OverTLS", "--alertmanager.url="+base+"/alertmanager", "--http.config.file="+httpCfg) //nolint:gosec // the test's own arguments
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "OverTLS") {
			return fmt.Sprintf("amtool alert query: %v\n%s", err, out)
		}
		return ""
	})
	checkRefusals(t, s, base+"/alertmanager/api/v2/status")
}

// TestWebConfigAlertmanager: the standalone Alertmanager behind TLS and
// basic auth: amtool with --http.config.file adds and lists a silence,
// without credentials it is refused.
func TestWebConfigAlertmanager(t *testing.T) {
	amtoolBin := requirePeer(t, "amtool")
	s := newTLSSetup(t, false)
	dir := t.TempDir()
	am := writeAMConfig(t, dir, "route:\n  receiver: none\nreceivers:\n  - name: none\n")
	_, base := waitListening(t, start(t, panoptesBin, "alertmanager", "--config.file="+am,
		"--storage.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:0", "--web.config.file="+s.file), "panoptes alertmanager")
	base = httpsURL(base)
	httpCfg := filepath.Join(dir, "amtool-http.yml")
	if err := os.WriteFile(httpCfg, []byte(fmt.Sprintf("basic_auth:\n  username: prom\n  password: secret\ntls_config:\n  ca_file: %s\n", s.ca.CertFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		out, err := exec.Command(amtoolBin, append(args, "--alertmanager.url="+base)...).CombinedOutput() //nolint:gosec // the test's own arguments
		return string(out), err
	}
	var id string
	eventually(t, 60*time.Second, func() string {
		out, err := run("silence", "add", "alertname=Quiet", "--comment=tls", "--author=e2e", "--duration=1h", "--http.config.file="+httpCfg)
		if err != nil {
			return fmt.Sprintf("amtool silence add: %v\n%s", err, out)
		}
		// The id is the last line; amtool may warn about versions first.
		lines := strings.Split(strings.TrimSpace(out), "\n")
		id = strings.TrimSpace(lines[len(lines)-1])
		return ""
	})
	if out, err := run("silence", "query", "--http.config.file="+httpCfg); err != nil || !strings.Contains(out, id) {
		t.Errorf("amtool silence query: %v\n%s", err, out)
	}
	if out, err := run("silence", "query"); err == nil {
		t.Errorf("amtool without --http.config.file was let in:\n%s", out)
	}
	checkRefusals(t, s, base+"/api/v2/status")
}

// TestWebConfigState: panoptes state with one web config on both
// listeners, as kube-state-metrics' --tls-config: /metrics and the
// telemetry port answer over TLS with basic auth, against the real API
// server, and refuse what the others refuse.
func TestWebConfigState(t *testing.T) {
	env := k8s.Start(t)
	s := newTLSSetup(t, false)
	_, metrics, telemetry := startState(t, "--kubeconfig="+env.Kubeconfig, "--resources=namespaces", "--tls-config="+s.file)
	metrics, telemetry = httpsURL(metrics), httpsURL(telemetry)
	eventually(t, 90*time.Second, func() string {
		code, body, err := tlsGet(t, telemetry+"/readyz", s.ca, nil, "prom", "secret")
		if err != nil || code != http.StatusOK {
			return fmt.Sprintf("telemetry /readyz: %d %v %s", code, err, body)
		}
		return ""
	})
	code, body, err := tlsGet(t, metrics+"/metrics", s.ca, nil, "prom", "secret")
	if err != nil || code != http.StatusOK || !strings.Contains(body, `kube_namespace_created{namespace="default"`) {
		t.Fatalf("/metrics over TLS: %d %v\n%.2000s", code, err, body)
	}
	checkRefusals(t, s, metrics+"/metrics")
	checkRefusals(t, s, telemetry+"/metrics")
}
