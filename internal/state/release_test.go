package state

import (
	"sync"
	"testing"
	"time"
)

// manualTimer is a releaser timer that fires only when the test says so.
type manualTimer struct {
	delay  time.Duration
	fire   func()
	resets int
}

func (m *manualTimer) Reset(d time.Duration) bool {
	m.delay = d
	m.resets++
	return true
}

// TestReleaser: a burst of full lists arms one timer, pushed back by each
// list, so memory is released once, after the last; a later burst re-arms
// the same timer.
func TestReleaser(t *testing.T) {
	t.Parallel()
	var timers []*manualTimer
	releases := 0
	r := &releaser{
		delay:   2 * time.Second,
		release: func() { releases++ },
		afterFunc: func(d time.Duration, f func()) resetter {
			m := &manualTimer{delay: d, fire: f}
			timers = append(timers, m)
			return m
		},
	}
	for range 5 {
		r.soon()
	}
	if len(timers) != 1 {
		t.Fatalf("%d timers armed for one burst, want 1", len(timers))
	}
	m := timers[0]
	if m.resets != 4 || m.delay != r.delay {
		t.Errorf("timer reset %d times to %v, want 4 times to %v (once per later list)", m.resets, m.delay, r.delay)
	}
	if releases != 0 {
		t.Fatalf("%d releases before the timer fired", releases)
	}
	m.fire()
	if releases != 1 {
		t.Fatalf("%d releases for one burst, want 1", releases)
	}

	r.soon()
	if len(timers) != 1 || m.resets != 5 {
		t.Errorf("next burst: %d timers, %d resets; want the same timer reset", len(timers), m.resets)
	}
	m.fire()
	if releases != 2 {
		t.Errorf("%d releases after two bursts, want 2", releases)
	}
}

// TestReleaserRealTimer: without an afterFunc the release runs on a real
// timer. It waits for that release, with a deadline that only stops a hang.
func TestReleaserRealTimer(t *testing.T) {
	t.Parallel()
	released := make(chan struct{})
	var once sync.Once
	r := &releaser{delay: time.Millisecond, release: func() { once.Do(func() { close(released) }) }}
	r.soon()
	select {
	case <-released:
	case <-time.After(time.Minute):
		t.Fatal("no release a minute after a list")
	}
}
