package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.want")

// TestSummary feeds recorded `go test -json` streams (testdata/*.jsonl,
// recorded from a scratch module: passing, failing, skipping, panicking
// tests, a build failure, a TestMain that exits, no test files, a stream cut
// short) through the summary and compares what it prints with
// testdata/*.want and its exit status with the table.
func TestSummary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		wantCode int
	}{
		{"pass", 0},
		{"skip", 0},
		{"nofiles", 0},
		{"fail", 1},
		{"build", 1},
		{"panics", 1},
		{"exit", 1},
		{"unfinished", 1},
		{"all", 1},
		{"rerun", 1}, // -count=3: the third run of a test dies in the time-out
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(filepath.Join("testdata", tc.name+".jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			code := run(nil, bytes.NewReader(in), &out, &errOut)
			if code != tc.wantCode {
				t.Errorf("exit status %d, want %d", code, tc.wantCode)
			}
			golden := filepath.Join("testdata", tc.name+".want")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != string(want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", golden, out.String(), want)
			}
			lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
			if last := lines[len(lines)-1]; !countsRE.MatchString(last) {
				t.Errorf("last line %q is not \"N passed, N failed, N skipped\"", last)
			}
			if strings.Contains(out.String(), "never shown") || strings.Contains(out.String(), "noise") {
				t.Errorf("a passing test's log is in the output:\n%s", out.String())
			}
		})
	}
}

// TestCommandExitCounts: a command that exits non-zero fails the summary
// even when its output reports nothing failed (the go command's own errors
// go to stderr, not into the JSON).
func TestCommandExitCounts(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := run([]string{"sh", "-c", "cat testdata/pass.jsonl; echo 'go: updates to go.mod needed' >&2; exit 1"}, nil, &out, &errOut)
	if code != 1 || !strings.HasSuffix(out.String(), "\n4 passed, 1 failed, 0 skipped\n") {
		t.Errorf("exit %d, output:\n%s", code, out.String())
	}
	if !strings.Contains(errOut.String(), "go.mod") {
		t.Errorf("the command's stderr is not passed on: %q", errOut.String())
	}
	out.Reset()
	code = run([]string{"sh", "-c", "cat testdata/skip.jsonl"}, nil, &out, &errOut)
	if code != 0 {
		t.Errorf("a passing command: exit %d", code)
	}
}
