package host

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TCPSockets answers from "tcp_sockets" in the fixture's system.json, keyed
// by address family number ("2", "10"), so that the golden test does not
// depend on this machine's sockets.
func (f *fixtureSystem) TCPSockets(family uint8) ([]tcpSocket, error) {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(f.rootfs), "system.json"))
	if err != nil {
		return nil, err
	}
	var v struct {
		TCP map[string][]tcpSocket `json:"tcp_sockets"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	socks, ok := v.TCP[fmt.Sprint(family)]
	if !ok {
		return nil, fmt.Errorf("no tcp_sockets for family %d in system.json", family)
	}
	return socks, nil
}

// diagMsg encodes one netlink message as the kernel writes it.
func diagMsg(typ uint16, body []byte) []byte {
	ne := binary.NativeEndian
	b := make([]byte, nlmsgHdrLen+(len(body)+3)&^3)
	ne.PutUint32(b[0:], uint32(nlmsgHdrLen+len(body)))
	ne.PutUint16(b[4:], typ)
	copy(b[nlmsgHdrLen:], body)
	return b
}

func diagSock(state uint8, port uint16, rq, wq uint32) []byte {
	b := make([]byte, inetDiagMsgLen)
	b[0], b[1] = unix.AF_INET, state
	binary.BigEndian.PutUint16(b[4:], port)
	binary.NativeEndian.PutUint32(b[56:], rq)
	binary.NativeEndian.PutUint32(b[60:], wq)
	return diagMsg(unix.SOCK_DIAG_BY_FAMILY, b)
}

func TestParseInetDiag(t *testing.T) {
	t.Parallel()
	errno := make([]byte, 4)
	binary.NativeEndian.PutUint32(errno, uint32(0xffffffff)) // -EPERM
	for name, tc := range map[string]struct {
		in      []byte
		want    []tcpSocket
		done    bool
		wantErr string
	}{
		"two sockets then done": {
			in:   append(append(diagSock(10, 22, 0, 4096), diagSock(1, 22, 7, 36)...), diagMsg(unix.NLMSG_DONE, []byte{0, 0, 0, 0})...),
			want: []tcpSocket{{State: 10, Port: 22, WQueue: 4096}, {State: 1, Port: 22, RQueue: 7, WQueue: 36}},
			done: true,
		},
		"more to come":     {in: diagSock(6, 443, 0, 0), want: []tcpSocket{{State: 6, Port: 443}}},
		"kernel error":     {in: diagMsg(unix.NLMSG_ERROR, errno), wantErr: "operation not permitted"},
		"short message":    {in: diagMsg(unix.SOCK_DIAG_BY_FAMILY, make([]byte, 20)), wantErr: "inet_diag_msg of 20 bytes"},
		"truncated body":   {in: diagSock(1, 1, 0, 0)[:40], wantErr: "body"},
		"length too small": {in: []byte{4, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, wantErr: "length 4"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, done, err := parseInetDiag(strings.NewReader(string(tc.in)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || done != tc.done || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, done %v, err %v; want %v, done %v", got, done, err, tc.want, tc.done)
			}
		})
	}
}

// TestTCPStatKernel asks this machine's kernel: a listener and both ends of
// a connection made here must be in the dump with their states.
func TestTCPStatKernel(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	lport := uint16(ln.Addr().(*net.TCPAddr).Port)
	cport := uint16(client.LocalAddr().(*net.TCPAddr).Port)

	socks, err := netlinkTCPSockets{}.TCPSockets(unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	var listening, serverEnd, clientEnd bool
	for _, s := range socks {
		switch {
		case s.Port == lport && s.State == 10:
			listening = true
		case s.Port == lport && s.State == 1:
			serverEnd = true
		case s.Port == cport && s.State == 1:
			clientEnd = true
		}
	}
	if !listening || !serverEnd || !clientEnd {
		t.Errorf("listener %v, server end %v, client end %v in %d sockets", listening, serverEnd, clientEnd, len(socks))
	}
}

// TestTCPStatSourceError: a failing dump fails the collector, naming it.
func TestTCPStatSourceError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "system.json"), `{"tcp_sockets": {}}`)
	_, err := render(t, "tcpstat", fixtureConfig(t, dir))
	if err == nil || !strings.Contains(err.Error(), "family 2") {
		t.Errorf("err = %v", err)
	}
}

func FuzzParseInetDiag(f *testing.F) {
	f.Add(append(diagSock(10, 22, 0, 4096), diagMsg(unix.NLMSG_DONE, []byte{0, 0, 0, 0})...))
	f.Add(diagMsg(unix.NLMSG_ERROR, []byte{0xff, 0xff, 0xff, 0xff}))
	f.Add(diagSock(1, 80, 1, 2)[:50])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzInput {
			t.Skip()
		}
		socks, done, err := parseInetDiag(strings.NewReader(string(b)))
		if len(socks)*inetDiagMsgLen > len(b) {
			t.Errorf("%d sockets from %d bytes", len(socks), len(b))
		}
		if done && err != nil {
			t.Errorf("done with error %v", err)
		}
	})
}
