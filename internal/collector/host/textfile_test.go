package host

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// The fixture files' mtimes change at every checkout; the golden output
// reports this one instead, as node_exporter's own tests do.
func init() {
	mtime := 1_700_000_000.0
	textfileFixedMtime = &mtime
}

// runTextfile runs a textfile collector over dirs once and returns its
// output in the text format and what it logged.
func runTextfile(t *testing.T, c *textfileCollector) (out, logged string) {
	t.Helper()
	var logs bytes.Buffer
	c.logger = slog.New(slog.NewTextHandler(&logs, nil))
	var sink collector.Sink
	if err := c.Update(context.Background(), &sink); err != nil {
		t.Fatalf("textfile Update failed (it never should): %v", err)
	}
	var samples []*collector.Sample
	for _, m := range sink.Metrics() {
		samples = append(samples, m.(*collector.Sample))
	}
	fams, dups := collector.GroupFamilies(samples)
	if dups != 0 {
		t.Errorf("textfile emitted %d duplicate series", dups)
	}
	var b []byte
	for _, f := range fams {
		b = f.AppendText(b)
	}
	return string(b), logs.String()
}

func newTestTextfile(t *testing.T, maxBytes int64, dirs ...string) *textfileCollector {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Textfile.Directories = dirs
	if maxBytes > 0 {
		cfg.Textfile.MaxFileBytes = maxBytes
	}
	c, err := newTextfile(cfg, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	tc := c.(*textfileCollector)
	tc.fixedMtime = nil
	return tc
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const goodTextfile = "# HELP good_metric A metric from a healthy file.\n# TYPE good_metric gauge\ngood_metric 42\n"

// TestTextfileBadInput checks that each kind of broken file sets
// node_textfile_scrape_error 1 with one log line, and that the healthy file
// beside it is still exported whole.
func TestTextfileBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		// logWant is a fragment of the one error line.
		logWant string
	}{
		{"partial file (a writer cut mid-line)", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "bad.prom"), "# TYPE half gauge\nhalf{a=\"1\"} 1\nhalf{a=\"2")
		}, "unexpected end of input stream"},
		{"invalid UTF-8 in a label value", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "bad.prom"), "utf{a=\"\xff\xfe\"} 1\n")
		}, "invalid label value"},
		{"client-side timestamp", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "bad.prom"), "stamped 1 1700000000000\n")
		}, "client-side timestamp"},
		{"file vanished after the directory was listed (dangling link)", func(t *testing.T, dir string) {
			if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "bad.prom")); err != nil {
				t.Fatal(err)
			}
		}, "no such file or directory"},
		{"a directory named *.prom", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "bad.prom"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, "is a directory"},
		{"bad metric name", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "bad.prom"), "0starts_with_digit 1\n")
		}, "bad.prom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "good.prom"), goodTextfile)
			tc.setup(t, dir)
			c := newTestTextfile(t, 0, dir)
			out, logged := runTextfile(t, c)
			if !strings.Contains(out, "node_textfile_scrape_error 1\n") {
				t.Errorf("scrape_error is not 1:\n%s", out)
			}
			if !strings.Contains(out, "good_metric 42\n") {
				t.Errorf("the healthy file's metric is missing:\n%s", out)
			}
			if strings.Contains(out, filepath.Join(dir, "bad.prom")) {
				t.Errorf("the broken file has an mtime, as if it had been read:\n%s", out)
			}
			if !strings.Contains(out, `node_textfile_mtime_seconds{file="`+filepath.Join(dir, "good.prom")+`"}`) {
				t.Errorf("the healthy file's mtime is missing:\n%s", out)
			}
			if n := strings.Count(logged, "\n"); n != 1 || !strings.Contains(logged, tc.logWant) {
				t.Errorf("want one log line with %q, got %d:\n%s", tc.logWant, n, logged)
			}
			// The same problem at the next scrape is not logged again.
			if _, again := runTextfile(t, c); again != "" {
				t.Errorf("the same problem was logged again:\n%s", again)
			}
		})
	}
}

