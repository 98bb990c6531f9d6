package host

import (
	"strings"
	"testing"
)

func TestParseFileNr(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     fileNr
		wantErr  bool
	}{
		{name: "tabs", in: "384\t0\t2466160\n", want: fileNr{384, 2466160}},
		{name: "spaces", in: " 1 0 9 ", want: fileNr{1, 9}},
		{name: "extra field ignored", in: "1\t0\t9\t7\n", want: fileNr{1, 9}},
		{name: "empty", in: "", wantErr: true},
		{name: "two fields", in: "1\t0\n", wantErr: true},
		{name: "non-numeric allocated", in: "x\t0\t9\n", wantErr: true},
		{name: "non-numeric maximum", in: "1\t0\tx\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFileNr(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseFileNr(f *testing.F) {
	addFixtureSeeds(f, "testdata/filefd/proc/sys/fs/file-nr")
	f.Add([]byte("1 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			t.Skip()
		}
		nr, err := parseFileNr(strings.NewReader(string(b)))
		if err != nil && nr != (fileNr{}) {
			t.Errorf("%+v with error %v", nr, err)
		}
	})
}
