// Package cri resolves container IDs and pod UIDs, as found in cgroup paths,
// to the Kubernetes names the kubelet's cAdvisor attaches to container
// metrics (container, pod, namespace, image, name). It asks the container
// runtime (containerd, CRI-O, or any CRI runtime) over its CRI gRPC socket
// with ListPodSandbox, ListContainers and ListImages, and caches the answer.
//
// The package talks plain gRPC with the generated k8s.io/cri-api types only:
// it must not import k8s.io client libraries (client-go, cri-client,
// component-base, klog), which would bloat the node agent.
//
// A Resolver does no work until asked: it connects on first use, refreshes
// only when asked about an ID it has not seen (at most once per
// Config.RefreshInterval), never blocks a caller past Config.Timeout, and
// runs no background polling.
package cri
