package cri

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeRuntime is a CRI runtime service holding a settable list of
// sandboxes and containers.
type fakeRuntime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	name string        // RuntimeName answered by Version
	hold chan struct{} // when set, every call waits until it is closed (or its context ends)

	mu         sync.Mutex
	sandboxes  []*runtimeapi.PodSandbox
	containers []*runtimeapi.Container

	versions, lists atomic.Int32
}

func (f *fakeRuntime) wait(ctx context.Context) error {
	if f.hold == nil {
		return nil
	}
	select {
	case <-f.hold:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fakeClock is the resolver's clock in tests that step through refresh
// intervals and backoffs: it moves only when the test moves it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(r *Resolver) *fakeClock {
	c := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	r.now = c.Now
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// noHang runs fn and fails the test if it has not returned within a minute.
// The deadline only stops a hang (fn waiting for a runtime that never
// answers); it is no measure of how long fn may take.
func noHang(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s: still blocked after a minute", what)
	}
}

func (f *fakeRuntime) Version(ctx context.Context, _ *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	f.versions.Add(1)
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: f.name, RuntimeVersion: "v2.1.0", RuntimeApiVersion: "v1"}, nil
}

func (f *fakeRuntime) ListPodSandbox(ctx context.Context, _ *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &runtimeapi.ListPodSandboxResponse{Items: f.sandboxes}, nil
}

func (f *fakeRuntime) ListContainers(ctx context.Context, _ *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f.lists.Add(1)
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &runtimeapi.ListContainersResponse{Containers: f.containers}, nil
}

func (f *fakeRuntime) addContainer(c *runtimeapi.Container) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.containers = append(f.containers, c)
}

func (f *fakeRuntime) removeContainer(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var kept []*runtimeapi.Container
	for _, c := range f.containers {
		if c.Id != id {
			kept = append(kept, c)
		}
	}
	f.containers = kept
}

// fakeImages is a CRI image service with a fixed image list.
type fakeImages struct {
	runtimeapi.UnimplementedImageServiceServer
	images []*runtimeapi.Image
}

func (f *fakeImages) ListImages(context.Context, *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	return &runtimeapi.ListImagesResponse{Images: f.images}, nil
}

// id returns a 64-hex ID built from a short tag.
func id(tag string) string {
	sum := sha256.Sum256([]byte(tag))
	return hex.EncodeToString(sum[:])
}

const (
	imgNginx = "sha256:" + "1111111111111111111111111111111111111111111111111111111111111111"
	imgApp   = "sha256:" + "2222222222222222222222222222222222222222222222222222222222222222"
	imgPause = "sha256:" + "3333333333333333333333333333333333333333333333333333333333333333"
)

func podLabels(name, ns, uid string) map[string]string {
	return map[string]string{
		labelPodName: name, labelPodNamespace: ns, labelPodUID: uid,
		"app": name, // a pod label, as the kubelet copies them
	}
}

func sandbox(name, ns, uid string) *runtimeapi.PodSandbox {
	return &runtimeapi.PodSandbox{
		Id:       id("sb-" + name),
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: ns, Uid: uid, Attempt: 1},
		State:    runtimeapi.PodSandboxState_SANDBOX_READY,
		Labels:   podLabels(name, ns, uid),
	}
}

func container(sb *runtimeapi.PodSandbox, name, image, userImage string) *runtimeapi.Container {
	l := podLabels(sb.Metadata.Name, sb.Metadata.Namespace, sb.Metadata.Uid)
	delete(l, "app")
	l[labelContainerName] = name
	return &runtimeapi.Container{
		Id:           id("c-" + sb.Metadata.Name + "-" + name),
		PodSandboxId: sb.Id,
		Metadata:     &runtimeapi.ContainerMetadata{Name: name, Attempt: 2},
		// The kubelet passes the image ID as the spec, the user's words aside.
		Image:    &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: userImage},
		ImageRef: image,
		State:    runtimeapi.ContainerState_CONTAINER_RUNNING,
		Labels:   l,
	}
}

var (
	sbWeb = sandbox("web-0", "shop", "uid-web")
	sbDB  = sandbox("db-0", "data", "uid-db")
)

// newFake returns a runtime with 2 pods x 2 containers.
func newFake(name string) *fakeRuntime {
	return &fakeRuntime{
		name:      name,
		sandboxes: []*runtimeapi.PodSandbox{sbWeb, sbDB},
		containers: []*runtimeapi.Container{
			container(sbWeb, "nginx", imgNginx, "nginx"),
			container(sbWeb, "sidecar", imgApp, "ghcr.io/acme/app:1"),
			container(sbDB, "postgres", "docker.io/library/postgres:16", ""),
			container(sbDB, "exporter", imgApp, "ghcr.io/acme/app:1"),
		},
	}
}

