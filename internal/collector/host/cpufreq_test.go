package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestCpufreqMatchesNodeExporter(t *testing.T) {
	t.Parallel()
	compareWithNodeExporter(t, "cpufreq")
}

// TestCpufreqNone: CPUs without cpufreq (a VM) are no error and no output,
// as node_exporter 1.5 reports them.
func TestCpufreqNone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cpu := filepath.Join(dir, "sys", "devices", "system", "cpu")
	writeFixture(t, filepath.Join(cpu, "offline"), "\n")
	if err := os.MkdirAll(filepath.Join(cpu, "cpu0", "topology"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := render(t, "cpufreq", fixtureConfig(t, dir))
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("err = %v, output %q; want success and nothing", err, out)
	}
}

// TestCpufreqUnreadable: a frequency file that fails with EIO (it links to
// /proc/self/mem, whose first page cannot be read) fails the collector.
func TestCpufreqUnreadable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cpu := filepath.Join(dir, "sys", "devices", "system", "cpu")
	writeFixture(t, filepath.Join(cpu, "offline"), "\n")
	writeFixture(t, filepath.Join(cpu, "cpu0", "cpufreq", "scaling_max_freq"), "3500000\n")
	if err := os.Symlink("/proc/self/mem", filepath.Join(cpu, "cpu0", "cpufreq", "scaling_cur_freq")); err != nil {
		t.Fatal(err)
	}
	_, err := render(t, "cpufreq", fixtureConfig(t, dir))
	if err == nil || errors.Is(err, collector.ErrNoData) || !strings.Contains(err.Error(), "read cpufreq in "+dir) {
		t.Errorf("err = %v, want a failure naming the cpufreq directory", err)
	}
}
