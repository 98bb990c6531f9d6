//go:build !agentonly

package main

import "github.com/panoptes-dev/panoptes/internal/kubeletauth"

// newKubeletGuard in the full build is k8s.io/apiserver's delegating
// authenticator and authorizer, already linked for the metrics API.
var newKubeletGuard = kubeletauth.New
