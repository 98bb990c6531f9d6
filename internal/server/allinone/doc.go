// Package allinone is `panoptes` with no subcommand: this host's collectors
// (the agent's) and the server in one process, the collectors appended
// straight into the storage as in-process targets, with no HTTP hop between
// them.
//
// Its Options are the server's and the agent's collectors' (server.Options,
// agent.CollectorOptions) with the defaults of a single host: the API and UI
// on loopback. It parses no flags: cmd/panoptes binds them.
package allinone
