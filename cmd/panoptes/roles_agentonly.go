//go:build agentonly

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// addRoles in the lean agent build (-tags agentonly) adds nothing: the
// server's packages (TSDB, PromQL, discovery with its Kubernetes client)
// are not linked, so the agent on every node does not carry their
// initialisation in memory.
func addRoles(root *cobra.Command, _ *logOptions) {
	root.Long = `Panoptes' lean agent build: only the agent role, for the DaemonSet on every
node. The full binary (built without -tags agentonly) also holds the server
and the all-in-one default.

  panoptes agent     host and container metrics on :9100 (node_exporter- and
                     cAdvisor-compatible)
  panoptes agent-cert  issue the agent's serving certificate from the agents'
                     CA (the DaemonSet's init container, deploy/metrics-api-agents)
  panoptes version   print the build`
	root.RunE = func(*cobra.Command, []string) error {
		return errors.New("this is the lean agent build: run `panoptes agent`; the server and the all-in-one default are in the full build (without -tags agentonly)")
	}
}
