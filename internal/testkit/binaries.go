package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mainPackage is the one command of the module.
const mainPackage = "github.com/panoptes-dev/panoptes/cmd/panoptes"

// Binaries says which of the shipped binaries a package's tests run and
// where Main puts their paths; Main builds only those with a non-nil field.
type Binaries struct {
	// Panoptes is every role, `make build`'s bin/panoptes. PANOPTES_BIN
	// names a built one to reuse instead.
	Panoptes *string
	// Agent is the lean agent build, bin/panoptes-agent (-tags agentonly:
	// no server, no Kubernetes client), the binary the DaemonSet runs.
	// PANOPTES_AGENT_BIN names a built one to reuse instead.
	Agent *string
}

// Main is a TestMain: it builds the binaries once for the whole test binary,
// with the race detector, into a temporary directory, runs the tests, calls
// atExit (stopping what the tests shared, such as k8s.Stop), removes the
// binaries and exits with the tests' status. A build failure exits at once
// with the compiler's output.
//
//	func TestMain(m *testing.M) { testkit.Main(m, testkit.Binaries{Panoptes: &panoptesBin}) }
func Main(m *testing.M, bins Binaries, atExit ...func()) {
	if listing() {
		// go test -list (make fuzz looks for fuzzers so): nothing runs.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "panoptes-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testkit:", err)
		os.Exit(1)
	}
	if err := Build(dir, bins); err != nil {
		_ = os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, "testkit:", err)
		os.Exit(1)
	}
	code := m.Run()
	for _, f := range atExit {
		f()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// Build builds the binaries bins asks for into dir (or takes them from
// PANOPTES_BIN and PANOPTES_AGENT_BIN) and sets their paths. They are built
// with -race, as the tests are: the binaries the end-to-end tests start find
// data races too. Without -trimpath, unlike `make build`, so that they share
// the build cache with `go test -race`.
func Build(dir string, bins Binaries) error {
	for _, b := range []struct {
		path     *string
		env, out string
		tags     string
	}{
		{bins.Panoptes, "PANOPTES_BIN", "panoptes", ""},
		{bins.Agent, "PANOPTES_AGENT_BIN", "panoptes-agent", "agentonly"},
	} {
		if b.path == nil {
			continue
		}
		if p := os.Getenv(b.env); p != "" {
			*b.path = p
			continue
		}
		out := filepath.Join(dir, b.out)
		args := []string{"build", "-race", "-o", out}
		if b.tags != "" {
			args = append(args, "-tags", b.tags)
		}
		cmd := exec.Command("go", append(args, mainPackage)...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %v: %w\n%s", cmd.Args[1:], err, msg)
		}
		*b.path = out
	}
	return nil
}

// listing reports whether the test binary only lists its tests
// (-test.list), before m.Run parses the flags.
func listing() bool {
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.list") || strings.HasPrefix(a, "--test.list") {
			return true
		}
	}
	return false
}
