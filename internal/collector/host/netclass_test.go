package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNetclassInvalidSpeed: a speed of -1 is reported as -125000 bytes/s by
// default, as node_exporter 1.5 does, and left out with
// --collector.netclass.ignore-invalid-speed.
func TestNetclassInvalidSpeed(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t, filepath.Join("testdata", "netclass"))
	out, err := render(t, "netclass", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `node_network_speed_bytes{device="eth0"} -125000`+"\n") {
		t.Errorf("default: no -125000 speed for eth0:\n%s", out)
	}
	cfg.Netclass.IgnoreInvalidSpeed = true
	out, err = render(t, "netclass", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, `node_network_speed_bytes{device="eth0"}`) || !strings.Contains(out, `node_network_speed_bytes{device="eno1"} 1.25e+09`) {
		t.Errorf("ignore-invalid-speed:\n%s", out)
	}
}

func TestNetclassIgnoredDevices(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t, filepath.Join("testdata", "netclass"))
	cfg.Netclass.IgnoredDevices = "^(veth.*|lo)$"
	out, err := render(t, "netclass", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "veth3f2a1c9") || strings.Contains(out, `device="lo"`) || !strings.Contains(out, `node_network_up{device="eno1"} 1`) {
		t.Errorf("output:\n%s", out)
	}
	cfg.Netclass.IgnoredDevices = "("
	if _, err := newNetclass(cfg, nil); err == nil {
		t.Error("a bad pattern was accepted")
	}
}

// TestNetclassVanishedDevice: an interface listed in /sys/class/net whose
// directory is gone (the symlink of a veth torn down mid-scrape dangles) is
// skipped; the others are still reported.
func TestNetclassVanishedDevice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	net := filepath.Join(dir, "sys", "class", "net")
	writeFixture(t, filepath.Join(net, "eth0", "mtu"), "1500\n")
	writeFixture(t, filepath.Join(net, "eth0", "operstate"), "up\n")
	if err := os.Symlink(filepath.Join(dir, "sys", "devices", "virtual", "net", "veth0"), filepath.Join(net, "veth0")); err != nil {
		t.Fatal(err)
	}
	out, err := render(t, "netclass", fixtureConfig(t, dir))
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(out, "veth0") || !strings.Contains(out, `node_network_mtu_bytes{device="eth0"} 1500`) {
		t.Errorf("output:\n%s", out)
	}
}
