package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocUpToDate fails when docs/metrics/host.md differs from what the
// registry and the golden outputs generate.
func TestDocUpToDate(t *testing.T) {
	t.Parallel()
	err := run(filepath.Join("..", ".."), true)
	if errors.Is(err, errStale) {
		t.Fatal("docs/metrics/host.md is stale: run `go run ./hack/hostdoc` from the repository root and commit it")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestDocListsEveryCollector: every registered collector has a section, and
// the real golden files give the families with their types and labels.
func TestDocListsEveryCollector(t *testing.T) {
	t.Parallel()
	cs := registered()
	if len(cs) < 20 {
		t.Fatalf("only %d collectors registered", len(cs))
	}
	doc, err := render(filepath.Join("..", "..", fixturesPath), cs)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if !strings.Contains(doc, "\n## "+c.name+" (default ") {
			t.Errorf("no section for collector %s", c.name)
		}
	}
	for _, want := range []string{
		"## cpu (default on)",
		"| `node_cpu_seconds_total` | counter | cpu, mode |",
		"## systemd (default off)",
		"| `node_systemd_unit_state` | gauge | name, state, type | Systemd unit |",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("no %q in the document", want)
		}
	}
}

// TestRenderFixture: labels are the union over series, pipes in HELP are
// escaped, and a collector without a golden file is an error naming it.
func TestRenderFixture(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "demo"), 0o755); err != nil {
		t.Fatal(err)
	}
	prom := "# HELP node_demo_x A | B.\n# TYPE node_demo_x gauge\nnode_demo_x{a=\"1\"} 1\nnode_demo_x{b=\"2\"} 2\n"
	if err := os.WriteFile(filepath.Join(dir, "demo", "want.prom"), []byte(prom), 0o644); err != nil {
		t.Fatal(err)
	}
	doc, err := render(dir, []collectorInfo{{name: "demo"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "| `node_demo_x` | gauge | a, b | A \\| B. |"; !strings.Contains(doc, want) || !strings.Contains(doc, "## demo (default off)") {
		t.Errorf("got\n%s\nwant a line %q", doc, want)
	}
	if _, err := render(dir, []collectorInfo{{name: "missing"}}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("no golden file: err = %v, want one naming the collector", err)
	}
}
