package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// discoverMaxDepth is how deep below the hierarchy root Discover looks.
const discoverMaxDepth = 32

// Discover walks the directory tree of one hierarchy and returns its cgroups
// as Classify sees them, sorted by Path: the root ("/"), every pod, pod
// container, container and service, or, with all, every cgroup.
//
// The hierarchy walked is the unified one when it has any of the cpu,
// memory, io or pids controllers (a cgroup v2 host); else the cgroup v1 cpu
// mount, or cpuacct, or memory (a v1 or hybrid host); else the unified one.
// Cgroups that vanish during the walk are skipped; the walk stops 32 levels
// below the root.
func (h Hierarchy) Discover(all bool) ([]Ref, error) {
	root := h.walkRoot()
	if root == "" {
		return nil, fmt.Errorf("cgroups: discover: %w", ErrNoHierarchy)
	}
	root = filepath.Clean(root)
	w := discoverWalker{all: all, prefix: len(root)}
	if root == "/" {
		w.prefix = 0
	}
	w.refs = append(w.refs, Ref{Path: "/", Kind: KindRoot})
	if err := w.walk(root, 0); err != nil {
		return nil, err
	}
	slices.SortFunc(w.refs, func(a, b Ref) int { return strings.Compare(a.Path, b.Path) })
	return w.refs, nil
}

// walkRoot is the mount Discover walks, "" if none.
func (h Hierarchy) walkRoot() string {
	if h.Unified != "" {
		for _, c := range h.UnifiedControllers {
			switch c {
			case "cpu", "memory", "io", "pids":
				return h.Unified
			}
		}
	}
	for _, c := range [...]string{"cpu", "cpuacct", "memory"} {
		if p := h.V1[c]; p != "" {
			return p
		}
	}
	return h.Unified
}

type discoverWalker struct {
	all bool
	// prefix is the length of the root's path: dir[prefix:] is a cgroup's
	// path relative to the root.
	prefix int
	refs   []Ref
}

// walk adds the cgroups below dir, which is depth levels below the root.
func (w *discoverWalker) walk(dir string, depth int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if depth > 0 && errors.Is(err, fs.ErrNotExist) {
			return nil // removed since its parent was read
		}
		return fmt.Errorf("cgroups: discover: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		child := dir + "/" + e.Name()
		ref := Classify(child[w.prefix:])
		if w.all || ref.Kind != KindOther {
			w.refs = append(w.refs, ref)
		}
		if depth+1 < discoverMaxDepth {
			if err := w.walk(child, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}
