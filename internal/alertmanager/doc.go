// Package alertmanager is `panoptes alertmanager`: the Alertmanager's job —
// grouping, inhibiting, silencing and delivering the alerts that Prometheus
// (or `panoptes server`) sends — built on the prometheus/alertmanager
// packages themselves (config, dispatch, inhibit, silence, nflog, notify
// with every receiver config/receiver builds, provider/mem, timeinterval and
// the API v2), wired as Alertmanager's own app package wires them. So an
// existing alertmanager.yml works unchanged, amtool and the Prometheus
// notifier speak to it over the same API v2, and silences and the
// notification log are the same snapshot files under --storage.path.
//
// What it leaves out of Alertmanager: the web UI (Panoptes' own UI shows
// alerts and silences through the API; a minimal landing page lists the
// endpoints), the event recorder (an experimental feature flag upstream) and
// the exporter-toolkit web config. Clustering (memberlist gossip of
// silences and the notification log) is off unless Options.ClusterListenAddress
// is set, as Alertmanager's --cluster.listen-address would be.
//
// An Alertmanager can be embedded: New builds it, Handler serves it under
// its route prefix on any mux (the all-in-one mounts it at /alertmanager/ of
// the server's listener) and Run runs it until its context ends. Run (the
// package function) is the standalone role with its own listener.
//
// It must not import the agent's packages or client-go, and flags are
// parsed in cmd/panoptes, not here.
package alertmanager
