package host

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseVmstat(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []vmstatEntry
		wantErr  bool
	}{
		{name: "empty", in: "", want: []vmstatEntry{}},
		{name: "basic", in: "nr_free_pages 5\npgfault 7\n", want: []vmstatEntry{{"nr_free_pages", 5}, {"pgfault", 7}}},
		{name: "blank and extra fields", in: "\npgfault 7 8\n", want: []vmstatEntry{{"pgfault", 7}}},
		{name: "duplicate", in: "a 1\nb 2\na 3\n", want: []vmstatEntry{{"a", 3}, {"b", 2}}},
		{name: "odd key skipped", in: "a.b 1\nc 2\n", want: []vmstatEntry{{"c", 2}}},
		{name: "missing value", in: "pgfault\n", wantErr: true},
		{name: "non-numeric", in: "pgfault many\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkParse(t, parseVmstat, tc.in, tc.want, tc.wantErr)
		})
	}
}

func TestVmstatFields(t *testing.T) {
	cfg := fixtureConfig(t, filepath.Join("testdata", "vmstat"))
	cfg.Vmstat.Fields = `^nr_free_pages$`
	out, err := render(t, "vmstat", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "# TYPE ") != 1 || !strings.Contains(out, "# TYPE node_vmstat_nr_free_pages untyped\n") {
		t.Errorf("want only nr_free_pages, got:\n%s", out)
	}
}

func TestVmstatBadPattern(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Vmstat.Fields = `(`
	if _, err := newVmstat(cfg, nil); err == nil {
		t.Error("invalid pattern accepted")
	}
}

func FuzzParseVmstat(f *testing.F) {
	addFixtureSeeds(f, "testdata/vmstat/proc/vmstat")
	f.Add([]byte("a 1\na 2\nb\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			t.Skip()
		}
		entries, err := parseVmstat(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if !legalNamePart(e.Key) || seen[e.Key] {
				t.Errorf("illegal or duplicate key %q", e.Key)
			}
			seen[e.Key] = true
		}
	})
}
