// Package version reports what build of Panoptes is running: the version,
// revision and date stamped by the linker (-X, see the Makefile's LDFLAGS and
// the Dockerfile), falling back to what the Go toolchain records in every
// binary built from a git checkout (the module's version, vcs.revision,
// vcs.time, vcs.modified), and the panoptes_build_info metric.
//
// It imports nothing of Panoptes.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Set with -ldflags "-X github.com/panoptes-dev/panoptes/internal/version.Version=v0.1.0 ...".
// Empty means not stamped: Get falls back to the build information.
var (
	Version   = ""
	Revision  = ""
	BuildDate = ""
)

// Info is the resolved build information.
type Info struct {
	// Version is the stamped version, else the main module's (a tag, or a
	// pseudo-version such as v0.0.0-20261204153926-2ab1382a1b2c+dirty),
	// else "dev".
	Version string
	// Revision is the git commit; BuildDate when it was built (stamped) or
	// committed (from the build information).
	Revision, BuildDate string
	// Modified says the build's tree had uncommitted changes.
	Modified bool
	// GoVersion and Platform are the toolchain's and the target's.
	GoVersion, Platform string
}

// Get resolves the build information once the linker values are in place.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(Version, Revision, BuildDate, bi)
}

// resolve prefers the stamped values and falls back to bi (nil when the
// binary has none).
func resolve(version, revision, date string, bi *debug.BuildInfo) Info {
	info := Info{
		Version:   version,
		Revision:  revision,
		BuildDate: date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && info.Revision == "":
				info.Revision = s.Value
			case s.Key == "vcs.time" && info.BuildDate == "":
				info.BuildDate = s.Value
			case s.Key == "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	return info
}

// String formats the information for `panoptes version` and every role's
// --version.
func (i Info) String() string {
	modified := ""
	if i.Modified {
		modified = ", modified"
	}
	return fmt.Sprintf("panoptes %s (revision %q%s, built %q)\n  go: %s\n  platform: %s",
		i.Version, i.Revision, modified, i.BuildDate, i.GoVersion, i.Platform)
}

// NewCollector returns the panoptes_build_info gauge, constant 1, labelled
// like the *_build_info metrics of the Prometheus ecosystem.
func NewCollector() prometheus.Collector {
	i := Get()
	goos, goarch := runtime.GOOS, runtime.GOARCH
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "panoptes_build_info",
		Help: "A metric with a constant '1' value labeled by version, revision, goversion, goos and goarch from which panoptes was built.",
		ConstLabels: prometheus.Labels{
			"version": i.Version, "revision": i.Revision, "goversion": i.GoVersion,
			"goos": goos, "goarch": goarch,
		},
	}, func() float64 { return 1 })
}

// NewRegistry returns a registry holding what every role exports about
// itself, under the names the tools it replaces use: the Go runtime
// (go_*), the process (process_*) and the build (panoptes_build_info).
// A role adds its own metrics to it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		NewCollector(),
	)
	return reg
}
