// Command history is bench/history.sh's tool. It has two subcommands.
//
// `history gen` writes the same history into Prometheus TSDB blocks (for
// Prometheus and panoptes server, whose storage is Prometheus's TSDB) and
// into VictoriaMetrics' /api/v1/import, so that the three systems hold the
// same samples: --hosts copies of one real scrape of `panoptes agent`
// (node_* and container_* series), every --interval over --span. A series
// moves as it moved between that scrape and a second one --gap later: a
// counter grows at its measured rate (times a per-series factor, with noise,
// in whole units when it counts whole units), a gauge that changed does a
// random walk of the step it made, and a gauge that did not change stays
// constant. The values are a deterministic function of --seed.
//
// `history query` runs the built-in dashboards' queries over the span, as
// the UI asks for them (a range query per target, its step from the panel's
// width and the range, $__rate_interval and the variables resolved), against
// several servers in turn (the order alternating every query), and prints
// p50/p90/p99 latency per server, each one's ratio to the first, the time to
// run each dashboard's queries one after the other, and every query whose
// result series count differs between servers.
//
// It is a benchmark tool, not a test.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/panoptes-dev/panoptes/internal/web"
	webassets "github.com/panoptes-dev/panoptes/web"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: history gen|query [flags] (see the package doc)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "query":
		err = query(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q: gen or query", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "history:", err)
		os.Exit(1)
	}
}

const blockMs = int64(2 * time.Hour / time.Millisecond) // Prometheus' head block range

// kinds of series movement.
const (
	constant = iota
	counter
	walk
)

type series struct {
	lset   labels.Labels
	vmJSON []byte // {"__name__":...} for /api/v1/import
	kind   int
	v      float64
	step   float64 // counter: mean increment per interval; walk: step size
	whole  bool    // a counter of whole units
	rng    *rand.Rand
	ref    storage.SeriesRef
}

// next moves the series one interval on.
func (s *series) next() {
	switch s.kind {
	case counter:
		inc := s.step * (0.7 + 0.6*s.rng.Float64())
		if s.whole {
			inc = math.Round(inc)
		}
		s.v += inc
	case walk:
		nv := s.v + s.step*s.rng.NormFloat64()
		if nv < 0 && s.v >= 0 {
			nv = -nv
		}
		s.v = nv
	}
}

