package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fixtureEthtool is one device's answers in system.json's "ethtool".
type fixtureEthtool struct {
	Link   *ethtoolLink      `json:"link"`
	Driver *ethtoolDriver    `json:"driver"`
	Stats  map[string]uint64 `json:"stats"`
	Error  string            `json:"error"` // "EOPNOTSUPP" or any text: every request fails with it
}

func (f *fixtureSystem) ethtool(dev string) (fixtureEthtool, error) {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(f.rootfs), "system.json"))
	if err != nil {
		return fixtureEthtool{}, err
	}
	var v struct {
		Ethtool map[string]fixtureEthtool `json:"ethtool"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fixtureEthtool{}, err
	}
	e, ok := v.Ethtool[dev]
	switch {
	case !ok:
		return e, unix.ENODEV
	case e.Error == "EOPNOTSUPP":
		return e, unix.EOPNOTSUPP
	case e.Error != "":
		return e, errors.New(e.Error)
	}
	return e, nil
}

func (f *fixtureSystem) EthtoolLink(dev string) (ethtoolLink, error) {
	e, err := f.ethtool(dev)
	if err != nil || e.Link == nil {
		return ethtoolLink{}, errors.Join(err, unix.EOPNOTSUPP)
	}
	return *e.Link, nil
}

func (f *fixtureSystem) EthtoolDriver(dev string) (ethtoolDriver, error) {
	e, err := f.ethtool(dev)
	if err != nil || e.Driver == nil {
		return ethtoolDriver{}, errors.Join(err, unix.EOPNOTSUPP)
	}
	return *e.Driver, nil
}

func (f *fixtureSystem) EthtoolStats(dev string) (map[string]uint64, error) {
	e, err := f.ethtool(dev)
	return e.Stats, err
}

func TestEthtoolMetricName(t *testing.T) {
	t.Parallel()
	for stat, want := range map[string]string{
		"rx_queue_0_bytes":          "node_ethtool_received_queue_0_bytes",
		"tx_tx_timeouts":            "node_ethtool_transmitted_tx_timeouts",
		"rx_xdp_tx":                 "node_ethtool_received_xdp_transmitted",
		"rx0_drops":                 "node_ethtool_rx0_drops",
		"port.rx_dropped_link_down": "node_ethtool_port_received_dropped_link_down",
		"Rx-CSUM errors":            "node_ethtool_received_csum_errors",
		"__tx":                      "node_ethtool_transmitted",
	} {
		if got := ethtoolMetricName(stat); got != want {
			t.Errorf("%q: got %s, want %s", stat, got, want)
		}
	}
}

// TestEthtoolFilters: device and statistic filters.
func TestEthtoolFilters(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t, filepath.Join("testdata", "ethtool"))
	cfg.Ethtool.DeviceExclude = "^eno2$"
	cfg.Ethtool.MetricsInclude = "^rx_queue"
	out, err := render(t, "ethtool", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, `"eno2"`) || strings.Contains(out, "tx_queue") || strings.Contains(out, "received_bytes_total") ||
		!strings.Contains(out, `node_ethtool_received_queue_0_packets{device="eno1"} 4.59136822e+08`) ||
		!strings.Contains(out, `node_ethtool_info{bus_info="0000:3b:00.0"`) {
		t.Errorf("output:\n%s", out)
	}
	cfg.Ethtool.MetricsInclude = "("
	if _, err := newEthtool(cfg, nil); err == nil {
		t.Error("bad pattern accepted")
	}
}

// TestEthtoolKernel asks this machine's kernel about lo, which has no
// ethtool support: each request fails with EOPNOTSUPP, and nothing is
// reported for it. Every other device's driver name must match sysfs.
func TestEthtoolKernel(t *testing.T) {
	t.Parallel()
	ioc, err := newEthtoolIoctl()
	if err != nil {
		t.Fatal(err)
	}
	defer ioc.close()
	if _, err := ioc.EthtoolLink("lo"); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("lo link: %v", err)
	}
	if _, err := ioc.EthtoolLink("no-such-dev0"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("missing device: %v", err)
	}
	if _, err := ioc.EthtoolLink(strings.Repeat("x", 20)); err == nil {
		t.Error("over-long name accepted")
	}
	devs, _ := filepath.Glob("/sys/class/net/*/device/driver")
	for _, link := range devs {
		dev := filepath.Base(filepath.Dir(filepath.Dir(link)))
		target, err := os.Readlink(link)
		if err != nil {
			continue
		}
		drv, err := ioc.EthtoolDriver(dev)
		if err != nil {
			t.Errorf("%s: %v", dev, err)
			continue
		}
		if drv.Driver != filepath.Base(target) {
			t.Errorf("%s: driver %q, sysfs says %q", dev, drv.Driver, filepath.Base(target))
		}
		if _, err := ioc.EthtoolStats(dev); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
			t.Errorf("%s stats: %v", dev, err)
		}
		t.Log(dev, fmt.Sprintf("%+v", drv))
	}
}
