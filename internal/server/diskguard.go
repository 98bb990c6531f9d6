package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"golang.org/x/sys/unix"
)

// diskGuard refuses to commit samples while the storage's file system has
// less than minFree bytes free.
//
// Why not let the write-ahead log meet ENOSPC: the TSDB's WAL keeps a record
// whose write failed in its page buffer and writes it later; a record that
// spanned pages is then torn, and the next start "repairs" the WAL by
// cutting it there, losing every sample acknowledged after space returned
// (prometheus/prometheus#13027). Stopping ingestion a margin before the disk
// is full keeps the WAL whole: commits fail with an error that says why,
// nothing reaches the WAL, and ingestion resumes by itself once space is
// freed.
//
// A check of the free space alone lets writers that arrive together all
// pass it: twenty 32 MiB remote writes admitted against 64 MiB of margin
// write 640 MiB. So the remote_write receiver reserves each request's
// decoded size before it is handled (reserve) and releases it after the
// append: the free space less the bytes in flight must stay above the
// margin.
//
// It fails closed: when the free space cannot be read, nothing is written.
type diskGuard struct {
	path    string
	minFree uint64
	logger  *slog.Logger
	// freeSpace returns the bytes free to an unprivileged user on the file
	// system of path; nil means statfs(2).
	freeSpace func(path string) (uint64, error)

	full atomic.Bool
	// unreadable is set while freeSpace fails, so that the failure is
	// logged once.
	unreadable atomic.Bool

	// mu guards inFlight, the bytes reserved by requests not yet appended.
	mu       sync.Mutex
	inFlight uint64
}

// errDiskFull is wrapped by the guard's refusals, for the receiver to answer
// 507 Insufficient Storage.
var errDiskFull = errors.New("storage is nearly full")

// statfsFree is the free space of path's file system, as df shows it to an
// unprivileged user.
func statfsFree(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil //nolint:gosec // Bsize is positive
}

func (g *diskGuard) enabled() bool { return g != nil && g.minFree != 0 }

// free reads the free space; an error is the guard's refusal, logged on the
// transition into that state.
func (g *diskGuard) free() (uint64, error) {
	read := g.freeSpace
	if read == nil {
		read = statfsFree
	}
	free, err := read(g.path)
	if err != nil {
		if !g.unreadable.Swap(true) {
			g.logger.Error("cannot read the storage's free space: ingestion stopped until it can", "path", g.path, "err", err)
		}
		return 0, fmt.Errorf("%w: cannot tell the free space of %s (%w): samples refused until it can be read (--storage.tsdb.min-free-space=0 turns the guard off)", errDiskFull, g.path, err)
	}
	if g.unreadable.Swap(false) {
		g.logger.Info("storage's free space readable again", "path", g.path, "free_bytes", free)
	}
	return free, nil
}

// refusal is the error for free bytes, of which reserved are in flight,
// when need more are asked for; it logs the transition into the full state.
func (g *diskGuard) refusal(free, reserved, need uint64) error {
	if !g.full.Swap(true) {
		g.logger.Error("storage is nearly full: ingestion stopped until space is freed",
			"path", g.path, "free_bytes", free, "in_flight_bytes", reserved, "min_free_bytes", g.minFree)
	}
	if reserved+need > 0 {
		return fmt.Errorf("%w: storage %s has %d bytes free, %d of them reserved by writes in flight, and this write needs up to %d; %d bytes are kept free (--storage.tsdb.min-free-space): samples refused until space is freed", errDiskFull, g.path, free, reserved, need, g.minFree)
	}
	return fmt.Errorf("%w: storage %s has %d bytes free, under the %d bytes kept free (--storage.tsdb.min-free-space): samples refused until space is freed", errDiskFull, g.path, free, g.minFree)
}

// check returns an error while free space is under the margin or cannot be
// read, logging the transitions into and out of that state once each.
// Writers that reserve (the remote_write receiver) were admitted against
// the bytes in flight already; check only compares the free space with the
// margin.
func (g *diskGuard) check() error {
	if !g.enabled() {
		return nil
	}
	free, err := g.free()
	if err != nil {
		return err
	}
	if free < g.minFree {
		return g.refusal(free, 0, 0)
	}
	if g.full.Swap(false) {
		g.logger.Info("storage has free space again: ingestion resumed", "path", g.path, "free_bytes", free)
	}
	return nil
}

