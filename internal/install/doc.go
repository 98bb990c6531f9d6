// Package install is `panoptes install`: it renders the objects of deploy/
// (deploy.Manifest, which `kubectl kustomize deploy/` generates) with the
// image, namespace and roles of its Options, and prints them (client dry
// run) or applies them with server-side apply as the field manager
// panoptes-install, printing one line per object as kubectl does.
//
// Before either it checks that the cluster's metrics API
// (APIService v1beta1.metrics.k8s.io) is not served by someone else,
// metrics-server most often, and refuses unless told to replace it.
//
// It imports client-go's dynamic client and nothing of Panoptes' roles.
package install
