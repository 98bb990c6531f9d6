package cgroups

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseBlkio(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		bytes   bool
		start   []IOStats
		want    []IOStats
		wantErr bool
	}{
		{name: "empty", in: ""},
		{name: "only total", in: "Total 0\n"},
		{
			name:  "bytes",
			bytes: true,
			in:    "8:0 Read 4096\n8:0 Write 512\n8:0 Sync 0\n8:0 Async 4608\n8:0 Discard 0\n8:0 Total 4608\nTotal 4608\n",
			want:  []IOStats{{Major: 8, Minor: 0, ReadBytes: 4096, WriteBytes: 512}},
		},
		{
			name:  "serviced merges into existing entries",
			in:    "8:0 Read 3\n8:0 Write 1\n259:1 Read 7\n",
			start: []IOStats{{Major: 8, Minor: 0, ReadBytes: 4096}},
			want:  []IOStats{{Major: 8, Minor: 0, ReadBytes: 4096, Reads: 3, Writes: 1}, {Major: 259, Minor: 1, Reads: 7}},
		},
		{
			name: "device with only other operations is listed",
			in:   "8:16 Total 0\n",
			want: []IOStats{{Major: 8, Minor: 16}},
		},
		{name: "huge", bytes: true, in: "8:0 Read 18446744073709551615\n", want: []IOStats{{Major: 8, ReadBytes: 1<<64 - 1}}},
		{name: "missing value", in: "8:0 Read\n", wantErr: true},
		{name: "extra field", in: "8:0 Read 1 2\n", wantErr: true},
		{name: "bad device", in: "sda Read 1\n", wantErr: true},
		{name: "bad number", in: "8:0 Read lots\n", wantErr: true},
		{name: "overflow", in: "8:0 Read 18446744073709551616\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBlkio([]byte(tt.in), tt.start, tt.bytes)
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

func TestMemoryLimit(t *testing.T) {
	for in, want := range map[uint64]uint64{
		0:                   0,
		536870912:           536870912,
		1<<62 - 1:           1<<62 - 1,
		1 << 62:             0,
		9223372036854771712: 0, // v1 "unlimited"
		1<<64 - 1:           0,
	} {
		if got := memoryLimit(in); got != want {
			t.Errorf("memoryLimit(%d) = %d, want %d", in, got, want)
		}
	}
}

func FuzzParseBlkio(f *testing.F) {
	for _, b := range fixtureFiles(f, func(n string) bool { return strings.HasPrefix(n, "blkio.") }) {
		f.Add(b, true)
		f.Add(b, false)
	}
	f.Add([]byte("8:0 Read 1\n8:0 Write 2\nTotal 3\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, bytesFile bool) {
		if len(data) > maxFuzzInput {
			t.Skip()
		}
		got, err := parseBlkio(data, nil, bytesFile)
		if err != nil {
			return
		}
		seen := map[[2]uint64]bool{}
		for _, e := range got {
			k := [2]uint64{e.Major, e.Minor}
			if seen[k] {
				t.Fatalf("device %d:%d twice in %v", e.Major, e.Minor, got)
			}
			seen[k] = true
			if bytesFile && (e.Reads != 0 || e.Writes != 0) || !bytesFile && (e.ReadBytes != 0 || e.WriteBytes != 0) {
				t.Fatalf("wrong fields set: %+v", e)
			}
		}
	})
}
