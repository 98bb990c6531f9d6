package cri

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// failingRuntime is a fakeRuntime whose ListContainers fails with err, after
// sending the response headers if headersFirst (so that the status comes in
// trailers), else with a trailers-only response. It records whether the
// calls carried a deadline (grpc-timeout).
type failingRuntime struct {
	*fakeRuntime
	err          error
	headersFirst bool
	deadline     chan bool
}

func (f *failingRuntime) ListContainers(ctx context.Context, _ *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	_, ok := ctx.Deadline()
	select {
	case f.deadline <- ok:
	default:
	}
	if f.headersFirst {
		if err := grpc.SendHeader(ctx, metadata.Pairs("x-test", "1")); err != nil {
			return nil, err
		}
	}
	return nil, f.err
}

// serveServer starts srv on a unix socket and returns its path.
func serveSocket(t *testing.T, serve func(net.Listener), stop func()) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cri")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "runtime.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go serve(lis)
	t.Cleanup(stop)
	return sock
}

func serveFailing(t *testing.T, f *failingRuntime) string {
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, f)
	return serveSocket(t, func(l net.Listener) { _ = srv.Serve(l) }, srv.Stop)
}

func wantStatus(t *testing.T, err error, code uint32, msg string) {
	t.Helper()
	var se *statusError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T), want a gRPC status", err, err)
	}
	if se.code != code || se.msg != msg {
		t.Errorf("status %d %q, want %d %q", se.code, se.msg, code, msg)
	}
}

// TestStatusError checks that a server's error status, in a trailers-only
// response or in trailers after the headers, becomes an error with its code
// and (percent-decoded) message, and that the resolver logs it.
func TestStatusError(t *testing.T) {
	const msg = "runtime restarting: 100% ünïcode\tdone"
	for _, headersFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "trailers-only", true: "headers-then-trailers"}[headersFirst], func(t *testing.T) {
			f := &failingRuntime{fakeRuntime: newFake("containerd"), err: status.Error(codes.Unavailable, msg),
				headersFirst: headersFirst, deadline: make(chan bool, 1)}
			sock := serveFailing(t, f)

			c := newClient(sock, time.Minute)
			defer c.close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := c.call(ctx, methodListContainers, nil)
			wantStatus(t, err, uint32(codes.Unavailable), msg)
			if want := "rpc error: code = Unavailable desc = " + msg; err.Error() != want {
				t.Errorf("error text %q, want %q", err.Error(), want)
			}
			if !<-f.deadline {
				t.Error("the server saw no deadline (grpc-timeout)")
			}
			// The connection survives a failed call.
			if _, err := c.call(ctx, methodVersion, nil); err != nil {
				t.Errorf("Version after a failed call: %v", err)
			}

			logs := &logCount{}
			r := New(Config{Endpoints: []string{sock}}, slog.New(logs))
			defer r.Close()
			if _, ok := r.Lookup(context.Background(), id("c-web-0-nginx")); ok {
				t.Error("Lookup ok while ListContainers fails")
			}
			if logs.count() != 1 || !strings.Contains(logs.msgs[0], "ListContainers: rpc error: code = Unavailable") {
				t.Errorf("warnings %q, want one about ListContainers' status", logs.msgs)
			}
		})
	}
}

// TestTrailersOnlyUnimplemented: a service the server does not register
// answers trailers-only with Unimplemented.
func TestTrailersOnlyUnimplemented(t *testing.T) {
	c := newClient(serve(t, newFake("containerd"), nil), time.Minute)
	defer c.close()
	_, err := c.call(context.Background(), methodListImages, nil)
	wantStatus(t, err, uint32(codes.Unimplemented), "unknown service runtime.v1.ImageService")
}

// serveH2C serves h on a unix socket with unencrypted HTTP/2 only.
func serveH2C(t *testing.T, h http.HandlerFunc) string {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: p}
	return serveSocket(t, func(l net.Listener) { _ = srv.Serve(l) }, func() { _ = srv.Close() })
}

