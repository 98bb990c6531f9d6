package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMountstatsThisMachine reads the real /proc/self/mountstats: every NFS
// mount here is reported, and nothing else (node_exporter reports success
// and no series on this machine, which has no NFS mount).
func TestMountstatsThisMachine(t *testing.T) {
	t.Parallel()
	out, err := render(t, "mountstats", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/mountstats")
	if err != nil {
		t.Fatal(err)
	}
	nfs := strings.Contains(string(b), "with fstype nfs")
	if !nfs && strings.TrimSpace(out) != "" {
		t.Errorf("no NFS mount here, got:\n%s", out)
	}
	if nfs && !strings.Contains(out, "node_mountstats_nfs_age_seconds_total{") {
		t.Errorf("NFS mounts not reported:\n%s", out)
	}
}

// TestMountstatsDuplicates: the fixture mounts one export twice (one RPC
// client), which is reported once, as node_exporter does.
func TestMountstatsDuplicates(t *testing.T) {
	t.Parallel()
	out, err := render(t, "mountstats", fixtureConfig(t, filepath.Join("testdata", "mountstats")))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "node_mountstats_nfs_age_seconds_total{"); n != 2 {
		t.Errorf("%d mounts reported, want 2 (/home once, /mnt/backups)", n)
	}
}

func TestMountstatsMalformed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "proc", "7"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("7", filepath.Join(dir, "proc", "self")); err != nil {
		t.Fatal(err)
	}
	writeFixture(t, filepath.Join(dir, "proc", "7", "mountstats"), "device s:/x mounted on /x with fstype nfs statvers=1.1\n\tage:\tlots\n")
	_, err := render(t, "mountstats", fixtureConfig(t, dir))
	if err == nil || !strings.Contains(err.Error(), "mountstats") {
		t.Errorf("err = %v, want a parse error naming mountstats", err)
	}
}
