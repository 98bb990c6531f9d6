package ui

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// TestUIOverTLS: the all-in-one with --web.config.file (TLS and basic
// auth) serves its UI and API over HTTPS to chromium, which sends the
// credentials; the Explore page draws a query; without credentials the
// API answers 401.
func TestUIOverTLS(t *testing.T) {
	requireChromium(t)
	ca := testkit.NewCA(t, "ui-ca")
	cert := ca.Issue(t, "panoptes", false, "127.0.0.1", "localhost")
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(t.TempDir(), "web-config.yml")
	if err := os.WriteFile(webCfg, fmt.Appendf(nil, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  admin: %s\n",
		cert.CertFile, cert.KeyFile, hash), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	p := testkit.Start(t, panoptesBin, "--web.listen-address="+addr, "--storage.tsdb.path="+t.TempDir(),
		"--collector.interval=2s", "--log.level=warn", "--web.config.file="+webCfg)
	base := "https://" + addr
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	get := func(path string, auth bool) (int, []byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return 0, nil, err
		}
		if auth {
			req.SetBasicAuth("admin", "secret")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var body json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body, nil
	}
	// Ready, with two collections of node_load1 for a line.
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, body, err := get("/api/v1/query?query="+url.QueryEscape("count_over_time(node_load1[1m]) >= 2"), true)
		if err == nil && code == http.StatusOK && len(body) > 0 && string(body) != "null" && json.Valid(body) && containsResult(body) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no node_load1 over TLS: %d %v %s\n%s", code, err, body, p.Logs.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if code, _, err := get("/api/v1/query?query=up", false); err != nil || code != http.StatusUnauthorized {
		t.Errorf("the API without credentials: %d %v", code, err)
	}

	// chromium does not know the test's CA: its certificate errors are
	// ignored, and every request carries the credentials, as a browser
	// does once the user has typed them.
	b := newBrowser(t, 1300, 900, chromedp.Flag("ignore-certificate-errors", true))
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:secret"))
	b.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}})
		return err
	}))
	b.open(base + "/#/explore?range=5m")
	if proto := eval[string](b, `location.protocol`); proto != "https:" {
		t.Fatalf("the page is on %s", proto)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('textarea.promql').value = "node_load1"`))
	b.do(chromedp.Click(chromedp.CSS(`#run`)))
	b.waitReady()
	charts := eval[[]chartInfo](b, chartsJS)
	if len(charts) != 1 || charts[0].Series < 1 || charts[0].Points < 2 {
		t.Fatalf("explore graph over HTTPS: %+v, want one chart with node_load1", charts)
	}
	b.screenshot("explore-over-tls")
	b.noPageErrors()
}

// containsResult reports whether a Prometheus API answer has a non-empty
// data.result.
func containsResult(body []byte) bool {
	var r struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	return json.Unmarshal(body, &r) == nil && len(r.Data.Result) > 0
}
