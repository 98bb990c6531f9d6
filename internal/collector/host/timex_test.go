package host

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

type epermSystem struct{ *fixtureSystem }

func (epermSystem) Adjtimex() (Timex, error) { return Timex{}, syscall.EPERM }

func TestTimexPermissionIsNoData(t *testing.T) {
	cfg := fixtureConfig(t, t.TempDir())
	cfg.System = epermSystem{&fixtureSystem{}}
	if _, err := render(t, "timex", cfg); !errors.Is(err, collector.ErrNoData) {
		t.Fatalf("EPERM: want ErrNoData, got %v", err)
	}
}

func TestTimexUnsyncedMicroseconds(t *testing.T) {
	cfg := fixtureConfig(t, t.TempDir())
	// This machine's values: TIME_ERROR, STA_UNSYNC, microsecond units.
	cfg.System = &fixtureSystem{Tx: &Timex{State: 5, Status: 64, Offset: 1500, Maxerror: 16000000, Esterror: 16000000, Constant: 2, Tick: 10000}}
	out, err := render(t, "timex", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"node_timex_sync_status 0\n", "node_timex_offset_seconds 0.0015\n", "node_timex_maxerror_seconds 16\n",
		"node_timex_frequency_adjustment_ratio 1\n", "node_timex_status 64\n", "node_timex_tick_seconds 0.01\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
