package host

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestParseOSRelease(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
		wantErr  bool
	}{
		{name: "empty", in: "", want: map[string]string{}},
		{name: "plain", in: "ID=debian\nVERSION_ID=12\n", want: map[string]string{"ID": "debian", "VERSION_ID": "12"}},
		{name: "no final newline", in: "ID=arch", want: map[string]string{"ID": "arch"}},
		{name: "crlf", in: "ID=arch\r\nNAME=\"Arch\"\r\n", want: map[string]string{"ID": "arch", "NAME": "Arch"}},
		{name: "comments and blanks", in: "# c\n\n   \n  # indented\nID=x # trailing\n", want: map[string]string{"ID": "x"}},
		{name: "hash inside word", in: "ID=a#b\n", want: map[string]string{"ID": "a#b"}},
		{name: "double quote escapes", in: `N="a \"b\" \$c \\ \` + "`d`" + ` \q"` + "\n",
			want: map[string]string{"N": "a \"b\" $c \\ `d` \\q"}},
		{name: "single quotes literal", in: `N='a \"b\" $c'` + "\n", want: map[string]string{"N": `a \"b\" $c`}},
		{name: "concatenation", in: `N='a'"b"c\ d` + "\n", want: map[string]string{"N": "abc d"}},
		{name: "empty values", in: "A=\nB=\"\"\nC=''\n", want: map[string]string{"A": "", "B": "", "C": ""}},
		{name: "export prefix", in: "export ID=x\n", want: map[string]string{"ID": "x"}},
		{name: "later wins", in: "ID=a\nID=b\n", want: map[string]string{"ID": "b"}},
		{name: "line continuation in quotes", in: "N=\"a\\\nb\"\n", want: map[string]string{"N": "ab"}},
		{name: "multi-line quote", in: "N=\"a\nb\"\nID=x\n", want: map[string]string{"N": "a\nb", "ID": "x"}},
		{name: "utf8", in: "NAME=\"Débian ☃\"\n", want: map[string]string{"NAME": "Débian ☃"}},
		{name: "unterminated double", in: "N=\"abc\n", wantErr: true},
		{name: "unterminated single", in: "N='abc\n", wantErr: true},
		{name: "no equals", in: "JUSTAWORD\n", wantErr: true},
		{name: "bad key", in: "1ABC=x\n", wantErr: true},
		{name: "space before equals", in: "ID =x\n", wantErr: true},
		{name: "unquoted space", in: "NAME=Debian GNU\n", wantErr: true},
		{name: "trailing backslash", in: "ID=x\\", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOSRelease(strings.NewReader(tc.in))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("want error, got %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseOSReleaseTooLarge(t *testing.T) {
	in := strings.Repeat("# padding\n", maxOSReleaseSize/10+1)
	if _, err := parseOSRelease(strings.NewReader(in)); err == nil {
		t.Fatal("want error for oversized file")
	}
}

func TestMajorMinor(t *testing.T) {
	for in, want := range map[string]string{
		"12": "12", "22.04": "22.04", "8.6.2": "8.6", "1.": "1.", "rolling": "", "": "", "3a": "3", ".5": "",
	} {
		if got := majorMinor(in); got != want {
			t.Errorf("majorMinor(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOSReleaseCacheAndFallback checks the fallback to usr/lib/os-release,
// that the parsed file is reused while unchanged and re-read when it changes,
// and that a missing file is reported as no data.
func TestOSReleaseCacheAndFallback(t *testing.T) {
	dir := t.TempDir()
	cfg := fixtureConfig(t, dir)
	if out, err := render(t, "os", cfg); err == nil || !errors.Is(err, collector.ErrNoData) {
		t.Fatalf("no os-release: want ErrNoData, got %v\n%s", err, out)
	}
	lib := filepath.Join(dir, "root", "usr", "lib", "os-release")
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, s string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Unix(1_600_000_000, 0)
	write(lib, "ID=alpine\nVERSION_ID=3.18.4\nNAME=\"Alpine Linux\"\n", t0)

	cs, err := New([]string{"os"}, cfg, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	c := cs[0].Collector.(*osCollector)
	scrape := func() osReleaseState {
		t.Helper()
		st, err := c.load()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := scrape(); st.id != "alpine" || st.version != 3.18 {
		t.Fatalf("fallback file: got %+v", st)
	}
	// Same size and mtime: the cached copy is used even though the
	// content differs (that is the point of the cache).
	write(lib, "ID=ALPINE\nVERSION_ID=3.18.4\nNAME=\"Alpine Linux\"\n", t0)
	if st := scrape(); st.id != "alpine" {
		t.Fatalf("unchanged file re-read: got %+v", st)
	}
	write(lib, "ID=ALPINE\nVERSION_ID=3.18.4\nNAME=\"Alpine Linux\"\n", t0.Add(time.Second))
	if st := scrape(); st.id != "ALPINE" {
		t.Fatalf("changed file not re-read: got %+v", st)
	}
	// etc/os-release takes precedence once it appears.
	etc := filepath.Join(dir, "root", "etc", "os-release")
	if err := os.MkdirAll(filepath.Dir(etc), 0o755); err != nil {
		t.Fatal(err)
	}
	write(etc, "ID=arch\nNAME=\"Arch Linux\"\n", t0)
	if st := scrape(); st.id != "arch" || st.version != 0 {
		t.Fatalf("etc/os-release: got %+v", st)
	}
	out, err := render(t, "os", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "node_os_version") {
		t.Errorf("node_os_version without VERSION_ID:\n%s", out)
	}
	// A malformed file is an error, not a panic or empty labels.
	write(etc, "ID=\"arch\n", t0.Add(2*time.Second))
	if _, err := c.load(); err == nil {
		t.Error("malformed os-release: want error")
	}
}

func FuzzParseOSRelease(f *testing.F) {
	for _, p := range []string{"testdata/os/root/etc/os-release", "testdata/os/root/usr/lib/os-release"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("N=\"a\\\nb\"\nexport X='y'\"z\"\\ w # c\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return
		}
		m, err := parseOSRelease(bytes.NewReader(b))
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
	})
}

// quietLogger discards log output.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
