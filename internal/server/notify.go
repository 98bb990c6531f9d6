package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
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
