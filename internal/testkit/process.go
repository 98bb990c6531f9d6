package testkit

import (
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// LockedBuffer collects a process's output safely across goroutines.
type LockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

// Write appends p.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Process is a started program that is stopped by its pid when the test
// ends; its output goes to the test log when the test failed.
type Process struct {
	// Cmd is the running command; Cmd.ProcessState is set once Done is
	// closed.
	Cmd *exec.Cmd
	// Logs holds standard output and standard error together.
	Logs *LockedBuffer
	// Done is closed when the process has exited.
	Done <-chan struct{}
}

// Start runs the program name with args (see StartCmd).
func Start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	return StartCmd(t, exec.Command(name, args...))
}

// StartCmd starts cmd with its output into Logs and registers a cleanup
// that stops it (Stop) and, when the test failed, logs its output.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Process {
	t.Helper()
	done := make(chan struct{})
	p := &Process{Cmd: cmd, Logs: &LockedBuffer{}, Done: done}
	cmd.Stdout, cmd.Stderr = p.Logs, p.Logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), p.Logs.String())
		}
	})
	return p
}

// Stop sends SIGTERM to the pid, then SIGKILL after 10 s, and waits until
// the process has exited. Stopping a stopped process does nothing.
func (p *Process) Stop() {
	select {
	case <-p.Done:
		return
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Done:
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.Done
	}
}
