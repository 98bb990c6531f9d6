//go:build !agentonly

package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/panoptes-dev/panoptes/internal/install"
)

func init() { moreRoles = append(moreRoles, newInstallCommand) }

// installFlags are the flags bound to install.Options' fields.
var installFlags = flagNames{
	"Image":                "image",
	"Namespace":            "namespace",
	"Roles":                "roles",
	"DryRun":               "dry-run",
	"Kubeconfig":           "kubeconfig",
	"Context":              "context",
	"ReplaceMetricsServer": "replace-metrics-server",
	"ForceConflicts":       "force-conflicts",
	"Timeout":              "request-timeout",
}

// newInstallCommand deploys every role into a cluster, with the objects of
// deploy/ (kubectl's flags where kubectl has one).
func newInstallCommand(_ *logOptions) *cobra.Command {
	o := install.NewOptions()
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Deploy every role into a cluster: what kubectl apply -k deploy/ applies",
		Long: `Deploy Panoptes into the cluster of the kubeconfig: the agent DaemonSet, the
server (with the built-in rules and dashboards), state and the metrics API,
in the namespace monitoring. The objects are those of deploy/ (rendered from
its kustomization), with --image in every container.

They are applied with server-side apply (field manager panoptes-install),
one line per object as kubectl prints; --dry-run prints them as YAML instead,
for kubectl apply -f -, and --dry-run=server has the API server validate
them without storing anything.

The metrics API registers the APIService v1beta1.metrics.k8s.io, which
metrics-server registers too. When that APIService exists and points
elsewhere, install refuses (exit status 1) and names its Service; rerun with
--replace-metrics-server to take it over (metrics-server's Deployment can
then be deleted). Without that flag the cluster must be reachable, even for
--dry-run, to check.`,
		Example: `  panoptes install --image=registry.example/panoptes:v1.0.0
  panoptes install --dry-run | kubectl apply --server-side -f -
  panoptes install --dry-run=server
  # In place of a running metrics-server:
  panoptes install --replace-metrics-server && kubectl -n kube-system delete deployment metrics-server`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return installFlags.rename(install.Run(cmd.Context(), cmd.OutOrStdout(), o))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Image, "image", o.Image, "Image of every container (the agent runs its lean build, /panoptes-agent, from it).")
	fs.StringVarP(&o.Namespace, "namespace", "n", o.Namespace, "Namespace of the roles (the metrics API's RoleBinding to extension-apiserver-authentication-reader stays in kube-system).")
	fs.StringSliceVar(&o.Roles, "roles", o.Roles, "Roles to deploy, comma-separated: "+strings.Join(install.Roles, ", ")+".")
	fs.StringVar(&o.DryRun, "dry-run", o.DryRun, `"none" applies; "client" (or a bare --dry-run) prints the objects as YAML; "server" sends them to be validated and admitted, storing nothing.`)
	fs.Lookup("dry-run").NoOptDefVal = install.DryRunClient
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Path of the kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster).")
	fs.StringVar(&o.Context, "context", o.Context, "The kubeconfig context to use.")
	fs.BoolVar(&o.ReplaceMetricsServer, "replace-metrics-server", o.ReplaceMetricsServer, "Take the APIService v1beta1.metrics.k8s.io over from metrics-server (or whoever serves it), without checking.")
	fs.BoolVar(&o.ForceConflicts, "force-conflicts", o.ForceConflicts, "Take every field over from other field managers, as kubectl apply --server-side --force-conflicts.")
	fs.DurationVar(&o.Timeout, "request-timeout", o.Timeout, "Time limit of each request to the API server.")
	return cmd
}
