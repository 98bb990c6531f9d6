package alertmanager

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/api"
	"github.com/prometheus/alertmanager/cluster"
	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/config/receiver"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/eventrecorder"
	"github.com/prometheus/alertmanager/inhibit"
	"github.com/prometheus/alertmanager/marker"
	"github.com/prometheus/alertmanager/notify"
	"github.com/prometheus/alertmanager/provider"
	"github.com/prometheus/alertmanager/silence"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/timeinterval"
	"github.com/prometheus/alertmanager/tracing"
	"github.com/prometheus/common/model"
)

// reloader owns what a config builds — templates, the routing tree, the
// receivers' integrations, the notification pipeline, the inhibitor and
// the dispatcher — and swaps them whole on every reload, as Alertmanager
// v0.34.1's app does: everything that can fail is built before anything
// running is touched, so a config that fails leaves the running one as it
// was.
type reloader struct {
	alerts            provider.Alerts
	apih              *api.API
	dispatcherMetrics *dispatch.DispatcherMetrics
	eventRecorder     eventrecorder.Recorder
	externalURL       *url.URL
	groupMarker       marker.GroupMarker
	logger            *slog.Logger
	metrics           *metrics
	notificationLog   notify.NotificationLog
	peer              *cluster.Peer
	pipelineBuilder   *notify.PipelineBuilder
	silencer          *silence.Silencer
	tracing           *tracing.Manager

	dispatcher atomic.Pointer[dispatch.Dispatcher]
	inhibitor  atomic.Pointer[inhibit.Inhibitor]

	waitFunc    func() time.Duration
	timeoutFunc func(time.Duration) time.Duration
	startTime   time.Time

	dispatchStartDelay          time.Duration
	dispatchMaintenanceInterval time.Duration
	retention                   time.Duration
}

// groups are the alert groups of the running dispatcher (the API's
// /api/v2/alerts/groups).
func (r *reloader) groups(ctx context.Context, rf func(*dispatch.Route) bool, af func(*alert.Alert, time.Time) bool) (dispatch.AlertGroups, map[model.Fingerprint][]string, error) {
	return r.dispatcher.Load().Groups(ctx, rf, af)
}

// reload builds conf's parts and swaps them in; it is the config
// coordinator's subscriber, so it runs for the first config and on every
// reload.
func (r *reloader) reload(conf *config.Config) error {
	logger := r.logger.With("component", "configuration")
	tmpl, err := template.FromGlobs(conf.Templates)
	if err != nil {
		return fmt.Errorf("parse the templates: %w", err)
	}
	tmpl.ExternalURL = r.externalURL

	routes := dispatch.NewRoute(conf.Route, nil)
	active := map[string]struct{}{}
	routes.Walk(func(rt *dispatch.Route) { active[rt.RouteOpts.Receiver] = struct{}{} })
	receivers := make(map[string][]notify.Integration, len(active))
	integrations := 0
	for _, rcv := range conf.Receivers {
		if _, ok := active[rcv.Name]; !ok {
			logger.Info("skipping creation of receiver not referenced by any route", "receiver", rcv.Name)
			continue
		}
		ints, err := receiver.BuildReceiverIntegrations(rcv, tmpl, r.logger)
		if err != nil {
			return fmt.Errorf("receiver %q: %w", rcv.Name, err)
		}
		receivers[rcv.Name] = ints
		integrations += len(ints)
	}
	intervals := make(map[string][]timeinterval.TimeInterval, len(conf.MuteTimeIntervals)+len(conf.TimeIntervals))
	for _, ti := range conf.MuteTimeIntervals {
		intervals[ti.Name] = ti.TimeIntervals
	}
	for _, ti := range conf.TimeIntervals {
		intervals[ti.Name] = ti.TimeIntervals
	}
	intervener := timeinterval.NewIntervener(intervals)
	// The last step that can fail: before anything running stops.
	if err := r.tracing.ApplyConfig(conf.TracingConfig); err != nil {
		return fmt.Errorf("apply the tracing config: %w", err)
	}
	r.eventRecorder.ApplyConfig(conf.EventRecorder)

	if old := r.inhibitor.Load(); old != nil {
		old.Stop()
	}
	if old := r.dispatcher.Load(); old != nil {
		old.Stop()
	}
	inhibitor := inhibit.NewInhibitor(r.alerts, conf.InhibitRules, r.logger, r.eventRecorder)
	var peer notify.Peer // a nil *cluster.Peer in it would read as a cluster
	if r.peer != nil {
		peer = r.peer
	}
	pipeline := r.pipelineBuilder.New(receivers, r.waitFunc, inhibitor, r.silencer, intervener,
		r.groupMarker, r.notificationLog, peer)
	r.metrics.configuredReceivers.Set(float64(len(active)))
	r.metrics.configuredIntegrations.Set(float64(integrations))
	r.metrics.configuredInhibitionRules.Set(float64(len(conf.InhibitRules)))
	r.apih.Update(conf, func(ctx context.Context, labels model.LabelSet) {
		r.inhibitor.Load().Mutes(ctx, labels)
		r.silencer.Mutes(ctx, labels)
	})
	dispatcher := dispatch.NewDispatcher(r.alerts, routes, pipeline, r.groupMarker, r.timeoutFunc,
		r.dispatchMaintenanceInterval, nil, r.logger, r.eventRecorder, r.dispatcherMetrics, tmpl)
	routes.Walk(func(rt *dispatch.Route) {
		if rt.RouteOpts.RepeatInterval > r.retention {
			logger.Warn("repeat_interval is greater than the data retention period. It can lead to notifications being repeated more often than expected.",
				"repeat_interval", rt.RouteOpts.RepeatInterval, "retention", r.retention, "route", rt.Key())
		}
		if rt.RouteOpts.RepeatInterval < rt.RouteOpts.GroupInterval {
			logger.Warn("repeat_interval is less than group_interval. Notifications will not repeat until the next group_interval.",
				"repeat_interval", rt.RouteOpts.RepeatInterval, "group_interval", rt.RouteOpts.GroupInterval, "route", rt.Key())
		}
	})
	// The inhibitor loads the alerts before the dispatcher starts, so that
	// no inhibited alert is sent; each is published once loaded, so the API
	// never sees an empty one.
	go inhibitor.Run()
	inhibitor.WaitForLoading()
	r.inhibitor.Store(inhibitor)
	go dispatcher.Run(r.startTime.Add(r.dispatchStartDelay))
	dispatcher.WaitForLoading()
	r.dispatcher.Store(dispatcher)
	return nil
}

// stop stops the running inhibitor and dispatcher.
func (r *reloader) stop() {
	if i := r.inhibitor.Load(); i != nil {
		i.Stop()
	}
	if d := r.dispatcher.Load(); d != nil {
		d.Stop()
	}
}
