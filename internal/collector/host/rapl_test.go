package host

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/collector"
	"github.com/panoptes-dev/panoptes/internal/testkit"
)

func TestRaplMatchesNodeExporter(t *testing.T) {
	t.Parallel()
	compareWithNodeExporter(t, "rapl")
}

// TestRaplZoneLabel: --collector.rapl.enable-zone-label puts every zone in
// one family, as node_exporter's flag does.
func TestRaplZoneLabel(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t, filepath.Join("testdata", "rapl"))
	cfg.Rapl.EnableZoneLabel = true
	out, err := render(t, "rapl", cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := `node_rapl_joules_total{index="1",path="testdata/rapl/sys/class/powercap/intel-rapl:1:0",rapl_zone="dram"} 22011.40629`
	if !strings.Contains(out, want) || strings.Contains(out, "node_rapl_dram_joules_total") {
		t.Errorf("want %s alone:\n%s", want, out)
	}
}

func TestRaplNone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "sys", "class", "README"), "no powercap\n")
	if _, err := render(t, "rapl", fixtureConfig(t, dir)); !errors.Is(err, collector.ErrNoData) {
		t.Errorf("err = %v, want ErrNoData", err)
	}
}

// raplChildEnv names the sysfs root raplNonRootChild reads; set only
// when TestRaplNonRoot runs this test binary as nobody.
const raplChildEnv = "PANOPTES_RAPL_NONROOT_SYSFS"

// raplChildOK is what the child prints when its checks passed.
const raplChildOK = "rapl as nobody: ok"

// TestRaplNonRoot: since Linux 5.10 energy_uj is mode 0400 (CVE-2020-8694).
// Debian's node_exporter as nobody on a copy of the fixture with that mode
// reports no RAPL family and success 0; our collector, run as nobody in
// this test binary, returns no data (success 0, a debug line) and no
// sample, as it does.
func TestRaplNonRoot(t *testing.T) {
	testkit.RequireRoot(t, "to read a root-only file as nobody")
	bin := testkit.Peer(t, "prometheus-node-exporter")
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", filepath.Join("testdata", "rapl", "sys"), dir).CombinedOutput(); err != nil {
		t.Fatalf("copy fixture: %v: %s", err, out)
	}
	sysRoot := filepath.Join(dir, "sys")
	err := filepath.WalkDir(sysRoot, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "energy_uj" {
			err = os.Chmod(p, 0o400)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}

	// node_exporter as nobody.
	addr := testkit.FreePort(t)
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--collector.disable-defaults", "--collector.rapl", "--path.sysfs="+sysRoot)
	cmd.SysProcAttr = nobody
	p := testkit.StartCmd(t, cmd)
	body := scrapeWhenUp(t, p, "http://"+addr+"/metrics")
	if !strings.Contains(body, `node_scrape_collector_success{collector="rapl"} 0`) || strings.Contains(body, "node_rapl_") {
		t.Fatalf("node_exporter as nobody: want rapl success 0 and no node_rapl_ family:\n%s", body)
	}

	// Our collector as nobody: this test binary, copied where nobody can
	// run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyBin := filepath.Join(dir, "host.test")
	if out, err := exec.Command("cp", self, copyBin).CombinedOutput(); err != nil {
		t.Fatalf("copy test binary: %v: %s", err, out)
	}
	child := exec.Command(copyBin)
	child.Env = append(os.Environ(), raplChildEnv+"="+sysRoot)
	child.Dir = dir
	child.SysProcAttr = nobody
	out, err := child.CombinedOutput()
	if err != nil || !strings.Contains(string(out), raplChildOK) {
		t.Fatalf("our collector as nobody: %v\n%s", err, out)
	}
}

// raplNonRootChild is TestRaplNonRoot's half that runs as nobody: TestMain
// runs it instead of the tests when raplChildEnv is set, so that it is not
// a test of its own that skips in every ordinary run.
func raplNonRootChild(root string) error {
	if os.Geteuid() == 0 {
		return errors.New("runs as root; TestRaplNonRoot starts it as nobody")
	}
	cfg := DefaultConfig()
	cfg.SysRoot = root
	var buf strings.Builder
	err := renderTo(&buf, "rapl", cfg)
	if !errors.Is(err, collector.ErrNoData) || !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("want no data from a permission error, got: %w", err)
	}
	if out := strings.TrimSpace(buf.String()); out != "" {
		return fmt.Errorf("samples without access to energy_uj:\n%s", out)
	}
	return nil
}

// scrapeWhenUp waits until the started process answers url, and returns
// the body.
func scrapeWhenUp(t *testing.T, p *testkit.Process, url string) string {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		select {
		case <-p.Done:
			t.Fatalf("exited before answering: %s", p.Logs.String())
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
