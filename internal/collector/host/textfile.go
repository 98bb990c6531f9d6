package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// DefaultTextfileMaxFileBytes caps what the textfile collector reads of one
// file. node_exporter has no cap; parsing holds several times the file's
// size in memory, so a runaway script writing hundreds of MB would take the
// agent with it. Real textfiles are KBs to a few MBs.
const DefaultTextfileMaxFileBytes = 16 << 20

// TextfileConfig configures the textfile collector.
type TextfileConfig struct {
	// Directories are read for *.prom files, in order. Each may be a glob
	// (node_exporter 1.6+ takes the flag repeated; 1.5 took one directory).
	// None, or "", reads nothing and is not an error.
	Directories []string
	// MaxFileBytes is the most read of one file (bytes); a larger file is
	// refused with node_textfile_scrape_error 1. 0 or less means
	// DefaultTextfileMaxFileBytes.
	MaxFileBytes int64
}

func init() { register("textfile", true, newTextfile) }

var (
	textfileMtimeDesc = collector.NewRawTypedDesc("node_textfile_mtime_seconds",
		"Unixtime mtime of textfiles successfully read.", prometheus.GaugeValue, "file")
	textfileErrorDesc = collector.NewRawTypedDesc("node_textfile_scrape_error",
		"1 if there was an error opening or reading a file, 0 otherwise", prometheus.GaugeValue)
)

// errTextfileTooLarge is returned for a file past TextfileConfig.MaxFileBytes.
var errTextfileTooLarge = errors.New("textfile larger than the limit")

// textfileCollector exports the metrics that cron jobs and scripts write to
// *.prom files, as node_exporter 1.5's textfile collector does: the files
// are parsed with the Prometheus text parser; a file that fails to open or
// parse, or that carries client-side timestamps, is skipped whole and sets
// node_textfile_scrape_error 1; the collector itself never fails.
type textfileCollector struct {
	dirs     []string
	maxBytes int64
	logger   *slog.Logger
	// fixedMtime replaces the files' mtimes in the golden tests, whose
	// fixture files get a new mtime at every checkout; nil outside tests.
	fixedMtime *float64

	mu     sync.Mutex
	logged map[string]bool // the problems logged at the previous scrape
}

// textfileFixedMtime is set by the package's tests only.
var textfileFixedMtime *float64

func newTextfile(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	limit := cfg.Textfile.MaxFileBytes
	if limit <= 0 {
		limit = DefaultTextfileMaxFileBytes
	}
	return &textfileCollector{
		dirs: slices.Clone(cfg.Textfile.Directories), maxBytes: limit, logger: logger,
		fixedMtime: textfileFixedMtime,
	}, nil
}

// textfileProblems collects the problems of one scrape, so that each
// distinct one is logged once while it lasts instead of at every scrape.
type textfileProblems struct {
	errored bool
	msgs    []problem
}

type problem struct {
	level slog.Level
	msg   string
	args  []any
}

func (p *textfileProblems) add(level slog.Level, msg string, args ...any) {
	if level >= slog.LevelError {
		p.errored = true
	}
	p.msgs = append(p.msgs, problem{level, msg, args})
}

// parsedTextfile is one file's families, in name order.
type parsedTextfile struct {
	path string
	fams []*dto.MetricFamily
}

// Update implements collector.Collector.
func (c *textfileCollector) Update(_ context.Context, sink *collector.Sink) error {
	var probs textfileProblems
	var files []parsedTextfile
	var mtimes []collector.Sample // node_textfile_mtime_seconds, by path
	for _, dir := range expandTextfileDirs(c.dirs) {
		entries, err := os.ReadDir(dir)
		if err != nil && dir != "" {
			// As node_exporter: a missing directory is an error of the
			// textfile collector's own (scrape_error 1), not a failure.
			probs.add(slog.LevelError, "failed to read textfile collector directory", "path", dir, "err", err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".prom") {
				continue
			}
			path := filepath.Join(dir, e.Name())
			fams, mtime, err := readTextfile(path, c.maxBytes)
			if err != nil {
				probs.add(slog.LevelError, "failed to collect textfile data", "file", path, "err", err)
				continue
			}
			files = append(files, parsedTextfile{path: path, fams: fams})
			if c.fixedMtime != nil {
				mtime = *c.fixedMtime
			}
			mtimes = append(mtimes, collector.Sample{Value: mtime, LabelValues: []string{path}})
		}
	}
	for _, m := range convertTextfiles(files, &probs) {
		sink.Send(m)
	}
	// node_exporter sorts the mtimes by path; a path read twice (two globs
	// naming one directory) is reported once.
	slices.SortStableFunc(mtimes, func(a, b collector.Sample) int { return strings.Compare(a.LabelValues[0], b.LabelValues[0]) })
	mtimes = slices.CompactFunc(mtimes, func(a, b collector.Sample) bool { return a.LabelValues[0] == b.LabelValues[0] })
	for _, m := range mtimes {
		sink.Send(textfileMtimeDesc.Metric(m.Value, m.LabelValues...))
	}
	errVal := 0.0
	if probs.errored {
		errVal = 1
	}
	sink.Send(textfileErrorDesc.Metric(errVal))
	c.log(probs.msgs)
	return nil
}

