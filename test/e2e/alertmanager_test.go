package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// `panoptes alertmanager` against what its users have: a webhook receiver
// the test runs, Debian's amtool, and Alertmanager v0.34.1 itself (the
// version of the packages it is built on) given the same config and the
// same alerts.

// amWait bounds every wait of these tests: generous, for a race-built
// binary on two busy cores; it only guards against hangs.
const amWait = 90 * time.Second

// amHook is a webhook receiver: it records every request by path (one path
// per receiver in the configs), answers with what status says (200 when
// nil), and can hang on a path until the test ends.
type amHook struct {
	mu       sync.Mutex
	payloads map[string][]map[string]any
	attempts map[string]int
	status   func(path string, attempt int) int
	hang     string
	srv      *httptest.Server
}

func newAMHook(t *testing.T) *amHook {
	t.Helper()
	h := &amHook{payloads: map[string][]map[string]any{}, attempts: map[string]int{}}
	release := make(chan struct{})
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p map[string]any
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("webhook %s: bad payload: %v", r.URL.Path, err)
		}
		h.mu.Lock()
		h.attempts[r.URL.Path]++
		n, status := h.attempts[r.URL.Path], h.status
		h.mu.Unlock()
		if r.URL.Path == h.hang {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		if status != nil {
			if code := status(r.URL.Path, n); code != http.StatusOK {
				http.Error(w, "try again", code)
				return
			}
		}
		h.mu.Lock()
		h.payloads[r.URL.Path] = append(h.payloads[r.URL.Path], p)
		h.mu.Unlock()
	}))
	// Cleanups run last first: release the hanging requests, then close.
	t.Cleanup(h.srv.Close)
	t.Cleanup(func() { close(release) })
	return h
}

func (h *amHook) url(path string) string { return h.srv.URL + path }

// wait returns the first payload on path that match accepts.
func (h *amHook) wait(t *testing.T, path string, what string, match func(p map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(amWait)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for _, p := range h.payloads[path] {
			if match(p) {
				h.mu.Unlock()
				return p
			}
		}
		h.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t.Fatalf("webhook %s: no %s within %v; received %v", path, what, amWait, h.payloads[path])
	return nil
}

func (h *amHook) count(path string) (payloads, attempts int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.payloads[path]), h.attempts[path]
}

// status and alertnames are what a payload's matchers read.
func status(s string) func(map[string]any) bool {
	return func(p map[string]any) bool { return p["status"] == s }
}

// alertnames lists the alertnames of a payload's alerts, sorted.
func alertnames(p map[string]any) []string {
	var names []string
	for _, a := range p["alerts"].([]any) {
		names = append(names, a.(map[string]any)["labels"].(map[string]any)["alertname"].(string))
	}
	sort.Strings(names)
	return names
}

func writeAMConfig(t *testing.T, dir, cfg string) string {
	t.Helper()
	path := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startPanoptesAM runs `panoptes alertmanager` with the config at cfg and
// the data in storage, and returns its base URL once it listens.
func startPanoptesAM(t *testing.T, cfg, storage string) (*process, string) {
	t.Helper()
	p, base := waitListening(t, start(t, panoptesBin, "alertmanager", "--config.file="+cfg,
		"--storage.path="+storage, "--web.listen-address=127.0.0.1:0"), "panoptes alertmanager")
	waitHTTP(t, base+"/-/ready")
	return p, base
}

// postAlerts sends alerts to an Alertmanager's API v2, as Prometheus does.
func postAlerts(t *testing.T, base string, alerts ...map[string]any) {
	t.Helper()
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body)) //nolint:gosec,noctx // loopback test URL
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST %s/api/v2/alerts: %s", base, res.Status)
	}
}

func alert(labels ...string) map[string]any {
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	return map[string]any{"labels": l}
}

