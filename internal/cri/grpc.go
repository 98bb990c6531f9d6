package cri

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The CRI methods the resolver calls, as gRPC request paths.
const (
	methodVersion        = "/runtime.v1.RuntimeService/Version"
	methodListPodSandbox = "/runtime.v1.RuntimeService/ListPodSandbox"
	methodListContainers = "/runtime.v1.RuntimeService/ListContainers"
	methodListImages     = "/runtime.v1.ImageService/ListImages"
)

// client is a minimal gRPC client for unary calls: HTTP/2 with prior
// knowledge (h2c) over a unix socket, from net/http, without
// google.golang.org/grpc. It keeps one http.Transport, hence one HTTP/2
// connection, per runtime socket.
type client struct {
	tr *http.Transport

	mu     sync.Mutex // guards below
	conns  map[*trackedConn]struct{}
	closed bool
}

// newClient returns a client for the runtime listening on socket. Nothing is
// dialled until the first call; a connection unused for idle is closed.
func newClient(socket string, idle time.Duration) *client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	c := &client{conns: make(map[*trackedConn]struct{})}
	c.tr = &http.Transport{
		Protocols: p,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return c.dial(ctx, socket)
		},
		DisableCompression: true, // gRPC frames its messages itself
		IdleConnTimeout:    idle,
	}
	return c
}

// dial connects to the socket and tracks the connection for close.
func (c *client) dial(ctx context.Context, socket string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		nc.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: nc, c: c}
	c.conns[tc] = struct{}{}
	return tc, nil
}

// close closes the client's connections, failing any call in flight, as
// closing a gRPC channel does; the client must not be used afterwards.
func (c *client) close() {
	c.tr.CloseIdleConnections()
	c.mu.Lock()
	conns := c.conns
	c.conns, c.closed = nil, true
	c.mu.Unlock()
	for tc := range conns {
		_ = tc.Conn.Close()
	}
}

// trackedConn is a connection of a client, forgotten when closed.
type trackedConn struct {
	net.Conn
	c *client
}

func (tc *trackedConn) Close() error {
	tc.c.mu.Lock()
	delete(tc.c.conns, tc)
	tc.c.mu.Unlock()
	return tc.Conn.Close()
}

// call makes the unary call method with the encoded request message req and
// returns the encoded response message. A non-OK gRPC status is returned as
// a *statusError; a call cut short by ctx returns ctx's error, whichever
// way the transport reports it (the runtime, told the deadline, may reset
// the stream first).
func (c *client) call(ctx context.Context, method string, req []byte) ([]byte, error) {
	msg, err := c.roundTrip(ctx, method, req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return nil, context.DeadlineExceeded
		}
	}
	return msg, err
}

func (c *client) roundTrip(ctx context.Context, method string, req []byte) ([]byte, error) {
	frame := make([]byte, 5+len(req)) // uncompressed flag 0, length, message
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(req)))
	copy(frame[5:], req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://localhost"+method, bytes.NewReader(frame))
	if err != nil {
		return nil, err
	}
	hreq.Header = http.Header{
		"Content-Type": {"application/grpc"},
		"Te":           {"trailers"},
		"User-Agent":   {"panoptes-cri"},
	}
	if dl, ok := ctx.Deadline(); ok {
		hreq.Header["Grpc-Timeout"] = []string{encodeTimeout(time.Until(dl))}
	}
	resp, err := c.tr.RoundTrip(hreq)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err // drop the "Post http://localhost/..." prefix
		}
		return nil, err
	}
	defer resp.Body.Close()

	// A trailers-only response (an error before any message) carries the
	// status in its headers and has no body.
	if s := resp.Header.Get("Grpc-Status"); s != "" {
		return nil, parseStatus(s, resp.Header.Get("Grpc-Message"))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/grpc") {
		return nil, fmt.Errorf("unexpected content-type %q", ct)
	}
	msg, got, err := readMessage(resp.Body, maxMsgSize)
	if err != nil {
		return nil, err
	}
	// Reading to EOF makes the trailers available.
	var extra [1]byte
	if n, err := io.ReadFull(resp.Body, extra[:]); n > 0 {
		return nil, errors.New("protocol error: more than one response message")
	} else if !errors.Is(err, io.EOF) {
		return nil, err
	}
	s := resp.Trailer.Get("Grpc-Status")
	if s == "" {
		return nil, errors.New("protocol error: no grpc-status in the response")
	}
	if err := parseStatus(s, resp.Trailer.Get("Grpc-Message")); err != nil {
		return nil, err
	}
	if !got {
		return nil, errors.New("protocol error: no response message")
	}
	return msg, nil
}

// readMessage reads one length-prefixed gRPC message from r, of at most max
// bytes. got is false if r ends before the message starts.
func readMessage(r io.Reader, maxLen uint32) (msg []byte, got bool, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, false, nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("protocol error: truncated message header")
		}
		return nil, false, err
	}
	if hdr[0] != 0 {
		// No grpc-accept-encoding was sent: a compressed reply is an error.
		return nil, false, fmt.Errorf("protocol error: message flags %#x (compressed?)", hdr[0])
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxLen {
		return nil, false, fmt.Errorf("response message of %d bytes exceeds the limit of %d", n, maxLen)
	}
	msg = make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("protocol error: truncated message")
		}
		return nil, false, err
	}
	return msg, true, nil
}

// statusError is a non-OK gRPC status. Its text reads as grpc-go's, which
// errKey relies on.
type statusError struct {
	code uint32
	msg  string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("rpc error: code = %s desc = %s", codeName(e.code), e.msg)
}

// gRPC status codes, from google.golang.org/grpc/codes.
var codeNames = [...]string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
	"NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
	"FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal",
	"Unavailable", "DataLoss", "Unauthenticated",
}

func codeName(c uint32) string {
	if c < uint32(len(codeNames)) {
		return codeNames[c]
	}
	return "Code(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// parseStatus returns nil for status 0 (OK), else a *statusError with the
// decoded grpc-message.
func parseStatus(status, message string) error {
	code, err := strconv.ParseUint(status, 10, 32)
	if err != nil {
		return fmt.Errorf("protocol error: invalid grpc-status %q", status)
	}
	if code == 0 {
		return nil
	}
	return &statusError{code: uint32(code), msg: decodeGRPCMessage(message)}
}

// decodeGRPCMessage undoes the percent-encoding of grpc-message; a malformed
// escape is kept as it is.
func decodeGRPCMessage(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if hi, lo := unhex(s[i+1]), unhex(s[i+2]); hi >= 0 && lo >= 0 {
				b.WriteByte(byte(hi<<4 | lo))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// encodeTimeout formats d as a grpc-timeout header value: at most 8 digits
// and a unit, rounded up.
func encodeTimeout(d time.Duration) string {
	if d <= 0 {
		return "0n"
	}
	const maxValue = 99999999
	for _, u := range []struct {
		unit time.Duration
		name string
	}{
		{time.Nanosecond, "n"}, {time.Microsecond, "u"}, {time.Millisecond, "m"},
		{time.Second, "S"}, {time.Minute, "M"},
	} {
		if v := ceilDiv(d, u.unit); v <= maxValue {
			return strconv.FormatInt(v, 10) + u.name
		}
	}
	return strconv.FormatInt(min(ceilDiv(d, time.Hour), maxValue), 10) + "H"
}

// ceilDiv returns d/unit rounded up, for d > 0.
func ceilDiv(d, unit time.Duration) int64 {
	v := int64(d / unit)
	if d%unit != 0 {
		v++
	}
	return v
}