// reserve admits a write of up to n bytes: the free space, less the bytes
// already in flight and n, must stay at or above the margin. The returned
// release gives the bytes back; call it once the write is appended (or
// refused), whatever happened.
func (g *diskGuard) reserve(n uint64) (release func(), err error) {
	if !g.enabled() {
		return func() {}, nil
	}
	// The free space is read under the lock, with the reservation: read
	// before it, a writer could finish (less free) and release (less in
	// flight) in between, and the stale figure would admit too much.
	g.mu.Lock()
	free, err := g.free()
	if err != nil {
		g.mu.Unlock()
		return nil, err
	}
	reserved := g.inFlight
	if free < g.minFree || free-g.minFree < reserved || free-g.minFree-reserved < n {
		g.mu.Unlock()
		return nil, g.refusal(free, reserved, n)
	}
	g.inFlight += n
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.inFlight -= n
			g.mu.Unlock()
		})
	}, nil
}

// reserved is the bytes in flight (tests).
func (g *diskGuard) reserved() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight
}

// commit commits tx unless the disk is nearly full, in which case it rolls
// tx back and says why.
func (g *diskGuard) commit(tx storage.AppenderTransaction) error {
	if err := g.check(); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// guardedStorage is where samples are appended: the fanout storage, with
// the disk guard checked when an appender is taken (so that a refused batch
// does not even create series: the head logs created series to the WAL
// on rollback too) and again before its commit (the disk may fill during a
// batch).
type guardedStorage struct {
	s storage.Storage
	g *diskGuard
}

func (a guardedStorage) Appender(ctx context.Context) storage.Appender {
	return guardedAppender{a.s.Appender(ctx), a.g, a.g.check()}
}

func (a guardedStorage) AppenderV2(ctx context.Context) storage.AppenderV2 {
	app, refuse := a.s.AppenderV2(ctx), a.g.check()
	// The remote_write receiver needs the exemplar method of the fanout's
	// appender; keep it visible through the wrapper.
	if ea, ok := app.(storage.ExemplarAppenderV2); ok {
		return guardedExemplarAppenderV2{guardedAppenderV2{ea, a.g, refuse}, ea}
	}
	return guardedAppenderV2{app, a.g, refuse}
}

type guardedAppender struct {
	storage.Appender
	g *diskGuard
	// refuse, when set, fails every append: the disk was nearly full when
	// the appender was taken.
	refuse error
}

func (a guardedAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	if a.refuse != nil {
		return 0, a.refuse
	}
	return a.Appender.Append(ref, l, t, v)
}

func (a guardedAppender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	if a.refuse != nil {
		return 0, a.refuse
	}
	return a.Appender.AppendHistogram(ref, l, t, h, fh)
}

func (a guardedAppender) Commit() error { return a.g.commit(a.Appender) }

type guardedAppenderV2 struct {
	storage.AppenderV2
	g      *diskGuard
	refuse error
}

func (a guardedAppenderV2) Append(ref storage.SeriesRef, l labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AOptions) (storage.SeriesRef, error) {
	if a.refuse != nil {
		return 0, a.refuse
	}
	return a.AppenderV2.Append(ref, l, st, t, v, h, fh, opts)
}

func (a guardedAppenderV2) Commit() error { return a.g.commit(a.AppenderV2) }

// guardedExemplarAppenderV2 is guardedAppenderV2 over an appender that also
// takes exemplars.
type guardedExemplarAppenderV2 struct {
	guardedAppenderV2
	ea storage.ExemplarAppenderV2
}

func (a guardedExemplarAppenderV2) AppendExemplars(ref storage.SeriesRef, l labels.Labels, es []exemplar.Exemplar) (storage.SeriesRef, error) {
	if a.refuse != nil {
		return 0, a.refuse
	}
	return a.ea.AppendExemplars(ref, l, es)
}
