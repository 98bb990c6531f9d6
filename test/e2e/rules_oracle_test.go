package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The rule oracle: every recording rule of testdata/rules gives, at every
// evaluation, the same series and values as Prometheus v0.316.0 evaluating
// the rule's expression on the same samples.
//
// `panoptes server` scrapes the agent and the state exporter as
// TestKubePromRulesEvaluate does, evaluates the rules, and remote-writes
// everything it stores — the scraped samples and the recorded ones — to a
// real Prometheus (--web.enable-remote-write-receiver), which evaluates no
// rule of its own. Prometheus then holds the very samples Panoptes held,
// with their timestamps; timing cannot make the two differ because:
//
//   - a rule evaluated at ts queries the instant ts - query_offset, and
//     Prometheus's rule engine writes the recorded samples at that instant,
//     so a recorded sample's timestamp is the instant its query saw; the
//     test asks Prometheus the rule's expression at exactly that instant;
//   - the query offset (5 s, 15 s for the groups reading another group's
//     records) keeps evaluations from racing the commits of scrapes (and of
//     the other group's records) that carry an earlier timestamp;
//   - remote write sends only samples stamped after its queue started, and
//     the first evaluations stamp theirs up to a query offset earlier: the
//     rule files are loaded by a reload once the longest offset has passed
//     since the start, so that Prometheus receives every recorded sample;
//   - only instants up to a cut-off 20 s in the past are compared, and only
//     once Prometheus holds every raw sample Panoptes holds up to the
//     cut-off, checked by comparing the two raw matrices of every series
//     (so remote-write lag cannot show as a difference, and a lost or
//     altered sample shows as one).
//
// An evaluation instant is known from the recorded samples: every sample
// of a group's records carries one of the group's instants; at each
// instant every record of the group is compared, so a record that Panoptes
// left empty where Prometheus gives series is caught too.

// kpRawWindow reaches back past the start of the test's data.
const kpRawWindow = "15m"

// kpAt formats a millisecond timestamp as the API's time parameter.
func kpAt(ms int64) string {
	return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)
}