var testImages = []*runtimeapi.Image{
	{Id: imgNginx, RepoTags: []string{"docker.io/library/nginx:1.27"}, RepoDigests: []string{"docker.io/library/nginx@sha256:aaaa"}},
	{Id: imgApp, RepoDigests: []string{"ghcr.io/acme/app@sha256:bbbb"}},
	{Id: imgPause, RepoTags: []string{"registry.k8s.io/pause:3.10"}, Pinned: true},
}

// serve starts f on a unix socket in a temporary directory and returns the
// socket path.
func serve(t *testing.T, f *fakeRuntime, images []*runtimeapi.Image) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cri") // t.TempDir may pass the 108-byte socket limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "runtime.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, f)
	if images != nil {
		runtimeapi.RegisterImageServiceServer(srv, &fakeImages{images: images})
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return sock
}

// logCount counts log records at Warn level and above.
type logCount struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCount) Enabled(_ context.Context, lvl slog.Level) bool { return lvl >= slog.LevelWarn }
func (l *logCount) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			s += ": " + a.Value.String()
		}
		return true
	})
	l.msgs = append(l.msgs, s)
	return nil
}
func (l *logCount) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCount) WithGroup(string) slog.Handler      { return l }
func (l *logCount) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.msgs)
}

func newResolver(t *testing.T, cfg Config) *Resolver {
	t.Helper()
	r := New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestLookupContainerd(t *testing.T) {
	f := newFake("containerd")
	r := newResolver(t, Config{Endpoints: []string{"/nonexistent/first.sock", serve(t, f, testImages)}})
	newFakeClock(r) // standing still: the unknown UID below cannot refresh again
	ctx := context.Background()

	for _, tc := range []struct {
		id   string
		want ContainerInfo
	}{
		{id("c-web-0-nginx"), ContainerInfo{ContainerName: "nginx", PodName: "web-0", Namespace: "shop", PodUID: "uid-web",
			Image: "docker.io/library/nginx:1.27", Name: id("c-web-0-nginx")}},
		{id("c-web-0-sidecar"), ContainerInfo{ContainerName: "sidecar", PodName: "web-0", Namespace: "shop", PodUID: "uid-web",
			Image: "ghcr.io/acme/app@sha256:bbbb", Name: id("c-web-0-sidecar")}},
		{id("c-db-0-postgres"), ContainerInfo{ContainerName: "postgres", PodName: "db-0", Namespace: "data", PodUID: "uid-db",
			Image: "docker.io/library/postgres:16", Name: id("c-db-0-postgres")}},
		{id("sb-db-0"), ContainerInfo{ContainerName: "", PodName: "db-0", Namespace: "data", PodUID: "uid-db",
			Image: "registry.k8s.io/pause:3.10", Name: id("sb-db-0"), Sandbox: true}},
	} {
		got, ok := r.Lookup(ctx, tc.id)
		if !ok {
			t.Errorf("Lookup(%s): not found", tc.id)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Lookup(%s) (-want +got):\n%s", tc.id, diff)
		}
	}
	if name, ns, ok := r.Pod(ctx, "uid-web"); !ok || name != "web-0" || ns != "shop" {
		t.Errorf("Pod(uid-web) = %q, %q, %v", name, ns, ok)
	}
	if _, _, ok := r.Pod(ctx, "uid-none"); ok {
		t.Error("Pod(uid-none) found")
	}
	if n := f.versions.Load(); n != 1 {
		t.Errorf("Version called %d times, want 1 (connection reused)", n)
	}
	if n := f.lists.Load(); n != 1 {
		t.Errorf("ListContainers called %d times, want 1", n)
	}
}

func TestLookupCRIO(t *testing.T) {
	f := newFake("cri-o")
	r := newResolver(t, Config{Endpoints: []string{serve(t, f, testImages)}})
	ctx := context.Background()

	got, ok := r.Lookup(ctx, id("c-web-0-nginx"))
	if want := "k8s_nginx_web-0_shop_uid-web_2"; !ok || got.Name != want || got.ContainerName != "nginx" {
		t.Errorf("container: got %+v, %v; want Name %q", got, ok, want)
	}
	got, ok = r.Lookup(ctx, id("sb-web-0"))
	if want := "k8s_POD_web-0_shop_uid-web_1"; !ok || got.Name != want || got.ContainerName != "POD" || !got.Sandbox {
		t.Errorf("sandbox: got %+v, %v; want Name %q, ContainerName POD", got, ok, want)
	}
}

func TestImageFallbackWithoutListImages(t *testing.T) {
	f := newFake("containerd")
	r := newResolver(t, Config{Endpoints: []string{serve(t, f, nil)}})
	ctx := context.Background()
	for cid, want := range map[string]string{
		id("c-web-0-nginx"):   "nginx", // the image as the user wrote it, not its ID
		id("c-db-0-postgres"): "docker.io/library/postgres:16",
		id("sb-web-0"):        "",
	} {
		if got, ok := r.Lookup(ctx, cid); !ok || got.Image != want {
			t.Errorf("Lookup(%s).Image = %q, %v; want %q", cid, got.Image, ok, want)
		}
	}
}

func TestRefreshRateLimitAddAndRemove(t *testing.T) {
	f := newFake("containerd")
	const every = 10 * time.Second
	r := newResolver(t, Config{Endpoints: []string{serve(t, f, testImages)}, RefreshInterval: every})
	clock := newFakeClock(r)
	ctx := context.Background()

	if _, ok := r.Lookup(ctx, id("c-web-0-nginx")); !ok {
		t.Fatal("first lookup failed")
	}
	late := container(sbDB, "late", imgNginx, "nginx")
	f.addContainer(late)

	// Within the interval unknown IDs do not refresh.
	for range 20 {
		clock.Add(every / 100)
		if _, ok := r.Lookup(ctx, late.Id); ok {
			t.Fatal("new container found before the refresh interval passed")
		}
		r.Lookup(ctx, id("never-there"))
	}
	if n := f.lists.Load(); n != 1 {
		t.Fatalf("ListContainers called %d times within the interval, want 1", n)
	}

	clock.Add(every - 20*(every/100))
	got, ok := r.Lookup(ctx, late.Id)
	if !ok || got.ContainerName != "late" || got.PodName != "db-0" {
		t.Fatalf("after interval: %+v, %v", got, ok)
	}
	if n := f.lists.Load(); n != 2 {
		t.Errorf("ListContainers called %d times, want 2", n)
	}

	// Known IDs never refresh; a removed one goes at the next refresh.
	f.removeContainer(late.Id)
	clock.Add(every)
	if _, ok := r.Lookup(ctx, late.Id); !ok {
		t.Error("cached ID dropped without a refresh")
	}
	if n := f.lists.Load(); n != 2 {
		t.Errorf("a known ID triggered a refresh (ListContainers %d times)", n)
	}
	r.Lookup(ctx, id("unknown"))
	if _, ok := r.Lookup(ctx, late.Id); ok {
		t.Error("removed container still found after a refresh")
	}
	if _, ok := r.Lookup(ctx, id("c-web-0-nginx")); !ok {
		t.Error("remaining container lost after a refresh")
	}
	if n := f.versions.Load(); n != 1 {
		t.Errorf("Version called %d times, want 1 (connection reused)", n)
	}
}

// TestSlowRuntime: a runtime that never answers holds no caller past
// Timeout, including those queued behind the refresh in flight. The runtime
// holds every call until the test ends, so a caller that did not honour
// Timeout would block, and noHang would fail the test.
func TestSlowRuntime(t *testing.T) {
	f := newFake("containerd")
	f.hold = make(chan struct{})
	sock := serve(t, f, testImages)
	t.Cleanup(func() { close(f.hold) }) // before the server stops
	logs := &logCount{}
	r := New(Config{Endpoints: []string{sock}, Timeout: 200 * time.Millisecond}, slog.New(logs))
	defer r.Close()
	clock := newFakeClock(r)

	noHang(t, "concurrent lookups", func() {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				if _, ok := r.Lookup(context.Background(), id(fmt.Sprint("x", i))); ok {
					t.Error("Lookup ok on a slow runtime")
				}
			})
		}
		wg.Wait()
	})
	// The clock stood still: one refresh for all eight callers.
	if n := r.failures; n != 1 {
		t.Errorf("%d failed refreshes for one burst of lookups, want 1", n)
	}
	// Retry after each backoff: same error, logged once.
	for i := range 3 {
		clock.Add(maxBackoff)
		noHang(t, fmt.Sprint("retry ", i), func() { r.Lookup(context.Background(), id("y")) })
	}
	if n := r.failures; n != 4 {
		t.Errorf("%d failed refreshes, want 4 (one per backoff passed)", n)
	}
	if n := logs.count(); n != 1 {
		t.Errorf("logged %d warnings, want 1: %q", n, logs.msgs)
	}
}

