package cgroups

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var updateDiscover = flag.Bool("update-discover", false, "rewrite testdata/discover/*/want.txt from Detect and Discover")

// discoverKindNames are the kinds as the golden files write them.
var discoverKindNames = map[Kind]string{
	KindOther:        "other",
	KindRoot:         "root",
	KindPod:          "pod",
	KindPodContainer: "pod-container",
	KindContainer:    "container",
	KindService:      "service",
}

// discoverGolden writes a Hierarchy (paths relative to dir) and refs in the
// golden files' format.
func discoverGolden(dir string, h Hierarchy, refs []Ref) string {
	var b strings.Builder
	rel := func(p string) string {
		r, err := filepath.Rel(dir, p)
		if err != nil {
			return p
		}
		return filepath.ToSlash(r)
	}
	if h.Unified != "" {
		fmt.Fprintf(&b, "# unified %s controllers=%s\n", rel(h.Unified), strings.Join(h.UnifiedControllers, ","))
	}
	for _, c := range slices.Sorted(func(yield func(string) bool) {
		for c := range h.V1 {
			if !yield(c) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "# v1 %s %s\n", c, rel(h.V1[c]))
	}
	fmt.Fprintf(&b, "# walked %s\n", rel(h.walkRoot()))
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, r := range refs {
		fmt.Fprintf(&b, "%s %s pod=%s qos=%s id=%s runtime=%s service=%s\n",
			discoverKindNames[r.Kind], r.Path, dash(r.PodUID), dash(r.QOSClass), dash(r.ContainerID), dash(r.Runtime), dash(r.Service))
	}
	return b.String()
}

func TestDiscoverLayouts(t *testing.T) {
	layouts, err := os.ReadDir(filepath.Join("testdata", "discover"))
	if err != nil {
		t.Fatal(err)
	}
	if len(layouts) < 6 {
		t.Errorf("%d layouts in testdata/discover, want at least 6", len(layouts))
	}
	for _, l := range layouts {
		t.Run(l.Name(), func(t *testing.T) {
			dir := filepath.Join("testdata", "discover", l.Name())
			h, err := Detect(filepath.Join(dir, "proc"), filepath.Join(dir, "sys"))
			if err != nil {
				t.Fatal(err)
			}
			refs, err := h.Discover(false)
			if err != nil {
				t.Fatal(err)
			}
			got := discoverGolden(dir, h, refs)
			wantFile := filepath.Join(dir, "want.txt")
			if *updateDiscover {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run go test -update-discover to write it)", err)
			}
			if got != string(want) {
				t.Errorf("Detect+Discover of %s differs from %s (go test -update-discover rewrites it):\n got:\n%s\nwant:\n%s", dir, wantFile, got, want)
			}

			// With all, Discover returns every directory of the trees walked
			// (on v1, the union of the hierarchies Read reads), a superset
			// of the cgroups of interest, sorted.
			all, err := h.Discover(true)
			if err != nil {
				t.Fatal(err)
			}
			var dirs []string
			for i, root := range h.walkRoots(true) {
				if _, err := os.Stat(root); i > 0 && errors.Is(err, fs.ErrNotExist) {
					continue // the fixture has the first hierarchy's tree only
				}
				err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
					if err == nil && d.IsDir() {
						r := strings.TrimPrefix(p, root)
						if r == "" {
							r = "/"
						}
						dirs = append(dirs, filepath.ToSlash(r))
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			slices.Sort(dirs)
			dirs = slices.Compact(dirs)
			var paths []string
			for _, r := range all {
				paths = append(paths, r.Path)
				if r != Classify(r.Path) {
					t.Errorf("Discover(true): %+v, but Classify says %+v", r, Classify(r.Path))
				}
			}
			if !slices.Equal(paths, dirs) {
				t.Errorf("Discover(true) paths:\n%q\nwant the tree's directories:\n%q", paths, dirs)
			}
			for _, r := range refs {
				if _, ok := slices.BinarySearchFunc(all, r.Path, func(a Ref, p string) int { return strings.Compare(a.Path, p) }); !ok {
					t.Errorf("Discover(false) has %s, Discover(true) not", r.Path)
				}
			}
		})
	}
}

func TestDiscoverErrors(t *testing.T) {
	if _, err := (Hierarchy{}).Discover(false); !errors.Is(err, ErrNoHierarchy) {
		t.Errorf("Discover of no hierarchy: err = %v, want ErrNoHierarchy", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := (Hierarchy{V1: map[string]string{"memory": missing}}).Discover(false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Discover of a missing root: err = %v, want ErrNotExist", err)
	}
}

// TestDiscoverDepth checks that the walk stops 32 levels below the root.
func TestDiscoverDepth(t *testing.T) {
	root := t.TempDir()
	deep := root
	for range discoverMaxDepth + 3 {
		deep = filepath.Join(deep, "d")
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	refs, err := (Hierarchy{Unified: root}).Discover(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1+discoverMaxDepth {
		t.Errorf("Discover(true) of a chain of %d directories: %d refs, want %d", discoverMaxDepth+3, len(refs), 1+discoverMaxDepth)
	}
}

// discoverBenchTree creates a cgroup v2 tree like a busy Kubernetes node's,
// with the systemd driver: 250 pods of 2 containers each, plus services,
// every cgroup holding the usual interface files.
func discoverBenchTree(b *testing.B) string {
	root := b.TempDir()
	files := []string{
		"cgroup.controllers", "cgroup.events", "cgroup.freeze", "cgroup.max.depth",
		"cgroup.procs", "cgroup.stat", "cgroup.subtree_control", "cgroup.threads",
		"cgroup.type", "cpu.max", "cpu.stat", "cpu.weight", "io.max", "io.stat",
		"memory.current", "memory.events", "memory.max", "memory.stat",
		"memory.swap.current", "pids.current", "pids.max",
	}
	mk := func(rel string) {
		d := filepath.Join(root, rel)
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(d, f), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	mk(".")
	for i := range 20 {
		mk(fmt.Sprintf("system.slice/unit-%d.service", i))
	}
	qos := []string{"", "burstable", "besteffort"}
	for pod := range 250 {
		q := qos[pod%3]
		uid := fmt.Sprintf("%08x_0000_4000_8000_%012x", pod, pod)
		p := "kubepods.slice/kubepods-pod" + uid + ".slice"
		if q != "" {
			p = "kubepods.slice/kubepods-" + q + ".slice/kubepods-" + q + "-pod" + uid + ".slice"
		}
		mk(p)
		for c := range 2 {
			mk(fmt.Sprintf("%s/cri-containerd-%056x%08x.scope", p, pod, c))
		}
	}
	return root
}

func BenchmarkDiscover(b *testing.B) {
	h := Hierarchy{Unified: discoverBenchTree(b), UnifiedControllers: []string{"cpu", "io", "memory", "pids"}}
	refs, err := h.Discover(false)
	if err != nil {
		b.Fatal(err)
	}
	if want := 1 + 20 + 250*3; len(refs) != want {
		b.Fatalf("Discover: %d refs, want %d", len(refs), want)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Discover(false); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDiscoverVanished checks that a cgroup removed during the walk is
// skipped, but a missing root is an error.
func TestDiscoverVanished(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "gone")
	w := discoverWalker{}
	if err := w.walk(gone, 1); err != nil {
		t.Errorf("walk of a vanished cgroup: %v", err)
	}
	if err := w.walk(gone, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("walk of a missing root: err = %v, want ErrNotExist", err)
	}
	if len(w.refs) != 0 || len(w.spans) != 0 || len(w.names) != 0 {
		t.Errorf("walker state after errors: %+v", w)
	}
}

// TestDiscoverUnionV1 checks that with all, a cgroup made in some v1
// hierarchies only (memory and cpuacct, not cpu: made by hand, or by a tool
// that joins only the controllers it limits) is found, once, with its
// children; and that without all only the first hierarchy is walked.
func TestDiscoverUnionV1(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	h := Hierarchy{V1: map[string]string{}}
	for _, c := range []string{"cpu", "cpuacct", "memory", "blkio", "pids", "cpuset"} {
		h.V1[c] = filepath.Join(root, c)
	}
	mk := func(c, p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(h.V1[c], p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{"cpu", "cpuacct", "memory", "blkio", "pids"} {
		mk(c, "everywhere")
	}
	mk("memory", "handmade/child")
	mk("cpuacct", "handmade")
	mk("pids", "pids-only")
	mk("cpuset", "cpuset-only") // a hierarchy Read does not read

	paths := func(refs []Ref) []string {
		var out []string
		for _, r := range refs {
			out = append(out, r.Path)
		}
		return out
	}
	all, err := h.Discover(true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/", "/everywhere", "/handmade", "/handmade/child", "/pids-only"}
	if got := paths(all); !slices.Equal(got, want) {
		t.Errorf("Discover(true) = %q, want %q", got, want)
	}
	some, err := h.Discover(false)
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(some); !slices.Equal(got, []string{"/"}) {
		t.Errorf("Discover(false) = %q, want only the root (no cgroup of interest)", got)
	}
	if _, others, err := h.DiscoverCount(false); err != nil || others != 1 {
		t.Errorf("DiscoverCount(false) left out %d cgroups (%v), want 1 (/everywhere in cpu)", others, err)
	}
	if _, others, err := h.DiscoverCount(true); err != nil || others != 0 {
		t.Errorf("DiscoverCount(true) left out %d cgroups (%v), want 0", others, err)
	}
	if got := h.Walked(false); !slices.Equal(got, []string{h.V1["cpu"]}) {
		t.Errorf("Walked(false) = %q, want the cpu mount only", got)
	}
	if l := h.Layout(); l != "v1" {
		t.Errorf("Layout() = %q, want v1", l)
	}
	for _, tc := range []struct {
		h    Hierarchy
		want string
	}{
		{Hierarchy{Unified: "/u", UnifiedControllers: []string{"cpu"}}, "v2"},
		{Hierarchy{Unified: "/u", V1: map[string]string{"cpu": "/c"}}, "hybrid"},
		{Hierarchy{}, "none"},
	} {
		if l := tc.h.Layout(); l != tc.want {
			t.Errorf("%+v.Layout() = %q, want %q", tc.h, l, tc.want)
		}
	}

	// A further hierarchy that is gone is skipped, the first one is not.
	if err := os.RemoveAll(h.V1["pids"]); err != nil {
		t.Fatal(err)
	}
	all, err = h.Discover(true)
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(all); !slices.Equal(got, want[:4]) {
		t.Errorf("Discover(true) without the pids mount = %q, want %q", got, want[:4])
	}
	if err := os.RemoveAll(h.V1["cpu"]); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Discover(true); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Discover(true) without the first mount: %v, want fs.ErrNotExist", err)
	}
}
