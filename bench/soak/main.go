// Command soak is the client side of bench/soak.sh, the soak and abuse run
// of `panoptes server`. It has three modes:
//
//	soak load       remote-write writers and dashboard query clients, until SIGTERM
//	soak slowloris  slow and idle connections while probing the UI
//	soak verify     acknowledged samples against what the server stores
//
// The writers are designed so that "acknowledged vs stored" can be compared
// exactly. Writer w owns the series soak_rw_sample{writer="w",series="s"}
// (s < --series) and nobody else writes them. Its k-th request carries one
// sample per series at a timestamp strictly above the previous request's,
// with the value k. A request is repeated, identical, until the server
// answers 2xx (connection refused while the server restarts, 5xx, 429): the
// TSDB takes an identical sample at the same timestamp as a no-op, so a
// request that was stored but whose answer was lost is still stored once.
// Hence every series of writer w must hold exactly acked(w) samples, which
// `soak verify` checks with count_over_time per series. On SIGTERM each
// writer finishes the request it holds (retrying until acknowledged), so no
// sample the server may have stored is left uncounted.
//
// It is a benchmark tool, not a test.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

const metricName = "soak_rw_sample"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: soak load|slowloris|verify [flags] (soak MODE -h for the flags)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "load":
		err = runLoad(os.Args[2:])
	case "slowloris":
		err = runSlowloris(os.Args[2:])
	case "verify":
		err = runVerify(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q (load, slowloris or verify)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// ---- load ----

// writerResult is what one writer leaves in the acked file.
type writerResult struct {
	Writer   string        `json:"writer"`
	Acked    int64         `json:"acked_requests"` // each one sample per series
	FirstTS  int64         `json:"first_ts_ms"`
	LastTS   int64         `json:"last_ts_ms"`
	ConnErrs int64         `json:"conn_errors"`
	Status   map[int]int64 `json:"status_counts"`
	Rejected int64         `json:"rejected"` // 4xx other than 429: not retried, not stored
}

type ackedFile struct {
	Series  int            `json:"series_per_writer"`
	Writers []writerResult `json:"writers"`
}

func runLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	base := fs.String("url", "", "the server's URL (http://127.0.0.1:PORT)")
	writers := fs.Int("writers", 20, "concurrent remote-write writers")
	series := fs.Int("series", 100, "series per writer (one sample each per request)")
	interval := fs.Duration("write-interval", 0, "pause between a writer's acknowledged requests; 0: a flood")
	queries := fs.String("queries", "bench/server-queries.txt", "the dashboards' queries (bench/server-queries.txt's format)")
	clients := fs.Int("query-clients", 4, "concurrent query clients, each running the battery in a loop")
	pause := fs.Duration("query-pause", time.Second, "pause between a client's queries (a dashboard's panels refreshing)")
	qrange := fs.Duration("query-range", 10*time.Minute, "range of the range queries, ending now")
	qstep := fs.Duration("query-step", 15*time.Second, "step of the range queries")
	out := fs.String("out", ".", "directory of acked.json and queries.tsv")
	_ = fs.Parse(args)
	if *base == "" {
		return errors.New("--url is required")
	}
	battery, err := readQueries(*queries)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	qf, err := os.Create(*out + "/queries.tsv")
	if err != nil {
		return fmt.Errorf("queries log: %w", err)
	}
	defer qf.Close()
	var qmu sync.Mutex
	qw := bufio.NewWriter(qf)

	results := make([]writerResult, *writers)
	var acked atomic.Int64
	var wg sync.WaitGroup
	for w := range *writers {
		wg.Go(func() {
			results[w] = writeLoop(ctx, *base, fmt.Sprintf("%02d", w), *series, *interval, &acked)
		})
	}
	qctx, qcancel := context.WithCancel(ctx)
	var qwg sync.WaitGroup
	client := &http.Client{Timeout: 2 * time.Minute}
	for c := range *clients {
		qwg.Go(func() {
			for i := c; qctx.Err() == nil; i++ {
				q := battery[i%len(battery)]
				start := time.Now()
				code := q.run(qctx, client, *base, *qrange, *qstep)
				if qctx.Err() != nil {
					return
				}
				qmu.Lock()
				fmt.Fprintf(qw, "%d\t%s\t%d\t%.3f\t%d\n", start.Unix(), q.kind, i%len(battery), time.Since(start).Seconds()*1000, code)
				qmu.Unlock()
				sleepCtx(qctx, *pause)
			}
		})
	}
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				log.Info("progress", "acked_samples", acked.Load()*int64(*series))
			}
		}
	}()
	<-ctx.Done()
	qcancel()
	qwg.Wait()
	wg.Wait() // each writer finishes the request it holds
	qmu.Lock()
	_ = qw.Flush()
	qmu.Unlock()
	b, err := json.MarshalIndent(ackedFile{Series: *series, Writers: results}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out+"/acked.json", b, 0o644); err != nil {
		return fmt.Errorf("acked file: %w", err)
	}
	log.Info("writers done", "acked_samples", acked.Load()*int64(*series))
	return nil
}

