package host

import (
	"time"

	"golang.org/x/sys/unix"
)

// System is the part of the kernel that host collectors reach through system
// calls rather than files. Tests substitute fixtures for it.
type System interface {
	Uname() (Uname, error)
	Statfs(path string) (Statfs, error)
	Now() time.Time
	Adjtimex() (Timex, error)
}

// Uname is the result of uname(2).
type Uname struct {
	SysName, NodeName, Release, Version, Machine, DomainName string
}

// Statfs is the part of statfs(2) the filesystem collector reports.
type Statfs struct {
	Blocks, BlocksFree, BlocksAvail uint64
	Files, FilesFree                uint64
	BlockSize                       int64
	ReadOnly                        bool
}

// Timex is the part of adjtimex(2) the timex collector reports: State is
// the clock state the call returns (TIME_ERROR when unsynchronised), the
// rest are the fields of struct timex, in the kernel's units.
type Timex struct {
	State                                int
	Offset, Freq, Maxerror, Esterror     int64
	Status                               int64
	Constant, Precision, Tolerance, Tick int64
	Ppsfreq, Jitter, Shift, Stabil       int64
	Jitcnt, Calcnt, Errcnt, Stbcnt, Tai  int64
}

type realSystem struct{}

// Adjtimex reads the kernel clock state without changing it (modes 0).
func (realSystem) Adjtimex() (Timex, error) {
	var t unix.Timex
	state, err := unix.Adjtimex(&t)
	if err != nil {
		return Timex{}, err
	}
	return Timex{
		State:     state,
		Offset:    t.Offset,
		Freq:      t.Freq,
		Maxerror:  t.Maxerror,
		Esterror:  t.Esterror,
		Status:    int64(t.Status),
		Constant:  t.Constant,
		Precision: t.Precision,
		Tolerance: t.Tolerance,
		Tick:      t.Tick,
		Ppsfreq:   t.Ppsfreq,
		Jitter:    t.Jitter,
		Shift:     int64(t.Shift),
		Stabil:    t.Stabil,
		Jitcnt:    t.Jitcnt,
		Calcnt:    t.Calcnt,
		Errcnt:    t.Errcnt,
		Stbcnt:    t.Stbcnt,
		Tai:       int64(t.Tai),
	}, nil
}

func (realSystem) Now() time.Time { return time.Now() }

func (realSystem) Uname() (Uname, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Uname{}, err
	}
	return Uname{
		SysName:    unix.ByteSliceToString(u.Sysname[:]),
		NodeName:   unix.ByteSliceToString(u.Nodename[:]),
		Release:    unix.ByteSliceToString(u.Release[:]),
		Version:    unix.ByteSliceToString(u.Version[:]),
		Machine:    unix.ByteSliceToString(u.Machine[:]),
		DomainName: unix.ByteSliceToString(u.Domainname[:]),
	}, nil
}

func (realSystem) Statfs(path string) (Statfs, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(path, &s); err != nil {
		return Statfs{}, err
	}
	return Statfs{
		Blocks:      s.Blocks,
		BlocksFree:  s.Bfree,
		BlocksAvail: s.Bavail,
		Files:       s.Files,
		FilesFree:   s.Ffree,
		BlockSize:   int64(s.Bsize), //nolint:unconvert // int32 on 32-bit platforms
		ReadOnly:    s.Flags&unix.ST_RDONLY != 0,
	}, nil
}
