package agent

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/version"
)

// newNodeExporterBuildInfo returns node_exporter_build_info, the family
// node_exporter exports about its own build, with node_exporter 1.5's HELP
// and labels, so that dashboards and inventory queries that read it
// (count by (version) ..., "exporter version" panels) find the agent. Its
// values are the truth about Panoptes, never node_exporter's: version and
// revision are Panoptes', and branch is empty because a Go build does not
// record one. panoptes_build_info carries the same build.
func newNodeExporterBuildInfo() prometheus.Collector {
	i := version.Get()
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "node_exporter_build_info",
		Help: "A metric with a constant '1' value labeled by version, revision, branch, goversion from which node_exporter was built, and the goos and goarch for the build.",
		ConstLabels: prometheus.Labels{
			"version": i.Version, "revision": i.Revision, "branch": "", "goversion": i.GoVersion,
			"goos": runtime.GOOS, "goarch": runtime.GOARCH,
		},
	}, func() float64 { return 1 })
}
