package testkit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// burnEnv, set in the environment of a test binary that imports testkit,
// makes it the CPU burner instead of running tests (see init). Its value
// holds the BurnOptions.
const burnEnv = "PANOPTES_TESTKIT_BURN"

// init turns a re-executed test binary into the burner before its tests
// (or its TestMain) start, so that every package's tests can start one
// without a TestMain of their own.
func init() {
	if spec, ok := os.LookupEnv(burnEnv); ok {
		os.Exit(runBurner(spec, os.Stdin, os.Stdout))
	}
}

// BurnOptions say what the burner does once told to go.
type BurnOptions struct {
	// MiB of memory it allocates and touches (so that it is resident)
	// before it burns, and holds until it exits.
	MiB int
	// Cores is how much of one core it keeps busy, in (0, 1]; 0 is a whole
	// core.
	Cores float64
	// CPUSeconds, when positive, is how much CPU time it burns before it
	// says "done" and idles until its stdin closes; 0 burns until then.
	CPUSeconds float64
}

func (o BurnOptions) spec() string {
	return fmt.Sprintf("mib=%d cores=%g cpu=%g", o.MiB, o.Cores, o.CPUSeconds)
}

func parseBurnOptions(spec string) (BurnOptions, error) {
	var o BurnOptions
	for _, f := range strings.Fields(spec) {
		k, v, _ := strings.Cut(f, "=")
		var err error
		switch k {
		case "mib":
			o.MiB, err = strconv.Atoi(v)
		case "cores":
			o.Cores, err = strconv.ParseFloat(v, 64)
		case "cpu":
			o.CPUSeconds, err = strconv.ParseFloat(v, 64)
		default:
			err = fmt.Errorf("unknown option %q", k)
		}
		if err != nil {
			return o, fmt.Errorf("burner options %q: %w", spec, err)
		}
	}
	return o, nil
}

// runBurner is the burner process. It says "ready" and waits for a line on
// in (the test moves it into a cgroup meanwhile, so that what follows is
// charged there); then it allocates, says "allocated" and burns until in
// closes (or, with CPUSeconds, says "done" once they are burnt). It returns
// the exit status.
func runBurner(spec string, in io.Reader, out io.Writer) int {
	o, err := parseBurnOptions(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	r := bufio.NewReader(in)
	fmt.Fprintln(out, "ready")
	if _, err := r.ReadString('\n'); err != nil {
		return 1
	}
	mem := make([]byte, o.MiB<<20)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	fmt.Fprintln(out, "allocated")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = io.Copy(io.Discard, r); cancel() }()
	if o.CPUSeconds > 0 {
		until := cpuTime() + time.Duration(o.CPUSeconds*float64(time.Second))
		burn(ctx, o.Cores, func() bool { return cpuTime() >= until })
		fmt.Fprintln(out, "done")
		<-ctx.Done()
	} else {
		Burn(ctx, o.Cores)
	}
	runtime.KeepAlive(mem)
	return 0
}

// Burn keeps cores of one core busy, in (0, 1] (0 is a whole core), on
// the calling goroutine until ctx ends. Start it on n goroutines to load n
// cores: cmd `go run ./internal/testkit/burn` does.
func Burn(ctx context.Context, cores float64) {
	burn(ctx, cores, func() bool { return false })
}

// burn spins for cores of every 10 ms period and sleeps for the rest, until
// ctx ends or enough says so (checked once a period).
func burn(ctx context.Context, cores float64, enough func() bool) {
	const period = 10 * time.Millisecond
	if cores <= 0 || cores > 1 {
		cores = 1
	}
	busy := time.Duration(cores * float64(period))
	x := 0
	for ctx.Err() == nil && !enough() {
		start := time.Now()
		for time.Since(start) < busy {
			for i := range 10_000 {
				x += i
			}
		}
		if rest := period - busy; rest > 0 {
			time.Sleep(rest)
		}
	}
	runtime.KeepAlive(x)
}

// cpuTime is the user and system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Burner is a running CPU burner: the test binary itself, re-executed with
// burnEnv set. It waits until Go is called, so that a test can move it into
// a cgroup first.
type Burner struct {
	Cmd *exec.Cmd
	// Stdin and Stdout speak the burner's line protocol (see Go); most
	// tests call the methods instead.
	Stdin  io.WriteCloser
	Stdout *bufio.Reader
}

// StartBurner starts a burner and waits until it is ready. wrap, when
// given, is a command line the burner runs under (such as ip netns exec).
// It is killed when the test ends, before the cleanups registered earlier
// (such as removing its cgroup) run.
func StartBurner(t testing.TB, o BurnOptions, wrap ...string) *Burner {
	t.Helper()
	return startReexec(t, burnEnv+"="+o.spec(), wrap...)
}

// startReexec starts this test binary again with env set, running no test,
// and waits for its "ready" line.
func startReexec(t testing.TB, env string, wrap ...string) *Burner {
	t.Helper()
	args := append(append([]string{}, wrap...), os.Args[0], "-test.run=^$")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", env, err)
	}
	b := &Burner{Cmd: cmd, Stdin: stdin, Stdout: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		_ = stdin.Close()
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	b.expect(t, "ready")
	return b
}

// Pid is the burner's process id.
func (b *Burner) Pid() int { return b.Cmd.Process.Pid }

// Go makes the burner allocate its memory and start burning, and returns
// once the memory is allocated.
func (b *Burner) Go(t testing.TB) {
	t.Helper()
	if _, err := io.WriteString(b.Stdin, "go\n"); err != nil {
		t.Fatalf("burner: %v", err)
	}
	b.expect(t, "allocated")
}

// WaitDone waits until a burner with CPUSeconds has burnt them.
func (b *Burner) WaitDone(t testing.TB) {
	t.Helper()
	b.expect(t, "done")
}

// Stop closes the burner's stdin and waits for it to exit; Cmd.ProcessState
// then holds its resource usage.
func (b *Burner) Stop(t testing.TB) {
	t.Helper()
	_ = b.Stdin.Close()
	if err := b.Cmd.Wait(); err != nil {
		t.Fatalf("burner: %v", err)
	}
}

// CPUSeconds is the user and system CPU time of the running burner so far,
// from /proc/<pid>/stat (in clock ticks of 10 ms).
func (b *Burner) CPUSeconds(t testing.TB) float64 {
	t.Helper()
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 14th and 15th of the line.
	f := strings.Fields(string(s[strings.LastIndexByte(string(s), ')')+2:]))
	if len(f) < 13 {
		t.Fatalf("short /proc/%d/stat: %s", b.Pid(), s)
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}

func (b *Burner) expect(t testing.TB, want string) {
	t.Helper()
	line, err := b.Stdout.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != want {
		t.Fatalf("burner said %q (%v), want %q", line, err, want)
	}
}
