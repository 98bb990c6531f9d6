// Package deploy holds the Kubernetes manifests of every role (one
// kustomization per role, and kustomization.yaml applying them all into the
// namespace monitoring) and embeds panoptes.yaml, the objects of
// kustomization.yaml rendered by `kubectl kustomize`, for `panoptes install`:
// the command applies exactly the objects `kubectl apply -k deploy/` would,
// from one source. `go test ./deploy -update` regenerates panoptes.yaml with
// the kubectl of hack/k8s-testenv; the test fails when it drifts from the
// kustomizations.
//
// It imports nothing.
package deploy

import _ "embed"

// Manifest is panoptes.yaml: every object of kustomization.yaml, in
// kustomize's order (the Namespace first, then ServiceAccounts and RBAC,
// ConfigMaps, Services, workloads), as YAML documents.
//
//go:embed panoptes.yaml
var Manifest []byte
