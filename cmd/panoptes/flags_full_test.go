//go:build !agentonly

package main

import (
	"testing"

	"github.com/spf13/cobra"
)

// TestFlagNamesAreFlags: every flag a role's map names is a flag of its
// command, so that an error never sends a user to a flag that does not
// exist.
func TestFlagNamesAreFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cmd   *cobra.Command
		names flagNames
	}{
		{newStateCommand(&logOptions{}), stateFlags},
		{newMetricsAPICommand(&logOptions{}), metricsAPIFlags},
		{newTopCommand(&logOptions{}), topFlags},
	} {
		for field, flag := range tc.names {
			if tc.cmd.Flags().Lookup(flag) == nil && tc.cmd.PersistentFlags().Lookup(flag) == nil {
				t.Errorf("%s: option %s maps to --%s, which is not one of its flags", tc.cmd.Name(), field, flag)
			}
		}
	}
}
