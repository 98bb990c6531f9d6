// Command panoptes is the whole monitoring pipeline of a Kubernetes cluster or
// a single Linux host in one binary. Each role is a subcommand; this package
// is the only place where flags are parsed.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/panoptes-dev/panoptes/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "panoptes:", err)
		os.Exit(1)
	}
}

// logOptions are the logging flags every role shares.
type logOptions struct {
	level  string
	format string
}

func (o *logOptions) addFlags(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&o.level, "log.level", "info", "Only log messages at or above this level: debug, info, warn, error.")
	cmd.PersistentFlags().StringVar(&o.format, "log.format", "logfmt", "Log format: logfmt (key=value text) or json.")
}

func (o *logOptions) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.level)); err != nil {
		return nil, fmt.Errorf("--log.level: %q is not one of debug, info, warn, error", o.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(o.format) {
	case "logfmt", "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log.format: %q is not one of logfmt, json", o.format)
	}
}

func newRootCommand() *cobra.Command {
	logOpts := &logOptions{}
	root := &cobra.Command{
		Use:           "panoptes",
		Short:         "Monitoring for a Kubernetes cluster or a Linux host, in one binary",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	logOpts.addFlags(root)
	root.AddCommand(newAgentCommand(logOpts), newAgentCertCommand(), newVersionCommand())
	// The roles beyond the agent, and the all-in-one default, come from
	// roles_full.go; the lean agent build (-tags agentonly) leaves them out.
	addRoles(root, logOpts)
	addVersionFlags(root)
	return root
}

// addVersionFlags gives the root and every role a --version that prints what
// `panoptes version` prints, as node_exporter, Prometheus, kube-state-metrics
// and metrics-server answer --version: scripts and images probe it.
func addVersionFlags(root *cobra.Command) {
	v := version.Get().String()
	root.SetVersionTemplate("{{.Version}}\n")
	for _, c := range append([]*cobra.Command{root}, root.Commands()...) {
		if c.Name() == "version" {
			continue
		}
		// Declared here rather than left to cobra, which would also take -v.
		if c.Flags().Lookup("version") == nil {
			c.Flags().Bool("version", false, "Print the version, revision and Go version of this build, and exit.")
		}
		c.Version = v
	}
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, revision and Go version of this build",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), version.Get().String())
			return err
		},
	}
}
