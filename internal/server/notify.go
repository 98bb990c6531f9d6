package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"
)

// LocalAlertmanagerPrefix is where the in-process Alertmanager
// (Options.LocalAlertmanager) is served on the server's own listener, so that
// amtool and the UI reach it at http://<server>/alertmanager. Its handler
// gets the whole path, prefix included (its route prefix).
const LocalAlertmanagerPrefix = "/alertmanager"

// localAlertmanagerHost is the address the notifier is given for the
// in-process Alertmanager. Requests to it never reach the network: the
// notifier's Do hands them to the handler in this process, so that no URL,
// port or credential has to be configured for it.
const localAlertmanagerHost = "in-process.panoptes.invalid"

// withLocalAlertmanager returns cfg with the in-process Alertmanager added
// to alerting.alertmanagers when one runs, leaving cfg itself (what
// /api/v1/status/config shows) as the user wrote it.
func (s *Server) withLocalAlertmanager(cfg *config.Config) *config.Config {
	if s.opts.LocalAlertmanager == nil {
		return cfg
	}
	c := *cfg
	am := config.DefaultAlertmanagerConfig
	am.APIVersion = config.AlertmanagerAPIVersionV2
	am.PathPrefix = LocalAlertmanagerPrefix
	am.ServiceDiscoveryConfigs = discovery.Configs{discovery.StaticConfig{{
		Targets: []model.LabelSet{{model.AddressLabel: localAlertmanagerHost}},
		Source:  "in-process",
	}}}
	c.AlertingConfig.AlertmanagerConfigs = append(append(config.AlertmanagerConfigs(nil), cfg.AlertingConfig.AlertmanagerConfigs...), &am)
	return &c
}

// notifierDo sends the notifier's requests: to the in-process Alertmanager
// through its handler, elsewhere over the network.
func (s *Server) notifierDo(ctx context.Context, client *http.Client, req *http.Request) (*http.Response, error) {
	if s.opts.LocalAlertmanager == nil || req.URL.Host != localAlertmanagerHost {
		return client.Do(req.WithContext(ctx))
	}
	req = req.WithContext(ctx)
	if req.Body == nil {
		req.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	s.opts.LocalAlertmanager.ServeHTTP(rec, req)
	res := rec.Result()
	res.Request = req
	if res.StatusCode/100 != 2 {
		b, _ := io.ReadAll(res.Body)
		res.Body = io.NopCloser(bytes.NewReader(b))
		s.logger.Debug("in-process alertmanager refused alerts", "status", res.StatusCode, "body", string(b))
	}
	return res, nil
}

// notifyDiscoveryConfigs are the alertmanagers' service discovery configs
// by the notifier's set names ("config-0", ...).
func notifyDiscoveryConfigs(cfg *config.Config) map[string]discovery.Configs {
	c := make(map[string]discovery.Configs)
	for k, v := range cfg.AlertingConfig.AlertmanagerConfigs.ToMap() {
		c[k] = v.ServiceDiscoveryConfigs
	}
	return c
}

// notifierTargets is what the notifier runs on: the notify discovery
// manager's updates, preceded by the in-process Alertmanager's target when
// one runs. The discovery manager sends its first update only after its
// throttle (5 s), and the notifier drops every alert sent to a set with no
// Alertmanager yet; an alert that fired at the first evaluation would then
// wait for --rules.alert.resend-delay (1 m). The in-process Alertmanager is
// known from the start, so it is handed over at once; the discovery
// manager's later update for the same set holds the same target.
// The channel is fed until ctx is done.
func (s *Server) notifierTargets(ctx context.Context) <-chan map[string][]*targetgroup.Group {
	out := make(chan map[string][]*targetgroup.Group)
	first := s.localAlertmanagerSet()
	go func() {
		if first != nil {
			select {
			case out <- first:
			case <-ctx.Done():
				return
			}
		}
		in := s.notifyDiscovery.SyncCh()
		for {
			select {
			case tsets := <-in:
				select {
				case out <- tsets:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// localAlertmanagerSet returns the in-process Alertmanager's target group
// under the notifier's name for its set ("config-N"), or nil when none runs.
func (s *Server) localAlertmanagerSet() map[string][]*targetgroup.Group {
	if s.opts.LocalAlertmanager == nil {
		return nil
	}
	for name, am := range s.withLocalAlertmanager(s.currentConfig()).AlertingConfig.AlertmanagerConfigs.ToMap() {
		if am.PathPrefix != LocalAlertmanagerPrefix || len(am.ServiceDiscoveryConfigs) != 1 {
			continue
		}
		if sc, ok := am.ServiceDiscoveryConfigs[0].(discovery.StaticConfig); ok && len(sc) == 1 && len(sc[0].Targets) == 1 &&
			sc[0].Targets[0][model.AddressLabel] == localAlertmanagerHost {
			return map[string][]*targetgroup.Group{name: {sc[0]}}
		}
	}
	return nil
}

// waitLocalAlertmanager waits (at most a few seconds) until the notifier
// knows the in-process Alertmanager, so that the rules' first alerts reach
// it.
func (s *Server) waitLocalAlertmanager(ctx context.Context) {
	if s.opts.LocalAlertmanager == nil {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for _, u := range s.notifier.Alertmanagers() {
			if u.Host == localAlertmanagerHost {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.logger.Warn("the notifier did not take the in-process Alertmanager in 5 s; the rules start anyway")
}
