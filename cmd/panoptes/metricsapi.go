//go:build !agentonly

package main

import (
	"github.com/spf13/cobra"

	"github.com/panoptes-dev/panoptes/internal/metricsapi"
)

func init() { moreRoles = append(moreRoles, newMetricsAPICommand) }

// metricsAPIFlags are the flags bound to metricsapi.Options' fields, to
// name them in its errors.
var metricsAPIFlags = flagNames{
	"MetricResolution":              "metric-resolution",
	"Kubeconfig":                    "kubeconfig",
	"Kubelet.InsecureTLS":           "kubelet-insecure-tls",
	"Kubelet.UseNodeStatusPort":     "kubelet-use-node-status-port",
	"Kubelet.Port":                  "kubelet-port",
	"Kubelet.PreferredAddressTypes": "kubelet-preferred-address-types",
	"Kubelet.CAFile":                "kubelet-certificate-authority",
	"Kubelet.ClientCertFile":        "kubelet-client-certificate",
	"Kubelet.ClientKeyFile":         "kubelet-client-key",
	"Kubelet.RequestTimeout":        "kubelet-request-timeout",
	"Concurrency":                   "kubelet-concurrency",
	"NodeSelector":                  "node-selector",
	"Source":                        "source",
	"Agents.Namespace":              "agent-namespace",
	"Agents.Selector":               "agent-selector",
	"Agents.Port":                   "agent-port",
	"Custom.PrometheusURL":          "prometheus-url",
	"Custom.ConfigFile":             "custom-metrics-config",
	"Custom.RelistInterval":         "metrics-relist-interval",
}

