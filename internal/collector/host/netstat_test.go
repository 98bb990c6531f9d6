package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseNetstat(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []netstatEntry
		wantErr  bool
	}{
		{name: "empty", in: "", want: []netstatEntry{}},
		{name: "pairs", in: "Tcp: RtoMin MaxConn\nTcp: 200 -1\nIcmpMsg: InType3\nIcmpMsg: 1\n",
			want: []netstatEntry{{"Tcp", "RtoMin", 200}, {"Tcp", "MaxConn", -1}, {"IcmpMsg", "InType3", 1}}},
		{name: "header only", in: "Tcp:\nTcp:\n", want: []netstatEntry{}},
		{name: "duplicate field", in: "Ip: A B A\nIp: 1 2 3\n", want: []netstatEntry{{"Ip", "A", 3}, {"Ip", "B", 2}}},
		{name: "repeated protocol", in: "Ip: A\nIp: 1\nIp: A\nIp: 5\n", want: []netstatEntry{{"Ip", "A", 5}}},
		{name: "odd names skipped", in: "Ip: A-B C\nIp: 1 2\n", want: []netstatEntry{{"Ip", "C", 2}}},
		{name: "missing value line", in: "Tcp: RtoMin\n", wantErr: true},
		{name: "count mismatch", in: "Tcp: RtoMin MaxConn\nTcp: 200\n", wantErr: true},
		{name: "non-numeric", in: "Tcp: RtoMin\nTcp: x\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkParse(t, parseNetstat, tc.in, tc.want, tc.wantErr)
		})
	}
}

func TestParseSNMP6(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []netstatEntry
		wantErr  bool
	}{
		{name: "empty", in: "", want: []netstatEntry{}},
		{name: "protocols", in: "Ip6InOctets   \t128\nIcmp6InMsgs 1\nUdpLite6InErrors 0\nIcmp6InType133 4\n",
			want: []netstatEntry{{"Ip6", "InOctets", 128}, {"Icmp6", "InMsgs", 1}, {"UdpLite6", "InErrors", 0}, {"Icmp6", "InType133", 4}}},
		{name: "no six or no value skipped", in: "IpInOctets 5\nIp6OutOctets\n\nIp6InOctets 1\n", want: []netstatEntry{{"Ip6", "InOctets", 1}}},
		{name: "nothing after six skipped", in: "Ip6 5\n", want: []netstatEntry{}},
		{name: "duplicate", in: "Ip6A 1\nIp6B 2\nIp6A 3\n", want: []netstatEntry{{"Ip6", "A", 3}, {"Ip6", "B", 2}}},
		{name: "non-numeric", in: "Ip6InOctets x\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkParse(t, parseSNMP6, tc.in, tc.want, tc.wantErr)
		})
	}
}

// TestNetstatWithoutIPv6: a kernel without IPv6 has no snmp6; the rest is
// still reported.
func TestNetstatWithoutIPv6(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"netstat", "snmp"} {
		copyFixture(t, filepath.Join("testdata", "netstat", "proc", "net", name), filepath.Join(dir, "proc", "net", name))
	}
	out, err := render(t, "netstat", fixtureConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "node_netstat_Tcp_InSegs ") || strings.Contains(out, "Ip6") {
		t.Errorf("unexpected output:\n%s", out)
	}
}

func TestNetstatFields(t *testing.T) {
	cfg := fixtureConfig(t, filepath.Join("testdata", "netstat"))
	cfg.Netstat.Fields = `^Ip6_InOctets$`
	out, err := render(t, "netstat", cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := "# HELP node_netstat_Ip6_InOctets Statistic Ip6InOctets.\n# TYPE node_netstat_Ip6_InOctets untyped\nnode_netstat_Ip6_InOctets 128\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestNetstatBadPattern(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Netstat.Fields = `[`
	if _, err := newNetstat(cfg, nil); err == nil {
		t.Error("invalid pattern accepted")
	}
}

// copyFixture copies a fixture file to dst, creating its directory.
func copyFixture(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFixture(t, dst, string(b))
}

// writeFixture writes content to path, creating its directory.
func writeFixture(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func checkNetstatEntries(t *testing.T, entries []netstatEntry) {
	seen := map[[2]string]bool{}
	for _, e := range entries {
		if !legalNamePart(e.Protocol) || !legalNamePart(e.Name) {
			t.Errorf("illegal name %q %q", e.Protocol, e.Name)
		}
		k := [2]string{e.Protocol, e.Name}
		if seen[k] {
			t.Errorf("duplicate %q", k)
		}
		seen[k] = true
	}
}

func FuzzParseNetstat(f *testing.F) {
	addFixtureSeeds(f, "testdata/netstat/proc/net/netstat", "testdata/netstat/proc/net/snmp")
	f.Add([]byte("Ip: A B A\nIp: 1 2 3\nTcp: X\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			t.Skip()
		}
		entries, err := parseNetstat(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		checkNetstatEntries(t, entries)
	})
}

func FuzzParseSNMP6(f *testing.F) {
	addFixtureSeeds(f, "testdata/netstat/proc/net/snmp6")
	f.Add([]byte("Ip6A 1\nIp6A 2\n6 1\nUdpLite6InErrors x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			t.Skip()
		}
		entries, err := parseSNMP6(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		checkNetstatEntries(t, entries)
		for _, e := range entries {
			if !strings.HasSuffix(e.Protocol, "6") {
				t.Errorf("protocol %q does not end in 6", e.Protocol)
			}
		}
	})
}
