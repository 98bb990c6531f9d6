// Package web serves the UI at the server's root: the page, its embedded
// bundle (built from web/src by internal/web/bundle and committed), and the
// dashboards API (/api/ui/dashboards) over the built-in dashboards and those
// of --web.dashboards-dir, validated with clear errors.
//
// It must not import esbuild (internal/web/bundle): the binary carries the
// built bundle, not the bundler.
package web