// log logs the problems not already logged at the previous scrape.
func (c *textfileCollector) log(msgs []problem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := make(map[string]bool, len(msgs))
	for _, p := range msgs {
		key := p.msg + fmt.Sprint(p.args...)
		now[key] = true
		if !c.logged[key] {
			c.logger.Log(context.Background(), p.level, p.msg, p.args...)
		}
	}
	c.logged = now
}

// expandTextfileDirs expands each directory as a glob, as node_exporter
// does; one that matches nothing (or is no valid pattern) is kept as it is,
// so that reading it reports why it is missing.
func expandTextfileDirs(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		matches, err := filepath.Glob(d)
		if err != nil || len(matches) == 0 {
			matches = []string{d}
		}
		out = append(out, matches...)
	}
	return out
}

// readTextfile parses one file and returns its families and its mtime in
// whole seconds, as node_exporter reports it. The mtime is taken after the
// parse, so that a file that failed does not look fresh.
func readTextfile(path string, maxBytes int64) ([]*dto.MetricFamily, float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open textfile: %w", err)
	}
	defer func() { _ = f.Close() }()
	// A file already past the limit is refused without reading it.
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > maxBytes {
		return nil, 0, fmt.Errorf("%w: %d bytes, limit %d", errTextfileTooLarge, st.Size(), maxBytes)
	}
	fams, err := parseTextfile(f, maxBytes)
	if err != nil {
		return nil, 0, fmt.Errorf("parse textfile %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("stat textfile: %w", err)
	}
	return fams, float64(st.ModTime().UnixNano() / 1e9), nil
}

// parseTextfile parses the text exposition format with node_exporter 1.5's
// rules: metric and label names as the classic (legacy) format allows them,
// label values in UTF-8, and no client-side timestamps. It reads at most
// maxBytes. The families come back sorted by name.
func parseTextfile(r io.Reader, maxBytes int64) ([]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	byName, err := p.TextToMetricFamilies(&cappedReader{r: r, left: maxBytes, limit: maxBytes})
	if err != nil {
		return nil, err
	}
	fams := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		for _, m := range mf.GetMetric() {
			if m.TimestampMs != nil {
				return nil, fmt.Errorf("%s has a client-side timestamp, which the textfile collector does not support: the whole file is skipped", mf.GetName())
			}
		}
		fams = append(fams, mf)
	}
	slices.SortFunc(fams, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return fams, nil
}

