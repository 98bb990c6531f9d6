// Package bundle builds the UI's JavaScript and CSS from web/src with
// esbuild's Go API: one deterministic build shared by the build command
// (go run ./internal/web/build) and the test that fails when the committed
// bundle is stale. The server never imports it.
package bundle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// Outputs are the files Build produces, relative to web/.
var Outputs = []string{"dist/app.js", "dist/app.css"}

// ErrNoModules means web/node_modules is missing: run `npm ci` in web/.
var ErrNoModules = errors.New("web/node_modules is missing: run `(cd web && npm ci --no-audit --no-fund)`")

// Build bundles webDir/src/main.ts with its imports (uPlot from
// webDir/node_modules) and returns the outputs by their path under webDir.
func Build(webDir string) (map[string][]byte, error) {
	abs, err := filepath.Abs(webDir)
	if err != nil {
		return nil, fmt.Errorf("web dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(abs, "node_modules", "uplot", "package.json")); err != nil {
		return nil, ErrNoModules
	}
	res := api.Build(api.BuildOptions{
		AbsWorkingDir:     abs,
		EntryPoints:       []string{"src/main.ts"},
		EntryNames:        "app",
		Outdir:            filepath.Join(abs, "dist"),
		Bundle:            true,
		Write:             false,
		Format:            api.FormatIIFE,
		Target:            api.ES2020,
		Platform:          api.PlatformBrowser,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		LegalComments:     api.LegalCommentsEndOfFile,
		Charset:           api.CharsetUTF8,
		Sourcemap:         api.SourceMapNone,
		LogLevel:          api.LogLevelSilent,
		Loader:            map[string]api.Loader{".css": api.LoaderCSS},
	})
	if len(res.Errors) > 0 {
		msgs := api.FormatMessages(res.Errors, api.FormatMessagesOptions{Kind: api.ErrorMessage})
		return nil, fmt.Errorf("esbuild: %s", strings.Join(msgs, "\n"))
	}
	out := map[string][]byte{}
	for _, f := range res.OutputFiles {
		rel, err := filepath.Rel(abs, f.Path)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", f.Path, err)
		}
		out[filepath.ToSlash(rel)] = f.Contents
	}
	for _, want := range Outputs {
		if _, ok := out[want]; !ok {
			return nil, fmt.Errorf("esbuild produced no %s (got %d files)", want, len(out))
		}
	}
	return out, nil
}
