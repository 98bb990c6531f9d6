// Command ui measures the web UI in headless chromium against a running
// all-in-one panoptes (bench/ui.sh starts one): time to the first chart and
// to every panel of the host overview, a dashboard of 20 charts x 5 series
// over 24 h at a 15 s step (5,761 points per series, synthetic PromQL so
// that the figure is the UI's and the query engine's, not the disk's), the
// time one chart of it takes to redraw on a zoom (setScale), a drag-zoom's
// round trip (new queries and redraw of the 20 charts), and the bundle's
// gzipped size.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	headless "github.com/panoptes-dev/panoptes/internal/testkit/browser"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:9090", "the panoptes server, serving the UI and a dashboard with id bench (see bench/ui.sh)")
	runs := flag.Int("runs", 5, "page loads per figure (the median is reported)")
	chromium := flag.String("chromium", "/usr/bin/chromium", "chromium binary")
	serverPid := flag.Int("server-pid", 0, "the server's pid, to report its CPU time during the dashboard's loads beside the browser's (0: not reported)")
	dashDir := flag.String("write-dashboard", "", "write the bench dashboard (bench.yaml) into this directory, for --web.dashboards-dir, and exit")
	flag.Parse()
	if *dashDir != "" {
		if err := writeDashboard(*dashDir); err != nil {
			fmt.Fprintln(os.Stderr, "bench/ui:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*base, *runs, *chromium, *serverPid); err != nil {
		fmt.Fprintln(os.Stderr, "bench/ui:", err)
		os.Exit(1)
	}
}

func run(base string, runs int, chromium string, serverPid int) error {
	dir, err := os.MkdirTemp("", "panoptes-bench-ui-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), headless.Options(chromium, dir, 1600, 1000)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1600, 1000)); err != nil {
		return fmt.Errorf("start chromium: %w", err)
	}

	fmt.Printf("%-58s %s\n", "figure", "median (min-max) over runs")
	// The overview: first chart and all panels, from navigation start.
	var first, all []float64
	for i := 0; i < runs; i++ {
		f, a, err := load(ctx, base+"/#/d/overview?range=1h")
		if err != nil {
			return err
		}
		first, all = append(first, f), append(all, a)
	}
	report("overview: time to first chart (ms)", first)
	report("overview: time to every panel drawn (ms)", all)

	// 20 charts x 5 series x 5,761 points.
	var ready, serverCPU, browserCPU []float64
	for i := 0; i < runs; i++ {
		s0, b0 := cpuMillis(serverPid), cpuMillis(os.Getpid())
		_, a, err := load(ctx, base+"/#/d/bench?range=24h")
		if err != nil {
			return err
		}
		ready = append(ready, a)
		serverCPU, browserCPU = append(serverCPU, cpuMillis(serverPid)-s0), append(browserCPU, cpuMillis(os.Getpid())-b0)
	}
	shape, err := eval[string](ctx, `(() => { const cs = window.__panoptes.charts; return cs.length + " charts, " + cs.map(u => u.series.length - 1).reduce((a, b) => a + b, 0) + " series, " + cs.map(u => u.data.slice(1).reduce((n, s) => n + s.filter(v => v !== null).length, 0)).reduce((a, b) => a + b, 0) + " points"; })()`)
	if err != nil {
		return err
	}
	fmt.Printf("bench dashboard: %s\n", shape)
	report("20x5x5761 dashboard: load to every chart drawn (ms)", ready)
	if serverPid > 0 {
		report("  CPU time of the server during a load (ms)", serverCPU)
		report("  CPU time of chromium (and this tool) during a load (ms)", browserCPU)
	}

	net, err := eval[string](ctx, `(() => {
	  const q = performance.getEntriesByType("resource").filter(e => e.name.includes("/api/v1/query") || e.name.includes("/api/ui/query_range"));
	  const last = Math.max(...q.map(e => e.responseEnd)), first = Math.min(...q.map(e => e.startTime));
	  const dur = q.map(e => e.responseEnd - e.requestStart).sort((a, b) => a - b);
	  return q.length + " requests (a panel's queries go as one), first sent at " + first.toFixed(0) + " ms, last answered at " + last.toFixed(0) + " ms, each " + dur[dur.length >> 1].toFixed(0) + " ms (median, request to end of response)";
	})()`)
	if err != nil {
		return err
	}
	fmt.Printf("  of the last load: %s\n", net)
	var server []float64
	for i := 0; i < runs; i++ {
		ms, err := serverOnly(base)
		if errors.Is(err, errNoBatch) {
			// A build from before the batch endpoint, compared with this one.
			fmt.Printf("  the same requests without a browser: %v\n", err)
			break
		}
		if err != nil {
			return err
		}
		server = append(server, ms)
	}
	if len(server) > 0 {
		report("  the same 20 requests without a browser, 6 at a time (ms)", server)
	}

	// The UI's own share: drawing the 20 charts again from their data
	// (uPlot instances rebuilt off-screen, as a dashboard load does).
	rebuild, err := eval[float64](ctx, `(async () => {
	  const cs = window.__panoptes.charts.slice(), host = document.createElement("div");
	  host.style.width = cs[0].root.parentElement.clientWidth + "px";
	  document.body.append(host);
	  await new Promise(r => requestAnimationFrame(() => r()));
	  const t0 = performance.now();
	  const made = cs.map(u => u.__remake(host));
	  await new Promise(r => requestAnimationFrame(() => r()));
	  const ms = performance.now() - t0;
	  made.forEach(u => u.destroy());
	  host.remove();
	  return ms;
	})()`, chromedp.EvalAwaitPromise)
	if err != nil {
		return err
	}
	fmt.Printf("%-58s %.1f\n", "  drawing the 20 charts again from their data (ms)", rebuild)

	// Client-side redraw on zoom: setScale on one chart, 60 ranges, each
	// drawn before the next frame.
	perRedraw, err := eval[[]float64](ctx, `(async () => {
	  const u = window.__panoptes.charts[0];
	  const x = u.data[0], n = x.length, out = [];
	  for (let i = 0; i < 60; i++) {
	    const w = Math.max(20, Math.floor(n * (1 - i / 61)));
	    const a = Math.floor((n - w) / 2);
	    const t0 = performance.now();
	    u.setScale("x", {min: x[a], max: x[a + w - 1]});
	    await new Promise(r => requestAnimationFrame(() => r()));
	    out.push(performance.now() - t0);
	  }
	  return out;
	})()`, chromedp.EvalAwaitPromise)
	if err != nil {
		return err
	}
	report("zoom: setScale + frame, one 5x5761 chart (ms)", perRedraw)
	allRedraw, err := eval[[]float64](ctx, `(async () => {
	  const cs = window.__panoptes.charts, x = cs[0].data[0], n = x.length, out = [];
	  for (let i = 0; i < 20; i++) {
	    const w = Math.max(20, Math.floor(n * (1 - i / 21)));
	    const a = Math.floor((n - w) / 2);
	    const t0 = performance.now();
	    for (const u of cs) u.setScale("x", {min: x[a], max: x[a + w - 1]});
	    await new Promise(r => requestAnimationFrame(() => r()));
	    out.push(performance.now() - t0);
	  }
	  return out;
	})()`, chromedp.EvalAwaitPromise)
	if err != nil {
		return err
	}
	report("zoom: setScale + frame, all 20 charts (ms)", allRedraw)

	// A drag-zoom as the user does it: the range becomes absolute, every
	// panel queries again and redraws.
	var trip []float64
	for i := 0; i < runs; i++ {
		ms, err := eval[float64](ctx, `new Promise(res => {
		  const u = window.__panoptes.charts[0], x = u.data[0];
		  const a = x[Math.floor(x.length * 0.4)], b = x[Math.floor(x.length * 0.5)];
		  const t0 = performance.now();
		  window.__panoptes.ready = false;
		  u.setSelect({left: u.valToPos(a, "x"), width: u.valToPos(b, "x") - u.valToPos(a, "x"), top: 0, height: 10});
		  const check = () => window.__panoptes.ready ? requestAnimationFrame(() => res(performance.now() - t0)) : setTimeout(check, 2);
		  check();
		})`, chromedp.EvalAwaitPromise)
		if err != nil {
			return err
		}
		trip = append(trip, ms)
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/#/d/bench?range=24h")); err != nil {
			return err
		}
		if _, err := eval[float64](ctx, readyJS, chromedp.EvalAwaitPromise); err != nil {
			return err
		}
	}
	report("drag-zoom to 2.4 h: queries + redraw of 20 charts (ms)", trip)

	// 100 panels (Grafana-sized): the panels in view are queried, the rest
	// when scrolled to, and a collapsed row's when it is opened.
	var firstPanel, visible []float64
	for i := 0; i < runs; i++ {
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/#/d/bench100?range=1h")); err != nil {
			return err
		}
		a, err := eval[float64](ctx, readyJS, chromedp.EvalAwaitPromise)
		if err != nil {
			return fmt.Errorf("bench100: %w", err)
		}
		f, err := eval[float64](ctx, `window.__panoptes.firstPanelAt || -1`)
		if err != nil {
			return err
		}
		firstPanel, visible = append(firstPanel, f), append(visible, a)
	}
	counts, err := eval[string](ctx, `(() => { const ps = window.__panoptes.panels; return ps.length + " panels, " + ps.filter(p => p.state !== "idle").length + " queried on load (the rest out of view or in a collapsed row)"; })()`)
	if err != nil {
		return err
	}
	fmt.Printf("100-panel dashboard: %s\n", counts)
	report("100-panel dashboard: time to the first panel drawn (ms)", firstPanel)
	report("100-panel dashboard: time to every visible panel drawn (ms)", visible)

	js, css, err := bundleSizes(base)
	if err != nil {
		return err
	}
	fmt.Printf("%-58s %.1f KB (app.js %.1f KB + app.css %.1f KB)\n", "bundle, gzipped as served", float64(js+css)/1000, float64(js)/1000, float64(css)/1000)
	return nil
}

