package host

import (
	"bytes"
	"io"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// TestFastExpositionOnThisHost scrapes every collector over this machine's
// real /proc and /sys once and renders the samples both ways: the agent's fast
// path must produce exactly what a client_golang registry and expfmt produce.
func TestFastExpositionOnThisHost(t *testing.T) {
	t.Parallel()
	var names []string
	for _, c := range Collectors() {
		names = append(names, c.Name)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	named, err := New(names, DefaultConfig(), logger)
	if err != nil {
		t.Fatal(err)
	}
	samples := collector.NewRunner(named, 0, logger).Scrape()
	fams, dups := collector.GroupFamilies(samples)
	if dups != 0 {
		t.Errorf("%d duplicate series", dups)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.Replay(samples))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("a registry refuses the samples: %v", err)
	}
	for _, openMetrics := range []bool{false, true} {
		format := expfmt.NewFormat(expfmt.TypeTextPlain)
		if openMetrics {
			format = expfmt.NewFormat(expfmt.TypeOpenMetrics)
		}
		var want bytes.Buffer
		enc := expfmt.NewEncoder(&want, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
		var got []byte
		for _, f := range fams {
			if openMetrics {
				got = f.AppendOpenMetrics(got)
			} else {
				got = f.AppendText(got)
			}
		}
		if diff := cmp.Diff(want.String(), string(got)); diff != "" {
			t.Errorf("%s: fast path differs (-expfmt +fast):\n%s", format, diff)
		}
	}
}
