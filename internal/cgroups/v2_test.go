package cgroups

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCPUMax(t *testing.T) {
	tests := []struct {
		in            string
		quota, period int64
		wantErr       bool
	}{
		{"max 100000\n", 0, 100000, false},
		{"50000 100000\n", 50000, 100000, false},
		{"200000 1000000", 200000, 1000000, false},
		{"max\n", 0, 0, false},
		{"150000\n", 150000, 0, false},
		{"-1 100000\n", 0, 100000, false},
		{"9223372036854775807 100000", 1<<63 - 1, 100000, false},
		{"9223372036854775808 100000", 0, 0, true},
		{"", 0, 0, true},
		{"\n", 0, 0, true},
		{"max 100000 1\n", 0, 0, true},
		{"unlimited 100000\n", 0, 0, true},
		{"max period\n", 0, 0, true},
	}
	for _, tt := range tests {
		q, p, err := parseCPUMax([]byte(tt.in))
		if (err != nil) != tt.wantErr || q != tt.quota || p != tt.period {
			t.Errorf("parseCPUMax(%q) = %d, %d, %v; want %d, %d, err %v", tt.in, q, p, err, tt.quota, tt.period, tt.wantErr)
		}
	}
}

func TestWeightToShares(t *testing.T) {
	tests := []struct {
		weight, shares uint64
		wantErr        bool
	}{
		{1, 2, false},
		{100, 2597, false}, // the cgroup v2 default weight
		{39, 998, false},   // kubelet: 1024 shares -> weight 39 -> back to 998
		{20, 500, false},
		{10000, 262144, false},
		{0, 0, true},
		{10001, 0, true},
		{1<<64 - 1, 0, true},
	}
	for _, tt := range tests {
		got, err := weightToShares(tt.weight)
		if (err != nil) != tt.wantErr || got != tt.shares {
			t.Errorf("weightToShares(%d) = %d, %v; want %d, err %v", tt.weight, got, err, tt.shares, tt.wantErr)
		}
	}
}

func TestParseMemoryMax(t *testing.T) {
	checkScalar(t, "parseMemoryMax", parseMemoryMax, []scalarCase[uint64]{
		{"max\n", 0, false},
		{"536870912\n", 536870912, false},
		{"0\n", 0, false},
		{"9223372036854771712\n", 0, false},
		{"18446744073709551615\n", 0, false},
		{"", 0, true},
		{"maximum\n", 0, true},
		{"1G\n", 0, true},
	})
}

func TestParseIOStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []IOStats
		wantErr bool
	}{
		{name: "empty", in: ""},
		{
			name: "two devices",
			in:   "259:0 rbytes=4591616 wbytes=1228800 rios=312 wios=97 dbytes=0 dios=0\n8:0 rbytes=40960 wbytes=0 rios=10 wios=0 dbytes=0 dios=0\n",
			want: []IOStats{
				{Major: 259, Minor: 0, ReadBytes: 4591616, WriteBytes: 1228800, Reads: 312, Writes: 97},
				{Major: 8, Minor: 0, ReadBytes: 40960, Reads: 10},
			},
		},
		{name: "missing keys", in: "8:0 wios=3\n", want: []IOStats{{Major: 8, Writes: 3}}},
		{name: "device alone", in: "8:0\n", want: []IOStats{{Major: 8}}},
		{name: "unknown keys skipped unparsed", in: "8:0 rbytes=1 cost.usage=x wbytes=2\n", want: []IOStats{{Major: 8, ReadBytes: 1, WriteBytes: 2}}},
		{name: "same device twice", in: "8:0 rbytes=1\n8:0 wbytes=2\n", want: []IOStats{{Major: 8, ReadBytes: 1, WriteBytes: 2}}},
		{name: "huge", in: "8:0 rbytes=18446744073709551615\n", want: []IOStats{{Major: 8, ReadBytes: 1<<64 - 1}}},
		{name: "no equals", in: "8:0 rbytes\n", wantErr: true},
		{name: "empty key", in: "8:0 =1\n", wantErr: true},
		{name: "bad value", in: "8:0 rbytes=x\n", wantErr: true},
		{name: "empty value", in: "8:0 rbytes=\n", wantErr: true},
		{name: "bad device", in: "nvme0n1 rbytes=1\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseIOStat([]byte(tt.in), nil)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseIOStat(f *testing.F) {
	fixtureSeeds(f, func(n string) bool { return n == "io.stat" })
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		got, err := parseIOStat(data, nil)
		if err != nil {
			return
		}
		sortIO(got)
		for i := 1; i < len(got); i++ {
			a, b := got[i-1], got[i]
			if a.Major > b.Major || a.Major == b.Major && a.Minor >= b.Minor {
				t.Fatalf("not sorted or duplicated: %v", got)
			}
		}
	})
}

func FuzzParseCPUMax(f *testing.F) {
	fixtureSeeds(f, func(n string) bool { return n == "cpu.max" })
	f.Add([]byte("max 100000\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		q, p, err := parseCPUMax(data)
		if err == nil && (q < 0 || p < 0) {
			t.Fatalf("negative quota %d or period %d", q, p)
		}
	})
}

func FuzzParseMemoryMax(f *testing.F) {
	fixtureSeeds(f, func(n string) bool { return strings.HasSuffix(n, ".max") })
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		v, err := parseMemoryMax(data)
		if err == nil && v >= unlimitedMemory {
			t.Fatalf("limit %d not reported as unlimited", v)
		}
	})
}
