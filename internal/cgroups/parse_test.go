package cgroups

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// maxFuzzInput caps fuzz inputs: cgroup files are small.
const maxFuzzInput = 64 << 10

func TestParseUint(t *testing.T) {
	checkScalar(t, "parseUint", parseUint, []scalarCase[uint64]{
		{"0", 0, false},
		{"42\n", 42, false},
		{"  7 \t\n", 7, false},
		{"18446744073709551615", 1<<64 - 1, false},
		{"18446744073709551616", 0, true},
		{"99999999999999999999999", 0, true},
		{"9223372036854771712\n", 9223372036854771712, false},
		{"-1", 0, false}, // kernel bug: negative counters read as 0
		{"-", 0, true},
		{"-x", 0, true},
		{"", 0, true},
		{"\n", 0, true},
		{"1 2", 0, true},
		{"+1", 0, true},
		{"0x10", 0, true},
		{"max", 0, true},
	})
}

func TestParseInt(t *testing.T) {
	checkScalar(t, "parseInt", parseInt, []scalarCase[int64]{
		{"-1\n", -1, false},
		{"100000\n", 100000, false},
		{"0", 0, false},
		{"-0", 0, false},
		{"9223372036854775807", 1<<63 - 1, false},
		{"9223372036854775808", 0, true},
		{"-9223372036854775808", -1 << 63, false},
		{"-9223372036854775809", 0, true},
		{"", 0, true},
		{"-", 0, true},
		{"--1", 0, true},
		{"1.5", 0, true},
	})
}

func TestParseFlatKeyed(t *testing.T) {
	keys := []string{"a", "bb", "total_c"}
	tests := []struct {
		name      string
		in        string
		want      [3]uint64
		wantFound uint64
		wantErr   bool
	}{
		{name: "empty", in: ""},
		{name: "all", in: "a 1\nbb 2\ntotal_c 3\n", want: [3]uint64{1, 2, 3}, wantFound: 7},
		{name: "no trailing newline", in: "bb 2\ntotal_c 3", want: [3]uint64{0, 2, 3}, wantFound: 6},
		{name: "missing keys", in: "zz 1\nbb 5\n", want: [3]uint64{0, 5, 0}, wantFound: 2},
		{name: "prefix is not the key", in: "a_b 9\nbbb 9\nc 9\n"},
		{name: "unknown keys not parsed", in: "weird\nodd value here\n= =\na 4\n", want: [3]uint64{4, 0, 0}, wantFound: 1},
		{name: "blank lines and tabs", in: "\n\na\t8\r\n  \n", want: [3]uint64{8, 0, 0}, wantFound: 1},
		{name: "duplicate: last wins", in: "a 1\na 2\n", want: [3]uint64{2, 0, 0}, wantFound: 1},
		{name: "huge", in: "a 18446744073709551615\n", want: [3]uint64{1<<64 - 1, 0, 0}, wantFound: 1},
		{name: "negative reads 0", in: "a -4096\nbb 1\n", want: [3]uint64{0, 1, 0}, wantFound: 3},
		{name: "overflow", in: "a 18446744073709551616\n", wantErr: true},
		{name: "no value", in: "bb\n", wantErr: true},
		{name: "not a number", in: "total_c max\n", wantErr: true},
		{name: "extra field", in: "a 1 2\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [3]uint64
			found, err := parseFlatKeyed([]byte(tt.in), keys, got[:])
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || found != tt.wantFound {
				t.Errorf("got %v found %b, want %v found %b", got, found, tt.want, tt.wantFound)
			}
		})
	}
	if _, err := parseFlatKeyed(nil, keys, make([]uint64, 2)); err == nil {
		t.Error("short vals: no error")
	}
}

func TestParseProcs(t *testing.T) {
	tests := []struct {
		in        string
		n         uint64
		first     int
		wantError bool
	}{
		{"", 0, 0, false},
		{"\n", 0, 0, false},
		{"1\n", 1, 1, false},
		{"4242\n4310\n4311\n", 3, 4242, false},
		{"4242\n4310", 2, 4242, false},
		{"\n\n17\n\n18\n", 2, 17, false},
		{"2147483647\n", 1, 2147483647, false},
		{"2147483648\n", 0, 0, true},
		{"x\n1\n", 0, 0, true},
		{"-1\n", 0, 0, true},
		{"1\nx\n", 2, 1, false}, // only the first pid is parsed
	}
	for _, tt := range tests {
		n, first, err := parseProcs([]byte(tt.in))
		if (err != nil) != tt.wantError || n != tt.n || first != tt.first {
			t.Errorf("parseProcs(%q) = %d, %d, %v; want %d, %d, err %v", tt.in, n, first, err, tt.n, tt.first, tt.wantError)
		}
	}
}

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in           string
		major, minor uint64
		wantErr      bool
	}{
		{"8:0", 8, 0, false},
		{"259:12", 259, 12, false},
		{"8:", 0, 0, true},
		{":0", 0, 0, true},
		{"8", 0, 0, true},
		{"8:0:1", 0, 0, true},
		{"a:b", 0, 0, true},
	}
	for _, tt := range tests {
		ma, mi, err := parseDevice([]byte(tt.in))
		if (err != nil) != tt.wantErr || ma != tt.major || mi != tt.minor {
			t.Errorf("parseDevice(%q) = %d, %d, %v", tt.in, ma, mi, err)
		}
	}
}

