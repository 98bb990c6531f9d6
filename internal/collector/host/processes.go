package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("processes", false, newProcesses) }

// processesCollector counts processes and threads by state, and the PID and
// thread limits, walking /proc/<pid>/stat and /proc/<pid>/task/<tid>/stat.
type processesCollector struct {
	cfg    Config
	logger *slog.Logger

	threads, maxThreads, threadsState, state, pids, maxPIDs collector.TypedDesc
}

func newProcesses(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	return &processesCollector{
		cfg:          cfg,
		logger:       logger,
		threads:      collector.NewTypedDesc("processes", "threads", "Allocated threads in system", prometheus.GaugeValue),
		maxThreads:   collector.NewTypedDesc("processes", "max_threads", "Limit of threads in the system", prometheus.GaugeValue),
		threadsState: collector.NewTypedDesc("processes", "threads_state", "Number of threads in each state.", prometheus.GaugeValue, "thread_state"),
		state:        collector.NewTypedDesc("processes", "state", "Number of processes in each state.", prometheus.GaugeValue, "state"),
		pids:         collector.NewTypedDesc("processes", "pids", "Number of PIDs", prometheus.GaugeValue),
		maxPIDs:      collector.NewTypedDesc("processes", "max_processes", "Number of max PIDs limit", prometheus.GaugeValue),
	}, nil
}

func (c *processesCollector) Update(ctx context.Context, ch *collector.Sink) error {
	pfs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	procs, err := pfs.AllProcs()
	if err != nil {
		return fmt.Errorf("list processes: %w", err)
	}
	var pids, threads int
	procStates := map[string]int{}
	threadStates := map[string]int{}
	for _, p := range procs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list processes: %w", err)
		}
		stat, err := p.Stat()
		if err != nil {
			// Processes exit between the listing and the read.
			if vanished(err) {
				continue
			}
			return fmt.Errorf("read stat of pid %d: %w", p.PID, err)
		}
		pids++
		procStates[stat.State]++
		threads += stat.NumThreads
		if err := c.countThreads(p.PID, stat.State, threadStates); err != nil {
			return err
		}
	}
	ch.Send(c.threads.Metric(float64(threads)))
	maxThreads, err := readUint(c.cfg.procPath("sys", "kernel", "threads-max"))
	if err != nil {
		return err
	}
	ch.Send(c.maxThreads.Metric(float64(maxThreads)))
	for s, n := range procStates {
		ch.Send(c.state.Metric(float64(n), s))
	}
	for s, n := range threadStates {
		ch.Send(c.threadsState.Metric(float64(n), s))
	}
	maxPIDs, err := readUint(c.cfg.procPath("sys", "kernel", "pid_max"))
	if err != nil {
		return err
	}
	ch.Send(c.pids.Metric(float64(pids)))
	ch.Send(c.maxPIDs.Metric(float64(maxPIDs)))
	return nil
}

// countThreads adds the states of pid's threads. The main thread counts with
// the process's own state, as node_exporter counts it.
func (c *processesCollector) countThreads(pid int, state string, states map[string]int) error {
	taskFS, err := procfs.NewFS(c.cfg.procPath(strconv.Itoa(pid), "task"))
	if err != nil {
		if vanished(err) {
			return nil
		}
		return fmt.Errorf("read tasks of pid %d: %w", pid, err)
	}
	tasks, err := taskFS.AllProcs()
	if err != nil {
		if vanished(err) {
			return nil
		}
		return fmt.Errorf("list threads of pid %d: %w", pid, err)
	}
	for _, t := range tasks {
		if t.PID == pid {
			states[state]++
			continue
		}
		st, err := t.Stat()
		if err != nil {
			if vanished(err) {
				continue
			}
			return fmt.Errorf("read stat of pid %d thread %d: %w", pid, t.PID, err)
		}
		states[st.State]++
	}
	return nil
}

// vanished reports an error from a process or thread that exited while it
// was being read.
func vanished(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) ||
		strings.Contains(err.Error(), syscall.ESRCH.Error())
}
