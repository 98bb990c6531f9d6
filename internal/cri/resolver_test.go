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
	name  string        // RuntimeName answered by Version
	delay time.Duration // every call sleeps this long first

	mu         sync.Mutex
	sandboxes  []*runtimeapi.PodSandbox
	containers []*runtimeapi.Container

	versions, lists atomic.Int32
}

func (f *fakeRuntime) wait(ctx context.Context) error {
	if f.delay == 0 {
		return nil
	}
	select {
	case <-time.After(f.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
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
	const every = 100 * time.Millisecond
	r := newResolver(t, Config{Endpoints: []string{serve(t, f, testImages)}, RefreshInterval: every})
	ctx := context.Background()

	if _, ok := r.Lookup(ctx, id("c-web-0-nginx")); !ok {
		t.Fatal("first lookup failed")
	}
	late := container(sbDB, "late", imgNginx, "nginx")
	f.addContainer(late)

	// Within the interval unknown IDs do not refresh.
	for range 20 {
		if _, ok := r.Lookup(ctx, late.Id); ok {
			t.Fatal("new container found before the refresh interval passed")
		}
		r.Lookup(ctx, id("never-there"))
	}
	if n := f.lists.Load(); n != 1 {
		t.Fatalf("ListContainers called %d times within the interval, want 1", n)
	}

	time.Sleep(every + 20*time.Millisecond)
	got, ok := r.Lookup(ctx, late.Id)
	if !ok || got.ContainerName != "late" || got.PodName != "db-0" {
		t.Fatalf("after interval: %+v, %v", got, ok)
	}
	if n := f.lists.Load(); n != 2 {
		t.Errorf("ListContainers called %d times, want 2", n)
	}

	// Known IDs never refresh; a removed one goes at the next refresh.
	f.removeContainer(late.Id)
	time.Sleep(every + 20*time.Millisecond)
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

func TestSlowRuntime(t *testing.T) {
	f := newFake("containerd")
	f.delay = 3 * time.Second
	logs := &logCount{}
	const timeout = 200 * time.Millisecond
	r := New(Config{Endpoints: []string{serve(t, f, testImages)}, Timeout: timeout, RefreshInterval: time.Millisecond}, slog.New(logs))
	defer r.Close()

	// Concurrent callers: none waits past Timeout, including those queued
	// behind the refresh in flight.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			start := time.Now()
			_, ok := r.Lookup(context.Background(), id(fmt.Sprint("x", i)))
			if d := time.Since(start); d > timeout+150*time.Millisecond {
				t.Errorf("Lookup took %v, Timeout %v", d, timeout)
			}
			if ok {
				t.Error("Lookup ok on a slow runtime")
			}
		})
	}
	wg.Wait()
	// Retry after the backoff: same error, logged once.
	for range 3 {
		time.Sleep(5 * time.Millisecond)
		r.Lookup(context.Background(), id("y"))
	}
	if n := f.versions.Load(); n < 2 {
		t.Errorf("runtime tried %d times, want retries", n)
	}
	if n := logs.count(); n != 1 {
		t.Errorf("logged %d warnings, want 1: %q", n, logs.msgs)
	}
}

func TestMissingSocket(t *testing.T) {
	logs := &logCount{}
	dir := t.TempDir()
	r := New(Config{RootFS: dir, RefreshInterval: time.Microsecond}, slog.New(logs))
	defer r.Close()
	start := time.Now()
	for range 50 {
		if _, ok := r.Lookup(context.Background(), id("a")); ok {
			t.Fatal("Lookup ok without a runtime")
		}
		if _, _, ok := r.Pod(context.Background(), "uid"); ok {
			t.Fatal("Pod ok without a runtime")
		}
		time.Sleep(100 * time.Microsecond)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("100 calls took %v", d)
	}
	if n := logs.count(); n != 1 {
		t.Errorf("logged %d warnings, want 1: %q", n, logs.msgs)
	} else if !strings.Contains(logs.msgs[0], filepath.Join(dir, "run/containerd/containerd.sock")) ||
		!strings.Contains(logs.msgs[0], filepath.Join(dir, "var/run/crio/crio.sock")) {
		t.Errorf("warning does not name both default sockets: %q", logs.msgs[0])
	}
	if r.failures < 2 {
		t.Errorf("%d attempts, want retries", r.failures)
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
	r := newResolver(t, Config{Endpoints: []string{sock}, RefreshInterval: time.Millisecond})
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
	deadline := time.Now().Add(2 * time.Second)
	for {
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
	deadline := time.Now().Add(2 * time.Second)
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
