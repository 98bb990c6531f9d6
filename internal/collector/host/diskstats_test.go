package host

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseUdevData(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
	}{
		{name: "empty", in: "", want: map[string]string{}},
		{name: "properties only", in: "S:disk/by-id/x\nW:1\nE:ID_MODEL=Foo\nG:systemd\n",
			want: map[string]string{"ID_MODEL": "Foo"}},
		{name: "value with equals and spaces", in: "E:ID_MODEL=A = B \nE:EMPTY=\n",
			want: map[string]string{"ID_MODEL": "A = B ", "EMPTY": ""}},
		{name: "malformed skipped", in: "E:NOEQUALS\nE\ne:lower=x\n E:INDENTED=x\nE:OK=1",
			want: map[string]string{"OK": "1"}},
		{name: "later wins", in: "E:A=1\nE:A=2\n", want: map[string]string{"A": "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseUdevData(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := parseUdevData(strings.NewReader(strings.Repeat("x", maxUdevDataSize+1))); err == nil {
		t.Error("oversized udev file: want error")
	}
}

// TestDiskstatsUdevCache checks that udev data is re-read when the file
// changes and dropped when it disappears.
func TestDiskstatsUdevCache(t *testing.T) {
	dir := t.TempDir()
	cfg := fixtureConfig(t, dir)
	for _, d := range []string{"proc", "sys", "root/run/udev/data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "proc", "diskstats"),
		[]byte(" 8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	udev := filepath.Join(dir, "root", "run", "udev", "data", "b8:0")
	write := func(s string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(udev, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(udev, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := New([]string{"diskstats"}, cfg, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	c := cs[0].Collector.(*diskstatsCollector)
	model := func() string {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.udevProps(8, 0)[udevIDModel]
	}
	t0 := time.Unix(1_600_000_000, 0)
	write("E:ID_MODEL=one\n", t0)
	if got := model(); got != "one" {
		t.Fatalf("model %q, want one", got)
	}
	write("E:ID_MODEL=two\n", t0.Add(time.Second))
	if got := model(); got != "two" {
		t.Fatalf("model %q after change, want two", got)
	}
	if err := os.Remove(udev); err != nil {
		t.Fatal(err)
	}
	if got := model(); got != "" {
		t.Fatalf("model %q after removal, want empty", got)
	}
	out, err := render(t, "diskstats", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `node_disk_flush_requests_time_seconds_total{device="sda"} 0.017`) {
		t.Errorf("missing flush time in\n%s", out)
	}
}

func FuzzParseUdevData(f *testing.F) {
	files, _ := filepath.Glob("testdata/diskstats/root/run/udev/data/*")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("E:=\nE:A==\nE:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return
		}
		props, err := parseUdevData(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("in-limit input: %v", err)
		}
		for k := range props {
			if strings.ContainsRune(k, '\n') {
				t.Fatalf("key %q spans lines", k)
			}
		}
	})
}
