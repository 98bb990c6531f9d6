//go:build !agentonly

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/panoptes-dev/panoptes/internal/top"
)

func init() { moreRoles = append(moreRoles, newTopCommand) }

type topOptions struct {
	top.Options
	kubeconfig string
	context    string
	agent      string
	interval   time.Duration
}

// newTopCommand is kubectl top (and docker stats on a host without
// Kubernetes): the same table, from the metrics API or the local agent.
func newTopCommand(_ *logOptions) *cobra.Command {
	o := &topOptions{}
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
	pf.StringVar(&o.kubeconfig, "kubeconfig", "", "Path of the kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster).")
	pf.StringVar(&o.context, "context", "", "The kubeconfig context to use.")
	pf.StringVar(&o.agent, "agent", "", "Read the panoptes agent at this URL (e.g. http://127.0.0.1:9100) instead of the metrics API. Used by default when no kubeconfig is found.")
	pf.DurationVar(&o.interval, "interval", time.Second, "With the agent: the time between the two reads the CPU rate is taken over.")
	pf.StringVarP(&o.Selector, "selector", "l", "", "Label selector (e.g. app=web); metrics API only.")
	pf.StringVar(&o.SortBy, "sort-by", "", "Sort by cpu or memory, largest first.")
	pf.BoolVar(&o.NoHeaders, "no-headers", false, "Leave out the header line.")
	pf.StringVarP(&o.Namespace, "namespace", "n", "", "Namespace of the pods (default: the kubeconfig's).")
	pf.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Pods of every namespace.")

	nodes := &cobra.Command{
		Use:     "nodes",
		Aliases: []string{"node", "no"},
		Short:   "Usage of nodes, with the percentage of their allocatable",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := o.source()
			if err != nil {
				return err
			}
			rows, err := src.Nodes(cmd.Context(), o.Options)
			if err != nil && !(errors.Is(err, top.ErrNoMetrics) && len(rows) > 0) {
				return err
			}
			return top.PrintNodes(cmd.OutOrStdout(), rows, o.Options)
		},
	}
	nodes.Flags().BoolVar(&o.UseCapacity, "show-capacity", false, "Percentages of the nodes' capacity instead of their allocatable.")
	pods := func(use string, aliases []string, containers bool, short string) *cobra.Command {
		return &cobra.Command{
			Use:     use,
			Aliases: aliases,
			Short:   short,
			Args:    cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				src, err := o.source()
				if err != nil {
					return err
				}
				rows, err := src.Pods(cmd.Context(), containers, o.Options)
				if err != nil {
					return err
				}
				return top.PrintPods(cmd.OutOrStdout(), rows, containers, o.Options)
			},
		}
	}
	cmd.AddCommand(nodes,
		pods("pods", []string{"pod", "po"}, false, "Usage of pods (the sum of their containers)"),
		pods("containers", []string{"container"}, true, "Usage of each container of the pods"))
	return cmd
}

type topSource interface {
	Nodes(ctx context.Context, o top.Options) ([]top.Row, error)
	Pods(ctx context.Context, containers bool, o top.Options) ([]top.Row, error)
}

// source picks the metrics API when a kubeconfig is found (and --agent is
// not given), else the local agent.
func (o *topOptions) source() (topSource, error) {
	if o.SortBy != "" && o.SortBy != "cpu" && o.SortBy != "memory" {
		return nil, fmt.Errorf("--sort-by %q: must be cpu or memory", o.SortBy)
	}
	agent := func(url string) topSource {
		if o.Namespace == "" {
			o.AllNamespaces = true
		}
		return &top.Agent{URL: url, Client: &http.Client{Timeout: 10 * time.Second}, Interval: o.interval}
	}
	if o.agent != "" {
		return agent(o.agent), nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.kubeconfig != "" {
		rules.ExplicitPath = o.kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if o.kubeconfig != "" || o.context != "" || !clientcmd.IsEmptyConfig(err) {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		// No cluster configured: this host's agent.
		return agent("http://127.0.0.1:9100"), nil
	}
	if o.Namespace == "" {
		if ns, _, err := cc.Namespace(); err == nil {
			o.Namespace = ns
		}
	}
	return top.NewAPI(cfg)
}