// newMetricsAPICommand is metrics-server's replacement. Flags that do what
// metrics-server's do keep its names, so a metrics-server Deployment's args
// work unchanged.
func newMetricsAPICommand(logOpts *logOptions) *cobra.Command {
	o := metricsapi.NewOptions()
	cmd := &cobra.Command{
		Use:   "metrics-api",
		Short: "Serve metrics.k8s.io (kubectl top, HPA) as an aggregated API, replacing metrics-server",
		Long: `Serve the resource metrics API, metrics.k8s.io/v1beta1 (NodeMetrics and
PodMetrics), as an aggregated API server registered by an APIService, so that
kubectl top and the HorizontalPodAutoscaler work. The JSON is metrics-server's.

Every --metric-resolution it reads each node's /metrics/resource from the
kubelet's secure port (the address picked by --kubelet-preferred-address-types,
its serving certificate verified against the cluster CA or
--kubelet-certificate-authority, with this pod's service account token), or,
with --source=agents, from the panoptes agents: the running pods that match
--agent-selector in --agent-namespace (required; pods elsewhere are never
contacted), on their pod IP. An agent gets the token (or the client
certificate) only once its serving certificate is verified for that pod IP
against --kubelet-certificate-authority, which is then required and is the CA
of the agents (deploy/metrics-api-agents), not the cluster's; --kubelet-insecure-tls is
refused. CPU is the rate between the last two cumulative points; nodes and pods
not seen in the last cycle are dropped.

A node that cannot be scraped is logged once with the reason in words and what
to change, and counted in panoptes_metricsapi_node_scrape_errors_total{node,reason}
(reasons: tls-san-mismatch, tls-unknown-authority, connection-refused,
unauthorized, forbidden, timeout, ...).

Authentication and authorization are delegated to the API server (TokenReview,
SubjectAccessReview, the requestheader client CA of the aggregation layer).
/healthz and /livez report liveness; /readyz is ready once the first
collection stored points. /metrics has the server's own metrics.`,
		Example: `  # In a cluster (see deploy/metrics-api): metrics-server's usual args work
  panoptes metrics-api --secure-port=10250 --cert-dir=/tmp \
    --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname --kubelet-use-node-status-port

  # From the agents of deploy/agent, verified with their CA:
  panoptes metrics-api --source=agents --agent-namespace=monitoring \
    --kubelet-certificate-authority=/etc/panoptes/agent-ca/ca.crt

  # Out of cluster, against a test cluster:
  panoptes metrics-api --kubeconfig=$KUBECONFIG --secure-port=4443 \
    --kubelet-certificate-authority=kubelet-ca.crt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := logOpts.logger()
			if err != nil {
				return err
			}
			s, err := metricsapi.New(o, logger)
			if err != nil {
				return metricsAPIFlags.rename(err)
			}
			return s.Run(cmd.Context())
		},
	}
	fs := cmd.Flags()
	fs.DurationVar(&o.MetricResolution, "metric-resolution", o.MetricResolution, "How often node and pod usage is collected; at least 10s.")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig for the Kubernetes API and, with its credentials and CA, the kubelets (default: in-cluster). Also used for delegated authentication and authorization unless --authentication-kubeconfig / --authorization-kubeconfig are given.")
	fs.BoolVar(&o.Kubelet.InsecureTLS, "kubelet-insecure-tls", o.Kubelet.InsecureTLS, "Do not verify the kubelets' serving certificates: the credentials then go to whatever answers on their addresses (a warning is logged). For tests only: the scrape error metric says what to fix instead. Refused with --source=agents.")
	fs.BoolVar(&o.Kubelet.UseNodeStatusPort, "kubelet-use-node-status-port", o.Kubelet.UseNodeStatusPort, "Use the kubelet port of the node's status (daemonEndpoints.kubeletEndpoint.port); takes precedence over --kubelet-port.")
	fs.IntVar(&o.Kubelet.Port, "kubelet-port", o.Kubelet.Port, "The kubelets' secure port.")
	fs.StringSliceVar(&o.Kubelet.PreferredAddressTypes, "kubelet-preferred-address-types", o.Kubelet.PreferredAddressTypes, "The node address types to connect to, in order of preference.")
	fs.StringVar(&o.Kubelet.CAFile, "kubelet-certificate-authority", o.Kubelet.CAFile, "CA file to verify the kubelets' serving certificates with (default: the cluster CA of the kubeconfig or service account). With --source=agents it is required and verifies the agents' instead: the CA that signs them (deploy/metrics-api-agents), each for its pod IP.")
	fs.StringVar(&o.Kubelet.ClientCertFile, "kubelet-client-certificate", o.Kubelet.ClientCertFile, "Client certificate file for the kubelets (default: the service account token).")
	fs.StringVar(&o.Kubelet.ClientKeyFile, "kubelet-client-key", o.Kubelet.ClientKeyFile, "Client key file for the kubelets.")
	fs.DurationVar(&o.Kubelet.RequestTimeout, "kubelet-request-timeout", o.Kubelet.RequestTimeout, "Give up on one node's scrape after this long; the other nodes are not held back.")
	fs.IntVar(&o.Concurrency, "kubelet-concurrency", o.Concurrency, "How many nodes are scraped at once.")
	fs.StringVarP(&o.NodeSelector, "node-selector", "l", o.NodeSelector, "Only collect from nodes matching this label selector (e.g. key1=value1,key2!=value2).")
	fs.StringVar(&o.Source, "source", o.Source, "Where node usage is read: kubelet (each node's kubelet) or agents (the panoptes agents' kubelet-shaped endpoint, found through the API by --agent-selector).")
	fs.StringVar(&o.Agents.Namespace, "agent-namespace", o.Agents.Namespace, "With --source=agents (required): the namespace of the agent pods. Pods elsewhere are never contacted, whatever their labels.")
	fs.StringVar(&o.Agents.Selector, "agent-selector", o.Agents.Selector, "With --source=agents: the label selector of the agent pods.")
	fs.IntVar(&o.Agents.Port, "agent-port", o.Agents.Port, "With --source=agents: the port of the agents' --kubelet-address.")
	fs.StringVar(&o.Custom.PrometheusURL, "prometheus-url", o.Custom.PrometheusURL, "Also serve custom.metrics.k8s.io and external.metrics.k8s.io from PromQL against this Prometheus-compatible API (panoptes server), as prometheus-adapter does. Needs --custom-metrics-config.")
	fs.StringVar(&o.Custom.ConfigFile, "custom-metrics-config", o.Custom.ConfigFile, "Rules mapping series to Kubernetes objects and metric names, in prometheus-adapter's format (rules, externalRules).")
	fs.DurationVar(&o.Custom.RelistInterval, "metrics-relist-interval", o.Custom.RelistInterval, "How often the rules' series are rediscovered.")
	// k8s.io/apiserver's own options, with metrics-server's (and every
	// aggregated API server's) flag names: --secure-port, --bind-address,
	// --cert-dir, --tls-cert-file, --tls-private-key-file,
	// --authentication-kubeconfig, --authorization-kubeconfig,
	// --requestheader-*, --client-ca-file, ...
	o.SecureServing.AddFlags(fs)
	o.Authentication.AddFlags(fs)
	o.Authorization.AddFlags(fs)
	return cmd
}
