//go:build !agentonly

package main

import (
	"github.com/spf13/cobra"

	"github.com/panoptes-dev/panoptes/internal/server/allinone"
)

// addRoles adds the server role and makes the bare command the all-in-one
// default.
func addRoles(root *cobra.Command, logOpts *logOptions) {
	aio, names := allinone.NewOptions(), flagNames{}
	root.Long = `Panoptes replaces node_exporter, cAdvisor, kube-state-metrics, metrics-server,
Prometheus and Grafana with one binary.

With no subcommand it monitors this host at once: the host and container
collectors run in-process and are stored in ./data by the server, whose API
(and UI) listens on 127.0.0.1:9090. --config.file adds scrape targets.

Each role also runs on its own:

  panoptes agent        host and container metrics on :9100 (node_exporter- and
                        cAdvisor-compatible; run on every node)
  panoptes server       scrape, storage, PromQL API, remote_write and the web UI
                        on :9090 (Prometheus-compatible)
  panoptes state        the state of Kubernetes objects on :8080
                        (kube-state-metrics-compatible)
  panoptes metrics-api  metrics.k8s.io for kubectl top and the HPA on :4443
                        (a metrics-server-compatible aggregated API)
  panoptes alertmanager  route, group, silence and deliver alerts on :9093
                        (Alertmanager-compatible; amtool works)
  panoptes top          kubectl top's table, from the metrics API or the local agent
  panoptes version      print the build`
	root.Example = `  # Monitor this machine; open the printed URL:
  panoptes

  # Also scrape the targets of a prometheus.yml, keep data elsewhere:
  panoptes --config.file=prometheus.yml --storage.tsdb.path=/var/lib/panoptes`
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		logger, err := logOpts.logger()
		if err != nil {
			return err
		}
		aio.Server.Flags = flagValues(cmd.Flags())
		return names.rename(allinone.Run(cmd.Context(), aio, logger, cmd.ErrOrStderr()))
	}
	bindAllInOneFlags(root.Flags(), aio, names)
	root.AddCommand(newServerCommand(logOpts))
	for _, role := range moreRoles {
		root.AddCommand(role(logOpts))
	}
}

// moreRoles are the Kubernetes roles (state, metrics-api, top); each file
// adds its constructor from init, so a role is one file to add or remove.
var moreRoles []func(*logOptions) *cobra.Command
