package deploy

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

var update = flag.Bool("update", false, "rewrite panoptes.yaml from `kubectl kustomize .`")

// header opens panoptes.yaml; kustomize's output follows it unchanged.
const header = `# Generated from kustomization.yaml by ` + "`go test ./deploy -update`" + `
# (kubectl kustomize deploy/): edit the kustomizations, not this file.
# Every role of Panoptes in the namespace monitoring, for
# ` + "`kubectl apply --server-side -f deploy/panoptes.yaml`" + ` and ` + "`panoptes install`" + `.
`

// TestManifestUpToDate: panoptes.yaml, which `panoptes install` embeds, is
// what the real kubectl (hack/k8s-testenv's, the Kubernetes version the
// tests run) renders from kustomization.yaml, so the command and
// `kubectl apply -k deploy/` apply the same objects.
func TestManifestUpToDate(t *testing.T) {
	kubectl := k8s.Kubectl(t)
	cmd := exec.Command(kubectl, "kustomize", ".")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize deploy/: %v\n%s", err, stderr.String())
	}
	want := append([]byte(header), out...)
	if *update {
		if err := os.WriteFile("panoptes.yaml", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(Manifest, want) {
		t.Fatalf("panoptes.yaml is not what `kubectl kustomize deploy/` renders: run `go test ./deploy -update` and commit it")
	}
}
