package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/panoptes-dev/panoptes/internal/httpgzip"
	webassets "github.com/panoptes-dev/panoptes/web"
)

// Options configure the UI handler.
type Options struct {
	// DashboardsDir holds the user's dashboards (*.yaml, *.yml, *.json), read
	// again on every request so that edits show on reload; empty: built-ins only.
	DashboardsDir string
	Logger        *slog.Logger
	// Assets replaces the embedded files (tests); nil: the embedded ones.
	Assets fs.FS
}

type asset struct {
	body, gz    []byte
	contentType string
	etag        string
}

// Handler serves the UI: "/" (the page), "/assets/app.js|app.css" and
// "/api/ui/dashboards[/{id}]" (?format=grafana: the dashboard as
// Grafana JSON).
type Handler struct {
	opts   Options
	assets map[string]*asset
	csp    string
	mux    *http.ServeMux

	builtins []Entry    // parsed once: they are embedded
	cache    parseCache // the user's, by file version
}

var inlineScriptRE = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// New checks the embedded assets and the dashboards (the built-in ones must
// be valid; a bad file of DashboardsDir is logged and listed with its error)
// and returns the handler.
func New(o Options) (*Handler, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Assets == nil {
		o.Assets = webassets.Assets
	}
	h := &Handler{opts: o, assets: map[string]*asset{}}
	files := map[string][2]string{
		"/":               {"index.html", "text/html; charset=utf-8"},
		"/assets/app.js":  {"dist/app.js", "text/javascript; charset=utf-8"},
		"/assets/app.css": {"dist/app.css", "text/css; charset=utf-8"},
	}
	for route, f := range files {
		b, err := fs.ReadFile(o.Assets, f[0])
		if err != nil {
			return nil, fmt.Errorf("BUG: embedded UI asset %s: %w", f[0], err)
		}
		h.assets[route] = newAsset(b, f[1])
	}
	// The page's only inline script (the theme, set before the first paint)
	// is allowed by its hash; nothing may load from another host.
	scriptSrc := "'self'"
	if m := inlineScriptRE.FindSubmatch(h.assets["/"].body); m != nil {
		sum := sha256.Sum256(m[1])
		scriptSrc += " 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	h.csp = "default-src 'self'; script-src " + scriptSrc + "; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"

	if o.DashboardsDir != "" {
		st, err := os.Stat(o.DashboardsDir)
		if err != nil {
			return nil, fmt.Errorf("--web.dashboards-dir: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("--web.dashboards-dir: %s is not a directory", o.DashboardsDir)
		}
	}
	var err error
	h.builtins, err = loadBuiltins(o.Assets)
	if err != nil {
		return nil, err
	}
	for _, e := range loadDir(o.DashboardsDir, &h.cache) {
		if e.Error != "" {
			o.Logger.Warn("dashboard not loaded", "file", e.Source, "err", e.Error)
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.serveAsset("/"))
	mux.HandleFunc("GET /index.html", h.serveAsset("/"))
	mux.HandleFunc("GET /assets/app.js", h.serveAsset("/assets/app.js"))
	mux.HandleFunc("GET /assets/app.css", h.serveAsset("/assets/app.css"))
	mux.HandleFunc("GET /api/ui/dashboards", h.listDashboards)
	mux.HandleFunc("GET /api/ui/dashboards/{id}", h.getDashboard)
	h.mux = mux
	return h, nil
}

func newAsset(b []byte, contentType string) *asset {
	sum := sha256.Sum256(b)
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return &asset{body: b, gz: buf.Bytes(), contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// GzippedSize is the size of an asset as served gzipped (for the benchmark).
func (h *Handler) GzippedSize(route string) int {
	if a, ok := h.assets[route]; ok {
		return len(a.gz)
	}
	return -1
}

func (h *Handler) serveAsset(route string) http.HandlerFunc {
	a := h.assets[route]
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Type", a.contentType)
		hd.Set("ETag", a.etag)
		// Revalidate every time: the bundle changes with the binary, and a
		// 304 costs one round trip on loopback.
		hd.Set("Cache-Control", "no-cache")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Vary", "Accept-Encoding")
		if route == "/" {
			hd.Set("Content-Security-Policy", h.csp)
			hd.Set("Referrer-Policy", "no-referrer")
		}
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		body := a.body
		if httpgzip.Accepts(r.Header.Get("Accept-Encoding")) {
			hd.Set("Content-Encoding", "gzip")
			body = a.gz
		}
		hd.Set("Content-Length", fmt.Sprint(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	}
}

// apiError answers as Prometheus's API does, so the UI reads one shape.
func apiError(w http.ResponseWriter, code int, errType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": errType, "error": msg})
}

func apiData(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

// entries are the dashboards now: the built-in ones and the directory's
// files as they are on disk at this request.
func (h *Handler) entries() []Entry {
	return merge(h.builtins, loadDir(h.opts.DashboardsDir, &h.cache))
}

func (h *Handler) listDashboards(w http.ResponseWriter, _ *http.Request) {
	apiData(w, h.entries())
}

func (h *Handler) getDashboard(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, e := range h.entries() {
		if e.ID != id {
			continue
		}
		if e.Error != "" {
			apiError(w, http.StatusUnprocessableEntity, "bad_data", "dashboard "+id+" does not load: "+e.Error)
			return
		}
		switch r.URL.Query().Get("format") {
		case "", "panoptes":
			apiData(w, e.dash)
		case "grafana":
			// The bare dashboard, as Grafana's "Export > Save to file"
			// writes it, so that the body imports into Grafana as it is.
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Content-Disposition", `attachment; filename="`+e.ID+`.json"`)
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(ExportGrafana(e.dash))
		default:
			apiError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("format %q: use grafana, or none for the dashboard itself", r.URL.Query().Get("format")))
		}
		return
	}
	apiError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no dashboard %q (built-in or in --web.dashboards-dir)", id))
}
