package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// TestBondingNotLoaded: no bonding_masters means no bonding module: no data,
// not a failure to log at error level.
func TestBondingNotLoaded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "sys", "class", "net", "lo", "mtu"), "65536\n")
	if _, err := render(t, "bonding", fixtureConfig(t, dir)); !errors.Is(err, collector.ErrNoData) {
		t.Errorf("err = %v, want ErrNoData", err)
	}
}

// TestBondingSlaveVanished: a slave listed in bonding/slaves whose directory
// is gone (torn down between the two reads) fails this collector's scrape,
// naming the slave, as node_exporter does; nothing half-counted is reported.
func TestBondingSlaveVanished(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	net := filepath.Join(dir, "sys", "class", "net")
	writeFixture(t, filepath.Join(net, "bonding_masters"), "bond0\n")
	writeFixture(t, filepath.Join(net, "bond0", "bonding", "slaves"), "eth0 eth1\n")
	writeFixture(t, filepath.Join(net, "bond0", "lower_eth0", "bonding_slave", "mii_status"), "up\n")
	out, err := render(t, "bonding", fixtureConfig(t, dir))
	if err == nil || !strings.Contains(err.Error(), "eth1") {
		t.Errorf("err = %v, want one naming eth1", err)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("output:\n%s", out)
	}
}

// TestBondingUnsafeNames: names read from sysfs never make a path outside
// the class directory.
func TestBondingUnsafeNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	net := filepath.Join(dir, "sys", "class", "net")
	writeFixture(t, filepath.Join(net, "bonding_masters"), "../.. bond0\n")
	writeFixture(t, filepath.Join(net, "bond0", "bonding", "slaves"), "../x\n")
	out, err := render(t, "bonding", fixtureConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `node_bonding_slaves{master="bond0"} 0`) || strings.Contains(out, `".."`) {
		t.Errorf("output:\n%s", out)
	}
}

// TestBondingEIO: a slave whose mii_status read fails with EIO (here a link
// to /proc/self/mem, whose offset 0 is never mapped) fails the collector
// with the error, not as missing data.
func TestBondingEIO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	net := filepath.Join(dir, "sys", "class", "net")
	writeFixture(t, filepath.Join(net, "bonding_masters"), "bond0\n")
	writeFixture(t, filepath.Join(net, "bond0", "bonding", "slaves"), "eth0\n")
	status := filepath.Join(net, "bond0", "lower_eth0", "bonding_slave", "mii_status")
	writeFixture(t, status, "")
	if err := os.Remove(status); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc/self/mem", status); err != nil {
		t.Fatal(err)
	}
	_, err := render(t, "bonding", fixtureConfig(t, dir))
	if !errors.Is(err, syscall.EIO) || errors.Is(err, collector.ErrNoData) {
		t.Errorf("err = %v, want EIO", err)
	}
}
