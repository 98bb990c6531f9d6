package allinone

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
	"github.com/panoptes-dev/panoptes/internal/server"
	"github.com/panoptes-dev/panoptes/internal/version"
)

// Run monitors this host until ctx ends: it builds the collectors, runs them
// as the in-process targets "node" (this host) and "panoptes" (the process's
// own metrics) of the server, and, once listening, tells the user on w
// which URL to open.
func Run(ctx context.Context, o *Options, logger *slog.Logger, w io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	built, err := o.Collectors.Build(logger)
	if err != nil {
		return err
	}
	self := version.NewRegistry()
	self.MustRegister(built.Own...)
	hostReg := prometheus.NewRegistry()
	hostReg.MustRegister(collector.NewRunner(built.Collectors, o.Collectors.Timeout, logger))
	host, _ := os.Hostname()
	so := o.Server
	so.Registerer, so.Gatherer = self, self
	so.InProcess = append(so.InProcess,
		server.InProcessTarget{Job: "node", Instance: host, Gatherer: hostReg, Interval: o.Interval},
		server.InProcessTarget{Job: "panoptes", Gatherer: self, Interval: o.Interval},
	)
	logger.Info("starting panoptes (all in one)", "collectors", strings.Join(built.Names, ","),
		"storage", so.StoragePath, "config", so.ConfigFile)
	return server.Run(ctx, &so, logger, func(addr net.Addr) {
		fmt.Fprintf(w, "\nPanoptes is monitoring this host. Open http://%s/\n\n", browsable(addr))
	})
}

// browsable turns a bound address into one a browser can open.
func browsable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
