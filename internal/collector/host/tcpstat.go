package host

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("tcpstat", false, newTCPStat) }

// tcpSocket is what tcpstat needs of one socket of an inet_diag dump.
type tcpSocket struct {
	State  uint8  `json:"state"`
	Port   uint16 `json:"port"`   // local port
	RQueue uint32 `json:"rqueue"` // bytes queued; for a listening socket its accept backlog
	WQueue uint32 `json:"wqueue"` // bytes queued; for a listening socket its backlog limit
}

// tcpSocketSource lists the TCP sockets of one address family. The real one
// asks the kernel over NETLINK_INET_DIAG; a Config.System implementing it
// (a test fixture) replaces the kernel.
type tcpSocketSource interface {
	TCPSockets(family uint8) ([]tcpSocket, error)
}

// tcpStates names the TCP states as node_exporter does (include/net/tcp_states.h).
var tcpStates = map[uint8]string{
	1: "established", 2: "syn_sent", 3: "syn_recv", 4: "fin_wait1", 5: "fin_wait2", 6: "time_wait",
	7: "close", 8: "close_wait", 9: "last_ack", 10: "listen", 11: "closing",
}

// tcpstatCollector counts the TCP sockets per state, and the bytes in their
// queues, over sock_diag netlink as node_exporter 1.5 does (not from
// /proc/net/tcp, which reports a listening socket's queues differently and
// costs a text line per socket).
type tcpstatCollector struct {
	cfg    Config
	states collector.TypedDesc
}

func newTCPStat(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &tcpstatCollector{
		cfg:    cfg,
		states: collector.NewTypedDesc("tcp", "connection_states", "Number of connection states.", prometheus.GaugeValue, "state"),
	}, nil
}

// Update dumps the IPv4 sockets, and the IPv6 ones when the kernel has IPv6
// (<proc>/net/tcp6 exists), and reports the sums of both.
func (c *tcpstatCollector) Update(_ context.Context, ch *collector.Sink) error {
	var src tcpSocketSource = netlinkTCPSockets{}
	if s, ok := c.cfg.System.(tcpSocketSource); ok {
		src = s
	}
	families := []uint8{unix.AF_INET}
	if _, err := os.Stat(c.cfg.procPath("net", "tcp6")); err == nil {
		families = append(families, unix.AF_INET6)
	}
	counts := map[string]float64{}
	for _, fam := range families {
		socks, err := src.TCPSockets(fam)
		if err != nil {
			return fmt.Errorf("list TCP sockets (family %d): %w", fam, err)
		}
		for _, s := range socks {
			counts["rx_queued_bytes"] += float64(s.RQueue)
			counts["tx_queued_bytes"] += float64(s.WQueue)
			name, ok := tcpStates[s.State]
			if !ok {
				name = "unknown"
			}
			counts[name]++
		}
	}
	for state, n := range counts {
		ch.Send(c.states.Metric(n, state))
	}
	return nil
}

// netlinkTCPSockets asks the kernel with SOCK_DIAG_BY_FAMILY.
type netlinkTCPSockets struct{}

const (
	nlmsgHdrLen     = 16
	inetDiagReqLen  = 56
	inetDiagMsgLen  = 72
	tcpAllStates    = 0xfff // bits 0..11: every state but TCP_NEW_SYN_RECV, as node_exporter asks
	maxDiagDatagram = 1 << 16
)

// TCPSockets sends one dump request and reads the answer to its end.
func (netlinkTCPSockets) TCPSockets(family uint8) ([]tcpSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	// The kernel always answers a dump; the timeout only guards against a
	// stuck socket holding the collector forever.
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("netlink timeout: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	req := make([]byte, nlmsgHdrLen+inetDiagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1) // sequence number
	req[16] = family
	req[17] = unix.IPPROTO_TCP
	ne.PutUint32(req[20:], tcpAllStates)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	buf := make([]byte, maxDiagDatagram)
	var out []tcpSocket
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		socks, done, err := parseInetDiag(bytes.NewReader(buf[:n]))
		out = append(out, socks...)
		if err != nil || done {
			return out, err
		}
	}
}

// errNetlinkFormat is returned for a truncated or inconsistent message.
var errNetlinkFormat = errors.New("malformed netlink message")

// parseInetDiag parses the netlink messages of one datagram of a
// SOCK_DIAG_BY_FAMILY dump: inet_diag_msg records, then NLMSG_DONE (done is
// true) or NLMSG_ERROR (the kernel's errno). The kernel writes in the host's
// byte order.
func parseInetDiag(r io.Reader) (socks []tcpSocket, done bool, err error) {
	ne := binary.NativeEndian
	var hdr [nlmsgHdrLen]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return socks, false, nil
			}
			return socks, false, fmt.Errorf("%w: header: %w", errNetlinkFormat, err)
		}
		length := ne.Uint32(hdr[0:])
		typ := ne.Uint16(hdr[4:])
		if length < nlmsgHdrLen || length > maxDiagDatagram {
			return socks, false, fmt.Errorf("%w: length %d", errNetlinkFormat, length)
		}
		// Messages are padded to 4 bytes; the padding follows the payload.
		need := int((length - nlmsgHdrLen + 3) &^ 3)
		if cap(buf) < need {
			buf = make([]byte, need)
		}
		body := buf[:need]
		n, err := io.ReadFull(r, body)
		if err != nil && (!errors.Is(err, io.ErrUnexpectedEOF) || uint32(n) < length-nlmsgHdrLen) {
			return socks, false, fmt.Errorf("%w: body: %w", errNetlinkFormat, err)
		}
		body = body[:length-nlmsgHdrLen]
		switch typ {
		case unix.NLMSG_DONE:
			return socks, true, nil
		case unix.NLMSG_ERROR:
			if len(body) < 4 {
				return socks, false, fmt.Errorf("%w: short error", errNetlinkFormat)
			}
			if errno := -int32(ne.Uint32(body)); errno != 0 {
				return socks, false, fmt.Errorf("netlink: %w", syscall.Errno(errno))
			}
			return socks, true, nil
		case unix.SOCK_DIAG_BY_FAMILY:
			if len(body) < inetDiagMsgLen {
				return socks, false, fmt.Errorf("%w: inet_diag_msg of %d bytes", errNetlinkFormat, len(body))
			}
			socks = append(socks, tcpSocket{State: body[1], Port: binary.BigEndian.Uint16(body[4:]), RQueue: ne.Uint32(body[56:]), WQueue: ne.Uint32(body[60:])})
		}
		// Other types (NLMSG_NOOP, NLMSG_OVERRUN) carry no socket.
	}
}
