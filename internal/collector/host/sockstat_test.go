package host

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func newTestSockstat(t *testing.T, dir string, pageSize int) *sockstatCollector {
	t.Helper()
	c, err := newSockstat(fixtureConfig(t, dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s := c.(*sockstatCollector)
	s.pageSize = pageSize
	return s
}

// TestSockstatMemBytes: mem is in pages, mem_bytes in bytes.
func TestSockstatMemBytes(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "proc", "net", "sockstat"), "sockets: used 3\nTCP: inuse 1 orphan 0 tw 2 alloc 1 mem 45\nUDP: inuse 0 mem 3\n")
	out, err := renderCollectorOnce(t, newTestSockstat(t, dir, 4096))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"node_sockstat_TCP_mem 45\n",
		"node_sockstat_TCP_mem_bytes 184320\n",
		"node_sockstat_UDP_mem_bytes 12288\n",
		"node_sockstat_sockets_used 3\n",
		"# HELP node_sockstat_TCP_mem_bytes Number of TCP sockets in state mem_bytes.\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSockstatOnlyIPv6(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "proc", "net", "sockstat6"), "TCP6: inuse 2\n")
	out, err := renderCollectorOnce(t, newTestSockstat(t, dir, 4096))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "node_sockstat_TCP6_inuse 2\n") || strings.Contains(out, "sockets_used") {
		t.Errorf("unexpected output:\n%s", out)
	}
}

func TestSockstatErrors(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"none":      {},
		"malformed": {"sockstat": "TCP: inuse x\n"},
		"odd pairs": {"sockstat": "TCP: inuse 1 tw\n"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFixture(t, filepath.Join(dir, "proc", "net", "dev"), "")
			for f, content := range files {
				writeFixture(t, filepath.Join(dir, "proc", "net", f), content)
			}
			out, err := renderCollectorOnce(t, newTestSockstat(t, dir, 4096))
			if err == nil {
				t.Fatalf("no error, output:\n%s", out)
			}
			if !strings.Contains(err.Error(), "read "+filepath.Join(dir, "proc", "net", "sockstat")) {
				t.Errorf("error does not name the file: %v", err)
			}
			if name == "none" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error does not wrap fs.ErrNotExist: %v", err)
			}
		})
	}
}

func TestSockstatDuplicateProtocol(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "proc", "net", "sockstat"), "TCP: inuse 1\nTCP: inuse 2\nBAD-NAME: inuse 1\n")
	out, err := renderCollectorOnce(t, newTestSockstat(t, dir, 4096))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "node_sockstat_TCP_inuse 1\n") || strings.Contains(out, "BAD") {
		t.Errorf("unexpected output:\n%s", out)
	}
}

// renderCollectorOnce runs a collector built by the test once, through a
// pedantic registry, and returns its output in the text format.
func renderCollectorOnce(t *testing.T, c collector.Collector) (string, error) {
	t.Helper()
	s := &single{c: c}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("encode: %v", err)
		}
	}
	return buf.String(), s.err
}
