// Package monitors turns prometheus-operator's ServiceMonitor, PodMonitor
// and Probe objects (monitoring.coreos.com/v1) into Prometheus scrape
// jobs for the server, so that a cluster whose scrape targets are
// declared in those objects keeps them when Panoptes replaces Prometheus
// and the operator.
//
// The jobs are what prometheus-operator's config generator writes for a
// Prometheus object with one shard: the same job names
// (serviceMonitor/<namespace>/<name>/<endpoint index>,
// podMonitor/<namespace>/<name>/<index>, probe/<namespace>/<name>), the
// same Kubernetes discovery (the monitor's namespaceSelector: any, the
// matchNames, or the monitor's own namespace) and the same relabelling:
// the monitor's label selector as keep/drop rules on the discovered
// labels, the endpoint chosen by port name (or targetPort), and the
// labels namespace, service, pod, container, endpoint, job (the Service's
// name, the PodMonitor's namespace/name, or the jobLabel's value),
// targetLabels and podTargetLabels; then the monitor's own relabelings.
// The fields interval, scrapeTimeout, path, params, scheme, proxyUrl,
// followRedirects, enableHttp2, tlsConfig, bearerTokenSecret,
// authorization, basicAuth, relabelings, metricRelabelings, honorLabels,
// honorTimestamps, trackTimestampsStaleness, filterRunning,
// attachMetadata and the limits (sampleLimit, ...) are carried over.
// Secrets and ConfigMaps that a monitor names are read through the API
// and written inline (the operator mounts them as files). Probes take
// their static targets only; ingress targets are reported as not
// supported. Differences from the operator: no sharding rules (one
// server), no scrape classes, no enforced limits or namespace label;
// ServiceMonitors use EndpointSlice discovery by default (the operator's
// default is still Endpoints, deprecated by Kubernetes), Options.Role
// chooses Endpoints.
//
// Each object's jobs are parsed with Prometheus's own config types before
// they are used: an object that does not convert (a bad regex, a missing
// Secret, an unknown action) is left out and reported — a log line naming
// it, the panoptes_monitor_invalid gauge and a Warning Event on the
// object — and the other objects still apply, as the operator does.
//
// A Watcher lists and watches the three kinds with client-go's dynamic
// informer (unstructured objects, no generated client) and calls back,
// debounced, when the jobs change; the server appends ScrapeConfigs to
// its config file's scrape_configs on every (re)load. Selection: empty
// label and namespace selectors select everything (the feature is
// switched on by the server's --kubernetes.monitors flag), unlike the
// operator's unset selectors, which select nothing. A cluster without one
// of the CRDs is not an error: that kind is off, logged once, and looked
// for again every minute (deploy/crds installs them).
//
// It is part of the server role: it must not be imported by the agent,
// and it parses no flags (cmd/panoptes binds them to Options).
package monitors
