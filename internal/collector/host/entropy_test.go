package host

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func TestEntropyErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		files    map[string]string
		notExist bool
	}{
		"no poolsize":     {files: map[string]string{"entropy_avail": "256\n"}, notExist: true},
		"no avail":        {files: map[string]string{"poolsize": "256\n"}, notExist: true},
		"malformed":       {files: map[string]string{"entropy_avail": "x\n", "poolsize": "256\n"}},
		"empty directory": {notExist: true},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFixture(t, filepath.Join(dir, "proc", "sys", "kernel", "random", "uuid"), "x\n")
			for f, content := range tc.files {
				writeFixture(t, filepath.Join(dir, "proc", "sys", "kernel", "random", f), content)
			}
			_, err := render(t, "entropy", fixtureConfig(t, dir))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, "proc", "sys", "kernel", "random")) {
				t.Errorf("error does not name the file: %v", err)
			}
			if errors.Is(err, fs.ErrNotExist) != tc.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v for %v", !tc.notExist, err)
			}
		})
	}
}
