package host

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/procfs/sysfs"
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

// TestNetclassReaderMatchesProcfs: the collector's own reader of
// /sys/class/net/<dev> gives every exported attribute exactly as procfs'
// parser (node_exporter's) does, on this machine's interfaces and on the
// fixture tree.
func TestNetclassReaderMatchesProcfs(t *testing.T) {
	t.Parallel()
	for _, root := range []string{"/sys", filepath.Join("testdata", "netclass", "sys")} {
		sfs, err := sysfs.NewFS(root)
		if err != nil {
			t.Fatal(err)
		}
		devices, err := sfs.NetClassDevices()
		if err != nil {
			t.Fatalf("%s: %v", root, err)
		}
		if len(devices) == 0 {
			t.Fatalf("%s: no network device", root)
		}
		buf := make([]byte, netclassBufSize)
		for _, dev := range devices {
			want, err := sfs.NetClassByIface(dev)
			if err != nil {
				t.Fatalf("%s %s: procfs: %v", root, dev, err)
			}
			// Fields the collector does not export are left out of the
			// comparison.
			want.AddrLen, want.PhysPortID, want.PhysPortName, want.PhysSwitchID = nil, "", "", ""
			got, err := readNetclassIface(filepath.Join(root, "class", "net"), dev, buf)
			if err != nil {
				t.Fatalf("%s %s: %v", root, dev, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s:\n got %s\nwant %s", root, dev, netclassString(got), netclassString(want))
			}
		}
	}
}

func netclassString(i *sysfs.NetClassIface) string {
	v := reflect.ValueOf(*i)
	var b strings.Builder
	for f := range v.NumField() {
		x := v.Field(f)
		if x.Kind() == reflect.Pointer {
			if x.IsNil() {
				continue
			}
			x = x.Elem()
		}
		fmt.Fprintf(&b, "%s=%v ", v.Type().Field(f).Name, x)
	}
	return b.String()
}
