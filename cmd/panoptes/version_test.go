package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/panoptes-dev/panoptes/internal/version"
)

// TestVersionFlag: every role answers --version with what `panoptes version`
// prints, as the tools it replaces do, without starting.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	want := version.Get().String() + "\n"
	roles := []string{"", "agent", "server", "state", "metrics-api", "top"}
	lean := !hasCommand(newRootCommand(), "server")
	for _, role := range roles {
		t.Run("role="+role, func(t *testing.T) {
			t.Parallel()
			root := newRootCommand()
			// The lean agent build has no other role; the root's --version
			// still answers for `panoptes state --version` there, as a
			// script probing the DaemonSet's binary would call it.
			if role != "" && !hasCommand(root, role) && !lean {
				t.Fatalf("no %s command", role)
			}
			args := []string{"--version"}
			if role != "" {
				args = []string{role, "--version"}
			}
			got := run(t, root, args...)
			if got != want {
				t.Errorf("panoptes %s --version printed %q, want %q", role, got, want)
			}
		})
	}
	t.Run("version", func(t *testing.T) {
		t.Parallel()
		if got := run(t, newRootCommand(), "version"); got != want {
			t.Errorf("panoptes version printed %q, want %q", got, want)
		}
	})
}

func hasCommand(root *cobra.Command, name string) bool {
	c, _, err := root.Find([]string{name})
	return err == nil && c.Name() == name
}

func run(t *testing.T, root *cobra.Command, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // --version must print before a role would start
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("panoptes %s: %v (stderr %q)", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}