// amtool runs Debian's amtool against base and returns its standard
// output. (On standard error it warns that its version, 0.25.0, is not the
// server's: Panoptes reports none.)
func amtool(t *testing.T, bin, base string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append(args, "--alertmanager.url="+base)...) //nolint:gosec // the test's own arguments
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("amtool %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// TestAlertmanagerWebhook: an alert posted as Prometheus posts it reaches
// the webhook with Alertmanager's payload, amtool lists it, and its
// resolution follows.
func TestAlertmanagerWebhook(t *testing.T) {
	t.Parallel()
	amtoolBin := requirePeer(t, "amtool")
	hook := newAMHook(t)
	dir := t.TempDir()
	cfg := writeAMConfig(t, dir, fmt.Sprintf(`route:
  receiver: ops
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: ops
  webhook_configs:
  - url: %s
`, hook.url("/ops")))
	_, base := startPanoptesAM(t, cfg, filepath.Join(dir, "data"))

	a := alert("alertname", "DiskFull", "instance", "host1", "severity", "page")
	a["annotations"] = map[string]string{"summary": "the disk is full"}
	a["generatorURL"] = "http://prometheus.example/graph"
	postAlerts(t, base, a)
	p := hook.wait(t, "/ops", "firing notification", status("firing"))
	for k, want := range map[string]any{
		"version": "4", "receiver": "ops", "groupKey": `{}:{alertname="DiskFull"}`,
		"truncatedAlerts": float64(0),
	} {
		if p[k] != want {
			t.Errorf("payload %s = %v, want %v", k, p[k], want)
		}
	}
	got := p["alerts"].([]any)[0].(map[string]any)
	if diff := cmp.Diff(map[string]any{"alertname": "DiskFull", "instance": "host1", "severity": "page"}, got["labels"]); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if got["status"] != "firing" || got["generatorURL"] != "http://prometheus.example/graph" || got["fingerprint"] == "" {
		t.Errorf("alert %v", got)
	}
	if !strings.HasPrefix(p["externalURL"].(string), "http://") {
		t.Errorf("externalURL %v", p["externalURL"])
	}

	if out := amtool(t, amtoolBin, base, "alert", "query", "alertname=DiskFull"); !strings.Contains(out, "DiskFull") || !strings.Contains(out, "the disk is full") {
		t.Errorf("amtool alert query does not list DiskFull:\n%s", out)
	}

	a["endsAt"] = time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
	postAlerts(t, base, a)
	r := hook.wait(t, "/ops", "resolved notification", status("resolved"))
	if r["groupKey"] != p["groupKey"] || r["alerts"].([]any)[0].(map[string]any)["status"] != "resolved" {
		t.Errorf("resolution %v", r)
	}
	if out := amtool(t, amtoolBin, base, "alert", "query", "alertname=DiskFull"); strings.Contains(out, "DiskFull") {
		t.Errorf("amtool still lists the resolved alert:\n%s", out)
	}
}

// TestAlertmanagerSilencesSurviveRestart: amtool adds a silence, the
// silenced alert is left out of its group's notification; after a restart
// on the same --storage.path the silence is still there and the
// notification log still knows what was sent (no repeat); expiring the
// silence with amtool lets the alert through.
func TestAlertmanagerSilencesSurviveRestart(t *testing.T) {
	t.Parallel()
	amtoolBin := requirePeer(t, "amtool")
	hook := newAMHook(t)
	dir := t.TempDir()
	storage := filepath.Join(dir, "data")
	cfg := writeAMConfig(t, dir, fmt.Sprintf(`route:
  receiver: ops
  group_by: [team]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: ops
  webhook_configs:
  - url: %s
`, hook.url("/ops")))
	p, base := startPanoptesAM(t, cfg, storage)

	id := strings.TrimSpace(amtool(t, amtoolBin, base, "silence", "add", "alertname=Quiet", "--comment=maintenance", "--author=e2e", "--duration=1h"))
	if id == "" {
		t.Fatal("amtool silence add printed no id")
	}
	db := func(p map[string]any) bool { return p["groupKey"] == `{}:{team="db"}` }
	postAlerts(t, base, alert("alertname", "Quiet", "team", "db"), alert("alertname", "Loud", "team", "db"))
	first := hook.wait(t, "/ops", "notification of team db", db)
	if got := alertnames(first); !slices.Equal(got, []string{"Loud"}) {
		t.Errorf("notified %v; the silenced Quiet must be left out", got)
	}
	_, body := get(t, base+"/api/v2/alerts?filter=alertname%3D%22Quiet%22")
	if !strings.Contains(string(body), `"state":"suppressed"`) || !strings.Contains(string(body), id) {
		t.Errorf("Quiet is not suppressed by %s: %s", id, body)
	}

	p.stop()
	p, base = startPanoptesAM(t, cfg, storage)
	defer p.stop()
	if out := amtool(t, amtoolBin, base, "silence", "query"); !strings.Contains(out, id) || !strings.Contains(out, "maintenance") {
		t.Fatalf("the silence did not survive the restart:\n%s", out)
	}
	// Prometheus sends its firing alerts again after a restart; the
	// notification log says Loud was sent within repeat_interval, so team
	// db stays quiet while team web, new, is notified.
	postAlerts(t, base, alert("alertname", "Quiet", "team", "db"), alert("alertname", "Loud", "team", "db"),
		alert("alertname", "Marker", "team", "web"))
	hook.wait(t, "/ops", "notification of team web", func(p map[string]any) bool { return p["groupKey"] == `{}:{team="web"}` })
	waitFor(t, "both groups consulted the notification log", func() bool {
		return metricSum(t, base, "alertmanager_nflog_queries_total") >= 2
	})
	time.Sleep(2 * time.Second) // two group intervals: a repeat would have been sent by now
	hook.mu.Lock()
	dbCount := 0
	for _, p := range hook.payloads["/ops"] {
		if db(p) {
			dbCount++
		}
	}
	hook.mu.Unlock()
	if dbCount != 1 {
		t.Errorf("team db notified %d times; the notification log did not survive the restart", dbCount)
	}

	amtool(t, amtoolBin, base, "silence", "expire", id)
	both := hook.wait(t, "/ops", "team db with Quiet once the silence expired", func(p map[string]any) bool {
		return db(p) && slices.Contains(alertnames(p), "Quiet")
	})
	if got := alertnames(both); !slices.Equal(got, []string{"Loud", "Quiet"}) {
		t.Errorf("after expiry notified %v", got)
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(amWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, amWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAlertmanagerBadConfig: a config that does not parse fails the start
// with the parser's error and the file's name, as Alertmanager's does.
func TestAlertmanagerBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeAMConfig(t, dir, `route:
  receiver: ops
  group_wiat: 1s
receivers:
- name: ops
`)
	p := start(t, panoptesBin, "alertmanager", "--config.file="+cfg, "--storage.path="+dir, "--web.listen-address=127.0.0.1:0")
	select {
	case <-p.done:
	case <-time.After(amWait):
		t.Fatal("panoptes alertmanager did not exit on a bad config")
	}
	if p.cmd.ProcessState.ExitCode() == 0 {
		t.Error("exit status 0 on a bad config")
	}
	logs := p.logs.String()
	if !strings.Contains(logs, cfg) || !strings.Contains(logs, "field group_wiat not found") {
		t.Errorf("the error names neither the file nor the parser's complaint:\n%s", logs)
	}
}

// TestAlertmanagerReceiverFailures: a webhook that answers 500 is tried
// again (with Alertmanager's backoff) until it takes the notification, and
// one that hangs does not hold back the other receivers.
func TestAlertmanagerReceiverFailures(t *testing.T) {
	t.Parallel()
	hook := newAMHook(t)
	hook.hang = "/hang"
	hook.status = func(path string, attempt int) int {
		if path == "/flaky" && attempt <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	dir := t.TempDir()
	cfg := writeAMConfig(t, dir, fmt.Sprintf(`route:
  receiver: fast
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
  - matchers: [team="flaky"]
    receiver: flaky
  - matchers: [team="hang"]
    receiver: hang
receivers:
- name: fast
  webhook_configs: [{url: %q}]
- name: flaky
  webhook_configs: [{url: %q}]
- name: hang
  webhook_configs: [{url: %q, timeout: 1h}]
`, hook.url("/fast"), hook.url("/flaky"), hook.url("/hang")))
	_, base := startPanoptesAM(t, cfg, filepath.Join(dir, "data"))

	postAlerts(t, base, alert("alertname", "Stuck", "team", "hang"))
	waitFor(t, "the hanging webhook called", func() bool { _, n := hook.count("/hang"); return n > 0 })
	postAlerts(t, base, alert("alertname", "Flaky", "team", "flaky"), alert("alertname", "Fast", "team", "fast"))
	hook.wait(t, "/fast", "Fast past the hanging receiver", status("firing"))
	hook.wait(t, "/flaky", "Flaky after two 500s", status("firing"))
	if n, attempts := hook.count("/flaky"); n != 1 || attempts != 3 {
		t.Errorf("flaky webhook: %d delivered in %d attempts, want 1 in 3", n, attempts)
	}
	if v := metricSum(t, base, "alertmanager_notification_requests_failed_total"); v < 2 {
		t.Errorf("alertmanager_notification_requests_failed_total = %v, want the two 500s", v)
	}
	// Still hanging, and another alert for fast goes through too.
	postAlerts(t, base, alert("alertname", "Fast2", "team", "fast"))
	hook.wait(t, "/fast", "Fast2 while the other receiver hangs", func(p map[string]any) bool {
		return slices.Contains(alertnames(p), "Fast2")
	})
}

// TestAlertmanagerSameAsAlertmanager: the same config and the same alerts
// through `panoptes alertmanager` and Alertmanager v0.34.1 give the same
// webhook payloads (but for the external URL) and the same /api/v2/alerts.
func TestAlertmanagerSameAsAlertmanager(t *testing.T) {
	t.Parallel()
	peer := cachedPeer(t, "alertmanager-v*/alertmanager")
	cfg := func(hook *amHook) string {
		return fmt.Sprintf(`global:
  resolve_timeout: 5m
route:
  receiver: ops
  group_by: [alertname, cluster]
  group_wait: 5s
  group_interval: 1s
  repeat_interval: 1h
  routes:
  - matchers: [severity="page"]
    receiver: pager
    continue: true
  - matchers: [severity=~".+"]
    receiver: ops
inhibit_rules:
- source_matchers: [severity="page"]
  target_matchers: [severity="ticket"]
  equal: [cluster]
receivers:
- name: ops
  webhook_configs: [{url: %q}]
- name: pager
  webhook_configs: [{url: %q, max_alerts: 1}]
`, hook.url("/ops"), hook.url("/pager"))
	}
	alerts := func(startsAt string) []map[string]any {
		var out []map[string]any
		for _, l := range [][]string{
			{"alertname", "HostDown", "cluster", "eu", "severity", "page", "instance", "a"},
			{"alertname", "HostDown", "cluster", "eu", "severity", "page", "instance", "b"},
			{"alertname", "DiskSlow", "cluster", "eu", "severity", "ticket"}, // inhibited
			{"alertname", "DiskSlow", "cluster", "us", "severity", "ticket"},
		} {
			a := alert(l...)
			a["startsAt"] = startsAt
			a["annotations"] = map[string]string{"summary": "on " + a["labels"].(map[string]string)["cluster"]}
			a["generatorURL"] = "http://prometheus.example/graph"
			out = append(out, a)
		}
		return out
	}

	type run struct {
		hook *amHook
		base string
	}
	runs := map[string]*run{}
	for _, name := range []string{"panoptes", "alertmanager"} {
		r := &run{hook: newAMHook(t)}
		dir := t.TempDir()
		if name == "panoptes" {
			_, r.base = startPanoptesAM(t, writeAMConfig(t, dir, cfg(r.hook)), filepath.Join(dir, "data"))
		} else {
			r.base = startAlertmanagerPeer(t, peer, cfg(r.hook))
		}
		runs[name] = r
	}
	// One start time for both, so that the payloads are equal; recent,
	// because Alertmanager flushes a group at once for an alert older than
	// group_wait, and a group must wait for all its alerts here.
	startsAt := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	for _, r := range runs {
		postAlerts(t, r.base, alerts(startsAt)...)
	}
	// Everything is delivered: ops gets HostDown and DiskSlow{us}, pager
	// HostDown (one alert of two: max_alerts), DiskSlow{eu} is inhibited.
	payloads := map[string]map[string][]map[string]any{}
	for name, r := range runs {
		r.hook.wait(t, "/ops", "HostDown a and b", func(p map[string]any) bool {
			return slices.Equal(alertnames(p), []string{"HostDown", "HostDown"})
		})
		r.hook.wait(t, "/ops", "DiskSlow", func(p map[string]any) bool { return slices.Contains(alertnames(p), "DiskSlow") })
		r.hook.wait(t, "/pager", "HostDown", status("firing"))
		r.hook.mu.Lock()
		payloads[name] = map[string][]map[string]any{}
		for path, ps := range r.hook.payloads {
			for _, p := range ps {
				payloads[name][path] = append(payloads[name][path], normalizePayload(p))
			}
			sort.Slice(payloads[name][path], func(i, j int) bool {
				return fmt.Sprint(payloads[name][path][i]["groupKey"]) < fmt.Sprint(payloads[name][path][j]["groupKey"])
			})
		}
		r.hook.mu.Unlock()
	}
	if diff := cmp.Diff(payloads["alertmanager"], payloads["panoptes"]); diff != "" {
		t.Errorf("webhook payloads (-alertmanager +panoptes):\n%s", diff)
	}

	apiAlerts := map[string]any{}
	for name, r := range runs {
		_, body := get(t, r.base+"/api/v2/alerts")
		var as []map[string]any
		if err := json.Unmarshal(body, &as); err != nil {
			t.Fatalf("%s /api/v2/alerts: %v: %s", name, err, body)
		}
		// Both HostDown{cluster="eu"} alerts inhibit DiskSlow{eu}, and
		// Alertmanager names whichever its inhibition cache yields first (a
		// map walk), so either source is right: compare which kind inhibits.
		sources := map[any]bool{}
		for _, a := range as {
			if l, _ := a["labels"].(map[string]any); l["alertname"] == "HostDown" {
				sources[a["fingerprint"]] = true
			}
		}
		for _, a := range as {
			for _, k := range []string{"updatedAt", "endsAt"} {
				if a[k] != nil {
					a[k] = "<time>"
				}
			}
			if st, _ := a["status"].(map[string]any); st != nil {
				by, _ := st["inhibitedBy"].([]any)
				for i, fp := range by {
					if sources[fp] {
						by[i] = "<a HostDown alert>"
					}
				}
			}
		}
		sort.Slice(as, func(i, j int) bool { return fmt.Sprint(as[i]["fingerprint"]) < fmt.Sprint(as[j]["fingerprint"]) })
		apiAlerts[name] = as
	}
	if diff := cmp.Diff(apiAlerts["alertmanager"], apiAlerts["panoptes"]); diff != "" {
		t.Errorf("/api/v2/alerts (-alertmanager +panoptes):\n%s", diff)
	}
}

// normalizePayload blanks what differs by instance, not by behaviour: the
// external URL (each has its own port) and the alerts' endsAt (the resolve
// timeout counted from each one's receipt).
func normalizePayload(p map[string]any) map[string]any {
	p["externalURL"] = "<url>"
	for _, a := range p["alerts"].([]any) {
		a.(map[string]any)["endsAt"] = "<time>"
	}
	sort.Slice(p["alerts"], func(i, j int) bool {
		as := p["alerts"].([]any)
		return fmt.Sprint(as[i].(map[string]any)["fingerprint"]) < fmt.Sprint(as[j].(map[string]any)["fingerprint"])
	})
	return p
}

// TestAlertmanagerCluster: two `panoptes alertmanager` members, each
// --cluster.peer of the other, form one cluster (Alertmanager's memberlist
// gossip), and a silence added on one is served by the other.
func TestAlertmanagerCluster(t *testing.T) {
	t.Parallel()
	hook := newAMHook(t)
	dir := t.TempDir()
	cfg := writeAMConfig(t, dir, fmt.Sprintf(`route:
  receiver: ops
receivers:
- name: ops
  webhook_configs: [{url: %q}]
`, hook.url("/ops")))
	gossip := []string{freePort(t), freePort(t)}
	var bases []string
	for i := range gossip {
		p, base := waitListening(t, start(t, panoptesBin, "alertmanager", "--config.file="+cfg,
			"--storage.path="+filepath.Join(dir, fmt.Sprint(i)), "--web.listen-address=127.0.0.1:0",
			"--cluster.listen-address="+gossip[i], "--cluster.peer="+gossip[1-i], "--cluster.settle-timeout=2s"),
			"panoptes alertmanager")
		defer p.stop()
		bases = append(bases, base)
	}
	for _, base := range bases {
		waitFor(t, "both members in "+base+"/api/v2/status", func() bool {
			_, body := get(t, base+"/api/v2/status")
			var st struct {
				Cluster struct {
					Status string           `json:"status"`
					Peers  []map[string]any `json:"peers"`
				} `json:"cluster"`
			}
			return json.Unmarshal(body, &st) == nil && st.Cluster.Status == "ready" && len(st.Cluster.Peers) == 2
		})
	}
	now := time.Now().UTC()
	body, _ := json.Marshal(map[string]any{
		"matchers":  []map[string]any{{"name": "alertname", "value": "Gossiped", "isRegex": false}},
		"startsAt":  now.Format(time.RFC3339),
		"endsAt":    now.Add(time.Hour).Format(time.RFC3339),
		"createdBy": "e2e", "comment": "cluster",
	})
	res, err := http.Post(bases[0]+"/api/v2/silences", "application/json", bytes.NewReader(body)) //nolint:gosec,noctx // loopback test URL
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		SilenceID string `json:"silenceID"`
	}
	_ = json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	if created.SilenceID == "" {
		t.Fatalf("POST silence: %s", res.Status)
	}
	waitFor(t, "the silence gossiped to the other member", func() bool {
		_, body := get(t, bases[1]+"/api/v2/silence/"+created.SilenceID)
		return strings.Contains(string(body), "Gossiped")
	})
}