func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	tmplA := fs.String("template", "", "a scrape of the agent (text format)")
	tmplB := fs.String("template-after", "", "a second scrape, --gap after the first")
	gap := fs.Duration("gap", 2*time.Second, "the time between the two scrapes")
	hosts := fs.Int("hosts", 20, "copies of the scrape, as instances host-NN:9100")
	span := fs.Duration("span", 24*time.Hour, "how much history")
	interval := fs.Duration("interval", 15*time.Second, "the scrape interval of the history")
	end := fs.Int64("end", 0, "the history's end, unix seconds (default: now)")
	blocks := fs.String("blocks", "", "write Prometheus TSDB blocks (2 h each) into this directory")
	vm := fs.String("vm", "", "import the same samples into the VictoriaMetrics at this URL")
	seed := fs.Uint64("seed", 1, "the values' seed")
	_ = fs.Parse(args)
	if *tmplA == "" || *tmplB == "" {
		return errors.New("gen needs --template and --template-after")
	}
	if *blocks == "" && *vm == "" {
		return errors.New("gen needs --blocks, --vm or both: where to write the history")
	}
	all, err := buildSeries(*tmplA, *tmplB, *gap, *hosts, *interval, *seed)
	if err != nil {
		return err
	}
	stepMs := interval.Milliseconds()
	endMs := *end * 1000
	if endMs == 0 {
		endMs = time.Now().UnixMilli()
	}
	endMs -= endMs % stepMs
	startMs := endMs - span.Milliseconds()

	var vmw *bufio.Writer
	var vmDone chan error
	var pw *io.PipeWriter
	if *vm != "" {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		vmw = bufio.NewWriterSize(pw, 1<<20)
		vmDone = make(chan error, 1)
		go func() {
			resp, err := http.Post(strings.TrimRight(*vm, "/")+"/api/v1/import", "application/json", pr)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					err = fmt.Errorf("VictoriaMetrics import: %s: %s", resp.Status, body)
				}
			}
			pr.CloseWithError(err)
			vmDone <- err
		}()
		// On an error return, end the request (the deferred Close); on
		// success it is ended below, and its answer checked.
		defer pw.Close()
	}

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var samples int64
	ts := make([]int64, 0, blockMs/stepMs+1)
	vals := make([][]float64, len(all))
	var line []byte
	for w := startMs - startMs%blockMs; w <= endMs; w += blockMs {
		ts = ts[:0]
		for t := max(w, startMs); t < w+blockMs && t <= endMs; t += stepMs {
			if t%stepMs == 0 {
				ts = append(ts, t)
			}
		}
		if len(ts) == 0 {
			continue
		}
		var bw *tsdb.BlockWriter
		var app storage.Appender
		if *blocks != "" {
			if bw, err = tsdb.NewBlockWriter(logger, *blocks, blockMs); err != nil {
				return fmt.Errorf("block writer: %w", err)
			}
			app = bw.Appender(context.Background())
		}
		// The window's values, series by series (VictoriaMetrics takes a
		// series' points in one line) ...
		for i, s := range all {
			vals[i] = vals[i][:0]
			for range ts {
				vals[i] = append(vals[i], s.v)
				s.next()
			}
			samples += int64(len(ts))
			if vmw != nil {
				line = vmLine(line[:0], s.vmJSON, ts, vals[i])
				if _, err := vmw.Write(line); err != nil {
					return fmt.Errorf("VictoriaMetrics import: %w", err)
				}
			}
		}
		// ... and into the block in time order, as a scrape appends them: the
		// head refuses samples older than half a block before its newest.
		if app != nil {
			for k, t := range ts {
				for i, s := range all {
					if s.ref, err = app.Append(s.ref, s.lset, t, vals[i][k]); err != nil {
						return fmt.Errorf("append %s: %w", s.lset, err)
					}
				}
				if err := app.Commit(); err != nil {
					return fmt.Errorf("commit: %w", err)
				}
				app = bw.Appender(context.Background())
			}
			for _, s := range all {
				s.ref = 0 // the next window is a new head
			}
		}
		if bw != nil {
			if err := app.Commit(); err != nil {
				return fmt.Errorf("commit: %w", err)
			}
			if _, err := bw.Flush(context.Background()); err != nil {
				return fmt.Errorf("flush block at %s: %w", time.UnixMilli(w).UTC(), err)
			}
			if err := bw.Close(); err != nil {
				return fmt.Errorf("close block writer: %w", err)
			}
		}
	}
	if vmw != nil {
		if err := vmw.Flush(); err != nil {
			return fmt.Errorf("VictoriaMetrics import: %w", err)
		}
		pw.Close()
		if err := <-vmDone; err != nil {
			return err
		}
	}
	fmt.Printf("series %d\nsamples %d\nstart %d\nend %d\n", len(all), samples, startMs/1000, endMs/1000)
	return nil
}

// vmLine is one /api/v1/import JSON line.
func vmLine(b, metric []byte, ts []int64, vs []float64) []byte {
	b = append(b, `{"metric":`...)
	b = append(b, metric...)
	b = append(b, `,"values":[`...)
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	b = append(b, `],"timestamps":[`...)
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, t, 10)
	}
	return append(b, "]}\n"...)
}

// flat is one sample of a scrape: its labels and value, and whether it
// counts (a counter, or a histogram's or summary's cumulative parts).
type flat struct {
	lset    labels.Labels
	v       float64
	counter bool
}