// writeLoop is one writer; see the package doc for why it never skips or
// changes a request that was not acknowledged.
func writeLoop(ctx context.Context, base, name string, series int, interval time.Duration, acked *atomic.Int64) writerResult {
	r := writerResult{Writer: name, Status: map[int]int64{}}
	// Keep-alive connections: a writer is one remote_write queue shard.
	client := &http.Client{Timeout: 30 * time.Second}
	labels := make([][]prompb.Label, series)
	for s := range series {
		labels[s] = []prompb.Label{{Name: "__name__", Value: metricName}, {Name: "series", Value: strconv.Itoa(s)}, {Name: "writer", Value: name}}
	}
	var last int64
	for k := int64(1); ctx.Err() == nil; k++ {
		ts := max(time.Now().UnixMilli(), last+1)
		req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, series)}
		for s := range series {
			req.Timeseries[s] = prompb.TimeSeries{Labels: labels[s], Samples: []prompb.Sample{{Value: float64(k), Timestamp: ts}}}
		}
		pb, err := req.Marshal()
		if err != nil {
			panic(err) // generated code on our own message
		}
		body := snappy.Encode(nil, pb)
		backoff := 50 * time.Millisecond
		deadline := time.Now().Add(5 * time.Minute) // the retries' limit once stopping
		for {
			code, err := post(client, base+"/api/v1/write", body)
			if err != nil {
				r.ConnErrs++
			} else {
				r.Status[code]++
			}
			if err == nil && code/100 == 2 {
				r.Acked++
				acked.Add(1)
				if r.FirstTS == 0 {
					r.FirstTS = ts
				}
				r.LastTS = ts
				break
			}
			if err == nil && code/100 == 4 && code != http.StatusTooManyRequests {
				r.Rejected++ // Prometheus's handler rolled the request back
				break
			}
			if ctx.Err() != nil && time.Now().After(deadline) {
				return r // the server is gone for good: say so in conn_errors
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
		}
		last = ts
		if interval > 0 {
			sleepCtx(ctx, interval)
		}
	}
	return r
}

func post(client *http.Client, u string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

type query struct{ kind, expr string }

func readQueries(path string) ([]query, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("queries: %w", err)
	}
	defer f.Close()
	var qs []query
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, expr, ok := strings.Cut(line, " ")
		if !ok || (kind != "instant" && kind != "range") {
			return nil, fmt.Errorf("queries: bad line %q", line)
		}
		qs = append(qs, query{kind, expr})
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("queries: none in %s", path)
	}
	return qs, sc.Err()
}

