package host

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestEdacMatchesNodeExporter(t *testing.T) {
	t.Parallel()
	compareWithNodeExporter(t, "edac")
}

// TestEdacNone: without an EDAC driver there is no controller, no output
// and no error, as node_exporter reports it.
func TestEdacNone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sys", "devices", "system"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := render(t, "edac", fixtureConfig(t, dir))
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("err = %v, output %q; want success and nothing", err, out)
	}
}

// TestEdacUnreadable: a counter that is gone (a controller unloaded
// mid-read) or answers EIO fails the collector, naming the controller.
func TestEdacUnreadable(t *testing.T) {
	t.Parallel()
	for name, link := range map[string]string{"vanished": "", "eio": "/proc/self/mem"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			mc := filepath.Join(dir, "sys", "devices", "system", "edac", "mc", "mc3")
			writeFixture(t, filepath.Join(mc, "ce_count"), "2\n")
			if link != "" {
				if err := os.Symlink(link, filepath.Join(mc, "ce_noinfo_count")); err != nil {
					t.Fatal(err)
				}
			}
			_, err := render(t, "edac", fixtureConfig(t, dir))
			if err == nil || errors.Is(err, collector.ErrNoData) || !strings.Contains(err.Error(), "controller 3") {
				t.Errorf("err = %v, want a failure naming controller 3", err)
			}
		})
	}
}

func TestParseEdacCount(t *testing.T) {
	t.Parallel()
	checkParse(t, parseEdacCount, "7\n", uint64(7), false)
	checkParse(t, parseEdacCount, "18446744073709551615\n", uint64(18446744073709551615), false)
	checkParse(t, parseEdacCount, "", uint64(0), true)
	checkParse(t, parseEdacCount, "-1\n", uint64(0), true)
	checkParse(t, parseEdacCount, "12 errors\n", uint64(0), true)
}

func FuzzParseEdacCount(f *testing.F) {
	for _, s := range []string{"0\n", "7\n", "18446744073709551615\n", "", "x", " 3 \n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		v, err := parseEdacCount(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		// What parsed is the number the file's first bytes spell.
		got := strings.TrimSpace(string(b[:min(len(b), edacMaxCount)]))
		if strings.TrimLeft(got, "0") != strings.TrimLeft(strconv.FormatUint(v, 10), "0") {
			t.Fatalf("%q parsed as %d", b, v)
		}
	})
}
