package host

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestPressureUnavailable(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "proc", "meminfo"), "")
	out, err := render(t, "pressure", fixtureConfig(t, dir))
	if !errors.Is(err, collector.ErrNoData) {
		t.Errorf("err = %v, want ErrNoData", err)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("output:\n%s", out)
	}
}

func TestPressureMalformed(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"bad number": {"cpu": "some avg10=x avg60=0.00 avg300=0.00 total=1\n"},
		"no full": {
			"cpu": "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n",
			"io":  "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n",
		},
		"no some": {"cpu": "full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for f, content := range files {
				writeFixture(t, filepath.Join(dir, "proc", "pressure", f), content)
			}
			_, err := render(t, "pressure", fixtureConfig(t, dir))
			if err == nil || errors.Is(err, collector.ErrNoData) || !strings.Contains(err.Error(), "read "+dir) {
				t.Errorf("err = %v, want a failure naming the file", err)
			}
		})
	}
}
