package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// DefaultNetstatFields is node_exporter's default selection of
// /proc/net/{netstat,snmp,snmp6} fields.
const DefaultNetstatFields = `^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$`

// NetstatConfig selects the fields reported.
type NetstatConfig struct {
	Fields string // regexp of Protocol_Field names to keep
}

func init() { register("netstat", true, newNetstat) }

const netstatPrefix = collector.Namespace + "_netstat_"

type netstatCollector struct {
	cfg    Config
	logger *slog.Logger
	fields *collector.Filter
	descs  collector.DescCache

	// selected memoises, per (protocol, field), whether the field is
	// reported and its descriptor: a kernel exposes a few hundred fields, of
	// which the default pattern keeps about forty, and they are the same on
	// every scrape.
	mu       sync.Mutex
	selected map[[2]string]netstatField
}

type netstatField struct {
	keep bool
	desc collector.TypedDesc
}

// maxNetstatFields bounds the memo against a kernel that would invent new
// field names forever.
const maxNetstatFields = 4096

func newNetstat(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	fields, err := collector.NewFilter(cfg.Netstat.Fields, "")
	if err != nil {
		return nil, fmt.Errorf("netstat fields: %w", err)
	}
	return &netstatCollector{cfg: cfg, logger: logger, fields: fields, selected: map[[2]string]netstatField{}}, nil
}

func (c *netstatCollector) Update(_ context.Context, ch *collector.Sink) error {
	netstat, err := parseFile(c.cfg.procPath("net", "netstat"), parseNetstat)
	if err != nil {
		return err
	}
	snmp, err := parseFile(c.cfg.procPath("net", "snmp"), parseNetstat)
	if err != nil {
		return err
	}
	snmp6, err := parseFile(c.cfg.procPath("net", "snmp6"), parseSNMP6)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		// IPv6 is disabled on this kernel.
		c.logger.Debug("no IPv6 statistics", "err", err)
	}
	// The three files have distinct protocols (TcpExt, Tcp, Tcp6...), so
	// their Protocol_Field names do not collide.
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, entries := range [...][]netstatEntry{netstat, snmp, snmp6} {
		for _, e := range entries {
			f, ok := c.selected[[2]string{e.Protocol, e.Name}]
			if !ok {
				f = c.field(e.Protocol, e.Name)
			}
			if f.keep {
				ch.Send(f.desc.Metric(e.Value))
			}
		}
	}
	return nil
}

// field decides whether Protocol_Name is reported; c.mu is held.
func (c *netstatCollector) field(protocol, name string) netstatField {
	key := protocol + "_" + name
	f := netstatField{keep: !c.fields.Ignored(key)}
	if f.keep {
		f.desc = c.descs.Get(netstatPrefix+key, "Statistic "+protocol+name+".", prometheus.UntypedValue)
	}
	if len(c.selected) < maxNetstatFields {
		c.selected[[2]string{protocol, name}] = f
	}
	return f
}

// netstatEntry is one counter of /proc/net/{netstat,snmp,snmp6}.
type netstatEntry struct {
	Protocol string // TcpExt, Ip, Udp6
	Name     string // ListenDrops, Forwarding, InDatagrams
	Value    float64
}

// parseNetstat parses /proc/net/netstat or /proc/net/snmp: pairs of lines,
// the first naming the fields ("Tcp: RtoAlgorithm RtoMin ..."), the second
// holding their values ("Tcp: 1 200 ..."). A field repeated in the input
// keeps its first position and its last value; names that cannot form a
// metric name are skipped.
func parseNetstat(r io.Reader) ([]netstatEntry, error) {
	out := newLastValue[[2]string, netstatEntry](256)
	var names, values []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		header := sc.Text()
		names = appendFields(names[:0], header)
		if len(names) == 0 {
			continue
		}
		protocol := strings.TrimSuffix(names[0], ":")
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("no values after header %q", protocol)
		}
		// Text returns a new string, so names stay valid after this Scan.
		values = appendFields(values[:0], sc.Text())
		if len(values) != len(names) {
			return nil, fmt.Errorf("%s: %d field names but %d values", protocol, len(names)-1, len(values)-1)
		}
		okProto := legalNamePart(protocol)
		for i := 1; i < len(names); i++ {
			v, err := strconv.ParseFloat(values[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s %s: invalid value: %w", protocol, names[i], err)
			}
			if !okProto || !legalNamePart(names[i]) {
				continue
			}
			out.put([2]string{protocol, names[i]}, netstatEntry{Protocol: protocol, Name: names[i], Value: v})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out.entries, nil
}

// parseSNMP6 parses /proc/net/snmp6, "Ip6InReceives 123" per line. The
// protocol is the name up to and including its first '6' (Ip6, Icmp6,
// UdpLite6); lines without a '6' or without a value are skipped, as
// node_exporter skips them.
func parseSNMP6(r io.Reader) ([]netstatEntry, error) {
	out := newLastValue[[2]string, netstatEntry](128)
	var fields []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		fields = appendFields(fields[:0], line)
		if len(fields) < 2 {
			continue
		}
		six := strings.IndexByte(fields[0], '6')
		if six < 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			return nil, fmt.Errorf("invalid value in snmp6 line %q: %w", line, err)
		}
		protocol, name := fields[0][:six+1], fields[0][six+1:]
		if !legalNamePart(protocol) || !legalNamePart(name) {
			continue
		}
		out.put([2]string{protocol, name}, netstatEntry{Protocol: protocol, Name: name, Value: v})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out.entries, nil
}
