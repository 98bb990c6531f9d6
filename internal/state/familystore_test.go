package state

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	v1 "k8s.io/api/core/v1"
	metricsstore "k8s.io/kube-state-metrics/v2/pkg/metrics_store"
)

// blocks splits an exposition into its families, each its header lines
// and then its sorted sample lines: the order of objects within a family
// is not part of the format (kube-state-metrics' own order is a map's).
func blocks(t *testing.T, expo string) []string {
	t.Helper()
	var out []string
	var head, samples []string
	flush := func() {
		if head == nil && samples == nil {
			return
		}
		slices.Sort(samples)
		out = append(out, strings.Join(head, "\n")+"\n--\n"+strings.Join(samples, "\n"))
		head, samples = nil, nil
	}
	for line := range strings.SplitSeq(expo, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "# HELP"):
			flush()
			head = append(head, line)
		case strings.HasPrefix(line, "#"):
			head = append(head, line)
		default:
			samples = append(samples, line)
		}
	}
	flush()
	return out
}

// twin is kube-state-metrics' pod store and ours, fed the same operations.
type twin struct {
	t         *testing.T
	ksm       *metricsstore.MetricsStore
	ours      *familyStore
	ksmWriter *metricsstore.MetricsWriter
	rw        resourceWriter
}

func newTwin(t *testing.T) *twin {
	headers, generate := ksmFamilies(t, "pods")
	ksm := metricsstore.NewMetricsStore(headers, generate)
	ours := newFamilyStore(headers, generate)
	return &twin{t: t, ksm: ksm, ours: ours, ksmWriter: metricsstore.NewMetricsWriter("pods", ksm),
		rw: resourceWriter{name: "pods", stores: []*familyStore{ours}, headers: parseHeaders(headers)}}
}

// both applies op to both stores.
func (w *twin) both(op string, f func(s storeOps) error) {
	w.t.Helper()
	if err := f(w.ksm); err != nil {
		w.t.Fatalf("%s: kube-state-metrics: %v", op, err)
	}
	if err := f(w.ours); err != nil {
		w.t.Fatalf("%s: ours: %v", op, err)
	}
}

// check fails unless both writers write the same families and samples
// (object order aside) and ours holds objects objects.
func (w *twin) check(step string, objects int) {
	w.t.Helper()
	var want, got bytes.Buffer
	if err := w.ksmWriter.WriteAll(&want); err != nil {
		w.t.Fatal(err)
	}
	if err := w.rw.write(&got, false, map[string]bool{}); err != nil {
		w.t.Fatal(err)
	}
	if wb, gb := blocks(w.t, want.String()), blocks(w.t, got.String()); !slices.Equal(wb, gb) {
		w.t.Fatalf("%s: ours differs from kube-state-metrics':\n%s", step, firstDiff(wb, gb))
	}
	if _, n := w.ours.snapshot(); n != objects {
		w.t.Fatalf("%s: %d objects, want %d", step, n, objects)
	}
}

// TestFamilyStoreMatchesKSM applies the same random adds, updates,
// deletes and replaces to kube-state-metrics' store and to ours, with the
// pod generators, and compares what their writers write after each batch:
// the same families and samples, object order aside. The batches cross
// compactions of partial segments, segments emptied and dropped, and
// whole replaces.
func TestFamilyStoreMatchesKSM(t *testing.T) {
	t.Parallel()
	tw := newTwin(t)
	both := tw.both
	rng := rand.New(rand.NewPCG(1, 2))
	live := map[int]*v1.Pod{}
	next := 0
	for batch := range 40 {
		for range rng.IntN(300) {
			switch r := rng.IntN(10); {
			case r < 5 || len(live) == 0: // a new pod
				p := benchPod(next)
				live[next] = p
				next++
				both("add", func(s storeOps) error {
					return s.Add(p)
				})
			case r < 8: // a changed pod
				i := randomKey(rng, live)
				p := live[i].DeepCopy()
				p.Status.ContainerStatuses[0].RestartCount++
				if rng.IntN(2) == 0 {
					p.Status.Phase = v1.PodFailed
				}
				live[i] = p
				both("update", func(s storeOps) error {
					return s.Add(p)
				})
			default: // a deleted pod
				i := randomKey(rng, live)
				p := live[i]
				delete(live, i)
				both("delete", func(s storeOps) error {
					return s.Delete(p)
				})
			}
		}
		if batch%10 == 9 { // a relist: a subset of the pods and some new ones
			var list []any
			kept := map[int]*v1.Pod{}
			for i, p := range live {
				if rng.IntN(3) > 0 {
					list, kept[i] = append(list, p), p
				}
			}
			for range 50 {
				p := benchPod(next)
				list, kept[next] = append(list, p), p
				next++
			}
			live = kept
			both("replace", func(s storeOps) error {
				return s.Replace(list, "1")
			})
		}
		tw.check(fmt.Sprintf("batch %d (%d pods)", batch, len(live)), len(live))
	}
}

