// Package cri resolves container IDs and pod UIDs, as found in cgroup paths,
// to the Kubernetes names the kubelet's cAdvisor attaches to container
// metrics (container, pod, namespace, image, name). It asks the container
// runtime (containerd, CRI-O, or any CRI runtime) over its CRI gRPC socket
// with ListPodSandbox, ListContainers and ListImages, and caches the answer.
//
// The package links neither google.golang.org/grpc nor k8s.io/cri-api (nor
// k8s.io client libraries), which would bloat the node agent: it makes its
// few unary gRPC calls with net/http over unencrypted HTTP/2 (h2c) on the
// runtime's unix socket, and decodes the fields it needs from the responses
// with protowire, by the field numbers of cri-api's api.proto. Its tests
// check it against a real gRPC server built from cri-api.
//
// A Resolver does no work until asked: it connects on first use, refreshes
// only when asked about an ID it has not seen (at most once per
// Config.RefreshInterval), never blocks a caller past Config.Timeout, and
// runs no background polling.
package cri
