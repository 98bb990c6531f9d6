package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// TestNFSErrors covers both NFS collectors: no module is no data; a
// malformed line fails the collector with the file named and no partial
// output.
func TestNFSErrors(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"nfs", "nfsd"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			empty := t.TempDir()
			if err := os.MkdirAll(filepath.Join(empty, "proc", "net"), 0o755); err != nil {
				t.Fatal(err)
			}
			if _, err := render(t, name, fixtureConfig(t, empty)); !errors.Is(err, collector.ErrNoData) {
				t.Errorf("no rpc/%s: err = %v, want ErrNoData", name, err)
			}
			for _, bad := range []string{"rpc 1 2\n", "proc3 22 1 2 3\n", "net x 0 0 0\n", "proc4 3 1\n", "io\n"} {
				dir := t.TempDir()
				path := filepath.Join(dir, "proc", "net", "rpc", name)
				writeFixture(t, path, bad)
				out, err := render(t, name, fixtureConfig(t, dir))
				if err == nil || errors.Is(err, collector.ErrNoData) || !strings.Contains(err.Error(), path) {
					t.Errorf("%q: err = %v, want a parse error naming %s", bad, err, path)
				}
				if strings.TrimSpace(out) != "" {
					t.Errorf("%q: partial output:\n%s", bad, out)
				}
			}
		})
	}
}

// TestNFSdNewerKernel: newer kernels (6.x) add a wdeleg_getattr line, which
// node_exporter 1.5's procfs rejects (the collector fails there); ours
// reads the rest of the file.
func TestNFSdNewerKernel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "nfsd", "proc", "net", "rpc", "nfsd"))
	if err != nil {
		t.Fatal(err)
	}
	writeFixture(t, filepath.Join(dir, "proc", "net", "rpc", "nfsd"), string(b)+"wdeleg_getattr 12\n")
	out, err := render(t, "nfsd", fixtureConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "node_nfsd_server_threads 16\n") {
		t.Errorf("server threads missing:\n%s", out)
	}
}
