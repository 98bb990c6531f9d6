package cri

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Default values for the zero fields of Config.
const (
	DefaultTimeout         = 2 * time.Second
	DefaultRefreshInterval = 10 * time.Second

	// maxBackoff caps the wait between two attempts on a runtime that fails.
	maxBackoff = 5 * time.Minute
	// maxMsgSize matches the kubelet's limit for CRI responses; a node with
	// many containers overflows gRPC's usual default of 4 MiB.
	maxMsgSize = 16 << 20
	// minIdle is the shortest time an unused connection stays open.
	minIdle = time.Minute
)

// Labels the kubelet sets on every pod sandbox and container it creates.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

// DefaultEndpoints are the runtime sockets tried, in order, when
// Config.Endpoints is empty: containerd's, then CRI-O's. They are joined to
// Config.RootFS.
var DefaultEndpoints = []string{
	"/run/containerd/containerd.sock",
	"/var/run/crio/crio.sock",
}

// Config configures a Resolver. The zero value is usable.
type Config struct {
	// Endpoints are the unix socket paths of CRI runtimes, tried in order
	// until one answers. Empty means DefaultEndpoints under RootFS.
	Endpoints []string
	// RootFS prefixes the default socket paths ("/" or "/host/root" when the
	// agent runs in a container with the host's root mounted there). It is
	// not applied to explicit Endpoints.
	RootFS string
	// Timeout bounds each Lookup or Pod call, including every CRI call of the
	// refresh it may trigger. Zero means DefaultTimeout.
	Timeout time.Duration
	// RefreshInterval is the minimum time between two full refreshes
	// triggered by unknown IDs; after a failed refresh the wait grows from it
	// exponentially, up to five minutes. Zero means DefaultRefreshInterval.
	RefreshInterval time.Duration
}

// ContainerInfo holds the names of a container or pod sandbox, as the
// kubelet's cAdvisor puts them in the labels of container metrics.
type ContainerInfo struct {
	// ContainerName is the "container" label: the Kubernetes container name
	// (label io.kubernetes.container.name, else the CRI metadata name). For a
	// pod sandbox (pause container) it is what cAdvisor shows for the runtime
	// in use: "POD" under CRI-O, which labels its infra container so, and ""
	// under containerd, whose sandbox container carries only the pod labels.
	ContainerName string
	// PodName is the "pod" label (io.kubernetes.pod.name).
	PodName string
	// Namespace is the "namespace" label (io.kubernetes.pod.namespace).
	Namespace string
	// PodUID is the pod's UID (io.kubernetes.pod.uid); no cAdvisor label
	// holds it, but it joins containers to the pod cgroup.
	PodUID string
	// Image is the "image" label. cAdvisor shows the image name the runtime
	// recorded for the container: with containerd the image's first
	// reference, a repo tag when it has one ("docker.io/library/nginx:1.27"),
	// not the "sha256:..." ID that the kubelet passes in the CRI image spec.
	// The resolver maps the container's image ID to the first repo tag (else
	// repo digest) from ListImages, falling back to the CRI image spec when
	// it is not an ID, then the image as the user wrote it, then the raw
	// spec. For a sandbox it is the runtime's pinned pause image, if
	// ListImages reports one; else "".
	Image string
	// Name is the "name" label, cAdvisor's first alias of the container.
	// Under containerd that is the container ID itself (cAdvisor's containerd
	// handler sets Aliases to {id, cgroup name}); under CRI-O it is CRI-O's
	// container name, "k8s_<container>_<pod>_<namespace>_<uid>_<attempt>",
	// or "k8s_POD_<pod>_<namespace>_<uid>_<attempt>" for the infra container.
	Name string
	// Sandbox is true for a pod sandbox (pause container), whatever
	// ContainerName holds for it.
	Sandbox bool
}

// podInfo is what Pod returns for a pod UID.
type podInfo struct{ name, namespace string }

// runtimeKind selects the conventions that differ between runtimes.
type runtimeKind int

const (
	kindContainerd runtimeKind = iota // also any runtime not recognised
	kindCRIO
)

