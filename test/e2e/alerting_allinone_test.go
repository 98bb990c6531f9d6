package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// TestAllInOneDiskFullAlert is the whole path on a host: `panoptes
// --alertmanager.config.file=am.yml` (the all-in-one with its built-in
// rules and built-in Alertmanager, nothing else configured) fires the
// built-in PanoptesHostFilesystemFull alert when the test fills a small
// tmpfs, the test's webhook receives it, then the resolution once the file
// is gone.
//
// Not parallel: while the tmpfs is full, every other all-in-one on this
// host (the idle-host test) would rightly see it; serial tests run while no
// parallel one does.
func TestAllInOneDiskFullAlert(t *testing.T) {
	testkit.RequireRoot(t, "mounting a tmpfs")
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "panoptes-test", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})

	hook := newNotifyWebhook(t)
	dir := t.TempDir()
	am := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(am, []byte(notifyAMConfig(hook.srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Only the evaluation interval is shortened (Prometheus's default is
	// 1m); the rules are the built-in ones, unchanged.
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  evaluation_interval: 5s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitListening(t, start(t, panoptesBin, "--listen=127.0.0.1:0", "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--config.file="+cfg, "--alertmanager.config.file="+am, "--collector.interval=5s"), "panoptes")

	// Fill the tmpfs to the last block.
	f, err := os.Create(filepath.Join(mnt, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{1}, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill the tmpfs: %v", err)
			}
			break
		}
	}
	if err := f.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}

	const alert = "PanoptesHostFilesystemFull"
	fired := hook.waitStatus(t, "firing", alert, 5*time.Minute)
	found := false
	for _, a := range fired.Alerts {
		if a.Labels["alertname"] == alert && a.Labels["mountpoint"] == mnt {
			found = true
			if a.Labels["severity"] != "critical" || a.Annotations["summary"] == "" || a.Annotations["description"] == "" {
				t.Errorf("alert %v %v: want severity critical and its annotations", a.Labels, a.Annotations)
			}
		}
	}
	if !found {
		t.Fatalf("%s fired, but not for %s: %+v", alert, mnt, fired)
	}

	if err := os.Remove(filepath.Join(mnt, "fill")); err != nil {
		t.Fatal(err)
	}
	hook.waitStatus(t, "resolved", alert, 5*time.Minute)
}