// storeOps are the cache.Store methods the test drives.
type storeOps interface {
	Add(obj any) error
	Delete(obj any) error
	Replace(list []any, resourceVersion string) error
}

func randomKey(rng *rand.Rand, m map[int]*v1.Pod) int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys[rng.IntN(len(keys))]
}

func firstDiff(want, got []string) string {
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			return fmt.Sprintf("family %d:\nwant:\n%s\ngot:\n%s", i, want[i], got[i])
		}
	}
	return fmt.Sprintf("%d families, want %d", len(got), len(want))
}

// TestFamilyStoreMergesSmallSegments: churn that deletes most objects of
// every segment leaves few segments, not many part-empty ones, and what is
// served stays kube-state-metrics' exposition, also as objects change and
// come and go after the merge.
func TestFamilyStoreMergesSmallSegments(t *testing.T) {
	t.Parallel()
	tw := newTwin(t)
	check := func(step string, want int) {
		t.Helper()
		tw.check(step, want)
		if bound := 4*want/segmentSize + 2; len(tw.ours.segs) >= bound {
			t.Fatalf("%s: %d segments for %d objects, want fewer than %d", step, len(tw.ours.segs), want, bound)
		}
	}
	pods := map[int]*v1.Pod{}
	for i := range 20 * segmentSize {
		pods[i] = benchPod(i)
		tw.both("add", func(s storeOps) error { return s.Add(pods[i]) })
	}
	check("added", len(pods))
	// Seven of every eight go: 20 segments of 16 objects each before the merge.
	for i := range 20 * segmentSize {
		if i%8 != 0 {
			tw.both("delete", func(s storeOps) error { return s.Delete(pods[i]) })
			delete(pods, i)
		}
	}
	check("deleted 7 of 8", len(pods))
	// The merged segments' objects change, go and come as before; half
	// stay as they are, so that re-rendering a merged segment reads them
	// back from its joined buffers.
	for i := range 20 * segmentSize {
		switch i % 32 {
		case 0:
			p := pods[i].DeepCopy()
			p.Status.ContainerStatuses[0].RestartCount += 3
			pods[i] = p
			tw.both("update", func(s storeOps) error { return s.Add(p) })
		case 8:
			tw.both("delete", func(s storeOps) error { return s.Delete(pods[i]) })
			delete(pods, i)
		}
	}
	for i := 20 * segmentSize; i < 21*segmentSize; i++ {
		pods[i] = benchPod(i)
		tw.both("add", func(s storeOps) error { return s.Add(pods[i]) })
	}
	check("changed, deleted and added after the merge", len(pods))
}