// Resolver maps container IDs and pod UIDs to Kubernetes names, from the
// container runtime's CRI API. It is safe for concurrent use.
type Resolver struct {
	cfg     Config
	log     *slog.Logger
	timeout time.Duration
	every   time.Duration
	idle    time.Duration
	now     func() time.Time // time.Now; a test's clock decides when a refresh is due

	mu          sync.Mutex    // guards all below
	flight      chan struct{} // closed when the refresh in flight ends; nil if none
	containers  map[string]ContainerInfo
	pods        map[string]podInfo
	refreshed   bool      // a refresh has succeeded at least once
	nextRefresh time.Time // earliest time of the next refresh
	failures    int       // consecutive failed refreshes
	lastErr     string    // last error logged, to log each distinct one once
	conn        *client
	endpoint    string
	kind        runtimeKind
	closed      bool
}

// New returns a Resolver for cfg. It is cheap: nothing is dialled until the
// first Lookup or Pod. A nil logger discards the log.
func New(cfg Config, logger *slog.Logger) *Resolver {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Endpoints) == 0 {
		root := cfg.RootFS
		if root == "" {
			root = "/"
		}
		for _, p := range DefaultEndpoints {
			cfg.Endpoints = append(cfg.Endpoints, filepath.Join(root, p))
		}
	}
	r := &Resolver{
		cfg:     cfg,
		log:     logger,
		timeout: cfg.Timeout,
		every:   cfg.RefreshInterval,
		now:     time.Now,
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if r.every <= 0 {
		r.every = DefaultRefreshInterval
	}
	r.idle = max(minIdle, 3*r.every)
	return r
}

// Lookup returns the names for a container ID (a container's or a pod
// sandbox's, 64 hex digits as in cgroup paths). On an ID it has not seen it
// refreshes its cache (ListPodSandbox, ListContainers, ListImages) at most
// once per RefreshInterval, and less often while the runtime fails. It never
// blocks longer than Timeout (or ctx). When no runtime answers, or the ID is
// unknown to it, ok is false and the caller falls back to names from the
// cgroup path.
func (r *Resolver) Lookup(ctx context.Context, containerID string) (ContainerInfo, bool) {
	get := func() (ContainerInfo, bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		info, ok := r.containers[containerID]
		return info, ok
	}
	if info, ok := get(); ok {
		return info, true
	}
	r.refresh(ctx)
	return get()
}

// Pod returns the name and namespace of the pod with the given UID, from
// the runtime's pod sandboxes; ok is false if the UID is unknown. Like
// Lookup it may refresh the cache, within the same limits.
func (r *Resolver) Pod(ctx context.Context, podUID string) (name, namespace string, ok bool) {
	get := func() (podInfo, bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		p, ok := r.pods[podUID]
		return p, ok
	}
	p, ok := get()
	if !ok {
		r.refresh(ctx)
		p, ok = get()
	}
	return p.name, p.namespace, ok
}

// Close closes the connection to the runtime; later calls answer from the
// cache only. It is safe to call more than once.
func (r *Resolver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.dropConnLocked()
	return nil
}

// dropConnLocked closes the connection, if any. r.mu must be held.
func (r *Resolver) dropConnLocked() {
	if r.conn == nil {
		return
	}
	r.conn.close()
	r.conn, r.endpoint = nil, ""
}

