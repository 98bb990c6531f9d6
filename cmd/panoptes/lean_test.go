package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeanAgentBuildLinksNoServer: the agent runs on every node, and each
// package linked into it costs memory there even when unused (its init code
// and type data are paged in at start: the full binary's agent has 4x the
// RSS). The lean build (-tags agentonly) must keep the server's and the
// Kubernetes client's packages out.
func TestLeanAgentBuildLinksNoServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "agentonly", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list returned %d packages; expected the agent's dependencies", len(deps))
	}
	forbidden := []string{
		"github.com/prometheus/prometheus/",
		"k8s.io/client-go/",
		"k8s.io/apiserver/",
		"github.com/panoptes-dev/panoptes/internal/server",
		"google.golang.org/grpc",
		"github.com/panoptes-dev/panoptes/internal/testkit",
	}
	sawAgent := false
	for _, d := range deps {
		if d == "github.com/panoptes-dev/panoptes/internal/agent" {
			sawAgent = true
		}
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) {
				t.Errorf("the lean agent build links %s", d)
			}
		}
	}
	if !sawAgent {
		t.Error("the lean agent build does not link internal/agent")
	}
}

// TestNoTestSupportLinked: test support (internal/testkit: control planes,
// cgroups, browsers, the burner) never reaches a shipped binary, the full
// build included. depguard's testkit-only-in-tests rule says the same for
// the source; this checks the link.
func TestNoTestSupportLinked(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		if strings.HasPrefix(d, "github.com/panoptes-dev/panoptes/internal/testkit") {
			t.Errorf("the full build links %s", d)
		}
	}
}