// TestTextfileLarge writes a 100 MB textfile: it is refused without being
// read (scrape_error 1), and the scrape allocates next to nothing for it.
func TestTextfileLarge(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "good.prom"), goodTextfile)
	f, err := os.Create(filepath.Join(dir, "huge.prom"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := []byte("huge_metric{instance=\"a-label-value-that-makes-the-line-longer\",i=\"0\"} 1\n")
	for written := 0; written < 100<<20; written += len(line) {
		_, _ = w.Write(line)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c := newTestTextfile(t, 0, dir)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, logged := runTextfile(t, c)
	runtime.ReadMemStats(&after)
	if !strings.Contains(out, "node_textfile_scrape_error 1\n") || !strings.Contains(out, "good_metric 42\n") {
		t.Errorf("want scrape_error 1 and the healthy file's metric:\n%s", out)
	}
	if strings.Contains(out, "huge_metric") {
		t.Error("the oversized file was exported")
	}
	if !strings.Contains(logged, "larger than the limit") {
		t.Errorf("log does not say the file is too large:\n%s", logged)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("scrape allocated %d bytes for a refused 100 MB file", alloc)
	}
}

// TestTextfileCap checks the limit while reading (a file that grows past the
// limit after the size check): exactly the limit parses, one byte more fails.
func TestTextfileCap(t *testing.T) {
	t.Parallel()
	in := strings.Repeat("capped_metric 1\n", 64) // 1024 bytes
	if _, err := parseTextfile(strings.NewReader(in), int64(len(in))); err != nil {
		t.Errorf("a file of exactly the limit failed: %v", err)
	}
	if _, err := parseTextfile(strings.NewReader(in), int64(len(in))-1); !errors.Is(err, errTextfileTooLarge) {
		t.Errorf("a file one byte over the limit: err = %v, want errTextfileTooLarge", err)
	}
}

// TestTextfileDirectoryVanishes removes the directory between scrapes: the
// next scrape reports scrape_error 1 and logs it once, and recovers when
// the directory is back.
func TestTextfileDirectoryVanishes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "textfile")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "good.prom"), goodTextfile)
	c := newTestTextfile(t, 0, dir)
	if out, _ := runTextfile(t, c); !strings.Contains(out, "node_textfile_scrape_error 0\n") || !strings.Contains(out, "good_metric 42") {
		t.Fatalf("first scrape:\n%s", out)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	out, logged := runTextfile(t, c)
	if !strings.Contains(out, "node_textfile_scrape_error 1\n") || strings.Contains(out, "good_metric") {
		t.Errorf("after removal:\n%s", out)
	}
	if strings.Count(logged, "\n") != 1 || !strings.Contains(logged, "failed to read textfile collector directory") {
		t.Errorf("want one log line about the directory:\n%s", logged)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "good.prom"), goodTextfile)
	if out, _ := runTextfile(t, c); !strings.Contains(out, "node_textfile_scrape_error 0\n") {
		t.Errorf("did not recover:\n%s", out)
	}
}

// TestTextfileDirectories reads several directories (the flag repeated) and
// a glob, as node_exporter 1.6+ does; no directory reads nothing, without
// an error, as node_exporter 1.5's default "".
func TestTextfileDirectories(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, d := range []string{"a", "b1", "b2"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, d, "m.prom"), "from_"+d+" 1\n")
	}
	out, _ := runTextfile(t, newTestTextfile(t, 0, filepath.Join(root, "a"), filepath.Join(root, "b*")))
	for _, want := range []string{"from_a 1\n", "from_b1 1\n", "from_b2 1\n", "node_textfile_scrape_error 0\n",
		`# HELP from_a Metric read from ` + filepath.Join(root, "a", "m.prom") + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if out, _ := runTextfile(t, newTestTextfile(t, 0)); out != "# HELP node_textfile_scrape_error 1 if there was an error opening or reading a file, 0 otherwise\n# TYPE node_textfile_scrape_error gauge\nnode_textfile_scrape_error 0\n" {
		t.Errorf("no directory:\n%s", out)
	}
}

// FuzzTextfile feeds arbitrary bytes through the whole path: parse, merge
// with a fixed second file, render. It must never panic, never emit a
// duplicate series, and what it renders must parse again.
func FuzzTextfile(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/textfile/textfile/*.prom")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\nh_bucket 2\n"))
	f.Add([]byte("# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\n# TYPE s_sum gauge\n"))
	f.Add([]byte("# HELP x \xff\xfe\nx{a=\"b\"} NaN\n"))
	second, err := parseTextfile(strings.NewReader(goodTextfile+"# TYPE x counter\nx{a=\"b\"} 1\n"), 1<<20)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		fams, err := parseTextfile(bytes.NewReader(data), 1<<20)
		if err != nil {
			return
		}
		var probs textfileProblems
		metrics := convertTextfiles([]parsedTextfile{{path: "a.prom", fams: fams}, {path: "b.prom", fams: second}}, &probs)
		samples := make([]*collector.Sample, 0, len(metrics))
		for _, m := range metrics {
			samples = append(samples, m.(*collector.Sample))
		}
		fams2, dups := collector.GroupFamilies(samples)
		if dups != 0 {
			t.Fatalf("%d duplicate series", dups)
		}
		var out []byte
		for _, fam := range fams2 {
			out = fam.AppendText(out)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		if _, err := p.TextToMetricFamilies(bytes.NewReader(out)); err != nil {
			t.Fatalf("rendered output does not parse: %v\n%s", err, out)
		}
	})
}
