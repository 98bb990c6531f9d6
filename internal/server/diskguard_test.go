package server

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeDisk is a file system whose free space the test sets, and which
// writes consume.
type fakeDisk struct {
	free atomic.Int64
	err  atomic.Pointer[error]
}

func (d *fakeDisk) freeSpace(string) (uint64, error) {
	if e := d.err.Load(); e != nil {
		return 0, *e
	}
	return uint64(max(d.free.Load(), 0)), nil
}

func newFakeGuard(free int64, minFree uint64) (*diskGuard, *fakeDisk) {
	d := &fakeDisk{}
	d.free.Store(free)
	return &diskGuard{path: "/fake", minFree: minFree, logger: slog.New(slog.DiscardHandler), freeSpace: d.freeSpace}, d
}

const mib = 1 << 20

func TestDiskGuardReserve(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		free     int64
		minFree  uint64
		inFlight []uint64 // reserved (and held) first
		need     uint64
		statErr  bool
		want     bool // admitted
	}{
		{name: "plenty", free: 1000 * mib, minFree: 64 * mib, need: 32 * mib, want: true},
		{name: "exactly to the margin", free: 96 * mib, minFree: 64 * mib, need: 32 * mib, want: true},
		{name: "one byte past the margin", free: 96*mib - 1, minFree: 64 * mib, need: 32 * mib, want: false},
		{name: "already under the margin", free: 10 * mib, minFree: 64 * mib, need: 0, want: false},
		{name: "in flight counts", free: 128 * mib, minFree: 64 * mib, inFlight: []uint64{32 * mib}, need: 32 * mib, want: true},
		{name: "in flight fills it", free: 128 * mib, minFree: 64 * mib, inFlight: []uint64{32 * mib, 32 * mib}, need: 1, want: false},
		{name: "statfs fails: closed", free: 1000 * mib, minFree: 64 * mib, need: 1, statErr: true, want: false},
		{name: "guard off", free: 0, minFree: 0, need: 32 * mib, statErr: true, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, d := newFakeGuard(tc.free, tc.minFree)
			for _, n := range tc.inFlight {
				release, err := g.reserve(n)
				if err != nil {
					t.Fatalf("reserve(%d) of the bytes in flight: %v", n, err)
				}
				defer release()
			}
			if tc.statErr {
				e := errors.New("input/output error")
				d.err.Store(&e)
			}
			release, err := g.reserve(tc.need)
			if got := err == nil; got != tc.want {
				t.Fatalf("reserve(%d) with %d free, %d kept, %v in flight: err %v, want admitted=%v", tc.need, tc.free, tc.minFree, tc.inFlight, err, tc.want)
			}
			if err != nil {
				if !errors.Is(err, errDiskFull) {
					t.Errorf("refusal %v does not wrap errDiskFull", err)
				}
				return
			}
			release()
			release() // a second call gives nothing back twice
			var held uint64
			for _, n := range tc.inFlight {
				held += n
			}
			if tc.minFree != 0 && g.reserved() != held {
				t.Errorf("after release, %d bytes reserved, want %d", g.reserved(), held)
			}
		})
	}
}

// TestDiskGuardCheckFailsClosed: the appenders' check refuses while the
// free space cannot be read, and lets samples in again once it can.
func TestDiskGuardCheckFailsClosed(t *testing.T) {
	t.Parallel()
	g, d := newFakeGuard(1000*mib, 64*mib)
	if err := g.check(); err != nil {
		t.Fatalf("check with space: %v", err)
	}
	e := errors.New("no such file or directory")
	d.err.Store(&e)
	if err := g.check(); !errors.Is(err, errDiskFull) {
		t.Fatalf("check when statfs fails: %v, want a refusal", err)
	}
	d.err.Store(nil)
	if err := g.check(); err != nil {
		t.Fatalf("check once statfs works again: %v", err)
	}
	d.free.Store(10 * mib)
	if err := g.check(); !errors.Is(err, errDiskFull) {
		t.Fatalf("check under the margin: %v, want a refusal", err)
	}
}

// TestDiskGuardConcurrentWrites: many writers of 32 MiB against a disk
// with room for a few. Each reserves, "writes" (the fake disk's free space
// drops by its size), then releases, as the receiver does around an append.
// The free space must never go under the margin, however they interleave.
func TestDiskGuardConcurrentWrites(t *testing.T) {
	t.Parallel()
	const (
		writers = 64
		size    = 32 * mib
		minFree = 64 * mib
	)
	g, d := newFakeGuard(minFree+5*size+size/2, minFree) // room for 5 writes
	var (
		wg       sync.WaitGroup
		admitted atomic.Int64
		lowest   atomic.Int64
	)
	lowest.Store(d.free.Load())
	start := make(chan struct{})
	for range writers {
		wg.Go(func() {
			<-start
			release, err := g.reserve(size)
			if err != nil {
				if !errors.Is(err, errDiskFull) {
					t.Errorf("refusal %v does not wrap errDiskFull", err)
				}
				return
			}
			defer release()
			admitted.Add(1)
			left := d.free.Add(-size)
			for {
				low := lowest.Load()
				if left >= low || lowest.CompareAndSwap(low, left) {
					break
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if low := lowest.Load(); low < minFree {
		t.Errorf("free space went down to %d bytes, under the %d kept free", low, minFree)
	}
	// Between its write and its release a writer counts twice (written
	// and still reserved), so writers that came then may have been refused
	// although room was left: fewer than 5 may get in, never more.
	if n := admitted.Load(); n < 1 || n > 5 {
		t.Errorf("%d writes admitted, want 1 to the 5 there is room for", n)
	}
	if r := g.reserved(); r != 0 {
		t.Errorf("%d bytes still reserved after every write ended", r)
	}
}
