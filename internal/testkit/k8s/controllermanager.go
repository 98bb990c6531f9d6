package k8s

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// HPAControllers are the controllers an autoscaling test needs: the
// Deployment controller makes ReplicaSets, the ReplicaSet controller makes
// (and deletes) Pods, and the HorizontalPodAutoscaler controller scales the
// Deployment from the metrics APIs.
var HPAControllers = []string{"deployment-controller", "replicaset-controller", "horizontal-pod-autoscaler-controller"}

// HPAFlags make the HorizontalPodAutoscaler controller decide in seconds
// rather than minutes: it syncs every 2 s, holds a scale-down for 10 s (5
// minutes upstream), and counts a Ready pod's CPU after 1 s (5 minutes and
// 30 s upstream). The formula, the tolerance and the default scaling
// policies (at most 4 pods or 100 % more per 15 s up, 100 % per 15 s down)
// are upstream's.
var HPAFlags = []string{
	"--horizontal-pod-autoscaler-sync-period=2s",
	"--horizontal-pod-autoscaler-downscale-stabilization=10s",
	"--horizontal-pod-autoscaler-cpu-initialization-period=1s",
	"--horizontal-pod-autoscaler-initial-readiness-delay=1s",
}

// ControllerManager returns the path of the kube-controller-manager that
// build.sh builds beside kube-apiserver (the same Kubernetes version), or
// skips the test when it is missing; under CI=true a missing binary fails
// the test instead.
func ControllerManager(t testing.TB) string {
	t.Helper()
	p := filepath.Join(binDir(), "kube-controller-manager")
	if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
		testkit.Missing(t, "kube-controller-manager", "not built at "+p+" (run `make deps` or hack/k8s-testenv/build.sh)")
	}
	return p
}

// StartControllerManager runs the real kube-controller-manager against this
// control plane with only the named controllers (HPAControllers, say) and
// args added (HPAFlags, say), as the admin of Kubeconfig, without leader
// election, its secure port on a free 127.0.0.1 port; it returns once
// /healthz answers ok. The process is stopped by its pid when the test ends,
// so that its controllers never act on the objects of the package's other
// tests. Without the binary the test skips, or fails when CI=true.
func (e *Env) StartControllerManager(t testing.TB, controllers []string, args ...string) *testkit.Process {
	t.Helper()
	bin := ControllerManager(t)
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatalf("kube-controller-manager: a free port: %v", err)
	}
	full := append([]string{
		"--kubeconfig=" + e.Kubeconfig,
		"--authentication-kubeconfig=" + e.Kubeconfig,
		"--authorization-kubeconfig=" + e.Kubeconfig,
		"--controllers=" + strings.Join(controllers, ","),
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + t.TempDir(),
		// The tests' objects come in bursts (a Deployment scaled to many
		// pods); client-go's default of 20 requests per second slows them.
		"--kube-api-qps=100", "--kube-api-burst=200",
		"--profiling=false",
	}, args...)
	p := testkit.Start(t, bin, full...)

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // its self-signed serving certificate
	}}
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	deadline := time.Now().Add(90 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		select {
		case <-p.Done:
			t.Fatalf("kube-controller-manager exited early:\n%s", p.Logs.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		code, body, err := do(ctx, client, http.MethodGet, url, "", nil)
		cancel()
		if err == nil && code == http.StatusOK {
			return p
		}
		last = fmt.Sprintf("%d %s %v", code, body, err)
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("kube-controller-manager: %s not ok within 90 s: %s\n%s", url, last, p.Logs.String())
	return nil
}

// freeLoopbackPort asks the kernel for a free port on 127.0.0.1.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
