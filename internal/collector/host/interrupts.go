package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("interrupts", false, newInterrupts) }

// interruptsCollector reports /proc/interrupts per interrupt and CPU. It is
// opt-in, as in node_exporter: a many-core host has thousands of series.
type interruptsCollector struct {
	cfg  Config
	desc collector.TypedDesc
}

func newInterrupts(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &interruptsCollector{
		cfg:  cfg,
		desc: collector.NewRawTypedDesc("node_interrupts_total", "Interrupt details.", prometheus.CounterValue, "cpu", "type", "info", "devices"),
	}, nil
}

func (c *interruptsCollector) Update(_ context.Context, ch *collector.Sink) error {
	irqs, err := parseFile(c.cfg.procPath("interrupts"), parseInterrupts)
	if err != nil {
		return err
	}
	for name, irq := range irqs {
		for cpu, v := range irq.values {
			ch.Send(c.desc.Metric(v, strconv.Itoa(cpu), name, irq.info, irq.devices))
		}
	}
	return nil
}

// interrupt is one line of /proc/interrupts.
type interrupt struct {
	info    string    // chip and trigger for a numbered IRQ; the description otherwise
	devices string    // the devices sharing a numbered IRQ
	values  []float64 // one count per CPU column
}

var errInterruptsEmpty = errors.New("interrupts empty")

// parseInterrupts parses /proc/interrupts as node_exporter 1.5 does: the
// header has one column per CPU; lines with fewer columns than that plus a
// description (ERR, MIS) are skipped. For a numbered IRQ the first word after
// the counts is the info and the rest the devices; for a named one (NMI,
// LOC, ...) everything after the counts is the info.
func parseInterrupts(r io.Reader) (map[string]interrupt, error) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64*1024), 1024*1024) // a line per IRQ grows with the CPUs
	if !s.Scan() {
		if err := s.Err(); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		return nil, errInterruptsEmpty
	}
	ncpu := len(strings.Fields(s.Text()))
	irqs := map[string]interrupt{}
	for s.Scan() {
		parts := strings.Fields(s.Text())
		if len(parts) < ncpu+2 {
			continue
		}
		name := strings.TrimSuffix(parts[0], ":")
		irq := interrupt{values: make([]float64, ncpu)}
		for i, f := range parts[1 : ncpu+1] {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return nil, fmt.Errorf("invalid value %q of interrupt %s: %w", f, name, err)
			}
			irq.values[i] = v
		}
		if _, err := strconv.Atoi(name); err == nil {
			irq.info = parts[ncpu+1]
			irq.devices = strings.Join(parts[ncpu+2:], " ")
		} else {
			irq.info = strings.Join(parts[ncpu+1:], " ")
		}
		irqs[name] = irq
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	return irqs, nil
}