// kpMillis parses a timestamp as the API writes it (seconds with up to
// three decimals) to milliseconds, exactly.
func kpMillis(s string) (int64, error) {
	sec, frac, _ := strings.Cut(s, ".")
	if len(frac) > 3 {
		return 0, fmt.Errorf("timestamp %q finer than a millisecond", s)
	}
	n, err := strconv.ParseInt(sec+(frac + "000")[:3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("timestamp %q: %w", s, err)
	}
	return n, nil
}

// kpQuery runs an instant query at ms and decodes it as the PromQL oracle
// does (series in label order, values compared within 1e-9).
func kpQuery(base, expr string, ms int64) (*oracleResult, error) {
	_, body, err := kpGet(base + "/api/v1/query?" + url.Values{"query": {expr}, "time": {kpAt(ms)}}.Encode())
	if err != nil {
		return nil, err
	}
	r, err := oracleDecode(body, false)
	if err != nil {
		return nil, fmt.Errorf("query %s at %s: %w", expr, kpAt(ms), err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s at %s: %s: %s", expr, kpAt(ms), r.ErrorType, r.Error)
	}
	return r, nil
}

// kpGet is a GET that returns errors instead of failing the test, for use
// from several goroutines.
func kpGet(u string) (int, []byte, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(u) //nolint:noctx // test URL on loopback
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// kpRecorded is a group's recording rules, by record name, and the
// instants the group was evaluated at.
type kpRecorded struct {
	group    kpRuleGroup
	byName   map[string][]kpRule
	instants map[int64]bool
}

// TestKubePromRulesOracle compares every recording rule's recorded samples
// in Panoptes with Prometheus's evaluation of the rule at the same
// instants over the same samples.
func TestKubePromRulesOracle(t *testing.T) {
	t.Parallel()
	ruleFiles, groups := kpRuleFiles(t)
	c := startKPCluster(t)
	prom := startPrometheusReceiver(t, oracleConfig(t))
	extra := fmt.Sprintf("remote_write:\n  - url: %q\n    queue_config:\n      batch_send_deadline: 1s\n", prom+"/api/v1/write")

	// Remote write sends only samples stamped after its queue started
	// (Prometheus's WAL watcher drops older ones), and a rule evaluated at
	// ts stamps its samples ts - query_offset: evaluations in the first
	// query_offset after the start would record samples that Prometheus
	// never receives, yet later evaluations read. So the server starts
	// scraping without rules, and the rule files come in by a reload (the
	// same files, unchanged) once the longest query offset has passed.
	cfg := kpConfig(t, c, nil, extra)
	p, base := startServer(t, "--config.file="+cfg)
	queueStart := time.Now()
	maxOffset := kpQueryOffset
	for _, g := range groups {
		if g.QueryOffset != "" {
			d, err := time.ParseDuration(g.QueryOffset)
			if err != nil {
				t.Fatalf("group %s: query_offset: %v", g.Name, err)
			}
			maxOffset = max(maxOffset, d)
		}
	}
	eventually(t, time.Minute, func() string {
		if since := time.Since(queueStart); since <= maxOffset+time.Second {
			return fmt.Sprintf("only %v since remote write started; waiting for the longest query offset (%v) to pass", since, maxOffset)
		}
		return ""
	})
	if err := os.WriteFile(cfg, []byte(kpConfigText(c, ruleFiles, extra)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() string {
		if n := len(kpRulesAPI(t, base)); n != len(groups) {
			return fmt.Sprintf("%d rule groups loaded after SIGHUP, want %d", n, len(groups))
		}
		return ""
	})

	// Every expected record gives series, then every group runs ten
	// evaluations more.
	kpWaitRecords(t, base, groups)
	before := kpIterations(t, base)
	eventually(t, 3*time.Minute, func() string {
		now := kpIterations(t, base)
		for _, g := range groups {
			key := g.File + ";" + g.Name
			if now[key] < before[key]+10 {
				return fmt.Sprintf("group %s: %v evaluations, waiting for %v", g.Name, now[key], before[key]+10)
			}
		}
		return ""
	})

	// The cut-off, and the raw samples up to it, the same in both.
	cutoff := time.Now().Add(-20 * time.Second).UnixMilli()
	raw := "{__name__=~\".+\"}[" + kpRawWindow + "]"
	var ours *oracleResult
	cmpFloat := cmp.Comparer(oracleFloatEqual)
	began := time.Now()
	eventually(t, 2*time.Minute, func() string {
		var err error
		if ours, err = kpQuery(base, raw, cutoff); err != nil {
			return "panoptes: " + err.Error()
		}
		theirs, err := kpQuery(prom, raw, cutoff)
		if err != nil {
			return "prometheus: " + err.Error()
		}
		if diff := cmp.Diff(ours.Series, theirs.Series, cmpFloat); diff != "" {
			if len(diff) > oracleDiffLimit {
				diff = diff[:oracleDiffLimit] + "\n... (diff truncated)"
			}
			return "Prometheus does not hold Panoptes' raw samples up to the cut-off (-panoptes +prometheus):\n" + diff
		}
		return ""
	})
	rawSamples := 0
	for _, s := range ours.Series {
		rawSamples += len(s.Points)
	}
	t.Logf("Prometheus holds the same %d raw samples of %d series up to the cut-off (after %v)",
		rawSamples, len(ours.Series), time.Since(began).Round(time.Millisecond))

	// Each group's records and the instants it was evaluated at.
	recorded := map[string]*kpRecorded{} // by group
	groupOf := map[string]string{}       // record name -> group
	for _, g := range groups {
		key := g.File + ";" + g.Name
		for _, r := range g.Rules {
			if r.Record == "" {
				continue
			}
			if other, ok := groupOf[r.Record]; ok && other != key {
				t.Fatalf("%s is recorded by two groups (%s, %s): the oracle compares a record's rules together, at one group's instants", r.Record, other, key)
			}
			groupOf[r.Record] = key
			if recorded[key] == nil {
				recorded[key] = &kpRecorded{group: g, byName: map[string][]kpRule{}, instants: map[int64]bool{}}
			}
			recorded[key].byName[r.Record] = append(recorded[key].byName[r.Record], r)
		}
	}
	// ours: by record name, by instant, the series (labels -> value).
	samples := map[string]map[int64]map[string]oracleFloat{}
	for _, s := range ours.Series {
		name := kpLabel(t, s.Labels, "__name__")
		key, ok := groupOf[name]
		if !ok {
			continue
		}
		if samples[name] == nil {
			samples[name] = map[int64]map[string]oracleFloat{}
		}
		for _, p := range s.Points {
			ms, err := kpMillis(p.T)
			if err != nil {
				t.Fatal(err)
			}
			recorded[key].instants[ms] = true
			if samples[name][ms] == nil {
				samples[name][ms] = map[string]oracleFloat{}
			}
			samples[name][ms][s.Labels] = p.V
		}
	}

	// Every (group instant, record) against Prometheus, four queries at a
	// time.
	type job struct {
		name string
		ms   int64
		g    *kpRecorded
	}
	var jobs []job
	for _, g := range recorded {
		for name := range g.byName {
			for ms := range g.instants {
				jobs = append(jobs, job{name, ms, g})
			}
		}
	}
	sort.Slice(jobs, func(a, b int) bool {
		return jobs[a].name < jobs[b].name || jobs[a].name == jobs[b].name && jobs[a].ms < jobs[b].ms
	})
	var (
		mu       sync.Mutex
		failures []string
		compared int
	)
	work := make(chan job)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				want, err := kpPromEvaluate(prom, j.g.byName[j.name], j.ms)
				got := samples[j.name][j.ms]
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, fmt.Sprintf("%s at %s: Prometheus: %v", j.name, kpAt(j.ms), err))
				default:
					if diff := cmp.Diff(want, got, cmpFloat, cmpopts.EquateEmpty()); diff != "" {
						failures = append(failures, fmt.Sprintf("%s at %s (group %s) (-prometheus +panoptes):\n%s", j.name, kpAt(j.ms), j.g.group.Name, diff))
					}
					compared += len(got)
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		if j.ms <= cutoff {
			work <- j
		}
	}
	close(work)
	wg.Wait()
	sort.Strings(failures)
	for i, f := range failures {
		if i == 20 {
			t.Errorf("... and %d more differences", len(failures)-20)
			break
		}
		t.Error(f)
	}

	instants, gaps := 0, 0
	for _, g := range recorded {
		var ms []int64
		for m := range g.instants {
			if m <= cutoff {
				ms = append(ms, m)
			}
		}
		sort.Slice(ms, func(a, b int) bool { return ms[a] < ms[b] })
		instants += len(ms)
		step := int64(2000)
		if g.group.Interval != "" {
			d, err := time.ParseDuration(g.group.Interval)
			if err != nil {
				t.Fatal(err)
			}
			step = d.Milliseconds()
		}
		for i := 1; i < len(ms); i++ {
			if ms[i]-ms[i-1] != step {
				gaps++
			}
		}
		if len(ms) < 5 {
			t.Errorf("group %s: only %d evaluation instants to compare", g.group.Name, len(ms))
		}
	}
	rules := 0
	for _, g := range recorded {
		for _, rs := range g.byName {
			rules += len(rs)
		}
	}
	t.Logf("oracle: %d recording rules (%d record names, %d groups) compared with Prometheus v0.316.0 at %d evaluation instants: %d recorded samples, %d differences (evaluations off the groups' intervals: %d)",
		rules, len(groupOf), len(recorded), instants, compared, len(failures), gaps)
	if compared == 0 {
		t.Error("no recorded sample was compared")
	}
}

// kpPromEvaluate evaluates a record's rules in Prometheus at ms as the
// rule engine does: each rule's expression, the record's name and the
// rule's labels set on every series; the rules' series together.
func kpPromEvaluate(prom string, rules []kpRule, ms int64) (map[string]oracleFloat, error) {
	out := map[string]oracleFloat{}
	for _, r := range rules {
		_, body, err := kpGet(prom + "/api/v1/query?" + url.Values{"query": {r.Expr}, "time": {kpAt(ms)}}.Encode())
		if err != nil {
			return nil, err
		}
		var resp struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				ResultType string `json:"resultType"`
				Result     []struct {
					Metric map[string]string `json:"metric"`
					Value  [2]any            `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			return nil, fmt.Errorf("%s: %w", body, err)
		}
		if resp.Status != "success" || resp.Data.ResultType != "vector" {
			return nil, fmt.Errorf("%s: %s %s (%s)", r.Expr, resp.Status, resp.Error, resp.Data.ResultType)
		}
		for _, s := range resp.Data.Result {
			m := map[string]string{}
			for k, v := range s.Metric {
				m[k] = v
			}
			m["__name__"] = r.Record
			for k, v := range r.Labels {
				m[k] = v
			}
			key := oracleLabelString(m)
			if _, dup := out[key]; dup {
				return nil, fmt.Errorf("%s: two series %s", r.Record, key)
			}
			str, _ := s.Value[1].(string)
			v, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: value %v: %w", r.Expr, s.Value[1], err)
			}
			out[key] = oracleFloat(v)
		}
	}
	return out, nil
}

// kpLabel returns a label's value from an oracleLabelString.
func kpLabel(t *testing.T, labels, name string) string {
	t.Helper()
	i := strings.Index(labels, name+"=\"")
	if i < 0 || (i > 0 && labels[i-1] != '{' && labels[i-1] != ',') {
		t.Fatalf("no label %s in %s", name, labels)
	}
	v, err := strconv.QuotedPrefix(labels[i+len(name)+1:])
	if err != nil {
		t.Fatalf("label %s in %s: %v", name, labels, err)
	}
	s, _ := strconv.Unquote(v)
	return s
}

// kpIterations returns prometheus_rule_group_iterations_total of the
// server's own /metrics, by rule_group ("file;group").
func kpIterations(t *testing.T, base string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range scrape(t, base+"/metrics")["prometheus_rule_group_iterations_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "rule_group" {
				out[l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}
