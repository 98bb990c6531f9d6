package host

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/panoptes-dev/panoptes/internal/collector"
	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// nodeExporterOnFixture runs Debian's node_exporter 1.5 with only the named
// collector against testdata/<name>/{proc,sys} and returns that collector's
// families (its own scrape metrics, go_*, process_* and the build info
// left out), in the text format. The roots are relative, as ours are in
// TestGolden, so path labels (rapl's) compare equal.
func nodeExporterOnFixture(t *testing.T, name string, args ...string) string {
	t.Helper()
	bin := testkit.Peer(t, "prometheus-node-exporter")
	dir := filepath.Join("testdata", name)
	addr := testkit.FreePort(t)
	args = append([]string{
		"--web.listen-address=" + addr,
		"--collector.disable-defaults",
		"--collector." + name,
		"--path.procfs=" + filepath.Join(dir, "proc"),
		"--path.sysfs=" + filepath.Join(dir, "sys"),
		"--path.rootfs=" + filepath.Join(dir, "root"),
		"--log.level=debug",
	}, args...)
	p := testkit.Start(t, bin, args...)
	ctx := t.Context()
	var body []byte
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("read node_exporter's /metrics: %v", err)
			}
			break
		}
		// Not listening yet: wait for it, unless it has exited.
		select {
		case <-p.Done:
			t.Fatalf("node_exporter exited: %s", p.Logs.String())
		case <-ctx.Done():
			t.Fatalf("node_exporter never answered: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse node_exporter's output: %v", err)
	}
	var names []string
	for n := range fams {
		switch {
		case strings.HasPrefix(n, "go_"), strings.HasPrefix(n, "process_"), strings.HasPrefix(n, "promhttp_"),
			strings.HasPrefix(n, "node_scrape_collector_"), n == "node_exporter_build_info",
			n == "node_textfile_scrape_error":
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, n := range names {
		if err := enc.Encode(fams[n]); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

// compareWithNodeExporter checks that our collector's output on its fixture
// is node_exporter's, family for family, label for label, and value for
// value. Both sides render with expfmt, so the texts are equal byte for
// byte.
func compareWithNodeExporter(t *testing.T, name string, args ...string) {
	t.Helper()
	want := nodeExporterOnFixture(t, name, args...)
	if strings.TrimSpace(want) == "" {
		t.Fatalf("node_exporter reported nothing for %s on its fixture", name)
	}
	got, err := render(t, name, fixtureConfig(t, filepath.Join("testdata", name)))
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if diff := cmp.Diff(want, normaliseHelp(t, got)); diff != "" {
		t.Errorf("%s differs from node_exporter 1.5 on testdata/%s (-node_exporter +ours):\n%s", name, name, diff)
	}
}

// normaliseHelp re-encodes our text through the same parser, so that both
// sides went through the same round trip.
func normaliseHelp(t *testing.T, text string) string {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse our output: %v", err)
	}
	var names []string
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, n := range names {
		if err := enc.Encode(fams[n]); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

func TestHwmonMatchesNodeExporter(t *testing.T) {
	t.Parallel()
	compareWithNodeExporter(t, "hwmon")
}

// TestHwmonUnreadableSensor: the fixture's nct6779 temp7_input answers
// EIO (it links to /proc/self/mem, whose first page cannot be read):
// the value is dropped, its label and every other sensor of the chip stay,
// and the collector succeeds, as node_exporter does.
func TestHwmonUnreadableSensor(t *testing.T) {
	t.Parallel()
	eio := filepath.Join("testdata", "hwmon", "sys", "class", "hwmon", "hwmon2", "temp7_input")
	if _, err := readHwmonFile(eio); !errors.Is(err, syscall.EIO) {
		t.Fatalf("reading %s: %v, want EIO", eio, err)
	}
	out, err := render(t, "hwmon", fixtureConfig(t, filepath.Join("testdata", "hwmon")))
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if !strings.Contains(out, `node_hwmon_sensor_label{chip="platform_nct6775_656",label="PECI Agent 0",sensor="temp7"} 1`) {
		t.Errorf("temp7's label is missing:\n%s", out)
	}
	if strings.Contains(out, `sensor="temp7"} 0`) || strings.Count(out, `sensor="temp7"`) != 1 {
		t.Errorf("temp7 has a value although its input cannot be read:\n%s", out)
	}
	if !strings.Contains(out, `node_hwmon_temp_celsius{chip="platform_nct6775_656",sensor="temp2"} 41.5`) {
		t.Errorf("the chip's other sensors are missing:\n%s", out)
	}
}

// TestHwmonChipVanishes: a chip whose directory cannot be listed fails the
// collector, after the other chips are reported.
func TestHwmonChipVanishes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	class := filepath.Join(dir, "sys", "class", "hwmon")
	writeFixture(t, filepath.Join(class, "hwmon0", "name"), "coretemp\n")
	writeFixture(t, filepath.Join(class, "hwmon0", "temp1_input"), "41000\n")
	// hwmon1 points at a chip directory that is gone (hot-unplugged USB
	// sensor): skipped, as node_exporter skips a dangling entry.
	if err := os.Symlink("../../devices/gone/hwmon1", filepath.Join(class, "hwmon1")); err != nil {
		t.Fatal(err)
	}
	// hwmon2's device is a plain file where a directory should be, so
	// listing it fails (ENOTDIR; root would read through a mode-0
	// directory): the collector fails, as node_exporter's does.
	if err := os.MkdirAll(filepath.Join(class, "hwmon2"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFixture(t, filepath.Join(class, "hwmon2", "name"), "nct6779\n")
	writeFixture(t, filepath.Join(class, "hwmon2", "device"), "not a directory\n")
	out, err := render(t, "hwmon", fixtureConfig(t, dir))
	if err == nil || errors.Is(err, collector.ErrNoData) || !strings.Contains(err.Error(), "hwmon2") {
		t.Errorf("err = %v, want a failure naming hwmon2", err)
	}
	if !strings.Contains(out, `node_hwmon_temp_celsius{chip="coretemp",sensor="temp1"} 41`) {
		t.Errorf("the readable chip is missing:\n%s", out)
	}
}

func TestHwmonNoClass(t *testing.T) {
	t.Parallel()
	_, err := render(t, "hwmon", fixtureConfig(t, t.TempDir()))
	if !errors.Is(err, collector.ErrNoData) {
		t.Errorf("err = %v, want ErrNoData", err)
	}
}

func TestSplitHwmonFileName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in        string
		typ, prop string
		num       int
		ok        bool
	}{
		{"temp1_input", "temp", "input", 1, true},
		{"temp12_crit_alarm", "temp", "crit_alarm", 12, true},
		{"fan3", "fan", "", 3, true},
		{"beep_enable", "beep_enable", "", 0, true},
		{"update_interval", "update_interval", "", 0, true},
		{"in_intrusion0", "in_intrusion", "", 0, true},
		// No index: the type ends at the first underscore that leads to a
		// valid rest, as node_exporter's pattern groups it.
		{"ab_cd1x", "ab", "cd1x", 0, true},
		{"temp1x", "", "", 0, false},
		{"1_input", "", "", 0, false},
		{"temp99999999999999999999_input", "", "", 0, false},
	} {
		typ, num, prop, ok := splitHwmonFileName(tc.in)
		if typ != tc.typ || num != tc.num || prop != tc.prop || ok != tc.ok {
			t.Errorf("%q: got (%q, %d, %q, %v), want (%q, %d, %q, %v)", tc.in, typ, num, prop, ok, tc.typ, tc.num, tc.prop, tc.ok)
		}
	}
}

func TestParseHwmonValue(t *testing.T) {
	t.Parallel()
	checkParse(t, parseHwmonValue, "46000\n", "46000", false)
	checkParse(t, parseHwmonValue, "", "", false)
	checkParse(t, parseHwmonValue, "Package id 0\n", "Package id 0", false)
	// A chip answering EIO or EAGAIN fails the read: no retry loop.
	if _, err := parseHwmonValue(iotest.ErrReader(errors.New("input/output error"))); err == nil {
		t.Error("a read error was not returned")
	}
	long := strings.Repeat("9", 300)
	if v, _ := parseHwmonValue(strings.NewReader(long)); len(v) != hwmonMaxValue {
		t.Errorf("read %d bytes, want at most %d", len(v), hwmonMaxValue)
	}
}

// FuzzParseHwmonValue feeds any bytes as a sensor file, and the sensor's
// file name through the metric builder: no panic, and every family it
// builds is a valid one.
func FuzzParseHwmonValue(f *testing.F) {
	for _, s := range []struct{ name, value string }{
		{"temp1_input", "46000\n"}, {"fan1_input", "1079\n"}, {"in0_input", "1032\n"},
		{"temp1_label", "Package id 0\n"}, {"power1_average_interval", "1000\n"},
		{"energy1_input", "123456789\n"}, {"humidity1_input", "45000\n"}, {"curr1_input", "-5\n"},
		{"beep_enable", "1\n"}, {"vrm", "9.1\n"}, {"update_interval", "1000\n"}, {"pwm1_Enable-X", "2\n"},
	} {
		f.Add(s.name, []byte(s.value))
	}
	f.Fuzz(func(t *testing.T, name string, b []byte) {
		if len(b) > maxFuzzInput || len(name) > 256 {
			return
		}
		v, err := parseHwmonValue(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("a reader without errors failed: %v", err)
		}
		if len(v) > hwmonMaxValue {
			t.Fatalf("value longer than one read: %d", len(v))
		}
		typ, num, prop, ok := splitHwmonFileName(name)
		if !ok || !hwmonSensorTypes[typ] {
			return
		}
		c, err := newHwmon(DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var sink collector.Sink
		c.(*hwmonCollector).sendSensor(&sink, "chip", typ+strconv.Itoa(num), map[string]string{prop: v})
		for _, m := range sink.Metrics() {
			var pb dto.Metric
			if err := m.Write(&pb); err != nil {
				t.Fatalf("sample of %s does not write: %v", m.Desc(), err)
			}
		}
	})
}
