package host

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseARPEntries(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in      string
		want    map[string]uint32
		wantErr bool
	}{
		"empty table": {in: "IP address       HW type     Flags       HW address            Mask     Device\n", want: map[string]uint32{}},
		"incomplete entries count": {
			in: "IP address HW type Flags HW address Mask Device\n" +
				"10.0.0.1 0x1 0x2 aa:bb:cc:dd:ee:ff * eth0\n" +
				"10.0.0.2 0x1 0x0 00:00:00:00:00:00 * eth0\n" +
				"10.0.1.1 0x1 0x2 aa:bb:cc:dd:ee:01 * eth1\n",
			want: map[string]uint32{"eth0": 2, "eth1": 1},
		},
		"short line": {in: "10.0.0.1 0x1 0x2 aa:bb:cc:dd:ee:ff eth0\n", wantErr: true},
		"blank line": {in: "IP address HW type Flags HW address Mask Device\n\n", wantErr: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkParse(t, parseARPEntries, tc.in, tc.want, tc.wantErr)
		})
	}
}

// TestArpDeviceFilter: --collector.arp.device-exclude drops a device.
func TestArpDeviceFilter(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t, filepath.Join("testdata", "arp"))
	cfg.Arp.DeviceExclude = "^bond"
	out, err := render(t, "arp", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "bond0") || !strings.Contains(out, `node_arp_entries{device="eth0"} 1`) {
		t.Errorf("output:\n%s", out)
	}
}

func FuzzParseARPEntries(f *testing.F) {
	addFixtureSeeds(f, "testdata/arp/proc/net/arp")
	f.Add([]byte("IP address HW type Flags HW address Mask Device\n1 2 3 4 5 6\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			t.Skip()
		}
		entries, err := parseARPEntries(strings.NewReader(string(b)))
		if err != nil && entries != nil {
			t.Errorf("%v with error %v", entries, err)
		}
		for dev, n := range entries {
			if dev == "" || n == 0 {
				t.Errorf("entry %q: %d", dev, n)
			}
		}
	})
}
