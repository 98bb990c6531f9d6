package testkit

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

// CI reports whether the tests run under CI (CI=true, or any other value
// strconv.ParseBool reads as true), where a missing prerequisite is a failure.
func CI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// MissingPrefix starts the message of every test that lacks a prerequisite,
// "missing <what>: <how to get it>", so that a summary can list them.
const MissingPrefix = "missing "

// Missing is called by a test whose prerequisite what is not there; how
// says what provides it (`make deps` as root, a Debian package, ...). On a
// laptop the test skips with "missing <what>: <how>"; under CI=true it fails
// with the same words, so that CI cannot pass by skipping.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if CI() {
		t.Fatalf("%s%s: %s (CI=true: a missing prerequisite fails the test)", MissingPrefix, what, how)
		return
	}
	t.Skipf("%s%s: %s", MissingPrefix, what, how)
}

// RequireRoot is Missing("root", ...) unless the test runs as root; why
// says what needs it ("to make cgroups").
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root", "the test needs root "+why+"; run it as root (CI does)")
	}
}

// debianPackages names the Debian package that hack/test-deps.sh installs
// for a program the tests look up on $PATH.
var debianPackages = map[string]string{
	"promtool":                 "prometheus",
	"prometheus":               "prometheus",
	"prometheus-node-exporter": "prometheus-node-exporter",
	"ip":                       "iproute2",
	"chromium":                 "chromium",
	"stress-ng":                "stress-ng",
}

// Peer returns the path of the program name on $PATH (a peer the tests
// compare with, or a tool such as ip), or calls Missing.
func Peer(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	how := "`make deps` as root installs it"
	if pkg, ok := debianPackages[name]; ok {
		how = "`make deps` as root installs Debian's " + pkg
	}
	Missing(t, name, "not on $PATH; "+how)
	return ""
}

// CacheDir is where hack/test-deps.sh caches what it builds:
// $PANOPTES_CACHE, by default ~/.cache/panoptes.
func CacheDir() string {
	if c := os.Getenv("PANOPTES_CACHE"); c != "" {
		return c
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "panoptes")
}

// CachedPeer returns the newest executable matching glob under
// CacheDir()/peers, where hack/test-deps.sh builds the peers that are not
// Debian packages ("prometheus-v*/prometheus", "cadvisor-*"), or calls
// Missing. Newest is by the semantic version in the first path element
// (v0.10.0 is newer than v0.9.0).
func CachedPeer(t testing.TB, glob string) string {
	t.Helper()
	if p := LookCachedPeer(glob); p != "" {
		return p
	}
	Missing(t, "peer "+glob, "not built in "+filepath.Join(CacheDir(), "peers")+"; `make deps` builds it")
	return ""
}

// LookCachedPeer is CachedPeer without the test: "" when the peer is
// missing. For a test that runs what it can without the peer and reports
// the missing part from a subtest (CachedPeer there).
func LookCachedPeer(glob string) string {
	return newestPeer(filepath.Join(CacheDir(), "peers"), glob)
}

// newestPeer returns the executable matching glob under dir with the newest
// version, or "".
func newestPeer(dir, glob string) string {
	matches, _ := filepath.Glob(filepath.Join(dir, glob))
	var exes []string
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			rel, err := filepath.Rel(dir, m)
			if err == nil {
				exes = append(exes, rel)
			}
		}
	}
	if len(exes) == 0 {
		return ""
	}
	SortByVersion(exes)
	return filepath.Join(dir, exes[len(exes)-1])
}

// versionRE finds the version at the end of a peer's directory or file
// name: "prometheus-v0.316.0", "kube-state-metrics-v2.20.0", "tool-1.2".
var versionRE = regexp.MustCompile(`-v?(\d+(\.\d+)*(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?)$`)

// peerVersion is the canonical semantic version in the first element of the
// slash-separated path p, or "" when it has none.
func peerVersion(p string) string {
	first, _, _ := strings.Cut(filepath.ToSlash(p), "/")
	m := versionRE.FindStringSubmatch(first)
	if m == nil {
		return ""
	}
	v := "v" + m[1]
	if !semver.IsValid(v) {
		return ""
	}
	return v
}

// SortByVersion sorts peer paths relative to the peers directory oldest
// first: by the semantic version of their first element (so v0.9.0 comes
// before v0.10.0 and v1.0.0-rc.1 before v1.0.0), those without a version
// first, and by name where versions are equal.
func SortByVersion(paths []string) {
	slices.SortStableFunc(paths, func(a, b string) int {
		va, vb := peerVersion(a), peerVersion(b)
		switch {
		case va == "" && vb != "":
			return -1
		case va != "" && vb == "":
			return 1
		}
		if c := semver.Compare(va, vb); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
}

// FreePort returns a loopback address, 127.0.0.1:port, that was free a
// moment ago, for programs that cannot report the port they bound.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