// run sends the query and returns the HTTP status, 0 when there was no answer.
func (q query) run(ctx context.Context, client *http.Client, base string, rng, step time.Duration) int {
	v := url.Values{"query": {q.expr}}
	now := time.Now()
	path := "/api/v1/query"
	if q.kind == "range" {
		path = "/api/v1/query_range"
		v.Set("start", strconv.FormatInt(now.Add(-rng).Unix(), 10))
		v.Set("end", strconv.FormatInt(now.Unix(), 10))
		v.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path+"?"+v.Encode(), nil)
	if err != nil {
		return 0
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ---- slowloris ----

func runSlowloris(args []string) error {
	fs := flag.NewFlagSet("slowloris", flag.ExitOnError)
	base := fs.String("url", "", "the server's URL (http://127.0.0.1:PORT)")
	conns := fs.Int("conns", 1000, "connections held open: half idle (nothing sent), half slow (a partial request, one more header line every --drip)")
	duration := fs.Duration("duration", time.Minute, "how long to hold them, probing the UI")
	drip := fs.Duration("drip", 10*time.Second, "how often a slow connection sends one more header line")
	probeEvery := fs.Duration("probe-interval", time.Second, "how often the UI is probed (GET / and a query_range)")
	timeout := fs.Duration("probe-timeout", 10*time.Second, "a probe with no answer after this counts as failed")
	_ = fs.Parse(args)
	u, err := url.Parse(*base)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--url %q: want http://HOST:PORT", *base)
	}
	probes := []struct{ name, path string }{
		{"GET /", "/"},
		{"query_range", "/api/v1/query_range?" + url.Values{"query": {"sum(up)"}, "step": {"15"}}.Encode()},
	}
	// Fresh connections for every probe, as a new browser tab: a kept-alive
	// one would dodge the listener's limits that slowloris fills.
	client := &http.Client{Timeout: *timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	probe := func(path string) (time.Duration, int) {
		p := path
		if strings.Contains(p, "query_range") {
			now := time.Now().Unix()
			p += fmt.Sprintf("&start=%d&end=%d", now-600, now)
		}
		start := time.Now()
		resp, err := client.Get(*base + p)
		if err != nil {
			return time.Since(start), 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode
	}
	type sample struct {
		d    time.Duration
		code int
	}
	measure := func(n int) map[string][]sample {
		m := map[string][]sample{}
		for range n {
			for _, p := range probes {
				d, c := probe(p.path)
				m[p.name] = append(m[p.name], sample{d, c})
			}
		}
		return m
	}
	baseline := measure(5)

	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var open, closedByServer, dialErrs atomic.Int64
	var wg sync.WaitGroup
	for i := range *conns {
		slow := i%2 == 1
		wg.Go(func() {
			for ctx.Err() == nil {
				c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", u.Host)
				if err != nil {
					dialErrs.Add(1)
					sleepCtx(ctx, time.Second)
					continue
				}
				open.Add(1)
				err = hold(ctx, c, slow, *drip, u.Host, i)
				open.Add(-1)
				c.Close()
				if err != nil && ctx.Err() == nil {
					closedByServer.Add(1)
				}
			}
		})
	}
	// Let the connections open before the first probe.
	for deadline := time.Now().Add(30 * time.Second); open.Load() < int64(*conns) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("slowloris: %d of %d connections open (%d idle, %d slow); probing every %s for %s\n", open.Load(), *conns, *conns/2, *conns-*conns/2, *probeEvery, *duration)
	under := map[string][]sample{}
	var minOpen int64 = math.MaxInt64
	t := time.NewTicker(*probeEvery)
	for ctx.Err() == nil {
		minOpen = min(minOpen, open.Load())
		for _, p := range probes {
			d, c := probe(p.path)
			under[p.name] = append(under[p.name], sample{d, c})
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	t.Stop()
	wg.Wait()

	report := func(label string, m map[string][]sample) bool {
		ok := true
		for _, p := range probes {
			s := m[p.name]
			var ds []float64
			failed := 0
			for _, x := range s {
				if x.code/100 != 2 {
					failed++
					continue
				}
				ds = append(ds, x.d.Seconds()*1000)
			}
			slices.Sort(ds)
			fmt.Printf("%s\t%s\t%d\t%d\t%.1f\t%.1f\t%.1f\n", label, p.name, len(s), failed, pct(ds, 0.5), pct(ds, 0.99), pct(ds, 1))
			if failed > 0 {
				ok = false
			}
		}
		return ok
	}
	fmt.Println("phase\tprobe\tprobes\tfailed\tp50_ms\tp99_ms\tmax_ms")
	report("baseline", baseline)
	ok := report("slowloris", under)
	fmt.Printf("slowloris connections: fewest open while probing %d, closed by the server %d, dial errors %d\n", minOpen, closedByServer.Load(), dialErrs.Load())
	if !ok {
		return errors.New("the UI did not answer every probe under slowloris")
	}
	return nil
}

// hold keeps one connection busy until ctx is done; it returns an error when
// the server closes it first.
func hold(ctx context.Context, c net.Conn, slow bool, drip time.Duration, host string, i int) error {
	closed := make(chan error, 1)
	go func() {
		// Anything the server sends (a 408, a close) ends the hold.
		_, err := c.Read(make([]byte, 1))
		if err == nil {
			err = errors.New("server answered")
		}
		closed <- err
	}()
	if slow {
		if _, err := fmt.Fprintf(c, "GET /?slow=%d HTTP/1.1\r\nHost: %s\r\n", i, host); err != nil {
			return err
		}
	}
	t := time.NewTicker(drip)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case err := <-closed:
			return err
		case <-t.C:
			if slow {
				if _, err := fmt.Fprintf(c, "X-Slow-%d: %d\r\n", n, n); err != nil {
					return err
				}
			}
		}
	}
}

// pct is the nearest-rank percentile of sorted values (0 when none).
func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// ---- verify ----

func runVerify(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	base := fs.String("url", "", "the server's URL (http://127.0.0.1:PORT)")
	path := fs.String("acked", "acked.json", "the file `soak load` wrote")
	_ = fs.Parse(args)
	b, err := os.ReadFile(*path)
	if err != nil {
		return fmt.Errorf("acked file: %w", err)
	}
	var af ackedFile
	if err := json.Unmarshal(b, &af); err != nil {
		return fmt.Errorf("acked file %s: %w", *path, err)
	}
	client := &http.Client{Timeout: 5 * time.Minute}
	now := time.Now()
	var totalAcked, totalStored int64
	bad := 0
	fmt.Println("writer\tacked_requests\tseries\tacked_samples\tstored_samples\tstored_min_per_series\tstored_max_per_series\tconn_errors\trejected\tresult")
	for _, w := range af.Writers {
		acked := w.Acked * int64(af.Series)
		var stored, lo, hi int64
		nseries := 0
		if w.Acked > 0 {
			// Every sample of the writer: from just before its first to now.
			rng := now.Sub(time.UnixMilli(w.FirstTS)).Milliseconds() + 60_000
			expr := fmt.Sprintf(`count_over_time(%s{writer=%q}[%dms])`, metricName, w.Writer, rng)
			counts, err := instant(client, *base, expr, now)
			if err != nil {
				return fmt.Errorf("writer %s: %w", w.Writer, err)
			}
			lo, hi = math.MaxInt64, 0
			for _, c := range counts {
				stored += c
				lo, hi = min(lo, c), max(hi, c)
			}
			nseries = len(counts)
		}
		res := "ok"
		if stored != acked || nseries != af.Series && w.Acked > 0 || lo != w.Acked || hi != w.Acked {
			res = "MISMATCH"
			bad++
		}
		fmt.Printf("%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", w.Writer, w.Acked, nseries, acked, stored, lo, hi, w.ConnErrs, w.Rejected, res)
		totalAcked += acked
		totalStored += stored
	}
	fmt.Printf("total: samples acknowledged %d, stored %d, difference %d\n", totalAcked, totalStored, totalStored-totalAcked)
	if bad > 0 {
		return fmt.Errorf("%d writers' acknowledged and stored samples differ", bad)
	}
	return nil
}

// instant runs an instant query and returns each series' value as a count.
func instant(client *http.Client, base, expr string, at time.Time) ([]int64, error) {
	v := url.Values{"query": {expr}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	resp, err := client.PostForm(base+"/api/v1/query", v)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("query %s: %s: %w", expr, resp.Status, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", expr, r.Error)
	}
	out := make([]int64, 0, len(r.Data.Result))
	for _, s := range r.Data.Result {
		str, _ := s.Value[1].(string)
		f, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v", expr, s.Value[1])
		}
		out = append(out, int64(f))
	}
	return out, nil
}
