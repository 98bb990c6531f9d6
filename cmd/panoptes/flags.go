package main

import "github.com/panoptes-dev/panoptes/internal/option"

// flagNames maps a role's Options field paths, as option.Error names them
// ("Kubelet.Port"), to the flags cmd/ bound them to, without the dashes
// ("kubelet-port"). Each role's file keeps one beside its flag bindings.
type flagNames map[string]string

// rename rewrites the options named in err (one error or a tree of them)
// to their flags, so that the user reads "--kubelet-port: must be ...".
// Options the map does not know keep their field name.
func (n flagNames) rename(err error) error {
	return option.Rename(err, func(field string) (string, bool) {
		flag, ok := n[field]
		if !ok {
			return "", false
		}
		return "--" + flag, true
	})
}
