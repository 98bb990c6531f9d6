package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// TestREADMEUpToDate fails when the README's list of built-in rules differs
// from what the embedded files generate.
func TestREADMEUpToDate(t *testing.T) {
	t.Parallel()
	err := run(filepath.Join("..", "..", "README.md"), true)
	if errors.Is(err, errStale) {
		t.Fatal("README.md's list of built-in rules is stale: run `go run ./hack/rulesdoc` from the repository root and commit README.md")
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestReplaceSection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, readme, want, err string
	}{
		{
			name:   "replaces between the markers only",
			readme: "# T\n\n" + beginMarker + "\nold\nlines\n" + endMarker + "\n\n## Next\n",
			want:   "# T\n\n" + beginMarker + "\nNEW\n" + endMarker + "\n\n## Next\n",
		},
		{
			name:   "empty section",
			readme: beginMarker + endMarker,
			want:   beginMarker + "\nNEW\n" + endMarker,
		},
		{name: "no markers", readme: "# T\n", err: "markers"},
		{name: "end before begin", readme: endMarker + "\n" + beginMarker + "\n", err: "markers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := replaceSection([]byte(tc.readme), "NEW\n")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestRender: a table row per rule, in file order, pipes escaped, recording
// rules with their expression on one line; a file that does not parse is
// named.
func TestRender(t *testing.T) {
	t.Parallel()
	files := fstest.MapFS{
		"a.yaml": {Data: []byte(`groups:
  - name: panoptes-a
    rules:
      - record: job:up:sum
        expr: |
          sum by (job)
            (up)
      - alert: PanoptesA
        expr: job:up:sum == 0
        for: 5m
        labels: {severity: critical}
        annotations: {summary: "A | B"}
`)},
	}
	got, err := render(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"[`a.yaml`](rules/a.yaml), group `panoptes-a`:",
		"| `job:up:sum` (recording) | – | – | `sum by (job) (up)` |",
		"| `PanoptesA` | critical | 5m | A \\| B |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no line %q in\n%s", want, got)
		}
	}

	files["b.yaml"] = &fstest.MapFile{Data: []byte("groups:\n  - name: x\n    rules:\n      - alert: B\n        expr: 'up =='\n")}
	if _, err := render(files); err == nil || !strings.Contains(err.Error(), "rules/b.yaml") {
		t.Errorf("a bad file: error %v, want one naming rules/b.yaml", err)
	}
}

// TestRunWritesAndChecks: run rewrites a stale README, and -check then
// passes; -check on a stale one reports errStale without writing.
func TestRunWritesAndChecks(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "README.md")
	stale := "# T\n" + beginMarker + "\nstale\n" + endMarker + "\n"
	if err := os.WriteFile(path, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(path, true); !errors.Is(err, errStale) {
		t.Fatalf("check of a stale README: %v, want errStale", err)
	}
	if b, _ := os.ReadFile(path); string(b) != stale {
		t.Fatal("-check wrote the README")
	}
	if err := run(path, false); err != nil {
		t.Fatal(err)
	}
	if err := run(path, true); err != nil {
		t.Fatalf("check after the rewrite: %v", err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "PanoptesHostFilesystemFull") {
		t.Errorf("the rewritten README lacks the built-in alerts:\n%s", b)
	}
}