// TestFamilyStoreConcurrentScrapes: scrapes while the store changes (run
// with -race) each see whole objects, each pod's info line exactly once.
func TestFamilyStoreConcurrentScrapes(t *testing.T) {
	t.Parallel()
	headers, generate := ksmFamilies(t, "pods")
	s := newFamilyStore(headers, generate)
	rw := resourceWriter{name: "pods", stores: []*familyStore{s}, headers: parseHeaders(headers)}
	for i := range 300 {
		if err := s.Add(benchPod(i)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 2000 {
			p := benchPod(i % 300)
			p.Status.ContainerStatuses[0].RestartCount = int32(i)
			if err := s.Add(p); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 20 {
		var b bytes.Buffer
		if err := rw.write(&b, false, map[string]bool{}); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(b.String(), "\nkube_pod_info{"); n != 300 {
			t.Fatalf("a scrape during changes has %d kube_pod_info lines, want 300", n)
		}
	}
	wg.Wait()
}

// TestExpositionMatchesKSM compares the exposition's responses with what
// kube-state-metrics' handler writes for the same stores (its
// SanitizeHeaders and WriteAll): both formats, gzip, the resource filters,
// a family that two resources name (HELP and TYPE once), and a resource
// with no object (no header).
func TestExpositionMatchesKSM(t *testing.T) {
	t.Parallel()
	headers, generate := ksmFamilies(t, "pods")
	ksmA, ksmB, ksmEmpty := metricsstore.NewMetricsStore(headers, generate), metricsstore.NewMetricsStore(headers, generate), metricsstore.NewMetricsStore(headers, generate)
	a, b, empty := newFamilyStore(headers, generate), newFamilyStore(headers, generate), newFamilyStore(headers, generate)
	for i := range 200 {
		p := benchPod(i)
		s, k := a, ksmA
		if i%2 == 1 {
			s, k = b, ksmB
		}
		if err := s.Add(p); err != nil {
			t.Fatal(err)
		}
		if err := k.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	ksmWriters := metricsstore.MetricsWriterList{
		metricsstore.NewMetricsWriter("pods", ksmA),
		metricsstore.NewMetricsWriter("again", ksmB),
		metricsstore.NewMetricsWriter("none", ksmEmpty),
	}
	writers := []resourceWriter{
		{name: "pods", stores: []*familyStore{a}, headers: parseHeaders(headers)},
		{name: "again", stores: []*familyStore{b}, headers: parseHeaders(headers)},
		{name: "none", stores: []*familyStore{empty}, headers: parseHeaders(headers)},
	}
	e := &exposition{gzip: true, logger: slog.New(slog.DiscardHandler)}
	e.writers.Store(&writers)
	for _, tc := range []struct {
		name, query, accept string
		gzip                bool
		want                []string
	}{
		{name: "text", want: []string{"pods", "again", "none"}},
		{name: "openmetrics", accept: "application/openmetrics-text;version=1.0.0", want: []string{"pods", "again", "none"}},
		{name: "gzip", gzip: true, want: []string{"pods", "again", "none"}},
		{name: "resources", query: "?resources=again", want: []string{"again"}},
		{name: "resources, two params", query: "?resources=again&resources=pods,none", want: []string{"pods", "again", "none"}},
		{name: "exclude", query: "?exclude_resources=pods", want: []string{"again", "none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/metrics"+tc.query, nil)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			if tc.gzip {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			body := rec.Body.Bytes()
			if tc.gzip {
				if rec.Header().Get("Content-Encoding") != "gzip" {
					t.Fatalf("no gzip Content-Encoding: %v", rec.Header())
				}
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			// What kube-state-metrics' handler negotiates, with its call.
			format := expfmt.NegotiateIncludingOpenMetrics(req.Header) //nolint:staticcheck // the peer's own negotiation is the oracle

			if format.FormatType() != expfmt.TypeOpenMetrics {
				format = expfmt.NewFormat(expfmt.TypeTextPlain)
			}
			if got := rec.Header().Get("Content-Type"); got != string(format) {
				t.Errorf("Content-Type %q, want %q", got, format)
			}
			var active metricsstore.MetricsWriterList
			for _, w := range ksmWriters {
				if slices.Contains(tc.want, w.ResourceName) {
					active = append(active, w)
				}
			}
			var want bytes.Buffer
			for _, w := range metricsstore.SanitizeHeaders(format, active) {
				if err := w.WriteAll(&want); err != nil {
					t.Fatal(err)
				}
			}
			if format.FormatType() == expfmt.TypeOpenMetrics {
				want.WriteString("# EOF\n")
				if !bytes.HasSuffix(body, []byte("# EOF\n")) {
					t.Errorf("OpenMetrics answer does not end in # EOF")
				}
			}
			if w, g := blocks(t, want.String()), blocks(t, string(body)); !slices.Equal(w, g) {
				t.Fatalf("ours differs from kube-state-metrics':\n%s", firstDiff(w, g))
			}
		})
	}
}

// TestParseHeaders: the text format has no info or stateset type.
func TestParseHeaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw                     string
		name, text, openMetrics string
	}{
		{"# HELP kube_pod_info Information.\n# TYPE kube_pod_info gauge\n", "kube_pod_info",
			"# HELP kube_pod_info Information.\n# TYPE kube_pod_info gauge\n", "# HELP kube_pod_info Information.\n# TYPE kube_pod_info gauge\n"},
		{"# HELP foo_info A custom info.\n# TYPE foo_info info", "foo_info",
			"# HELP foo_info A custom info.\n# TYPE foo_info gauge\n", "# HELP foo_info A custom info.\n# TYPE foo_info info\n"},
		{"# HELP foo_state States.\n# TYPE foo_state stateset\n", "foo_state",
			"# HELP foo_state States.\n# TYPE foo_state gauge\n", "# HELP foo_state States.\n# TYPE foo_state stateset\n"},
		{"# HELP bar [STABLE] The info in the help.\n# TYPE bar counter\n", "bar",
			"# HELP bar [STABLE] The info in the help.\n# TYPE bar counter\n", "# HELP bar [STABLE] The info in the help.\n# TYPE bar counter\n"},
		{"", "", "", ""},
	} {
		got := parseHeaders([]string{tc.raw})[0]
		if got.name != tc.name || got.text != tc.text || got.openMetrics != tc.openMetrics {
			t.Errorf("parseHeaders(%q) = %+v, want name %q text %q openMetrics %q", tc.raw, got, tc.name, tc.text, tc.openMetrics)
		}
	}
}