// cappedReader fails once more than limit bytes have been read, instead of
// truncating silently as io.LimitReader would (a truncated file may still
// parse, without its last lines).
type cappedReader struct {
	r           io.Reader
	left, limit int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// Exactly at the limit: fine if the file ends here.
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n == 0 && err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w: more than %d bytes", errTextfileTooLarge, c.limit)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// textfileSeries is one series of an exported family, its labels by name.
type textfileSeries struct {
	labels map[string]string
	value  float64
}

// textfileFamily is one family as exported: a histogram or summary becomes
// several (see convertTextfiles).
type textfileFamily struct {
	name, help string
	valueType  prometheus.ValueType
	// owner identifies the source family (name, type and HELP): a family of
	// another file that makes the same exported name with another owner
	// conflicts.
	owner  string
	series []textfileSeries
}

// convertTextfiles turns the files' families into samples, with
// node_exporter 1.5's merge rules:
//   - a family without HELP gets "Metric read from <files>", every file that
//     has it named;
//   - the same family in several files is merged when its HELP and type agree;
//     when they do not, the first file (in directory order) wins and the
//     others' series of that family are dropped with a warning (node_exporter
//     drops them when it gathers, and node_textfile_scrape_error stays 0);
//   - a series repeated with the same labels keeps its first value;
//   - series of a family with fewer labels than others get the missing ones
//     as "" (an empty label is no label to Prometheus).
//
// Histograms and summaries become their _bucket/_sum/_count (and quantile)
// series, as untyped families: the agent's exposition path carries scalar
// samples only. The series, names and values are node_exporter's; only the
// TYPE line differs.
func convertTextfiles(files []parsedTextfile, probs *textfileProblems) []prometheus.Metric {
	filesOf := map[string][]string{}
	for _, f := range files {
		for _, mf := range f.fams {
			filesOf[mf.GetName()] = append(filesOf[mf.GetName()], f.path)
		}
	}
	out := map[string]*textfileFamily{}
	// The collector's own families cannot be overwritten by a file.
	owners := map[string]string{
		"node_textfile_mtime_seconds": "collector",
		"node_textfile_scrape_error":  "collector",
	}
	var order []string
	for _, f := range files {
		for _, mf := range f.fams {
			help := strings.ToValidUTF8(mf.GetHelp(), "\uFFFD")
			if mf.Help == nil {
				help = "Metric read from " + strings.Join(filesOf[mf.GetName()], ", ")
			}
			fams := expandFamily(mf, help)
			conflict := ""
			for _, fam := range fams {
				if o, ok := owners[fam.name]; ok && o != fam.owner {
					conflict = fam.name
					break
				}
			}
			if conflict != "" {
				probs.add(slog.LevelWarn, "textfile family conflicts with one read before (another HELP or TYPE); its series in this file are dropped",
					"metric", conflict, "file", f.path)
				continue
			}
			for _, fam := range fams {
				if have := out[fam.name]; have != nil {
					have.series = append(have.series, fam.series...)
					continue
				}
				owners[fam.name] = fam.owner
				out[fam.name] = fam
				order = append(order, fam.name)
			}
		}
	}
	var metrics []prometheus.Metric
	for _, name := range order {
		metrics = append(metrics, out[name].samples(probs)...)
	}
	return metrics
}

// samples renders a family's series with the union of their label names,
// dropping repeated series.
func (f *textfileFamily) samples(probs *textfileProblems) []prometheus.Metric {
	names := map[string]bool{}
	for _, s := range f.series {
		for k := range s.labels {
			names[k] = true
		}
	}
	labelNames := make([]string, 0, len(names))
	for k := range names {
		labelNames = append(labelNames, k)
	}
	slices.Sort(labelNames)
	desc := collector.NewRawTypedDesc(f.name, f.help, f.valueType, labelNames...)
	seen := make(map[string]bool, len(f.series))
	out := make([]prometheus.Metric, 0, len(f.series))
	dups := 0
	for _, s := range f.series {
		values := make([]string, len(labelNames))
		for i, k := range labelNames {
			values[i] = s.labels[k]
		}
		key := strings.Join(values, "\xff")
		if seen[key] {
			dups++
			continue
		}
		seen[key] = true
		out = append(out, desc.Metric(s.value, values...))
	}
	if dups > 0 {
		probs.add(slog.LevelWarn, "textfile series repeated with the same labels; the first is kept", "metric", f.name, "count", dups)
	}
	return out
}

// expandFamily turns one parsed family into the families it is exported as.
func expandFamily(mf *dto.MetricFamily, help string) []*textfileFamily {
	name := mf.GetName()
	owner := mf.GetType().String() + "\xff" + name + "\xff" + help
	fam := func(suffix string, t prometheus.ValueType) *textfileFamily {
		return &textfileFamily{name: name + suffix, help: help, valueType: t, owner: owner}
	}
	labels := func(m *dto.Metric, extra ...string) map[string]string {
		l := make(map[string]string, len(m.GetLabel())+1)
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return l
	}
	switch mf.GetType() {
	case dto.MetricType_COUNTER, dto.MetricType_GAUGE:
		t := prometheus.CounterValue
		if mf.GetType() == dto.MetricType_GAUGE {
			t = prometheus.GaugeValue
		}
		f := fam("", t)
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue()
			if t == prometheus.CounterValue {
				v = m.GetCounter().GetValue()
			}
			f.series = append(f.series, textfileSeries{labels(m), v})
		}
		return []*textfileFamily{f}
	case dto.MetricType_SUMMARY:
		q, sum, count := fam("", prometheus.UntypedValue), fam("_sum", prometheus.UntypedValue), fam("_count", prometheus.UntypedValue)
		for _, m := range mf.GetMetric() {
			s := m.GetSummary()
			for _, qt := range s.GetQuantile() {
				q.series = append(q.series, textfileSeries{labels(m, "quantile", formatTextFloat(qt.GetQuantile())), qt.GetValue()})
			}
			sum.series = append(sum.series, textfileSeries{labels(m), s.GetSampleSum()})
			count.series = append(count.series, textfileSeries{labels(m), float64(s.GetSampleCount())})
		}
		return []*textfileFamily{q, sum, count}
	case dto.MetricType_HISTOGRAM:
		bucket, sum, count := fam("_bucket", prometheus.UntypedValue), fam("_sum", prometheus.UntypedValue), fam("_count", prometheus.UntypedValue)
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			inf := false
			for _, b := range h.GetBucket() {
				inf = inf || math.IsInf(b.GetUpperBound(), +1)
				bucket.series = append(bucket.series, textfileSeries{labels(m, "le", formatTextFloat(b.GetUpperBound())), float64(b.GetCumulativeCount())})
			}
			// expfmt writes the +Inf bucket, the sample count, when it is
			// not given.
			if !inf {
				bucket.series = append(bucket.series, textfileSeries{labels(m, "le", "+Inf"), float64(h.GetSampleCount())})
			}
			sum.series = append(sum.series, textfileSeries{labels(m), h.GetSampleSum()})
			count.series = append(count.series, textfileSeries{labels(m), float64(h.GetSampleCount())})
		}
		return []*textfileFamily{bucket, sum, count}
	default: // untyped, and anything newer the parser may accept
		f := fam("", prometheus.UntypedValue)
		for _, m := range mf.GetMetric() {
			f.series = append(f.series, textfileSeries{labels(m), m.GetUntyped().GetValue()})
		}
		return []*textfileFamily{f}
	}
}

// formatTextFloat formats a bucket bound or quantile as expfmt does.
func formatTextFloat(f float64) string {
	switch {
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