// refresh reloads the cache if a refresh is due, or waits for the one in
// flight; either way for at most Timeout (or until ctx is done).
func (r *Resolver) refresh(parent context.Context) {
	r.mu.Lock()
	if flight := r.flight; flight != nil {
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(parent, r.timeout)
		defer cancel()
		select {
		case <-flight:
		case <-ctx.Done():
		}
		return
	}
	now := r.now()
	if r.closed || now.Before(r.nextRefresh) {
		r.mu.Unlock()
		return // the common miss: no timer, no context
	}
	flight := make(chan struct{})
	r.flight = flight
	// Take the slot before the calls, so that a refresh cut short by the
	// caller's context still counts.
	r.nextRefresh = now.Add(r.every)
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(parent, r.timeout)
	defer cancel()
	snap, err := r.load(ctx)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.flight = nil
	close(flight)
	if err != nil && parent.Err() != nil {
		return // the caller gave up: no fault of the runtime's
	}
	if err != nil {
		r.failures++
		backoff := min(r.every<<min(r.failures-1, 16), max(maxBackoff, r.every))
		r.nextRefresh = r.now().Add(backoff)
		// Forget the connection: the next attempt dials again, and nothing
		// keeps redialling a dead socket in the background meanwhile.
		r.dropConnLocked()
		if key := errKey(err); key != r.lastErr {
			r.lastErr = key
			r.log.Warn("CRI runtime unavailable; container names fall back to cgroup paths",
				"err", err, "retry_in", backoff)
		}
		return
	}
	if r.failures > 0 || !r.refreshed {
		r.log.Info("CRI runtime connected", "endpoint", r.endpoint,
			"containers", len(snap.containers), "pods", len(snap.pods))
	}
	r.failures, r.lastErr, r.refreshed = 0, "", true
	if r.closed {
		return
	}
	r.containers, r.pods = snap.containers, snap.pods
}

// errKey identifies an error for logging each distinct one once: its text
// less gRPC's free-form descriptions, so that one condition (a timeout, a
// refused connection) reads the same however the transport words it.
func errKey(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		if before, _, ok := strings.Cut(l, " desc = "); ok {
			lines[i] = before
		}
	}
	return strings.Join(lines, "\n")
}

// snapshot is the content of one refresh.
type snapshot struct {
	containers map[string]ContainerInfo
	pods       map[string]podInfo
}

// load asks the runtime for its sandboxes, containers and images.
func (r *Resolver) load(ctx context.Context) (snapshot, error) {
	conn, kind, err := r.connect(ctx)
	if err != nil {
		return snapshot{}, err
	}
	sbs, err := callDecode(ctx, conn, methodListPodSandbox, decodeListPodSandbox)
	if err != nil {
		return snapshot{}, fmt.Errorf("cri: ListPodSandbox: %w", err)
	}
	cs, err := callDecode(ctx, conn, methodListContainers, decodeListContainers)
	if err != nil {
		return snapshot{}, fmt.Errorf("cri: ListContainers: %w", err)
	}
	// Images only improve the "image" label; the runtime may not serve them.
	imgs, err := callDecode(ctx, conn, methodListImages, decodeListImages)
	if err != nil {
		r.log.Debug("CRI ListImages failed; image labels hold the image spec", "err", err)
		imgs = nil
	}
	return build(kind, sbs, cs, imgs), nil
}

// callDecode makes the unary call method with an empty request (no filter)
// and decodes its response.
func callDecode[T any](ctx context.Context, c *client, method string, decode func([]byte) (T, error)) (T, error) {
	msg, err := c.call(ctx, method, nil)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := decode(msg)
	if err != nil {
		return v, fmt.Errorf("decoding the response: %w", err)
	}
	return v, nil
}

// connect returns the open connection, or dials the endpoints in order and
// keeps the first whose runtime answers Version.
func (r *Resolver) connect(ctx context.Context) (*client, runtimeKind, error) {
	r.mu.Lock()
	conn, kind := r.conn, r.kind
	r.mu.Unlock()
	if conn != nil {
		return conn, kind, nil
	}
	var errs []error
	for _, ep := range r.cfg.Endpoints {
		conn, kind, err := r.dial(ctx, ep)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.closed {
			conn.close()
			return nil, 0, errors.New("cri: resolver closed")
		}
		r.conn, r.endpoint, r.kind = conn, ep, kind
		return conn, kind, nil
	}
	return nil, 0, errors.Join(errs...)
}

// dial connects to one endpoint and asks its runtime's name.
func (r *Resolver) dial(ctx context.Context, endpoint string) (*client, runtimeKind, error) {
	// A missing socket is the common case (the other runtime's path): fail
	// without creating a transport.
	if _, err := os.Stat(endpoint); err != nil {
		return nil, 0, fmt.Errorf("cri: %w", err)
	}
	conn := newClient(endpoint, r.idle)
	v, err := callDecode(ctx, conn, methodVersion, decodeVersion)
	if err != nil {
		conn.close()
		return nil, 0, fmt.Errorf("cri: %s: Version: %w", endpoint, err)
	}
	kind := kindContainerd
	if name := strings.ToLower(v.runtimeName); strings.Contains(name, "cri-o") || strings.Contains(name, "crio") {
		kind = kindCRIO
	}
	r.log.Debug("CRI runtime found", "endpoint", endpoint,
		"runtime", v.runtimeName, "version", v.runtimeVersion)
	return conn, kind, nil
}

