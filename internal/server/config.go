package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
)

// reloadMetrics are Prometheus's config reload metrics, under its names:
// the usual alert on a failed reload (PrometheusConfigReloadFailed) reads
// them.
type reloadMetrics struct {
	success     prometheus.Gauge
	successTime prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) *reloadMetrics {
	m := &reloadMetrics{
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "prometheus_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful.",
		}),
		successTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "prometheus_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
	}
	reg.MustRegister(m.success, m.successTime)
	return m
}

// loadConfig reads and validates the config file (the default config when
// none is given), and appends the scrape sources' jobs.
func (s *Server) loadConfig() (*config.Config, error) {
	if s.opts.ConfigFile == "" {
		// An empty document is Prometheus's defaults, marked as loaded.
		cfg, err := config.Load("", s.logger)
		if err != nil {
			return nil, err
		}
		s.withSourceJobs(cfg)
		return cfg, nil
	}
	cfg, err := config.LoadFile(s.opts.ConfigFile, false, s.logger)
	if err != nil {
		return nil, fmt.Errorf("load config --config.file=%s: %w", absPath(s.opts.ConfigFile), err)
	}
	// Validate what LoadFile leaves to the managers, so that a reload fails
	// before anything was applied rather than half way through.
	if _, err := cfg.GetScrapeConfigs(); err != nil {
		return nil, fmt.Errorf("load config --config.file=%s: %w", absPath(s.opts.ConfigFile), err)
	}
	// The jobs of ServiceMonitor objects, ..., after the file's.
	s.withSourceJobs(cfg)
	return cfg, nil
}

// load reads the config and every rule file it names (with the built-in
// and the sources' rule files): anything that does not load is an error
// before anything is applied.
func (s *Server) load() (*config.Config, *ruleSet, error) {
	cfg, err := s.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	set, err := s.resolveRules(cfg)
	if err != nil {
		if s.opts.ConfigFile != "" {
			err = fmt.Errorf("load config --config.file=%s: %w", absPath(s.opts.ConfigFile), err)
		}
		return nil, nil, err
	}
	return cfg, set, nil
}

// applyConfig hands a loaded config to every manager, in Prometheus's
// order: storage, scrape manager, then discovery (which must find the scrape
// pools the new targets belong to), the notifier and its discovery, and the
// rules.
func (s *Server) applyConfig(cfg *config.Config, set *ruleSet) error {
	var errs []error
	if err := s.remote.ApplyConfig(cfg); err != nil {
		errs = append(errs, fmt.Errorf("remote_write/remote_read: %w", err))
	}
	if err := s.scrape.ApplyConfig(cfg); err != nil {
		errs = append(errs, fmt.Errorf("scrape_configs: %w", err))
	}
	scfgs, err := cfg.GetScrapeConfigs()
	if err != nil {
		errs = append(errs, fmt.Errorf("scrape_configs: %w", err))
	} else {
		sd := make(map[string]discovery.Configs, len(scfgs))
		for _, sc := range scfgs {
			sd[sc.JobName] = sc.ServiceDiscoveryConfigs
		}
		if err := s.discovery.ApplyConfig(sd); err != nil {
			errs = append(errs, fmt.Errorf("service discovery: %w", err))
		}
	}
	notify := s.withLocalAlertmanager(cfg)
	if err := s.notifier.ApplyConfig(notify); err != nil {
		errs = append(errs, fmt.Errorf("alerting: %w", err))
	}
	if err := s.notifyDiscovery.ApplyConfig(notifyDiscoveryConfigs(notify)); err != nil {
		errs = append(errs, fmt.Errorf("alerting service discovery: %w", err))
	}
	// The config is current before the rules are updated: a group's query
	// offset and the evaluation interval are read from it.
	s.mu.Lock()
	old := s.config
	s.config = cfg
	s.mu.Unlock()
	if err := s.updateRules(cfg, set); err != nil {
		errs = append(errs, fmt.Errorf("rules: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		if old != nil {
			s.mu.Lock()
			s.config = old
			s.mu.Unlock()
		}
		s.reloadMetrics.success.Set(0)
		return err
	}
	s.reloadMetrics.success.Set(1)
	s.reloadMetrics.successTime.SetToCurrentTime()
	return nil
}

// Reload reads the config file again and applies it. A config that does not
// load is rejected as a whole and the running one stays.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	cfg, set, err := s.load()
	if err != nil {
		s.reloadMetrics.success.Set(0)
		s.logger.Error("config reload failed; the running config and rules stay", "err", err)
		return err
	}
	if err := s.applyConfig(cfg, set); err != nil {
		s.logger.Error("config reload applied only in part", "err", err)
		return err
	}
	var errs []error
	for _, reload := range s.opts.Reloaders {
		if err := reload(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		// The server's config is applied; what failed reports its own
		// metric (alertmanager_config_last_reload_successful).
		s.logger.Error("config reload failed in part", "err", err)
		return err
	}
	s.logger.Info("config reloaded", "file", s.opts.ConfigFile)
	return nil
}

// reloadOnSignal reloads on SIGHUP until ctx is done.
func (s *Server) reloadOnSignal(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = s.Reload()
		}
	}
}
