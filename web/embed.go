// Package web holds the UI's sources (src/, TypeScript bundled by esbuild's
// Go API with `go run ./internal/web/build`), its built and committed bundle
// (dist/), its page (index.html) and the built-in dashboards (dashboards/),
// and embeds what the server serves. internal/web serves them; this package
// has no code of its own beyond the embedding.
package web

import "embed"

// Assets are index.html, dist/app.js, dist/app.css and dashboards/*.yaml.
//
//go:embed index.html dist/app.js dist/app.css dashboards/*.yaml
var Assets embed.FS
