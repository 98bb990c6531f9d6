package gogc

import (
	"math"
	"os"
	"runtime/debug"
	"testing"
)

// Not parallel: GOGC is process-wide.
func TestApply(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	t.Setenv("GOGC", "80")
	if got := Apply(50); got != 80 {
		t.Errorf("with GOGC=80 set, Apply(50) = %d, want 80 (the environment wins)", got)
	}
	t.Setenv("GOGC", "off")
	if got := Apply(50); got != -1 {
		t.Errorf("with GOGC=off, Apply(50) = %d, want -1", got)
	}
}

func TestApplyUnset(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "") // restored after the test
	t.Run("set", func(t *testing.T) {
		unsetenv(t)
		if got := Apply(60); got != 60 {
			t.Errorf("Apply(60) = %d, want 60", got)
		}
		if prev := debug.SetGCPercent(100); prev != 60 {
			t.Errorf("GC percent in force %d, want 60", prev)
		}
	})
	t.Run("zero keeps the default", func(t *testing.T) {
		unsetenv(t)
		debug.SetGCPercent(100)
		if got := Apply(0); got != 100 {
			t.Errorf("Apply(0) = %d, want 100", got)
		}
		if prev := debug.SetGCPercent(100); prev != 100 {
			t.Errorf("GC percent in force %d, want 100", prev)
		}
	})
}

func unsetenv(t *testing.T) {
	t.Helper()
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
}

// Not parallel: the memory limit is process-wide.
func TestMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	for _, c := range []struct {
		env  string
		want int64 // the limit in force afterwards; 0: unchanged
	}{
		{"67108864", 60397977}, // 64Mi from resourceFieldRef: 90%
		{"2147483648", 1932735283},
		{"900MiB", 0}, // a unit: the operator's exact word, applied by the runtime
		{"off", 0},
		{"", 0},
		{"-5", 0},
	} {
		debug.SetMemoryLimit(math.MaxInt64)
		before := debug.SetMemoryLimit(-1)
		t.Setenv("GOMEMLIMIT", c.env)
		got := MemoryLimit()
		want := c.want
		if want == 0 {
			want = before
		}
		if got != want || debug.SetMemoryLimit(-1) != want {
			t.Errorf("GOMEMLIMIT=%q: MemoryLimit() = %d, in force %d, want %d", c.env, got, debug.SetMemoryLimit(-1), want)
		}
	}
}