// fixtureSeeds adds every fixture file whose name matches to f's corpus.
func fixtureSeeds(f *testing.F, match func(name string) bool) {
	f.Helper()
	for _, b := range fixtureFiles(f, match) {
		f.Add(b)
	}
}

// fixtureFiles returns the contents of the fixture files whose name matches.
func fixtureFiles(f *testing.F, match func(name string) bool) [][]byte {
	f.Helper()
	var out [][]byte
	err := filepath.WalkDir(filepath.Join("testdata", "read"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !match(d.Name()) {
			return err
		}
		b, err := os.ReadFile(p)
		out = append(out, b)
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	return out
}

func FuzzParseFlatKeyed(f *testing.F) {
	fixtureSeeds(f, func(n string) bool {
		return strings.HasSuffix(n, ".stat") || n == "memory.oom_control" || n == "memory.events"
	})
	f.Add([]byte("a 1\na 2\nb -1\n"))
	keys := append(append([]string{}, v1MemoryStatKeys...), v2CPUStatKeys...)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		vals := make([]uint64, len(keys))
		found, err := parseFlatKeyed(data, keys, vals)
		if err != nil {
			return
		}
		for i := range keys {
			if found&(1<<i) == 0 && vals[i] != 0 {
				t.Fatalf("key %s not found but set to %d", keys[i], vals[i])
			}
		}
	})
}

func FuzzParseProcs(f *testing.F) {
	fixtureSeeds(f, func(n string) bool { return n == "cgroup.procs" || n == "tasks" || n == "cgroup.threads" })
	f.Add([]byte("0001\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		n, first, err := parseProcs(data)
		if err != nil {
			return
		}
		if n == 0 && first != 0 || first < 0 {
			t.Fatalf("n %d first %d", n, first)
		}
		if n > 0 {
			line := strings.Fields(string(data))[0]
			if v, err := strconv.Atoi(line); err != nil || v != first {
				t.Fatalf("first %d is not the first line %q of %q (%v)", first, line, data, err)
			}
		}
	})
}

func FuzzParseUint(f *testing.F) {
	fixtureSeeds(f, func(n string) bool {
		return strings.HasSuffix(n, "usage") || strings.HasSuffix(n, "_in_bytes") || strings.HasSuffix(n, ".current") || strings.HasSuffix(n, "_us")
	})
	f.Add([]byte("-9223372036854775808"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		u, uerr := parseUint(data)
		s := strings.Trim(string(data), " \t\r\n")
		if uerr == nil && !strings.HasPrefix(s, "-") {
			if want, err := strconv.ParseUint(s, 10, 64); err != nil || want != u {
				t.Fatalf("parseUint(%q) = %d, strconv says %d, %v", data, u, want, err)
			}
		}
		i, ierr := parseInt(data)
		if ierr == nil && !strings.HasPrefix(s, "+") {
			if want, err := strconv.ParseInt(s, 10, 64); err != nil || want != i {
				t.Fatalf("parseInt(%q) = %d, strconv says %d, %v", data, i, want, err)
			}
		}
	})
}

func FuzzParseDevice(f *testing.F) {
	for _, s := range []string{"8:0", "259:12", "8:", ":0", "8:0:1", "18446744073709551615:1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		major, minor, err := parseDevice(data)
		if err != nil {
			return
		}
		majS, minS, ok := strings.Cut(string(data), ":")
		if !ok {
			t.Fatalf("parseDevice(%q) accepted a device without ':'", data)
		}
		if want, err := strconv.ParseUint(majS, 10, 64); err != nil || want != major || strings.HasPrefix(majS, "+") {
			t.Fatalf("parseDevice(%q) major %d, strconv says %d, %v", data, major, want, err)
		}
		if want, err := strconv.ParseUint(minS, 10, 64); err != nil || want != minor || strings.HasPrefix(minS, "+") {
			t.Fatalf("parseDevice(%q) minor %d, strconv says %d, %v", data, minor, want, err)
		}
	})
}

// scalarCase is one input of a single-value parser and what it must give.
type scalarCase[T comparable] struct {
	in      string
	want    T
	wantErr bool
}

// checkScalar runs a single-value parser over its table.
func checkScalar[T comparable](t *testing.T, name string, parse func([]byte) (T, error), cases []scalarCase[T]) {
	t.Helper()
	for _, tt := range cases {
		got, err := parse([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s(%q) = %v, %v; want %v, err %v", name, tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
