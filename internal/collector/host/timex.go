package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("timex", true, newTimex) }

const (
	// timexTimeError is adjtimex(2)'s TIME_ERROR state: the clock is not
	// synchronised to a reliable source.
	timexTimeError = 5
	// timexStaNano is STA_NANO: offset and jitter are in nanoseconds
	// rather than microseconds.
	timexStaNano = 0x2000
	// timexPPM16 converts the kernel's scaled parts-per-million (16-bit
	// fraction) to a plain ratio; see NOTES in adjtimex(2).
	timexPPM16 = 1e6 * 65536
)

type timexCollector struct {
	cfg Config

	offset, freq, maxerror, esterror, syncStatus, status, constant, tick collector.TypedDesc
	ppsFreq, jitter, shift, stabil, jitcnt, calcnt, errcnt, stbcnt, tai  collector.TypedDesc
}

func newTimex(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	g, ctr := prometheus.GaugeValue, prometheus.CounterValue
	d := func(name, help string, t prometheus.ValueType) collector.TypedDesc {
		return collector.NewTypedDesc("timex", name, help, t)
	}
	return &timexCollector{
		cfg:        cfg,
		offset:     d("offset_seconds", "Time offset in between local system and reference clock.", g),
		freq:       d("frequency_adjustment_ratio", "Local clock frequency adjustment.", g),
		maxerror:   d("maxerror_seconds", "Maximum error in seconds.", g),
		esterror:   d("estimated_error_seconds", "Estimated error in seconds.", g),
		syncStatus: d("sync_status", "Is clock synchronized to a reliable server (1 = yes, 0 = no).", g),
		status:     d("status", "Value of the status array bits.", g),
		constant:   d("loop_time_constant", "Phase-locked loop time constant.", g),
		tick:       d("tick_seconds", "Seconds between clock ticks.", g),
		ppsFreq:    d("pps_frequency_hertz", "Pulse per second frequency.", g),
		jitter:     d("pps_jitter_seconds", "Pulse per second jitter.", g),
		shift:      d("pps_shift_seconds", "Pulse per second interval duration.", g),
		stabil:     d("pps_stability_hertz", "Pulse per second stability, average of recent frequency changes.", g),
		jitcnt:     d("pps_jitter_total", "Pulse per second count of jitter limit exceeded events.", ctr),
		calcnt:     d("pps_calibration_total", "Pulse per second count of calibration intervals.", ctr),
		errcnt:     d("pps_error_total", "Pulse per second count of calibration errors.", ctr),
		stbcnt:     d("pps_stability_exceeded_total", "Pulse per second count of stability limit exceeded events.", ctr),
		tai:        d("tai_offset_seconds", "International Atomic Time (TAI) offset.", g),
	}, nil
}

func (c *timexCollector) Update(_ context.Context, ch *collector.Sink) error {
	tx, err := c.cfg.system().Adjtimex()
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("adjtimex: %w: %w", collector.ErrNoData, err)
		}
		return fmt.Errorf("adjtimex: %w", err)
	}
	sync := 1.0
	if tx.State == timexTimeError {
		sync = 0
	}
	// offset and jitter follow STA_NANO; maxerror, esterror and tick are
	// always microseconds.
	div := 1e6
	if tx.Status&timexStaNano != 0 {
		div = 1e9
	}
	ch.Send(c.syncStatus.Metric(sync))
	ch.Send(c.offset.Metric(float64(tx.Offset) / div))
	ch.Send(c.freq.Metric(1 + float64(tx.Freq)/timexPPM16))
	ch.Send(c.maxerror.Metric(float64(tx.Maxerror) / 1e6))
	ch.Send(c.esterror.Metric(float64(tx.Esterror) / 1e6))
	ch.Send(c.status.Metric(float64(tx.Status)))
	ch.Send(c.constant.Metric(float64(tx.Constant)))
	ch.Send(c.tick.Metric(float64(tx.Tick) / 1e6))
	ch.Send(c.ppsFreq.Metric(float64(tx.Ppsfreq) / timexPPM16))
	ch.Send(c.jitter.Metric(float64(tx.Jitter) / div))
	// shift is a power-of-two exponent despite the _seconds name; node
	// exporter reports it unconverted and so do we.
	ch.Send(c.shift.Metric(float64(tx.Shift)))
	ch.Send(c.stabil.Metric(float64(tx.Stabil) / timexPPM16))
	ch.Send(c.jitcnt.Metric(float64(tx.Jitcnt)))
	ch.Send(c.calcnt.Metric(float64(tx.Calcnt)))
	ch.Send(c.errcnt.Metric(float64(tx.Errcnt)))
	ch.Send(c.stbcnt.Metric(float64(tx.Stbcnt)))
	ch.Send(c.tai.Metric(float64(tx.Tai)))
	return nil
}
