//go:build !agentonly

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/panoptes-dev/panoptes/internal/alertmanager"
)

// TestAlertmanagerFlags: the role's errors name its flags, every name the
// binder records is a flag, and the all-in-one's prefix binds the same
// options as --alertmanager.<flag>.
func TestAlertmanagerFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"alertmanager", "--data.retention=0s"}, "--data.retention: "},
		{[]string{"alertmanager", "--web.listen-address=9093"}, "--web.listen-address: "},
		{[]string{"alertmanager", "--cluster.peer=a:9094"}, "--cluster.peer: "},
		{[]string{"alertmanager", "--config.file=/nonexistent/am.yml", "--storage.path=" + t.TempDir(), "--web.listen-address=127.0.0.1:0"}, "load the alertmanager config: open /nonexistent/am.yml"},
	} {
		root := newRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(tc.args)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := root.ExecuteContext(ctx); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("panoptes %s: error %v, want one starting %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}

	for _, prefix := range []string{"", "alertmanager."} {
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		o, names := alertmanager.NewOptions(), flagNames{}
		bindAlertmanagerFlags(fs, o, prefix, "Alertmanager.", names)
		for field, flag := range names {
			if fs.Lookup(flag) == nil {
				t.Errorf("prefix %q: %s maps to --%s, which is not a flag", prefix, field, flag)
			}
		}
		if err := fs.Parse([]string{"--" + prefix + "config.file=am.yml", "--" + prefix + "storage.path=data/am"}); err != nil {
			t.Fatal(err)
		}
		if o.ConfigFile != "am.yml" || o.StoragePath != "data/am" || names["Alertmanager.ConfigFile"] != prefix+"config.file" {
			t.Errorf("prefix %q: bound %+v, names %v", prefix, o, names)
		}
	}
}
