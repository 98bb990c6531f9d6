package web

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func newTestHandler(t *testing.T, dir string) *Handler {
	t.Helper()
	h, err := New(Options{DashboardsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestServesPageAndAssets(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, "")
	resp := get(t, h, "/")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `src="assets/app.js"`) {
		t.Fatalf("/: %s %s", resp.Status, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "'sha256-") {
		t.Errorf("CSP %q", csp)
	}
	// gzip when asked, the same bytes once inflated.
	plain := get(t, h, "/assets/app.js")
	pb, _ := io.ReadAll(plain.Body)
	gz := get(t, h, "/assets/app.js", "Accept-Encoding", "gzip, deflate")
	if gz.Header.Get("Content-Encoding") != "gzip" {
		t.Fatal("no gzip")
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	ub, _ := io.ReadAll(zr)
	if string(ub) != string(pb) || len(pb) == 0 {
		t.Error("gzipped app.js differs from the plain one")
	}
	if ct := plain.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type %q", ct)
	}
	// Revalidation answers 304.
	if r := get(t, h, "/assets/app.css", "If-None-Match", plain.Header.Get("ETag")); r.StatusCode == 304 {
		t.Error("app.css matched app.js's ETag")
	}
	css := get(t, h, "/assets/app.css")
	if r := get(t, h, "/assets/app.css", "If-None-Match", css.Header.Get("ETag")); r.StatusCode != 304 {
		t.Errorf("revalidation: %s", r.Status)
	}
	if r := get(t, h, "/nothing-here"); r.StatusCode != 404 {
		t.Errorf("/nothing-here: %s", r.Status)
	}
	// The budget of the issue: under 300 KB gzipped.
	if n := h.GzippedSize("/assets/app.js") + h.GzippedSize("/assets/app.css"); n > 300_000 {
		t.Errorf("bundle is %d bytes gzipped", n)
	}
}

func TestDashboardsAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("title: x\npanels: [{title: y, targets: [{expr: 'sum('}]}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, dir)
	var list struct {
		Status string  `json:"status"`
		Data   []Entry `json:"data"`
	}
	if err := json.NewDecoder(get(t, h, "/api/ui/dashboards").Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if list.Status != "success" || len(list.Data) < 5 {
		t.Fatalf("list: %+v", list)
	}
	var one struct {
		Data Dashboard `json:"data"`
	}
	if err := json.NewDecoder(get(t, h, "/api/ui/dashboards/overview").Body).Decode(&one); err != nil {
		t.Fatal(err)
	}
	if one.Data.Title == "" || len(one.Data.Panels) < 10 || one.Data.Panels[1].Targets[0].Expr == "" {
		t.Errorf("overview: %+v", one.Data)
	}
	for path, want := range map[string]struct {
		code int
		text string
	}{
		"/api/ui/dashboards/nope": {404, `no dashboard \"nope\"`},
		"/api/ui/dashboards/bad":  {422, "unclosed left parenthesis"},
	} {
		r := get(t, h, path)
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != want.code || !strings.Contains(string(b), want.text) || !strings.Contains(string(b), `"status":"error"`) {
			t.Errorf("%s: %d %s", path, r.StatusCode, b)
		}
	}
}

func TestBadDashboardsDir(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{DashboardsDir: "/does/not/exist"}); err == nil || !strings.Contains(err.Error(), "--web.dashboards-dir") {
		t.Errorf("missing dir: %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	_ = os.WriteFile(f, nil, 0o644)
	if _, err := New(Options{DashboardsDir: f}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file as dir: %v", err)
	}
}

// TestDashboardEditsShow: a file changed on disk is served changed at the
// next request (the parse cache keys on the file's size and time).
func TestDashboardEditsShow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "mine.yaml")
	write := func(title string) {
		if err := os.WriteFile(p, []byte("title: "+title+"\npanels: [{title: a, targets: [{expr: up}]}]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	title := func(h http.Handler) string {
		var one struct {
			Data Dashboard `json:"data"`
		}
		if err := json.NewDecoder(get(t, h, "/api/ui/dashboards/mine").Body).Decode(&one); err != nil {
			t.Fatal(err)
		}
		return one.Data.Title
	}
	write("First")
	h := newTestHandler(t, dir)
	if got := title(h); got != "First" {
		t.Fatalf("title %q", got)
	}
	write("Second version")
	if got := title(h); got != "Second version" {
		t.Errorf("after an edit the title is %q", got)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if r := get(t, h, "/api/ui/dashboards/mine"); r.StatusCode != http.StatusNotFound {
		t.Errorf("a removed dashboard answers %s", r.Status)
	}
}

// TestGrafanaAPI: Grafana files of the directory and its subdirectories
// are listed with folder, tags, format and import summary; one is served
// as the model and exported as Grafana JSON that imports into the same
// dashboard; a broken one names the file, the panel and the field.
func TestGrafanaAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyFile := func(src, dst string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("testdata/grafana/node-host.json", filepath.Join(dir, "node-host.json"))
	copyFile("testdata/grafana/prometheus-alertmanager.json", filepath.Join(dir, "infra", "monitoring", "self.json"))
	broken := `{"schemaVersion": 39, "title": "Broken", "uid": "broken",
  "panels": [{"type": "text", "title": "t"}, {"type": "timeseries", "title": "CPU", "targets": [{"expr": "rate(up[5m]"}]}]}`
	if err := os.WriteFile(filepath.Join(dir, "infra", "broken.json"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "infra", "notjson.json"), []byte("{\n  \"panels\": [1,,]\n}"), 0o644); err != nil {
		t.Fatal(err)
	}
	copyFile("testdata/grafana/node-host.json", filepath.Join(dir, "infra", "node-copy.json"))
	h := newTestHandler(t, dir)
	var list struct {
		Data []Entry `json:"data"`
	}
	if err := json.NewDecoder(get(t, h, "/api/ui/dashboards").Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	got := map[string]Entry{}
	for _, e := range list.Data {
		got[e.ID] = e
	}
	if e := got["node-host"]; e.Format != "grafana" || e.Folder != "" || len(e.Tags) != 2 || e.Import == nil || e.Import.Rendered != 14 {
		t.Errorf("node-host: %+v", e)
	}
	if e := got["prom-am-self"]; e.Folder != "infra/monitoring" || len(e.Import.Placeholders) != 7 || e.Error != "" {
		t.Errorf("self: %+v", e)
	}
	if e := got["overview"]; e.Format != "panoptes" || e.Import != nil {
		t.Errorf("overview: %+v", e)
	}
	if e := got["broken"]; e.Folder != "infra" || e.Format != "grafana" || e.Title != "Broken" ||
		!strings.Contains(e.Error, filepath.Join(dir, "infra", "broken.json")+`: panels[1] (CPU): targets[0]: expr "rate(up[5m]"`) {
		t.Errorf("broken: %+v", e)
	}
	if e := got["node-host~2"]; e.Folder != "infra" || !strings.Contains(e.Error, `id "node-host" is also the one of `+filepath.Join(dir, "node-host.json")) {
		t.Errorf("duplicate id: %+v", e)
	}
	if e := got["notjson"]; !strings.Contains(e.Error, "json: 2:16:") {
		t.Errorf("notjson: %+v", e)
	}

	var one struct {
		Data Dashboard `json:"data"`
	}
	if err := json.NewDecoder(get(t, h, "/api/ui/dashboards/prom-am-self").Body).Decode(&one); err != nil {
		t.Fatal(err)
	}
	if one.Data.Folder != "infra/monitoring" || one.Data.Import == nil || one.Data.Import.Panels != 12 || one.Data.Panels[2].OriginalType != "alertlist" {
		t.Errorf("served: %+v", one.Data)
	}

	r := get(t, h, "/api/ui/dashboards/node-host?format=grafana")
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || !strings.Contains(r.Header.Get("Content-Disposition"), "node-host.json") {
		t.Fatalf("export: %s %s", r.Status, body)
	}
	checkGrafanaSchema(t, body)
	back, err := ParseGrafanaDashboard(strings.NewReader(string(body)), "x")
	if err != nil {
		t.Fatal(err)
	}
	want := importFile(t, "testdata/grafana/node-host.json")
	back.Import, want.Import = nil, nil
	if !reflect.DeepEqual(back, want) {
		t.Error("the export does not import into the same dashboard")
	}
	if r := get(t, h, "/api/ui/dashboards/overview?format=grafana"); r.StatusCode != 200 {
		t.Errorf("built-in export: %s", r.Status)
	}
	if r := get(t, h, "/api/ui/dashboards/overview?format=svg"); r.StatusCode != 400 {
		t.Errorf("unknown format: %s", r.Status)
	}
	if r := get(t, h, "/api/ui/dashboards/broken?format=grafana"); r.StatusCode != 422 {
		t.Errorf("export of a broken one: %s", r.Status)
	}
}
