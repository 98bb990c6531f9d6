package state

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"
)

// tracker knows, per resource, whether the exported state is current: it is
// while a watch stream from the API server is open, and it grows stale from
// the moment the last stream closed (or the last list succeeded) until one
// opens again. The reflectors keep retrying by themselves; the tracker only
// tells how old what /metrics serves may be.
type tracker struct {
	now func() time.Time
	mu  sync.Mutex
	res map[string]*resourceState
}

type resourceState struct {
	enabled  bool
	reason   string // why a disabled resource is off
	open     int    // watch streams open now
	lastOK   time.Time
	started  time.Time
	everSync bool
}

func newTracker() *tracker {
	return &tracker{now: time.Now, res: map[string]*resourceState{}}
}

func (t *tracker) state(name string) *resourceState {
	s, ok := t.res[name]
	if !ok {
		now := t.now()
		s = &resourceState{enabled: true, started: now, lastOK: now}
		t.res[name] = s
	}
	return s
}

func (t *tracker) disable(name, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state(name)
	s.enabled, s.reason = false, reason
}

func (t *tracker) enable(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.state(name)
}

func (t *tracker) listed(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state(name)
	s.lastOK, s.everSync = t.now(), true
}

func (t *tracker) watchOpened(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state(name)
	s.open++
	s.lastOK, s.everSync = t.now(), true
}

func (t *tracker) watchClosed(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state(name)
	if s.open > 0 {
		s.open--
	}
	s.lastOK = t.now()
}

// staleness is how many seconds old the state of name may be: 0 while a
// watch is open.
func (t *tracker) staleness(name string) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state(name)
	if s.open > 0 {
		return 0
	}
	return t.now().Sub(s.lastOK).Seconds()
}

var (
	stalenessDesc = prometheus.NewDesc("panoptes_state_staleness_seconds",
		"Seconds since the state of this resource was last known current: 0 while a watch from the API server is open, growing while the API server cannot be reached (the last known state is still served).",
		[]string{"resource"}, nil)
	watchUpDesc = prometheus.NewDesc("panoptes_state_watch_up",
		"1 while a watch stream of this resource from the API server is open.",
		[]string{"resource"}, nil)
	syncedDesc = prometheus.NewDesc("panoptes_state_synced",
		"1 once this resource has been listed from the API server at least once.",
		[]string{"resource"}, nil)
	enabledDesc = prometheus.NewDesc("panoptes_state_resource_enabled",
		"1 for a resource that is served; 0 for one asked for but disabled at start (not served by the API server, or RBAC forbids list/watch), with the reason.",
		[]string{"resource", "reason"}, nil)
)

// Describe implements prometheus.Collector.
func (t *tracker) Describe(ch chan<- *prometheus.Desc) {
	ch <- stalenessDesc
	ch <- watchUpDesc
	ch <- syncedDesc
	ch <- enabledDesc
}

// Collect implements prometheus.Collector.
func (t *tracker) Collect(ch chan<- prometheus.Metric) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for name, s := range t.res {
		if !s.enabled {
			ch <- prometheus.MustNewConstMetric(enabledDesc, prometheus.GaugeValue, 0, name, s.reason)
			continue
		}
		ch <- prometheus.MustNewConstMetric(enabledDesc, prometheus.GaugeValue, 1, name, "")
		stale, up := now.Sub(s.lastOK).Seconds(), 0.0
		if s.open > 0 {
			stale, up = 0, 1
		}
		ch <- prometheus.MustNewConstMetric(stalenessDesc, prometheus.GaugeValue, stale, name)
		ch <- prometheus.MustNewConstMetric(watchUpDesc, prometheus.GaugeValue, up, name)
		ch <- prometheus.MustNewConstMetric(syncedDesc, prometheus.GaugeValue, b2f(s.everSync), name)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// trackedListWatch reports a resource's lists and watch streams to a tracker.
type trackedListWatch struct {
	lw      cache.ListerWatcher
	name    string
	tracker *tracker
	strip   bool
}

var _ cache.ListerWatcher = (*trackedListWatch)(nil)

// IsWatchListSemanticsUnSupported passes the wrapped list-watch's answer
// on, so that client-go streams the initial list when the server can.
func (l *trackedListWatch) IsWatchListSemanticsUnSupported() bool {
	return watchlist.DoesClientNotSupportWatchListSemantics(l.lw)
}

// List implements cache.ListerWatcher.
func (l *trackedListWatch) List(opts metav1.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(context.Background(), opts)
}

// Watch implements cache.ListerWatcher.
func (l *trackedListWatch) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return l.WatchWithContext(context.Background(), opts)
}

// ListWithContext implements cache.ListerWatcherWithContext.
func (l *trackedListWatch) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	obj, err := cache.ToListerWatcherWithContext(l.lw).ListWithContext(ctx, opts)
	if err != nil {
		return nil, err
	}
	// Every list is scrubbed, stripped or not: a Secret's
	// last-applied-configuration never reaches the generators.
	_ = meta.EachListItem(obj, func(o runtime.Object) error {
		scrubObject(o, l.strip)
		return nil
	})
	l.tracker.listed(l.name)
	return obj, nil
}

// WatchWithContext implements cache.ListerWatcherWithContext.
func (l *trackedListWatch) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	w, err := cache.ToListerWatcherWithContext(l.lw).WatchWithContext(ctx, opts)
	if err != nil {
		return nil, err
	}
	l.tracker.watchOpened(l.name)
	return newTrackedWatch(w, l.strip, func() { l.tracker.watchClosed(l.name) }), nil
}

// trackedWatch forwards a watch's events and calls closed once, when the
// upstream stream ends or the consumer stops it. Stop unblocks a pending
// send, so the forwarding goroutine never leaks (the blocked-send problem
// of watch.Filter, kubernetes#113254).
type trackedWatch struct {
	in       watch.Interface
	out      chan watch.Event
	stop     chan struct{}
	stopOnce sync.Once
}

func newTrackedWatch(in watch.Interface, strip bool, closed func()) *trackedWatch {
	w := &trackedWatch{in: in, out: make(chan watch.Event), stop: make(chan struct{})}
	go func() {
		defer closed()
		defer close(w.out)
		src := in.ResultChan()
		for {
			select {
			case <-w.stop:
				return
			case ev, ok := <-src:
				if !ok {
					return
				}
				if ev.Object != nil && ev.Type != watch.Bookmark && ev.Type != watch.Error {
					scrubObject(ev.Object, strip)
				}
				select {
				case w.out <- ev:
				case <-w.stop:
					return
				}
			}
		}
	}()
	return w
}

func (w *trackedWatch) ResultChan() <-chan watch.Event { return w.out }

func (w *trackedWatch) Stop() {
	w.stopOnce.Do(func() {
		close(w.stop)
		w.in.Stop()
	})
}

// unsynced names the enabled resources never listed yet.
func (t *tracker) unsynced() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for name, s := range t.res {
		if s.enabled && !s.everSync {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// watchUp reports whether a watch stream of name is open.
func (t *tracker) watchUp(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state(name).open > 0
}