func readScrape(path string) (map[string]flat, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]flat{}
	add := func(name string, m *dto.Metric, extra []string, v float64, counter bool) {
		b := labels.NewScratchBuilder(len(m.GetLabel()) + 3)
		b.Add(model.MetricNameLabel, name)
		for _, lp := range m.GetLabel() {
			b.Add(lp.GetName(), lp.GetValue())
		}
		for i := 0; i+1 < len(extra); i += 2 {
			b.Add(extra[i], extra[i+1])
		}
		b.Sort()
		ls := b.Labels()
		out[ls.String()] = flat{lset: ls, v: v, counter: counter}
	}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				add(name, m, nil, m.GetCounter().GetValue(), true)
			case dto.MetricType_GAUGE:
				add(name, m, nil, m.GetGauge().GetValue(), false)
			case dto.MetricType_UNTYPED:
				add(name, m, nil, m.GetUntyped().GetValue(), strings.HasSuffix(name, "_total"))
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, bk := range h.GetBucket() {
					add(name+"_bucket", m, []string{"le", strconv.FormatFloat(bk.GetUpperBound(), 'g', -1, 64)}, float64(bk.GetCumulativeCount()), true)
				}
				add(name+"_bucket", m, []string{"le", "+Inf"}, float64(h.GetSampleCount()), true)
				add(name+"_sum", m, nil, h.GetSampleSum(), true)
				add(name+"_count", m, nil, float64(h.GetSampleCount()), true)
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					add(name, m, []string{"quantile", strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64)}, q.GetValue(), false)
				}
				add(name+"_sum", m, nil, s.GetSampleSum(), true)
				add(name+"_count", m, nil, float64(s.GetSampleCount()), true)
			}
		}
	}
	return out, nil
}

// buildSeries makes hosts copies of the scrape's series, each with its
// movement from the two scrapes.
func buildSeries(pathA, pathB string, gap time.Duration, hosts int, interval time.Duration, seed uint64) ([]*series, error) {
	a, err := readScrape(pathA)
	if err != nil {
		return nil, err
	}
	b, err := readScrape(pathB)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(a))
	for k, fa := range a {
		if _, ok := b[k]; ok && !math.IsNaN(fa.v) && !math.IsInf(fa.v, 0) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // deterministic order, and so values
	perInterval := interval.Seconds() / gap.Seconds()
	var all []*series
	for h := range hosts {
		instance := fmt.Sprintf("host-%02d:9100", h)
		for i, k := range keys {
			fa, fb := a[k], b[k]
			rng := rand.New(rand.NewPCG(seed, uint64(h)<<32|uint64(i)))
			lb := labels.NewBuilder(fa.lset)
			lb.Set("instance", instance)
			lb.Set("job", "node")
			s := &series{lset: lb.Labels(), v: fa.v, rng: rng}
			d := fb.v - fa.v
			switch {
			case fa.counter && d > 0:
				s.kind = counter
				s.step = d * perInterval * (0.5 + rng.Float64()) // hosts differ
				s.whole = fa.v == math.Trunc(fa.v) && fb.v == math.Trunc(fb.v)
			case !fa.counter && d != 0:
				s.kind = walk
				s.step = math.Abs(d)
			}
			m := map[string]string{}
			s.lset.Range(func(l labels.Label) { m[l.Name] = l.Value })
			if s.vmJSON, err = json.Marshal(m); err != nil {
				return nil, err
			}
			all = append(all, s)
		}
	}
	return all, nil
}

type target struct{ name, url string }

type targetsFlag []target

func (t *targetsFlag) String() string { return fmt.Sprint(*t) }
func (t *targetsFlag) Set(s string) error {
	name, u, ok := strings.Cut(s, "=")
	if !ok {
		return errors.New("want NAME=URL")
	}
	*t = append(*t, target{name, strings.TrimRight(u, "/")})
	return nil
}

// q is one query of a dashboard, as the UI sends it.
type q struct {
	dashboard, panel, expr string
	instant                bool
	step                   int64
}

// autoStep is the UI's (web/src/state.ts).
func autoStep(span float64, points int, minStep float64) int64 {
	raw := span / float64(points)
	nice := []float64{1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400}
	step := nice[len(nice)-1]
	for _, n := range nice {
		if n >= raw {
			step = n
			break
		}
	}
	return int64(max(step, minStep))
}

