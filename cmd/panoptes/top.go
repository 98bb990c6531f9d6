//go:build !agentonly

package main

import (
	"github.com/spf13/cobra"

	"github.com/panoptes-dev/panoptes/internal/top"
)

func init() { moreRoles = append(moreRoles, newTopCommand) }

// topFlags are top's flags by top.Options field.
var topFlags = flagNames{"SortBy": "sort-by", "Interval": "interval"}

// newTopCommand is kubectl top (and docker stats on a host without
// Kubernetes): the same table, from the metrics API or the local agent.
func newTopCommand(_ *logOptions) *cobra.Command {
	o := top.NewOptions()
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Show CPU and memory usage of nodes, pods or containers, as kubectl top",
		Long: `Show the CPU and memory usage of nodes, pods or containers in kubectl top's
table: CPU(cores), CPU(%), MEMORY(bytes), MEMORY(%).

In a cluster it reads the metrics API (metrics.k8s.io, served by
panoptes metrics-api or metrics-server) with the kubeconfig ($KUBECONFIG,
~/.kube/config, or in-cluster). On a host without Kubernetes, or with --agent,
it reads the local panoptes agent's kubelet-shaped /metrics/resource twice,
--interval apart, like docker stats.`,
		Example: `  panoptes top nodes --sort-by=cpu
  panoptes top pods -A
  panoptes top containers -n kube-system
  # On a host without Kubernetes, from the local agent:
  panoptes top containers --agent=http://127.0.0.1:9100`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Path of the kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster).")
	pf.StringVar(&o.Context, "context", o.Context, "The kubeconfig context to use.")
	pf.StringVar(&o.Agent, "agent", o.Agent, "Read the panoptes agent at this URL (e.g. http://127.0.0.1:9100) instead of the metrics API. Used by default when no kubeconfig is found.")
	pf.DurationVar(&o.Interval, "interval", o.Interval, "With the agent: the time between the two reads the CPU rate is taken over.")
	pf.StringVarP(&o.Selector, "selector", "l", o.Selector, "Label selector (e.g. app=web); metrics API only.")
	pf.StringVar(&o.SortBy, "sort-by", o.SortBy, "Sort by cpu or memory, largest first.")
	pf.BoolVar(&o.NoHeaders, "no-headers", o.NoHeaders, "Leave out the header line.")
	pf.StringVarP(&o.Namespace, "namespace", "n", o.Namespace, "Namespace of the pods (default: the kubeconfig's).")
	pf.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", o.AllNamespaces, "Pods of every namespace.")

	nodes := &cobra.Command{
		Use:     "nodes",
		Aliases: []string{"node", "no"},
		Short:   "Usage of nodes, with the percentage of their allocatable",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return topFlags.rename(top.Nodes(cmd.Context(), cmd.OutOrStdout(), o))
		},
	}
	nodes.Flags().BoolVar(&o.UseCapacity, "show-capacity", o.UseCapacity, "Percentages of the nodes' capacity instead of their allocatable.")
	pods := func(use string, aliases []string, containers bool, short string) *cobra.Command {
		return &cobra.Command{
			Use:     use,
			Aliases: aliases,
			Short:   short,
			Args:    cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return topFlags.rename(top.Pods(cmd.Context(), cmd.OutOrStdout(), containers, o))
			},
		}
	}
	cmd.AddCommand(nodes,
		pods("pods", []string{"pod", "po"}, false, "Usage of pods (the sum of their containers)"),
		pods("containers", []string{"container"}, true, "Usage of each container of the pods"))
	return cmd
}
