package server

import (
	"sort"

	"github.com/prometheus/prometheus/config"

	"github.com/panoptes-dev/panoptes/internal/server/monitors"
)

// ScrapeSource supplies scrape jobs that do not live in the config file:
// the ServiceMonitor, PodMonitor and Probe objects of a cluster.
// ScrapeConfigs returns identifier -> a YAML list of scrape configs
// (Prometheus's scrape_configs items); the server reads it on every
// reload.
type ScrapeSource interface {
	ScrapeConfigs() map[string][]byte
}

// withSourceJobs appends the sources' jobs to cfg's scrape_configs, in
// the order of their identifiers, each with cfg's global defaults (its
// scrape_interval, limits, ...). A job that does not take them (a
// scrape_timeout over the global scrape_interval), or whose name a job of
// the file has already, is left out with a log line: the file's jobs and
// the other sources' always load.
func (s *Server) withSourceJobs(cfg *config.Config) {
	if len(s.opts.ScrapeSources) == 0 {
		return
	}
	names := map[string]bool{}
	// GetScrapeConfigs also reads scrape_config_files; its error is the
	// caller's to report (loadConfig checks it).
	file, _ := cfg.GetScrapeConfigs()
	for _, sc := range file {
		names[sc.JobName] = true
	}
	for _, src := range s.opts.ScrapeSources {
		jobs := src.ScrapeConfigs()
		ids := make([]string, 0, len(jobs))
		for id := range jobs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			scs, err := monitors.ParseScrapeConfigs(jobs[id])
			if err != nil {
				s.logger.Error("BUG: a scrape source's jobs do not parse; left out", "source", id, "err", err)
				continue
			}
			for _, sc := range scs {
				if names[sc.JobName] {
					s.logger.Warn("a job from a Kubernetes object has the name of a job of the config file; the file's job is kept", "source", id, "job", sc.JobName)
					continue
				}
				if err := sc.Validate(cfg.GlobalConfig); err != nil {
					s.logger.Warn("a job from a Kubernetes object does not fit the config's global settings; left out", "source", id, "job", sc.JobName, "err", err)
					continue
				}
				names[sc.JobName] = true
				cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, sc)
			}
		}
	}
}
