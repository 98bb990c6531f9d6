//go:build agentonly

package main

import "github.com/panoptes-dev/panoptes/internal/agent"

// newKubeletGuard in the lean agent build is the agent's own, on the
// standard library (nil): k8s.io/apiserver and client-go are not linked.
var newKubeletGuard agent.NewKubeletGuardFunc
