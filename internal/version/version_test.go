package version

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	vcs := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/panoptes-dev/panoptes", Version: "v0.0.0-20261204153926-2ab1382a1b2c+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "-trimpath", Value: "true"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "2ab1382a1b2c0000000000000000000000000000"},
			{Key: "vcs.time", Value: "2026-12-04T15:39:26Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name                    string
		version, revision, date string
		bi                      *debug.BuildInfo
		want                    Info
	}{
		{
			name: "no stamp, no build information",
			want: Info{Version: "dev"},
		},
		{
			name: "no stamp: the build information (go build in a git checkout)",
			bi:   vcs,
			want: Info{Version: "v0.0.0-20261204153926-2ab1382a1b2c+dirty", Revision: "2ab1382a1b2c0000000000000000000000000000", BuildDate: "2026-12-04T15:39:26Z", Modified: true},
		},
		{
			name: "no stamp, no VCS (go run, or built outside git)",
			bi:   &debug.BuildInfo{Main: debug.Module{Path: "github.com/panoptes-dev/panoptes", Version: "(devel)"}},
			want: Info{Version: "dev"},
		},
		{
			name:     "stamped (make build, the image) wins",
			version:  "v0.2.0-3-g2ab1382-dirty",
			revision: "2ab1382",
			date:     "2026-12-04T15:00:00Z",
			bi:       vcs,
			want:     Info{Version: "v0.2.0-3-g2ab1382-dirty", Revision: "2ab1382", BuildDate: "2026-12-04T15:00:00Z", Modified: true},
		},
		{
			name:    "only the version stamped",
			version: "v0.2.0",
			bi:      vcs,
			want:    Info{Version: "v0.2.0", Revision: "2ab1382a1b2c0000000000000000000000000000", BuildDate: "2026-12-04T15:39:26Z", Modified: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := resolve(tt.version, tt.revision, tt.date, tt.bi)
			if got.GoVersion == "" || got.Platform == "" {
				t.Errorf("GoVersion %q, Platform %q: want both set", got.GoVersion, got.Platform)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Info{}, "GoVersion", "Platform")); diff != "" {
				t.Errorf("resolve() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	i := Info{Version: "v0.2.0", Revision: "abc", BuildDate: "2026-12-04T15:00:00Z", Modified: true, GoVersion: "go1.26", Platform: "linux/amd64"}
	want := "panoptes v0.2.0 (revision \"abc\", modified, built \"2026-12-04T15:00:00Z\")\n  go: go1.26\n  platform: linux/amd64"
	if got := i.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	i.Modified = false
	if got := i.String(); strings.Contains(got, "modified") {
		t.Errorf("String() of an unmodified build = %q, says modified", got)
	}
}
