package main

import (
	"errors"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/option"
)

func TestFlagNamesRename(t *testing.T) {
	t.Parallel()
	names := flagNames{"Kubelet.Port": "kubelet-port"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"known", option.Invalid("Kubelet.Port", "must be between 1 and 65535"), "--kubelet-port: must be between 1 and 65535"},
		{"unknown keeps the field", option.Invalid("Other", "bad"), "Other: bad"},
		{"joined", errors.Join(option.Invalid("Kubelet.Port", "a"), errors.New("b")), "--kubelet-port: a\nb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := names.rename(tt.err)
			if tt.err == nil {
				if got != nil {
					t.Fatalf("rename(nil) = %v, want nil", got)
				}
				return
			}
			if got.Error() != tt.want {
				t.Errorf("rename() = %q, want %q", got, tt.want)
			}
			var oe *option.Error
			if errors.As(tt.err, &oe) && !errors.As(got, &oe) {
				t.Errorf("rename() lost the *option.Error")
			}
		})
	}
}

func TestFlagNamesRenameReferences(t *testing.T) {
	t.Parallel()
	names := flagNames{"Kubelet.ClientCertFile": "kubelet-client-certificate", "Kubelet.ClientKeyFile": "kubelet-client-key", "Kubelet": "kubelet"}
	got := names.rename(option.Invalid("Kubelet.ClientCertFile", "goes together with Kubelet.ClientKeyFile"))
	if want := "--kubelet-client-certificate: goes together with --kubelet-client-key"; got.Error() != want {
		t.Errorf("rename() = %q, want %q", got, want)
	}
}