// TestMissingSocket: with no runtime socket, calls fail without dialling
// (hence without waiting: Timeout is an hour, so a call that waited would
// block, and noHang would fail), and the warning is logged once however
// often they retry. BenchmarkLookupNoRuntime measures their cost.
func TestMissingSocket(t *testing.T) {
	logs := &logCount{}
	dir := t.TempDir()
	r := New(Config{RootFS: dir, Timeout: time.Hour}, slog.New(logs))
	defer r.Close()
	clock := newFakeClock(r)
	noHang(t, "lookups without a runtime", func() {
		for range 50 {
			clock.Add(maxBackoff) // every call may retry
			if _, ok := r.Lookup(context.Background(), id("a")); ok {
				t.Error("Lookup ok without a runtime")
				return
			}
			if _, _, ok := r.Pod(context.Background(), "uid"); ok {
				t.Error("Pod ok without a runtime")
				return
			}
		}
	})
	if n := logs.count(); n != 1 {
		t.Errorf("logged %d warnings, want 1: %q", n, logs.msgs)
	} else if !strings.Contains(logs.msgs[0], filepath.Join(dir, "run/containerd/containerd.sock")) ||
		!strings.Contains(logs.msgs[0], filepath.Join(dir, "var/run/crio/crio.sock")) {
		t.Errorf("warning does not name both default sockets: %q", logs.msgs[0])
	}
	if r.failures != 50 {
		t.Errorf("%d attempts, want 50 (one per backoff passed)", r.failures)
	}
}