func frame(flag byte, msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	b[0] = flag
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// TestProtocol checks the client's handling of well- and ill-formed
// responses from a hand-written h2c server.
func TestProtocol(t *testing.T) {
	msg := []byte{0x12, 0x05, 'c', 'r', 'i', '-', 'o'} // VersionResponse{runtime_name: "cri-o"}
	ok := func(w http.ResponseWriter, body []byte, st string) {
		w.Header().Set("Content-Type", "application/grpc+proto")
		w.Header().Set("Trailer", "Grpc-Status")
		_, _ = w.Write(body)
		if st != "" {
			w.Header().Set("Grpc-Status", st)
		}
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    string // error substring; "" for success
	}{
		{"ok", func(w http.ResponseWriter, _ *http.Request) { ok(w, frame(0, msg), "0") }, ""},
		{"undeclared trailer", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/grpc")
			_, _ = w.Write(frame(0, msg))
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		}, ""},
		{"no status", func(w http.ResponseWriter, _ *http.Request) { ok(w, frame(0, msg), "") }, "no grpc-status"},
		{"bad status", func(w http.ResponseWriter, _ *http.Request) { ok(w, frame(0, msg), "x") }, `invalid grpc-status "x"`},
		{"unknown code", func(w http.ResponseWriter, _ *http.Request) { ok(w, frame(0, msg), "99") }, "code = Code(99)"},
		{"compressed", func(w http.ResponseWriter, _ *http.Request) { ok(w, frame(1, msg), "0") }, "compressed"},
		{"two messages", func(w http.ResponseWriter, _ *http.Request) { ok(w, append(frame(0, msg), frame(0, msg)...), "0") }, "more than one"},
		{"no message", func(w http.ResponseWriter, _ *http.Request) { ok(w, nil, "0") }, "no response message"},
		{"truncated header", func(w http.ResponseWriter, _ *http.Request) { ok(w, []byte{0, 0}, "0") }, "truncated message header"},
		{"truncated", func(w http.ResponseWriter, _ *http.Request) { ok(w, frame(0, msg)[:8], "0") }, "truncated message"},
		{"too large", func(w http.ResponseWriter, _ *http.Request) {
			ok(w, binary.BigEndian.AppendUint32([]byte{0}, maxMsgSize+1), "0")
		}, "exceeds the limit"},
		{"HTTP error", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusServiceUnavailable) }, "HTTP status 503"},
		{"not gRPC", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") }, "unexpected content-type"},
		{"trailers-only", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Grpc-Status", "5")
			w.Header().Set("Grpc-Message", "gone%20away%")
		}, "code = NotFound desc = gone away%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req *http.Request
			sock := serveH2C(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if r.ProtoMajor != 2 || r.Method != http.MethodPost || r.URL.Path != methodVersion ||
					r.Header.Get("Content-Type") != "application/grpc" || r.Header.Get("Te") != "trailers" ||
					string(body) != "\x00\x00\x00\x00\x00" {
					req = r
				}
				tc.handler(w, r)
			})
			c := newClient(sock, time.Minute)
			defer c.close()
			got, err := c.call(context.Background(), methodVersion, nil)
			if req != nil {
				t.Errorf("bad request: %s %s %s %v", req.Proto, req.Method, req.URL, req.Header)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if v, err := decodeVersion(got); err != nil || v.runtimeName != "cri-o" {
					t.Errorf("decoded %+v, %v", v, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

func TestEncodeTimeout(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                  "0n",
		1500 * time.Microsecond:       "1500000n",
		2 * time.Second:               "2000000u",
		time.Second + time.Nanosecond: "1000001u",
		200 * time.Second:             "200000m",
		2 * time.Hour:                 "7200000m",
		30 * time.Hour:                "108000S",
		1 << 62:                       "76861434M",
		math.MaxInt64:                 "2562048H",
	} {
		if got := encodeTimeout(d); got != want {
			t.Errorf("encodeTimeout(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDecodeGRPCMessage(t *testing.T) {
	for in, want := range map[string]string{
		"plain":          "plain",
		"a%20b%25c":      "a b%c",
		"%C3%BC":         "ü",
		"bad%zz%2":       "bad%zz%2",
		"%":              "%",
		"end%4":          "end%4",
		"x%41%42%43y%4a": "xABCyJ",
	} {
		if got := decodeGRPCMessage(in); got != want {
			t.Errorf("decodeGRPCMessage(%q) = %q, want %q", in, got, want)
		}
	}
}
