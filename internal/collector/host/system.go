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

type realSystem struct{}

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
		BlockSize:   int64(s.Bsize),
		ReadOnly:    s.Flags&unix.ST_RDONLY != 0,
	}, nil
}
