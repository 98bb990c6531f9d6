package state

import (
	"runtime/debug"
	"sync"
	"time"
)

// releaser returns the garbage of a full list to the OS once the lists of
// a burst are done. A full list decodes every object at once and keeps
// none (the stores hold rendered bytes only), so right after the initial
// sync, or a relist after the API server was away, most of the heap is
// dead objects. Without allocations after it the Go runtime would only
// collect them at its forced GC, two minutes later, and hand the pages back
// to the OS later still: bench/state.sh measured RSS 0.91x
// kube-state-metrics' before this, with half the live heap decoded pods.
type releaser struct {
	mu      sync.Mutex
	timer   resetter
	delay   time.Duration
	release func()
	// afterFunc arms the timer: time.AfterFunc when nil. A test passes a
	// timer it fires by hand, so that it need not race the delay.
	afterFunc func(time.Duration, func()) resetter
}

// resetter is the part of *time.Timer that the releaser uses.
type resetter interface{ Reset(d time.Duration) bool }

func newReleaser() *releaser {
	return &releaser{delay: 2 * time.Second, release: debug.FreeOSMemory}
}

// soon schedules a release delay after the last call of a burst.
func (r *releaser) soon() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Reset(r.delay)
		return
	}
	if r.afterFunc != nil {
		r.timer = r.afterFunc(r.delay, r.release)
		return
	}
	r.timer = time.AfterFunc(r.delay, r.release)
}

// releasingStore is a metrics store that tells the releaser when a
// reflector has replaced its whole content (a list or a watch-list).
type releasingStore struct {
	*familyStore
	r *releaser
}

// Replace implements cache.Store.
func (s releasingStore) Replace(list []any, resourceVersion string) error {
	err := s.familyStore.Replace(list, resourceVersion)
	s.r.soon()
	return err
}