// readyJS resolves, once the page's panels are all drawn, to the ms since navigation.
const readyJS = `new Promise(res => {
  const check = () => (window.__panoptes && window.__panoptes.ready)
    ? requestAnimationFrame(() => res(performance.now()))
    : setTimeout(check, 2);
  check();
})`

// load opens u fresh and returns the ms from navigation start to the first
// chart and to every panel drawn.
func load(ctx context.Context, u string) (float64, float64, error) {
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(u)); err != nil {
		return 0, 0, err
	}
	all, err := eval[float64](ctx, readyJS, chromedp.EvalAwaitPromise)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", u, err)
	}
	first, err := eval[float64](ctx, `window.__panoptes.firstChartAt || -1`)
	if err != nil {
		return 0, 0, err
	}
	return first, all, nil
}

func eval[T any](ctx context.Context, expr string, opts ...chromedp.EvaluateOption) (T, error) {
	c, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return chromedp.Run(c, chromedp.Evaluate[T](expr, opts...))
}

func report(name string, v []float64) {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	fmt.Printf("%-58s %.1f (%.1f-%.1f)\n", name, s[len(s)/2], s[0], s[len(s)-1])
}

// errNoBatch: the server has no /api/ui/query_range (a build from before it).
var errNoBatch = errors.New("not measured: the server has no /api/ui/query_range")

