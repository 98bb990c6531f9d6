package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestParseZFSKstat(t *testing.T) {
	t.Parallel()
	head := "6 1 0x01 92 4416 6519394516 2207588573609\nname                            type data\n"
	for name, tc := range map[string]struct {
		in      string
		want    []zfsKV
		wantErr bool
	}{
		"uint64 only":     {in: head + "hits 4 12\nmemory_available_bytes 3 -5\narc_no_grow 1 0\nc_max 4 18446744073709551615\n", want: []zfsKV{{"hits", 12}, {"c_max", 18446744073709551615}}},
		"before header":   {in: "hits 4 1\n" + head + "misses 4 2\n", want: []zfsKV{{"misses", 2}}},
		"short lines":     {in: head + "hits 4\n\nmisses 4 3\n", want: []zfsKV{{"misses", 3}}},
		"empty kstat":     {in: head},
		"no header":       {in: "hits 4 12\n", wantErr: true},
		"bad value":       {in: head + "hits 4 x\n", wantErr: true},
		"overflow":        {in: head + "hits 4 18446744073709551616\n", wantErr: true},
		"empty file":      {in: "", wantErr: true},
		"header variants": {in: "name type  data\nx 4 1\n", want: []zfsKV{{"x", 1}}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := parseZFSKstat(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("[%d] = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestParseZFSPoolIO(t *testing.T) {
	t.Parallel()
	cols := "nread nwritten reads writes wtime wlentime wupdate rtime rlentime rupdate wcnt rcnt\n"
	got, err := parseZFSPoolIO(strings.NewReader("12 3 0x00 1 80 1 2\n" + cols + "1 2 3 4 5 6 7 8 9 10 11 12\n"))
	if err != nil || len(got) != 12 || got[0] != (zfsKV{"nread", 1}) || got[11] != (zfsKV{"rcnt", 12}) {
		t.Errorf("got %v, %v", got, err)
	}
	// node_exporter 1.5 panics (index out of range) on a short value line;
	// we fail the collector instead.
	for _, bad := range []string{cols + "1 2 3\n", cols + "1 2 3 4 5 6 7 8 9 10 11 x\n", cols + "1 2 3 4 5 6 7 8 9 10 11 12\n1 2 3 4 5 6 7 8 9 10 11 12\n"} {
		if _, err := parseZFSPoolIO(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseZFSObjset(t *testing.T) {
	t.Parallel()
	got, err := parseZFSObjset(strings.NewReader("36 1 0x01 7 2160 1 2\nname type data\ndataset_name 7 tank/pg\nwrites 4 106\nnread 4 5143\n"))
	if err != nil || got.dataset != "tank/pg" || len(got.values) != 2 || got.values[1] != (zfsKV{"nread", 5143}) {
		t.Errorf("got %+v, %v", got, err)
	}
	if _, err := parseZFSObjset(strings.NewReader("dataset_name 7 x\n")); err == nil {
		t.Error("no header: no error")
	}
}

func addZFSSeeds(f *testing.F) {
	f.Helper()
	for _, p := range []string{"arcstats", "zil", "fm", "tank/io", "tank/objset-0x8a", "tank/state"} {
		b, err := os.ReadFile(filepath.Join("testdata", "zfs", "proc", "spl", "kstat", "zfs", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("name type data\nx 4 1\ny 4\n"))
	f.Add([]byte("nread a b c d e f g h i j k\n1 2\n"))
}

func FuzzParseZFSKstat(f *testing.F) {
	addZFSSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		kvs, err := parseZFSKstat(strings.NewReader(string(b)))
		if err != nil && kvs != nil {
			t.Fatalf("values with an error: %v", kvs)
		}
	})
}

func FuzzParseZFSPoolIO(f *testing.F) {
	addZFSSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		kvs, err := parseZFSPoolIO(strings.NewReader(string(b)))
		if err == nil && kvs != nil && len(kvs) < 12 {
			t.Fatalf("%d values, the column line has at least 12", len(kvs))
		}
	})
}

func FuzzParseZFSObjset(f *testing.F) {
	addZFSSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		set, err := parseZFSObjset(strings.NewReader(string(b)))
		if err != nil && (set.dataset != "" || set.values != nil) {
			t.Fatalf("values with an error: %+v", set)
		}
	})
}

func TestZFSErrors(t *testing.T) {
	t.Parallel()
	// No zfs module (this machine): no data.
	empty := t.TempDir()
	writeFixture(t, filepath.Join(empty, "proc", "loadavg"), "0 0 0 1/1 1\n")
	if _, err := render(t, "zfs", fixtureConfig(t, empty)); !errors.Is(err, collector.ErrNoData) {
		t.Errorf("no spl/kstat/zfs: err = %v, want ErrNoData", err)
	}
	// A corrupt arcstats fails the collector, naming the file.
	bad := t.TempDir()
	path := filepath.Join(bad, "proc", "spl", "kstat", "zfs", "arcstats")
	writeFixture(t, path, "name type data\nhits 4 lots\n")
	_, err := render(t, "zfs", fixtureConfig(t, bad))
	if err == nil || errors.Is(err, collector.ErrNoData) || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt arcstats: err = %v", err)
	}
	// A pool exported mid-scrape (its io file unreadable, here a directory)
	// fails the collector with one error naming it; nothing panics.
	gone := t.TempDir()
	writeFixture(t, filepath.Join(gone, "proc", "spl", "kstat", "zfs", "arcstats"), "name type data\nhits 4 1\n")
	if err := os.MkdirAll(filepath.Join(gone, "proc", "spl", "kstat", "zfs", "tank", "io"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := render(t, "zfs", fixtureConfig(t, gone)); err == nil || !strings.Contains(err.Error(), "tank") {
		t.Errorf("unreadable pool io: err = %v", err)
	}
}
