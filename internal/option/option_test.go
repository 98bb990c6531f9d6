package option

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRename(t *testing.T) {
	t.Parallel()
	flags := map[string]string{"Kubelet.Port": "--kubelet-port", "Shard": "--shard"}
	name := func(o string) (string, bool) { n, ok := flags[o]; return n, ok }
	sentinel := errors.New("other")
	err := errors.Join(
		Invalid("Kubelet.Port", "%d: must be between 1 and 65535", 0),
		Invalid("Unbound", "no flag for this one"),
		sentinel,
		errors.Join(Invalid("Shard", "must be below TotalShards (2)")),
	)
	got := Rename(err, name, nil)
	want := "--kubelet-port: 0: must be between 1 and 65535\nUnbound: no flag for this one\nother\n--shard: must be below TotalShards (2)"
	if got.Error() != want {
		t.Errorf("Rename =\n%s\nwant\n%s", got, want)
	}
	if !errors.Is(got, sentinel) {
		t.Error("errors.Is lost the sentinel")
	}
	var oe *Error
	if !errors.As(got, &oe) || oe.Option != "--kubelet-port" {
		t.Errorf("errors.As: %v", oe)
	}
	if Rename(nil, name, nil) != nil {
		t.Error("Rename(nil) is not nil")
	}
}

func TestRenameText(t *testing.T) {
	t.Parallel()
	name := func(o string) (string, bool) { return "--" + o, o == "A" }
	text := func(s string) string { return strings.ReplaceAll(s, "B", "--b") }
	inner := errors.New("inner")
	got := Rename(&Error{Option: "A", Err: fmt.Errorf("goes together with B: %w", inner)}, name, text)
	if got.Error() != "--A: goes together with --b: inner" {
		t.Errorf("Rename = %q", got)
	}
	if !errors.Is(got, inner) {
		t.Error("errors.Is lost what the reason wrapped")
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	err := errors.Join(Invalid("A", "x"), errors.Join(Invalid("B.C", "y")), errors.New("z"))
	got := Names(err)
	want := []string{"A", "B.C", "not an option error: z"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Names = %q, want %q", got, want)
	}
	if Names(nil) != nil {
		t.Error("Names(nil) is not nil")
	}
}
