package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSelinuxConfig(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in   string
		want int
	}{
		"enforcing":          {"SELINUX=enforcing\nSELINUXTYPE=targeted\n", 1},
		"permissive quoted":  {"# comment\nSELINUX=\"permissive\"\n", 0},
		"disabled":           {"SELINUX=disabled\n", -1},
		"first line wins":    {"SELINUX=permissive\nSELINUX=enforcing\n", 0},
		"spaces":             {"  SELINUX = enforcing  \n", 1},
		"commented out":      {"#SELINUX=enforcing\n;SELINUX=permissive\n", -1},
		"type only":          {"SELINUXTYPE=enforcing\n", -1},
		"empty":              {"", -1},
		"no equals sign":     {"SELINUX enforcing\n", -1},
		"unknown mode value": {"SELINUX=strict\n", -1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkParse(t, parseSelinuxConfig, tc.in, tc.want, false)
		})
	}
}

func FuzzParseSelinuxConfig(f *testing.F) {
	f.Add([]byte("SELINUX=enforcing\nSELINUXTYPE=targeted\n"))
	f.Add([]byte("SELINUX=\"permissive\"\n"))
	f.Add([]byte("# x\n;y\n=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			return
		}
		mode, err := parseSelinuxConfig(strings.NewReader(string(b)))
		if err == nil && (mode < -1 || mode > 1) {
			t.Fatalf("mode %d out of range", mode)
		}
	})
}

// TestSelinuxDisabled: without selinuxfs (this machine), or with selinuxfs
// but the process labelled "kernel" (no policy loaded), only enabled 0 is
// reported, with success, as node_exporter reports it.
func TestSelinuxDisabled(t *testing.T) {
	t.Parallel()
	for name, files := range map[string]map[string]string{
		"no selinuxfs":     {"sys/kernel/x": ""},
		"no policy loaded": {"sys/fs/selinux/enforce": "0", "proc/self/attr/current": "kernel\x00"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for p, content := range files {
				writeFixture(t, filepath.Join(dir, p), content)
			}
			out, err := render(t, "selinux", fixtureConfig(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "\nnode_selinux_enabled 0\n") || strings.Contains(out, "mode") {
				t.Errorf("want only node_selinux_enabled 0, got:\n%s", out)
			}
		})
	}
}

// TestSelinuxThisMachine compares with what node_exporter reports here:
// SELinux is off on this machine.
func TestSelinuxThisMachine(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/sys/fs/selinux/enforce"); err == nil {
		t.Skip("SELinux is on here; the fixture covers the enabled case")
	}
	out, err := render(t, "selinux", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "# HELP node_selinux_enabled SELinux is enabled, 1 is true, 0 is false\n# TYPE node_selinux_enabled gauge\nnode_selinux_enabled 0" {
		t.Errorf("got:\n%s", out)
	}
}
