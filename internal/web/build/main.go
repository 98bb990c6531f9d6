// Command build bundles the UI (web/src) into web/dist with esbuild's Go API.
// Run it from the repository root after changing web/src and commit
// web/dist: `go run ./internal/web/build`. Needs `(cd web && npm ci)` once
// for uPlot.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/panoptes-dev/panoptes/internal/web/bundle"
)

func main() {
	dir := flag.String("web", "web", "the web/ directory (sources, node_modules, dist)")
	flag.Parse()
	out, err := bundle.Build(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	for _, name := range bundle.Outputs {
		p := filepath.Join(*dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "build:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(p, out[name], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "build:", err)
			os.Exit(1)
		}
		fmt.Printf("%s\t%d bytes\n", p, len(out[name]))
	}
}
