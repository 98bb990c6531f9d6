package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

var update = flag.Bool("update", false, "rewrite testdata/<collector>/want.prom from the current output")

// fixtureSystem answers System calls from testdata/<collector>/system.json.
type fixtureSystem struct {
	rootfs string
	Time   time.Time         `json:"now"`
	Zone   string            `json:"zone"`
	Offset int               `json:"zone_offset_seconds"`
	U      *Uname            `json:"uname"`
	FS     map[string]fsStat `json:"statfs"`
	Tx     *Timex            `json:"timex"`
}

func (f *fixtureSystem) Adjtimex() (Timex, error) {
	if f.Tx == nil {
		return Timex{}, errors.New("no timex in system.json")
	}
	return *f.Tx, nil
}

type fsStat struct {
	Statfs
	Error string `json:"error"`
	Hang  bool   `json:"hang"`
}

func (f *fixtureSystem) Now() time.Time {
	return f.Time.In(time.FixedZone(f.Zone, f.Offset))
}

func (f *fixtureSystem) Uname() (Uname, error) {
	if f.U == nil {
		return Uname{}, errors.New("no uname in system.json")
	}
	return *f.U, nil
}

func (f *fixtureSystem) Statfs(path string) (Statfs, error) {
	rel, err := filepath.Rel(f.rootfs, path)
	if err != nil {
		return Statfs{}, err
	}
	st, ok := f.FS[filepath.Clean("/"+rel)]
	switch {
	case !ok:
		return Statfs{}, fmt.Errorf("statfs %s: no such file or directory", path)
	case st.Hang:
		time.Sleep(time.Hour)
	case st.Error != "":
		return Statfs{}, errors.New(st.Error)
	}
	return st.Statfs, nil
}

// fixtureConfig points every root at the collector's fixture tree.
func fixtureConfig(t *testing.T, dir string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ProcRoot = filepath.Join(dir, "proc")
	cfg.SysRoot = filepath.Join(dir, "sys")
	cfg.RootFS = filepath.Join(dir, "root")
	cfg.Textfile.Directories = []string{filepath.Join(dir, "textfile")}
	sys := &fixtureSystem{rootfs: cfg.RootFS, Time: time.Unix(1_700_000_000, 0).UTC(), Zone: "UTC"}
	if b, err := os.ReadFile(filepath.Join(dir, "system.json")); err == nil {
		if err := json.Unmarshal(b, sys); err != nil {
			t.Fatalf("parse %s/system.json: %v", dir, err)
		}
	}
	cfg.System = sys
	return cfg
}

// single adapts one Collector to prometheus.Collector, without the Runner's
// duration metrics, whose values change from run to run.
type single struct {
	c   collector.Collector
	err error
}

func (s *single) Describe(chan<- *prometheus.Desc) {}
func (s *single) Collect(ch chan<- prometheus.Metric) {
	var sink collector.Sink
	s.err = s.c.Update(context.Background(), &sink)
	for _, m := range sink.Metrics() {
		ch <- m
	}
}

// render runs the named collector once against cfg and returns its output in
// the text exposition format, checked for consistency by a pedantic registry.
func render(t *testing.T, name string, cfg Config) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	err := renderTo(&buf, name, cfg)
	var setup *renderSetupError
	if errors.As(err, &setup) {
		t.Fatal(setup.err)
	}
	return buf.String(), err
}

// renderSetupError is a failure of renderTo itself, not of the collector.
type renderSetupError struct{ err error }

func (e *renderSetupError) Error() string { return e.err.Error() }

// renderTo writes one collector's exposition to w and returns the
// collector's error; it needs no *testing.T, so a child process (see
// raplNonRootChild) can use it too.
func renderTo(w io.Writer, name string, cfg Config) error {
	cs, err := New([]string{name}, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return &renderSetupError{fmt.Errorf("new %s: %w", name, err)}
	}
	s := &single{c: cs[0].Collector}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	mfs, err := reg.Gather()
	if err != nil {
		return &renderSetupError{fmt.Errorf("gather %s: %w", name, err)}
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return &renderSetupError{fmt.Errorf("encode: %w", err)}
		}
	}
	return s.err
}

// TestGolden runs every registered collector against its fixture tree in
// testdata/<name>/ and compares the output with testdata/<name>/want.prom.
func TestGolden(t *testing.T) {
	for _, info := range Collectors() {
		t.Run(info.Name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("testdata", info.Name)
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("every collector needs a fixture directory: %v", err)
			}
			got, err := render(t, info.Name, fixtureConfig(t, dir))
			if err != nil {
				t.Fatalf("update failed on its fixture: %v", err)
			}
			wantFile := filepath.Join(dir, "want.prom")
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("read golden file (run go test -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("output differs from %s (-want +got); rerun with -update if intended:\n%s", wantFile, diff)
			}
		})
	}
}

// TestMissingSources runs every collector against empty roots: each must
// fail (or report no data) cleanly, never panic, and name what it could not
// read.
func TestMissingSources(t *testing.T) {
	for _, info := range Collectors() {
		t.Run(info.Name, func(t *testing.T) {
			t.Parallel()
			cfg := fixtureConfig(t, t.TempDir())
			cfg.System = &fixtureSystem{rootfs: cfg.RootFS, Time: time.Unix(0, 0).UTC(), Zone: "UTC"}
			out, err := render(t, info.Name, cfg)
			if err == nil && strings.TrimSpace(out) != "" && !noFileCollectors[info.Name] {
				t.Errorf("collector produced output from empty roots without an error:\n%s", out)
			}
		})
	}
}

// noFileCollectors read nothing from the fixture roots (only system calls),
// so empty roots are not an error for them; textfile reports a missing
// directory in node_textfile_scrape_error, as node_exporter does, not as a
// failure.
var noFileCollectors = map[string]bool{"uname": true, "timex": true, "textfile": true}

// checkParse runs one case of a parser's table test: in must parse to want,
// or fail when wantErr.
func checkParse[T any](t *testing.T, parse func(io.Reader) (T, error), in string, want T, wantErr bool) {
	t.Helper()
	got, err := parse(strings.NewReader(in))
	if (err != nil) != wantErr {
		t.Fatalf("err = %v, want error %v", err, wantErr)
	}
	if wantErr {
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
