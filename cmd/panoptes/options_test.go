package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestOptionErrorsNameFlags: a bad flag value is reported by the role
// package under its option and shown to the user under the flag, before
// anything starts.
func TestOptionErrorsNameFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string // the error's beginning
	}{
		{[]string{"agent", "--collector.timeout=-1s"}, "--collector.timeout: "},
		{[]string{"agent", "--listen=nohost"}, "--listen: "},
		{[]string{"agent", "--web.telemetry-path=metrics"}, "--web.telemetry-path: "},
		{[]string{"agent", "--collector.cpu", "--no-collector.cpu"}, "--no-collector.cpu: "},
		{[]string{"agent", "--collector.disable-defaults"}, "--collector.<name>: no collector is enabled"},
		{[]string{"agent", "--kubelet-address=:10250", "--no-collector.container"}, "--kubelet-address: "},
		{[]string{"agent", "--kubelet-address=:10250", "--tls-cert-file=tls.crt"}, "--tls-private-key-file: "},
		{[]string{"agent", "--kubelet-address=:10250", "--authorization-mode=RBAC"}, "--authorization-mode: "},
		{[]string{"agent", "--kubelet-address=:10250", "--authentication-token-webhook=false"}, "--authentication-token-webhook: "},
		{[]string{"server", "--storage.tsdb.retention.time=forever"}, "--storage.tsdb.retention.time: "},
		{[]string{"server", "--storage.tsdb.retention.size=lots"}, "--storage.tsdb.retention.size: "},
		{[]string{"server", "--storage.tsdb.min-free-space=some"}, "--storage.tsdb.min-free-space: "},
		{[]string{"server", "--listen=nohost"}, "--web.listen-address: "},
		{[]string{"server", "--query.timeout=0s"}, "--query.timeout: "},
		{[]string{"--storage.tsdb.retention.size=lots"}, "--storage.tsdb.retention.size: "},
		{[]string{"--collector.interval=0s"}, "--collector.interval: "},
		{[]string{"--collector.timeout=-1s"}, "--collector.timeout: "},
		{[]string{"top", "nodes", "--sort-by=size"}, "--sort-by: "},
		{[]string{"top", "pods", "--interval=0s"}, "--interval: "},
		{[]string{"install", "--image=Not An Image"}, "--image: "},
		{[]string{"install", "--roles=agent,grafana"}, "--roles: "},
		{[]string{"install", "--dry-run=true"}, "--dry-run: "},
		{[]string{"install", "--namespace=Monitoring"}, "--namespace: "},
	}
	lean := !hasCommand(newRootCommand(), "server")
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			// The lean agent build refuses every other role: their flags are
			// unknown there, or the root says where the role is.
			refused := lean && tt.args[0] != "agent"
			root := newRootCommand()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(tt.args)
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // nothing may start
			err := root.ExecuteContext(ctx)
			switch {
			case refused:
				if err == nil || !strings.Contains(err.Error(), "unknown flag") && !strings.Contains(err.Error(), "lean agent build") {
					t.Errorf("lean build, panoptes %s: error %v, want the role refused", strings.Join(tt.args, " "), err)
				}
			case err == nil || !strings.HasPrefix(err.Error(), tt.want):
				t.Errorf("panoptes %s: error %v, want one starting %q", strings.Join(tt.args, " "), err, tt.want)
			}
		})
	}
}
