package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"google.golang.org/protobuf/proto"
)

// federation serves /federate: the latest sample of every series that a
// match[] selector picks, in the exposition format, so that another
// Prometheus (or Panoptes) server can scrape a summary of this one. As in
// Prometheus, the samples keep their timestamps, external labels are added
// where a series lacks them, and every family is untyped.
type federation struct {
	queryable storage.Queryable
	lookback  time.Duration
	external  func() map[string]string
	logger    *slog.Logger
}

func (f *federation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, fmt.Sprintf("error parsing form values: %v", err), http.StatusBadRequest)
		return
	}
	p := parser.NewParser(parser.Options{})
	var sets [][]*labels.Matcher
	for _, s := range r.Form["match[]"] {
		ms, err := p.ParseMetricSelector(s)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sets = append(sets, ms)
	}
	if len(sets) == 0 {
		http.Error(w, "at least one match[] selector is required, e.g. /federate?match[]={job=\"node\"}", http.StatusBadRequest)
		return
	}

	now := time.Now()
	maxt := now.UnixMilli()
	mint := now.Add(-f.lookback).UnixMilli()
	q, err := f.queryable.Querier(mint, maxt)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer q.Close()

	hints := &storage.SelectHints{Start: mint, End: maxt}
	var sets2 []storage.SeriesSet
	for _, ms := range sets {
		sets2 = append(sets2, q.Select(r.Context(), true, hints, ms...))
	}
	set := storage.NewMergeSeriesSet(sets2, 0, storage.ChainedSeriesMerge)

	external := f.external()
	families := map[string]*dto.MetricFamily{}
	var it chunkenc.Iterator
	for set.Next() {
		s := set.At()
		it = s.Iterator(it)
		var t int64
		var v float64
		ok := false
		for typ := it.Next(); typ != chunkenc.ValNone; typ = it.Next() {
			if typ != chunkenc.ValFloat {
				continue // native histograms are not federated as text
			}
			t, v = it.At()
			ok = true
		}
		if it.Err() != nil {
			http.Error(w, it.Err().Error(), http.StatusInternalServerError)
			return
		}
		if !ok || value.IsStaleNaN(v) {
			continue
		}
		lset := s.Labels()
		name := lset.Get(model.MetricNameLabel)
		m := &dto.Metric{Untyped: &dto.Untyped{Value: proto.Float64(v)}, TimestampMs: proto.Int64(t)}
		seen := map[string]bool{}
		lset.Range(func(l labels.Label) {
			if l.Name == model.MetricNameLabel {
				return
			}
			seen[l.Name] = true
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(l.Name), Value: proto.String(l.Value)})
		})
		for n, v := range external {
			if !seen[n] {
				m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(n), Value: proto.String(v)})
			}
		}
		sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
		mf := families[name]
		if mf == nil {
			mf = &dto.MetricFamily{Name: proto.String(name), Type: dto.MetricType_UNTYPED.Enum()}
			families[name] = mf
		}
		mf.Metric = append(mf.Metric, m)
	}
	if err := set.Err(); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, storage.ErrNotFound) {
			code = http.StatusNotFound
		}
		http.Error(w, err.Error(), code)
		return
	}

	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	sort.Strings(names)
	// Text or the classic protobuf format, as Prometheus federates; untyped
	// families have no OpenMetrics form worth offering.
	format := expfmt.NegotiateAccept(r.Header, expfmt.NewFormat(expfmt.TypeTextPlain), expfmt.NewFormat(expfmt.TypeProtoDelim))
	w.Header().Set("Content-Type", string(format))
	enc := expfmt.NewEncoder(w, format)
	for _, n := range names {
		if err := enc.Encode(families[n]); err != nil {
			f.logger.Debug("federation: write failed", "err", err)
			return
		}
	}
}
