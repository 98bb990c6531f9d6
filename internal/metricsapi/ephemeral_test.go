package metricsapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestEphemeralStorage: a node whose summary has ephemeral-storage is
// exported as panoptes_pod_ephemeral_storage_*, read once a minute however
// often the node is scraped; a node without a summary (404) still serves
// its usage and exports nothing; a node gone from the targets is dropped.
func TestEphemeralStorage(t *testing.T) {
	t.Parallel()
	var summaries atomic.Int32
	handler := func(withSummary bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/metrics/resource":
				ms := time.Now().UnixMilli()
				fmt.Fprintf(w, "node_cpu_usage_seconds_total 100 %d\nnode_memory_working_set_bytes 1e+09 %d\n", ms, ms)
			case "/stats/summary":
				if !withSummary {
					http.NotFound(w, r)
					return
				}
				summaries.Add(1)
				fmt.Fprint(w, `{"node":{"nodeName":"a"},"pods":[
 {"podRef":{"name":"web","namespace":"ns","uid":"u1"},"containers":[],
  "ephemeral-storage":{"time":"2026-12-05T12:00:00Z","availableBytes":600,"capacityBytes":1000,"usedBytes":123,"inodesFree":9,"inodes":10,"inodesUsed":4}},
 {"podRef":{"name":"idle","namespace":"ns","uid":"u2"},"containers":[]}]}`)
			default:
				http.NotFound(w, r)
			}
		})
	}
	a := httptest.NewServer(handler(true))
	defer a.Close()
	b := httptest.NewServer(handler(false))
	defer b.Close()
	targets := staticTargets{
		{node: "a", url: a.URL + "/metrics/resource"},
		{node: "b", url: b.URL + "/metrics/resource"},
	}
	reg := prometheus.NewRegistry()
	store := NewStore(15*time.Second, slog.New(slog.DiscardHandler))
	c := newCollector(CollectorConfig{Resolution: 15 * time.Second, Timeout: 5 * time.Second, Concurrency: 2}, targets, a.Client(), store, reg, nil, slog.New(slog.DiscardHandler))
	c.Collect(context.Background())
	c.Collect(context.Background())
	if n := summaries.Load(); n != 1 {
		t.Errorf("the summary was read %d times in two cycles, want once (a minute apart)", n)
	}
	want := `
# HELP panoptes_pod_ephemeral_storage_available_bytes Bytes still available on the filesystem that holds the pod's ephemeral storage.
# TYPE panoptes_pod_ephemeral_storage_available_bytes gauge
panoptes_pod_ephemeral_storage_available_bytes{namespace="ns",node="a",pod="web"} 600
# HELP panoptes_pod_ephemeral_storage_capacity_bytes Size of the filesystem that holds the pod's ephemeral storage (the kubelet's root filesystem).
# TYPE panoptes_pod_ephemeral_storage_capacity_bytes gauge
panoptes_pod_ephemeral_storage_capacity_bytes{namespace="ns",node="a",pod="web"} 1000
# HELP panoptes_pod_ephemeral_storage_inodes_used Inodes the pod's ephemeral storage uses.
# TYPE panoptes_pod_ephemeral_storage_inodes_used gauge
panoptes_pod_ephemeral_storage_inodes_used{namespace="ns",node="a",pod="web"} 4
# HELP panoptes_pod_ephemeral_storage_used_bytes Bytes of the node's root filesystem the pod uses: its containers' writable layers and logs and its own log files, as the kubelet's /stats/summary reports ephemeral-storage.
# TYPE panoptes_pod_ephemeral_storage_used_bytes gauge
panoptes_pod_ephemeral_storage_used_bytes{namespace="ns",node="a",pod="web"} 123
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"panoptes_pod_ephemeral_storage_used_bytes", "panoptes_pod_ephemeral_storage_capacity_bytes",
		"panoptes_pod_ephemeral_storage_available_bytes", "panoptes_pod_ephemeral_storage_inodes_used"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(c.m.nodesScraped); got != 2 {
		t.Errorf("nodes scraped = %v, want 2: a node without a summary still serves its usage", got)
	}

	c.src = staticTargets{targets[1]}
	c.Collect(context.Background())
	if n := testutil.CollectAndCount(c.eph); n != 0 {
		t.Errorf("%d ephemeral series after node a left, want 0", n)
	}
}
