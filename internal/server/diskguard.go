package server

import (
	"context"
	"fmt"
	"log/slog"
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
type diskGuard struct {
	path    string
	minFree uint64
	logger  *slog.Logger
	full    atomic.Bool
}

// check returns an error while free space is under the margin, logging the
// transitions into and out of that state once each.
func (g *diskGuard) check() error {
	if g == nil || g.minFree == 0 {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(g.path, &st); err != nil {
		return nil // cannot tell; let the write itself report
	}
	free := st.Bavail * uint64(st.Bsize)
	if free < g.minFree {
		if !g.full.Swap(true) {
			g.logger.Error("storage is nearly full: ingestion stopped until space is freed",
				"path", g.path, "free_bytes", free, "min_free_bytes", g.minFree)
		}
		return fmt.Errorf("storage %s has %d bytes free, under the %d bytes kept free (--storage.tsdb.min-free-space): samples refused until space is freed", g.path, free, g.minFree)
	}
	if g.full.Swap(false) {
		g.logger.Info("storage has free space again: ingestion resumed", "path", g.path, "free_bytes", free)
	}
	return nil
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
