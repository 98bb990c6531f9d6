// Package webassets holds the UI's sources (src/, TypeScript bundled by
// esbuild's Go API with `go run ./internal/web/build`), its built and
// committed bundle (dist/), its page (index.html) and the built-in dashboards
// (dashboards/), and embeds what the server serves. internal/web serves them;
// this package has no code of its own beyond the embedding.
//
// The directory is web/ because go:embed only reaches files below the
// package's directory, and the UI's sources live at the top of the
// repository; the package is named webassets so that it does not clash with
// internal/web, the handler that serves these assets. Import it as
// webassets "github.com/panoptes-dev/panoptes/web".
package webassets

import "embed"

// Assets are index.html, dist/app.js, dist/app.css and dashboards/*.yaml.
//
//go:embed index.html dist/app.js dist/app.css dashboards/*.yaml
var Assets embed.FS
