package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMeminfo(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []meminfoEntry
		wantErr  bool
	}{
		{name: "empty", in: "", want: []meminfoEntry{}},
		{name: "kB to bytes", in: "MemTotal:  2 kB\n", want: []meminfoEntry{{"MemTotal_bytes", 2048}}},
		{name: "parens", in: "Active(anon): 1 kB\nInactive(file):   3 kB\n", want: []meminfoEntry{{"Active_anon_bytes", 1024}, {"Inactive_file_bytes", 3072}}},
		{name: "no unit", in: "HugePages_Total:   4\n", want: []meminfoEntry{{"HugePages_Total", 4}}},
		{name: "blank lines", in: "\n  \nA: 1\n\n", want: []meminfoEntry{{"A", 1}}},
		{name: "duplicate keeps first position, last value", in: "A: 1\nB: 2\nA: 3\n", want: []meminfoEntry{{"A", 3}, {"B", 2}}},
		{name: "key without colon", in: "A 1\n", want: []meminfoEntry{{"A", 1}}},
		{name: "odd key skipped", in: "A-b: 1\n(x: 2\nC: 3\n", want: []meminfoEntry{{"C", 3}}},
		{name: "nested parens skipped", in: "A(b(c)): 1\n", want: []meminfoEntry{}},
		{name: "missing value", in: "MemTotal:\n", wantErr: true},
		{name: "non-numeric", in: "MemTotal: lots kB\n", wantErr: true},
		{name: "too many fields", in: "MemTotal: 1 kB extra\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkParse(t, parseMeminfo, tc.in, tc.want, tc.wantErr)
		})
	}
}

func TestMeminfoKey(t *testing.T) {
	for in, want := range map[string]string{
		"Active(anon)": "Active_anon",
		"Active":       "Active",
		"A(b)c":        "A_bc",
		"A(b)(c)":      "A_b)(c",
		"A)b(":         "A)b(",
		"(":            "(",
	} {
		if got := meminfoKey(in); got != want {
			t.Errorf("meminfoKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMeminfoTotalIsCounter: node_exporter types a unitless *_total field
// as a counter.
func TestMeminfoTotalIsCounter(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "proc", "meminfo"), []byte("Foo_total: 7\nBar: 1 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := render(t, "meminfo", fixtureConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# TYPE node_memory_Foo_total counter\n", "# TYPE node_memory_Bar_bytes gauge\n", "node_memory_Bar_bytes 1024\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestMeminfoMalformed(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "proc", "meminfo"), []byte("MemTotal: x kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := render(t, "meminfo", fixtureConfig(t, dir))
	if err == nil || !strings.Contains(err.Error(), "read "+filepath.Join(dir, "proc", "meminfo")) {
		t.Errorf("err = %v, want one naming the file", err)
	}
}

// addFixtureSeeds adds the fixture files to a fuzzer's corpus.
func addFixtureSeeds(f *testing.F, paths ...string) {
	f.Helper()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

const maxFuzzInput = 64 << 10

func FuzzParseMeminfo(f *testing.F) {
	addFixtureSeeds(f, "testdata/meminfo/proc/meminfo")
	f.Add([]byte("Active(anon): 1 kB\nHugePages_Total: 2\nA: 1\nA: 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			t.Skip()
		}
		entries, err := parseMeminfo(strings.NewReader(string(b)))
		if err != nil {
			if entries != nil {
				t.Errorf("entries %v with error %v", entries, err)
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if !legalNamePart(e.Key) {
				t.Errorf("illegal key %q", e.Key)
			}
			if seen[e.Key] {
				t.Errorf("duplicate key %q", e.Key)
			}
			seen[e.Key] = true
		}
	})
}
