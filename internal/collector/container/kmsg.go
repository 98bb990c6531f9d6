package container

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// The kernel log tells of an OOM kill as it happens, with the killed task's
// memory cgroup:
//
//	6,1234,39543127517,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/x,task_memcg=/x,task=tail,pid=17311,uid=0
//
// A container killed for memory usually exits at once, and its runtime
// removes its cgroup before the next scrape could read the cgroup's
// oom_kill counter: the kernel log is what sees that kill.

// kmsgMaxRecord bounds one /dev/kmsg record (the kernel's is 1 KiB of text
// plus its dictionary).
const kmsgMaxRecord = 8 << 10

// parseKmsgOOM returns the memory cgroup of the task an OOM-kill record
// names (its task_memcg), ok false for any other record.
func parseKmsgOOM(rec []byte) (memcg string, ok bool) {
	// The message follows the record's "prio,seq,ts,flags;" prefix; a
	// record's continuation lines (" KEY=value") are not part of it.
	if i := bytes.IndexByte(rec, ';'); i >= 0 {
		rec = rec[i+1:]
	}
	if i := bytes.IndexByte(rec, '\n'); i >= 0 {
		rec = rec[:i]
	}
	rest, found := bytes.CutPrefix(rec, []byte("oom-kill:"))
	if !found {
		return "", false
	}
	for f := range bytes.SplitSeq(rest, []byte(",")) {
		if v, found := bytes.CutPrefix(f, []byte("task_memcg=")); found && len(v) > 0 && v[0] == '/' {
			return string(v), true
		}
	}
	return "", false
}

// watchKmsg reads OOM kills from the kernel log at path from now on and
// hands each killed task's memory cgroup to kill, until the log cannot be
// read. It returns at once (logging why at debug level) when path cannot be
// opened: an agent without root or without the host's /dev/kmsg counts
// only what the cgroups' counters show.
func watchKmsg(path string, kill func(memcg string), logger *slog.Logger) {
	f, err := os.Open(path)
	if err != nil {
		logger.Debug("not reading OOM kills from the kernel log", "path", path, "err", err)
		return
	}
	// Only kills from now on: older ones are in the counters already read,
	// or in cgroups long gone.
	if _, err := f.Seek(0, 2 /* SEEK_END */); err != nil {
		logger.Debug("not reading OOM kills from the kernel log", "path", path, "err", err)
		_ = f.Close()
		return
	}
	go func() {
		defer f.Close()
		buf := make([]byte, kmsgMaxRecord)
		for {
			n, err := f.Read(buf)
			switch {
			case errors.Is(err, syscall.EPIPE):
				continue // records overwritten before they were read
			case errors.Is(err, syscall.EINTR):
				continue
			case n == 0 && (err == nil || errors.Is(err, io.EOF)):
				// Not a kmsg device but a file: wait for more.
				time.Sleep(100 * time.Millisecond)
				continue
			case err != nil:
				logger.Warn("stopped reading OOM kills from the kernel log", "path", path, "err", err)
				return
			}
			if memcg, ok := parseKmsgOOM(buf[:n]); ok {
				kill(memcg)
			}
		}
	}()
}