func query(args []string) error {
	fs := flag.NewFlagSet("query", flag.ExitOnError)
	var targets targetsFlag
	fs.Var(&targets, "target", "NAME=URL of a server, repeated; the first is the reference")
	ids := fs.String("dashboards", "overview,container", "built-in dashboards (web/dashboards) whose queries to run")
	span := fs.Duration("span", 24*time.Hour, "the dashboards' time range")
	end := fs.Int64("end", 0, "the range's end, unix seconds (default: now)")
	runs := fs.Int("runs", 5, "rounds of all queries")
	width := fs.Int("width", 800, "a chart's width in pixels (its points, as the UI asks)")
	scrape := fs.Duration("scrape-interval", 15*time.Second, "the data's scrape interval ($__rate_interval)")
	want := fs.String("var", "instance=host-00:9100", "NAME=VALUE pairs (comma-separated) preferred for variables")
	_ = fs.Parse(args)
	if len(targets) == 0 {
		return errors.New("query needs --target NAME=URL")
	}
	endS := *end
	if endS == 0 {
		endS = time.Now().Unix()
	}
	startS := endS - int64(span.Seconds())
	prefer := map[string]string{}
	for _, kv := range strings.Split(*want, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			prefer[k] = v
		}
	}
	client := &http.Client{Timeout: 5 * time.Minute}

	var qs []q
	for _, id := range strings.Split(*ids, ",") {
		f, err := webassets.Assets.Open("dashboards/" + id + ".yaml")
		if err != nil {
			return fmt.Errorf("dashboard %s: %w", id, err)
		}
		d, err := web.ParseDashboard(f, id)
		f.Close()
		if err != nil {
			return err
		}
		vars := map[string]string{}
		for _, v := range d.Variables {
			val, err := resolveVar(client, targets[0].url, v, vars, prefer, startS, endS)
			if err != nil {
				return fmt.Errorf("dashboard %s: %w", id, err)
			}
			vars[v.Name] = val
		}
		var panels []web.Panel
		var walk func([]web.Panel)
		walk = func(ps []web.Panel) {
			for _, p := range ps {
				panels = append(panels, p)
				walk(p.Panels)
			}
		}
		walk(d.Panels)
		for _, p := range panels {
			single := slices.Contains([]string{"stat", "gauge", "bargauge", "piechart"}, p.Type)
			points := p.MaxDataPoints
			if points == 0 {
				points = 200
				if !single {
					points = min(1500, max(200, *width))
				}
			}
			minStep := 1.0
			if p.Interval != "" {
				if d, err := model.ParseDuration(web.SubstituteVars(p.Interval, vars)); err == nil {
					minStep = time.Duration(d).Seconds()
				}
			}
			step := autoStep(span.Seconds(), points, minStep)
			sc := int64(scrape.Seconds())
			ri := max(4*sc, step+sc)
			iv := max(step, sc)
			b := map[string]string{
				"__rate_interval": fmt.Sprintf("%ds", ri), "__rate_interval_ms": strconv.FormatInt(ri*1000, 10),
				"__interval": fmt.Sprintf("%ds", iv), "__interval_ms": strconv.FormatInt(iv*1000, 10),
				"__range": fmt.Sprintf("%ds", endS-startS), "__range_s": strconv.FormatInt(endS-startS, 10),
				"__range_ms": strconv.FormatInt((endS-startS)*1000, 10),
			}
			for k, v := range vars {
				b[k] = v
			}
			for _, t := range p.Targets {
				if t.Hide || t.Expr == "" {
					continue
				}
				qs = append(qs, q{dashboard: id, panel: p.Title, expr: web.SubstituteVars(t.Expr, b), instant: t.Instant, step: step})
			}
		}
	}
	fmt.Printf("%d queries from %s over %s, %d runs; variables resolved on %s\n", len(qs), *ids, *span, *runs, targets[0].name)

	lat := map[string][]float64{}                // target -> every latency (s)
	perDash := map[string]map[string][]float64{} // target -> dashboard -> per-run total
	counts := make([]map[string]string, len(qs)) // query -> target -> "status n"
	order := slices.Clone(targets)
	for run := range *runs {
		totals := map[string]map[string]float64{}
		for i, x := range qs {
			for _, t := range order {
				d, res, err := runQuery(client, t.url, x, startS, endS)
				if err != nil {
					return fmt.Errorf("%s: %s: %w", t.name, x.expr, err)
				}
				lat[t.name] = append(lat[t.name], d)
				if totals[t.name] == nil {
					totals[t.name] = map[string]float64{}
				}
				totals[t.name][x.dashboard] += d
				if run == 0 {
					if counts[i] == nil {
						counts[i] = map[string]string{}
					}
					counts[i][t.name] = res
				}
			}
			slices.Reverse(order)
		}
		for n, m := range totals {
			if perDash[n] == nil {
				perDash[n] = map[string][]float64{}
			}
			for id, v := range m {
				perDash[n][id] = append(perDash[n][id], v)
			}
		}
	}

	ref := targets[0].name
	fmt.Printf("\nlatency over all queries and runs (ms); ratio = %s / other\n", ref)
	fmt.Printf("%-18s %10s %10s %10s %10s %10s %10s\n", "server", "p50", "p90", "p99", "/p50", "/p90", "/p99")
	for _, t := range targets {
		l := lat[t.name]
		fmt.Printf("%-18s %10.2f %10.2f %10.2f", t.name, 1000*pct(l, .5), 1000*pct(l, .9), 1000*pct(l, .99))
		if t.name != ref {
			r := lat[ref]
			fmt.Printf(" %9.2fx %9.2fx %9.2fx", pct(r, .5)/pct(l, .5), pct(r, .9)/pct(l, .9), pct(r, .99)/pct(l, .99))
		}
		fmt.Println()
	}
	fmt.Printf("\na dashboard's queries one after the other, median of the runs (ms)\n")
	for _, id := range strings.Split(*ids, ",") {
		fmt.Printf("%-12s", id)
		for _, t := range targets {
			fmt.Printf("  %s %.0f", t.name, 1000*pct(perDash[t.name][id], .5))
			if t.name != ref {
				fmt.Printf(" (%.2fx)", pct(perDash[ref][id], .5)/pct(perDash[t.name][id], .5))
			}
		}
		fmt.Println()
	}
	var diff int
	for i, c := range counts {
		for _, t := range targets[1:] {
			if c[t.name] != c[ref] {
				if diff == 0 {
					fmt.Printf("\nresult differences (status and series count per server):\n")
				}
				diff++
				fmt.Printf("  %s: %s=%s %s=%s: %s\n", qs[i].dashboard, ref, c[ref], t.name, c[t.name], qs[i].expr)
			}
		}
	}
	if diff == 0 {
		fmt.Printf("\nevery query gave the same status and series count on every server\n")
	}
	return nil
}