// build turns the runtime's lists into the cache maps.
func build(kind runtimeKind, sbs []criSandbox, cs []criContainer, imgs []criImage) snapshot {
	images, pause := imageNames(imgs)
	snap := snapshot{
		containers: make(map[string]ContainerInfo, len(sbs)+len(cs)),
		pods:       make(map[string]podInfo, len(sbs)),
	}
	for i := range sbs {
		sb := &sbs[i]
		md := &sb.metadata
		info := ContainerInfo{
			PodName:   first(sb.labels[labelPodName], md.name),
			Namespace: first(sb.labels[labelPodNamespace], md.namespace),
			PodUID:    first(sb.labels[labelPodUID], md.uid),
			Image:     pause,
			Name:      sb.id,
			Sandbox:   true,
		}
		if kind == kindCRIO {
			info.ContainerName = "POD"
			info.Name = crioName("POD", info.PodName, info.Namespace, info.PodUID, md.attempt)
		}
		snap.containers[sb.id] = info
		if info.PodUID != "" {
			snap.pods[info.PodUID] = podInfo{name: info.PodName, namespace: info.Namespace}
		}
	}
	for i := range cs {
		c := &cs[i]
		sb := snap.containers[c.podSandboxID] // pod names when labels lack them
		info := ContainerInfo{
			ContainerName: first(c.labels[labelContainerName], c.metadata.name),
			PodName:       first(c.labels[labelPodName], sb.PodName),
			Namespace:     first(c.labels[labelPodNamespace], sb.Namespace),
			PodUID:        first(c.labels[labelPodUID], sb.PodUID),
			Image:         containerImage(c, images),
			Name:          c.id,
		}
		if kind == kindCRIO {
			info.Name = crioName(info.ContainerName, info.PodName, info.Namespace, info.PodUID, c.metadata.attempt)
		}
		snap.containers[c.id] = info
	}
	return snap
}

// crioName is CRI-O's container name, which cAdvisor's CRI-O handler shows
// as the "name" label.
func crioName(container, pod, namespace, uid string, attempt uint32) string {
	return strings.Join([]string{"k8s", container, pod, namespace, uid, strconv.FormatUint(uint64(attempt), 10)}, "_")
}

// imageNames maps image IDs and repo digests to the image's display name
// (first repo tag, else first repo digest), and returns the pinned pause
// image's name for sandboxes.
func imageNames(imgs []criImage) (map[string]string, string) {
	names := make(map[string]string, 2*len(imgs))
	var pinned []string
	pause := ""
	for i := range imgs {
		img := &imgs[i]
		name := ""
		if len(img.repoTags) > 0 {
			name = img.repoTags[0]
		} else if len(img.repoDigests) > 0 {
			name = img.repoDigests[0]
		}
		if name == "" {
			continue
		}
		names[img.id] = name
		for _, d := range img.repoDigests {
			names[d] = name
		}
		if img.pinned {
			pinned = append(pinned, name)
			if pause == "" && strings.Contains(name, "pause") {
				pause = name
			}
		}
	}
	if pause == "" && len(pinned) == 1 {
		pause = pinned[0]
	}
	return names, pause
}

// containerImage picks the "image" label of a container.
func containerImage(c *criContainer, images map[string]string) string {
	spec := c.image.image
	for _, id := range []string{c.imageRef, c.imageID, spec} {
		if name, ok := images[id]; ok && id != "" {
			return name
		}
	}
	if spec != "" && !isImageID(spec) {
		return spec
	}
	return first(c.image.userSpecifiedImage, spec, c.imageRef)
}

// isImageID reports whether s is an image ID ("sha256:<hex>" or bare hex)
// rather than a name.
func isImageID(s string) bool {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// first returns the first non-empty string.
func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
