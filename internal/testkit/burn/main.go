// Command burn loads the machine the way a busy node would while the tests
// run: it keeps -cores cores busy with testkit's CPU burner (the one the
// container tests put in a cgroup) until it is interrupted. `make test-load`
// runs it beside `go test` when stress-ng is not installed.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

func main() {
	cores := flag.Int("cores", runtime.NumCPU(), "how many cores to keep busy")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	for range *cores {
		wg.Go(func() { testkit.Burn(ctx, 1) })
	}
	wg.Wait()
}
