// Package version reports what build of Panoptes is running: the version and
// revision stamped by the linker (-X), falling back to the VCS data the Go
// toolchain records, and the panoptes_build_info metric.
//
// It imports nothing of Panoptes.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Set with -ldflags "-X github.com/panoptes-dev/panoptes/internal/version.Version=v0.1.0 ...".
var (
	Version   = "dev"
	Revision  = ""
	BuildDate = ""
)

// Info is the resolved build information.
type Info struct {
	Version, Revision, BuildDate, GoVersion, Platform string
}

// Get resolves the build information once the linker values are in place.
func Get() Info {
	info := Info{
		Version:   Version,
		Revision:  Revision,
		BuildDate: BuildDate,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && info.Revision == "":
				info.Revision = s.Value
			case s.Key == "vcs.time" && info.BuildDate == "":
				info.BuildDate = s.Value
			}
		}
	}
	return info
}

// String formats the information for `panoptes version`.
func (i Info) String() string {
	return fmt.Sprintf("panoptes %s (revision %q, built %q)\n  go: %s\n  platform: %s",
		i.Version, i.Revision, i.BuildDate, i.GoVersion, i.Platform)
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
