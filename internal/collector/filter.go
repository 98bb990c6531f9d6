package collector

import (
	"fmt"
	"regexp"
	"sync"
)

// maxFilterMemo bounds the memo so that an endless stream of new names (a
// host that churns through veth devices) cannot grow it without limit.
const maxFilterMemo = 4096

// Filter decides which names (devices, fields, mount points) a collector
// keeps, with node_exporter's include/exclude regular-expression semantics:
// with an include pattern only matching names are kept, otherwise matching
// names of the exclude pattern are dropped. Decisions are memoised because
// the same few names are tested on every scrape.
type Filter struct {
	include, exclude *regexp.Regexp

	mu   sync.Mutex
	memo map[string]bool
}

// NewFilter compiles the patterns; an empty pattern means "not set". Setting
// both is an error, as in node_exporter.
func NewFilter(include, exclude string) (*Filter, error) {
	f := &Filter{memo: make(map[string]bool)}
	if include != "" && exclude != "" {
		return nil, fmt.Errorf("include pattern %q and exclude pattern %q are mutually exclusive", include, exclude)
	}
	var err error
	if include != "" {
		if f.include, err = regexp.Compile(include); err != nil {
			return nil, fmt.Errorf("compile include pattern: %w", err)
		}
	}
	if exclude != "" {
		if f.exclude, err = regexp.Compile(exclude); err != nil {
			return nil, fmt.Errorf("compile exclude pattern: %w", err)
		}
	}
	return f, nil
}

// Ignored reports whether name is filtered out.
func (f *Filter) Ignored(name string) bool {
	if f == nil || (f.include == nil && f.exclude == nil) {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.memo[name]; ok {
		return v
	}
	var ignored bool
	switch {
	case f.include != nil:
		ignored = !f.include.MatchString(name)
	case f.exclude != nil:
		ignored = f.exclude.MatchString(name)
	}
	if len(f.memo) < maxFilterMemo {
		f.memo[name] = ignored
	}
	return ignored
}
