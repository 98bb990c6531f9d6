package alertmanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/panoptes-dev/panoptes/internal/version"
)

// shutdownTimeout is how long in-flight requests get when the standalone
// role stops.
const shutdownTimeout = 10 * time.Second

// Run is the standalone role, `panoptes alertmanager`: it validates o,
// listens on o.ListenAddress, serves the Alertmanager there with its own
// /metrics (Go, process and build metrics beside Alertmanager's), reloads
// the config on SIGHUP and POST /-/reload, and runs until ctx ends, then
// writes the last snapshots. onListen, when not nil, is called with the
// bound address once it listens.
func Run(ctx context.Context, o *Options, logger *slog.Logger, onListen func(net.Addr)) error {
	if err := o.Validate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.ListenAddress)
	if err != nil {
		return fmt.Errorf("listen on %s (--web.listen-address): %w", o.ListenAddress, err)
	}
	defer ln.Close()
	opts := *o
	// The external URL, when derived, names the port actually bound (":0"
	// picks one).
	opts.ListenAddress = ln.Addr().String()
	reg := version.NewRegistry()
	if opts.Gatherer == nil {
		opts.Gatherer = reg
	}
	a, err := New(&opts, logger, reg)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- a.Run(runCtx) }()

	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: time.Minute}
	served := make(chan error, 1)
	// exporter-toolkit reads the web config again for every connection
	// (TLS) and request (users, headers), as Alertmanager's listener does.
	webCfg := o.WebConfigFile
	go func() {
		served <- web.Serve(ln, srv, &web.FlagConfig{WebConfigFile: &webCfg}, logger.With("component", "web"))
	}()
	logger.Info("listening", "address", ln.Addr().String(), "external_url", a.ExternalURL().String())
	if onListen != nil {
		onListen(ln.Addr())
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			_ = a.Reload() // logged by the coordinator; the running config stays
		case serveErr = <-served:
			break loop
		}
	}
	// Stop taking requests first, then the Alertmanager: no alert arrives
	// after its last snapshot.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	_ = srv.Shutdown(sctx)
	stop()
	runErr := <-ran
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", ln.Addr(), serveErr)
	}
	return runErr
}

// nopLogger discards; for the feature flags' parser in Validate, whose log
// lines New repeats with the real logger.
func nopLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
