package main

import (
	"regexp"
	"sort"
	"strings"

	"github.com/panoptes-dev/panoptes/internal/option"
)

// flagNames maps a role's Options field paths, as option.Error names them
// ("Kubelet.Port"), to the flags cmd/ bound them to, without the dashes
// ("kubelet-port"). Each role's file keeps one beside its flag bindings.
type flagNames map[string]string

// rename rewrites the options named in err (one error or a tree of them)
// to their flags, so that the user reads "--kubelet-port: must be ...",
// and so are the other options a reason mentions ("goes together with
// Kubelet.ClientKeyFile" becomes "goes together with --kubelet-client-key").
// Options the map does not know keep their field name.
func (n flagNames) rename(err error) error {
	refs := n.refs()
	return option.Rename(err, func(field string) (string, bool) {
		flag, ok := n[field]
		if !ok {
			return "", false
		}
		return "--" + flag, true
	}, func(reason string) string {
		if refs == nil {
			return reason
		}
		return refs.ReplaceAllStringFunc(reason, func(field string) string { return "--" + n[field] })
	})
}

// refs matches the known field paths as whole words, longest first, so
// that "Kubelet.Port" is not read as "Kubelet" followed by ".Port".
func (n flagNames) refs() *regexp.Regexp {
	if len(n) == 0 {
		return nil
	}
	fields := make([]string, 0, len(n))
	for f := range n {
		fields = append(fields, regexp.QuoteMeta(f))
	}
	sort.Slice(fields, func(i, j int) bool { return len(fields[i]) > len(fields[j]) })
	return regexp.MustCompile(`\b(` + strings.Join(fields, "|") + `)\b`)
}