// serverOnly sends the bench dashboard's 100 range queries as the browser
// does: a panel's 5 as one batch (/api/ui/query_range), 6 requests at a
// time, gzip; it reads the bodies and returns the wall time: the server's
// share of the dashboard's load time.
func serverOnly(base string) (float64, error) {
	end := float64(time.Now().Unix())
	forms := make(chan string, 20)
	for c := 0; c < 20; c++ {
		form := url.Values{"start": {fmt.Sprintf("%.0f", end-86400)}, "end": {fmt.Sprintf("%.0f", end)}, "step": {"15"}}
		for s := 0; s < 5; s++ {
			form.Add("query", fmt.Sprintf("sin(vector(time()) / %d + %d) * %d + %d", 600+37*c+11*s, s, 10+s, 100*(s+1)))
		}
		forms <- form.Encode()
	}
	close(forms)
	t0 := time.Now()
	errs := make(chan error, 6)
	for w := 0; w < 6; w++ {
		go func() {
			for f := range forms {
				u := base + "/api/ui/query_range"
				req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader(f))
				if err != nil {
					errs <- err
					return
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if err != nil {
					errs <- fmt.Errorf("%s: %w", u, err)
					return
				}
				if resp.StatusCode == http.StatusNotFound {
					errs <- errNoBatch
					return
				}
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("%s: %s", u, resp.Status)
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < 6; w++ {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	return float64(time.Since(t0).Microseconds()) / 1000, nil
}

// bundleSizes fetches the assets gzipped, as a browser gets them.
func bundleSizes(base string) (int, int, error) {
	var sizes [2]int
	for i, p := range []string{"/assets/app.js", "/assets/app.css"} {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, base+p, nil)
		if err != nil {
			return 0, 0, err
		}
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return 0, 0, err
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return 0, 0, err
		}
		if resp.Header.Get("Content-Encoding") != "gzip" {
			// Served plain: measure what gzip makes of it.
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			_, _ = zw.Write(b)
			_ = zw.Close()
			b = buf.Bytes()
		}
		sizes[i] = len(b)
	}
	return sizes[0], sizes[1], nil
}

// writeDashboard writes the bench dashboard: 20 charts of 5 synthetic series.
func writeDashboard(dir string) error {
	var b strings.Builder
	b.WriteString("title: Bench (20 charts x 5 series)\npanels:\n")
	for c := 0; c < 20; c++ {
		fmt.Fprintf(&b, "  - title: chart %d\n    unit: short\n    interval: 15s\n    maxDataPoints: 6000\n    gridPos: {w: 6, h: 7}\n    targets:\n", c)
		for s := 0; s < 5; s++ {
			fmt.Fprintf(&b, "      - {expr: 'sin(vector(time()) / %d + %d) * %d + %d', legendFormat: 's%d'}\n", 600+37*c+11*s, s, 10+s, 100*(s+1), s)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.yaml"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "bench100.yaml"), []byte(dashboard100()), 0o644)
}

// dashboard100 is 100 panels as a large Grafana dashboard has them: rows of
// stats, gauges and charts of the host's series, the last rows collapsed.
func dashboard100() string {
	var b strings.Builder
	b.WriteString("title: Bench (100 panels)\npanels:\n")
	n := 0
	for row := 0; n < 100; row++ {
		collapsed := row >= 6
		fmt.Fprintf(&b, "  - {title: row %d, type: row, collapsed: %t", row, collapsed)
		if collapsed {
			b.WriteString(", panels: [")
		} else {
			b.WriteString("}\n")
		}
		for i := 0; i < 10 && n < 100; i, n = i+1, n+1 {
			var p string
			switch i % 5 {
			case 0:
				p = fmt.Sprintf("{title: 'stat %d', type: stat, gridPos: {w: 4, h: 4}, thresholds: {steps: [{color: green, value: null}, {color: red, value: 4}]}, targets: [{expr: 'node_load1 + %d'}]}", n, n)
			case 1:
				p = fmt.Sprintf("{title: 'gauge %d', type: gauge, unit: percent, gridPos: {w: 4, h: 4}, targets: [{expr: '100 * (1 - avg(rate(node_cpu_seconds_total{mode=\"idle\"}[$__rate_interval]))) + %d * 0'}]}", n, n)
			default:
				p = fmt.Sprintf("{title: 'chart %d', gridPos: {w: 8, h: 7}, targets: [{expr: 'rate(node_cpu_seconds_total{mode=\"user\"}[$__rate_interval]) + %d * 0', legendFormat: '{{cpu}}'}]}", n, n)
			}
			if collapsed {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(p)
			} else {
				b.WriteString("  - " + p + "\n")
			}
		}
		if collapsed {
			b.WriteString("]}\n")
		}
	}
	return b.String()
}

// cpuMillis is the CPU time (user and system) that pid and every process
// below it have used, in ms; 0 when pid is 0 or gone. The browser's share
// of a load is the tool's own tree (chromedp starts chromium as a child).
func cpuMillis(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	children := map[int][]int{}
	ticks := map[int]float64{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command name, which is in parentheses and
		// may hold spaces: state, ppid, … utime, stime, then cutime and
		// cstime, the reaped children's (chromium's renderers come and go).
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 15 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		children[pp] = append(children[pp], p)
		for _, t := range f[11:15] {
			v, _ := strconv.ParseFloat(t, 64)
			ticks[p] += v
		}
	}
	var sum float64
	var walk func(int)
	walk = func(p int) {
		sum += ticks[p]
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(pid)
	return sum * 10 // USER_HZ is 100 on Linux
}
