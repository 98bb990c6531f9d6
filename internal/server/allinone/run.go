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

	"github.com/panoptes-dev/panoptes/internal/alertmanager"
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
	co := o.Collectors
	co.Host.Textfile.Directories = textfileDirs(co.Host.Textfile.Directories)
	built, err := co.Build(logger)
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
	// The built-in Alertmanager outlives the server's run: the server's
	// notifier drains its queue into it on the way out, then it writes its
	// last snapshots.
	var amDone chan struct{}
	if o.Alertmanager.ConfigFile != "" {
		amo := o.alertmanagerOptions()
		am, err := alertmanager.New(&amo, logger, self)
		if err != nil {
			return err
		}
		so.LocalAlertmanager = am.Handler()
		so.Reloaders = append(so.Reloaders, am.Reload)
		amCtx, amCancel := context.WithCancel(context.Background())
		amDone = make(chan struct{})
		go func() {
			defer close(amDone)
			if err := am.Run(amCtx); err != nil {
				logger.Error("alertmanager stopped", "err", err)
			}
		}()
		defer func() { amCancel(); <-amDone }()
		logger.Info("built-in alertmanager", "config", amo.ConfigFile, "storage", amo.StoragePath, "url", am.ExternalURL().String())
	}
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