// resolveVar picks a variable's value as the UI's first choice would be,
// or the preferred one where the server has it.
func resolveVar(c *http.Client, base string, v web.Variable, vars, prefer map[string]string, start, end int64) (string, error) {
	if len(v.Options) > 0 {
		return v.Options[0], nil
	}
	if v.Default != nil {
		return *v.Default, nil
	}
	selector, label, ok := web.LabelValuesQuery(v.Query)
	if !ok {
		return "", fmt.Errorf("variable %s: only label_values() queries are resolved here, not %q", v.Name, v.Query)
	}
	u := fmt.Sprintf("%s/api/v1/label/%s/values?start=%d&end=%d", base, label, start, end)
	if selector != "" {
		u += "&match[]=" + url.QueryEscape(web.SubstituteVars(selector, vars))
	}
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		Data []string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", fmt.Errorf("variable %s: %w", v.Name, err)
	}
	if len(r.Data) == 0 {
		return "", fmt.Errorf("variable %s: %s has no values: is the history there?", v.Name, v.Query)
	}
	if p, ok := prefer[v.Name]; ok && slices.Contains(r.Data, p) {
		return p, nil
	}
	sort.Strings(r.Data)
	return r.Data[0], nil
}

// runQuery times one query, its whole answer read; res is "status n".
func runQuery(c *http.Client, base string, x q, start, end int64) (float64, string, error) {
	form := url.Values{"query": {x.expr}}
	path := "/api/v1/query"
	if x.instant {
		form.Set("time", strconv.FormatInt(end, 10))
	} else {
		path = "/api/v1/query_range"
		form.Set("start", strconv.FormatInt(start, 10))
		form.Set("end", strconv.FormatInt(end, 10))
		form.Set("step", strconv.FormatInt(x.step, 10))
	}
	t0 := time.Now()
	resp, err := c.PostForm(base+path, form)
	if err != nil {
		return 0, "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0).Seconds()
	if err != nil {
		return 0, "", err
	}
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return d, "bad-json 0", nil
	}
	var res []json.RawMessage
	_ = json.Unmarshal(r.Data.Result, &res)
	return d, fmt.Sprintf("%s %d", r.Status, len(res)), nil
}

// pct is the nearest-rank percentile.
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