// BenchmarkLookupNoRuntime is the cost of a Lookup on a node without a
// runtime socket, each call retrying (two stat calls and the error).
func BenchmarkLookupNoRuntime(b *testing.B) {
	r := New(Config{RootFS: b.TempDir()}, nil)
	defer r.Close()
	clock := newFakeClock(r)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		clock.Add(maxBackoff)
		r.Lookup(ctx, "a")
	}
}

func TestRecoversWhenRuntimeStarts(t *testing.T) {
	f := newFake("containerd")
	dir, err := os.MkdirTemp("", "cri")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "late.sock")
	r := newResolver(t, Config{Endpoints: []string{sock}})
	clock := newFakeClock(r)
	if _, ok := r.Lookup(context.Background(), id("c-web-0-nginx")); ok {
		t.Fatal("found before the runtime started")
	}
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	deadline := time.Now().Add(time.Minute) // only against a hang
	for {
		clock.Add(maxBackoff) // past any backoff: every lookup retries
		if _, ok := r.Lookup(context.Background(), id("c-web-0-nginx")); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not found after the runtime started")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConcurrent(t *testing.T) {
	f := newFake("containerd")
	r := newResolver(t, Config{Endpoints: []string{serve(t, f, testImages)}, RefreshInterval: time.Millisecond})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 200 {
				if j%50 == 0 {
					c := container(sbWeb, fmt.Sprint("g", i, "-", j), imgApp, "")
					f.addContainer(c)
				}
				if _, ok := r.Lookup(context.Background(), id("c-web-0-nginx")); !ok {
					t.Error("known container not found")
					return
				}
				r.Lookup(context.Background(), id(fmt.Sprint("u", i, j)))
				r.Pod(context.Background(), "uid-db")
			}
		})
	}
	wg.Wait()
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	f := newFake("containerd")
	sock := serve(t, f, testImages)
	before := runtime.NumGoroutine()
	r := New(Config{Endpoints: []string{sock}}, nil)
	if _, ok := r.Lookup(context.Background(), id("c-web-0-nginx")); !ok {
		t.Fatal("not found")
	}
	t.Logf("goroutines: %d before, %d with an open connection", before, runtime.NumGoroutine())
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute) // only against a hang
	for runtime.NumGoroutine() > before+1 { // +1: the server's handler for the closed stream
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after Close", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// After Close the cache still answers, without dialling.
	if _, ok := r.Lookup(context.Background(), id("c-web-0-nginx")); !ok {
		t.Error("cache lost on Close")
	}
	if _, ok := r.Lookup(context.Background(), id("other")); ok {
		t.Error("unknown ID found after Close")
	}
	if n := f.versions.Load(); n != 1 {
		t.Errorf("dialled again after Close: Version %d times", n)
	}
}
