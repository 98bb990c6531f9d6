package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("os", true, newOS) }

// osReleaseFiles are tried in order, relative to the root file system, as
// os-release(5) prescribes.
var osReleaseFiles = []string{"etc/os-release", "usr/lib/os-release"}

// osReleaseInfoKeys are the os-release variables behind node_os_info's
// labels, in label order.
var osReleaseInfoKeys = []string{
	"BUILD_ID", "ID", "ID_LIKE", "IMAGE_ID", "IMAGE_VERSION", "NAME", "PRETTY_NAME",
	"VARIANT", "VARIANT_ID", "VERSION", "VERSION_CODENAME", "VERSION_ID",
}

// maxOSReleaseSize bounds what we read of an os-release file (real ones are
// well under 1 KiB).
const maxOSReleaseSize = 64 << 10

type osCollector struct {
	cfg           Config
	logger        *slog.Logger
	info, version collector.TypedDesc

	mu     sync.Mutex
	cached osReleaseState
}

// osReleaseState is the parsed file together with what identifies the
// version of the file it came from.
type osReleaseState struct {
	path       string
	mtime      time.Time
	size       int64
	valid      bool
	info       []string // label values of node_os_info
	id, idLike string
	name       string
	version    float64 // major.minor of VERSION_ID; 0 when absent
}

func newOS(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	return &osCollector{
		cfg:    cfg,
		logger: logger,
		info: collector.NewTypedDesc("os", "info",
			"A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
			prometheus.GaugeValue,
			"build_id", "id", "id_like", "image_id", "image_version", "name", "pretty_name",
			"variant", "variant_id", "version", "version_codename", "version_id"),
		version: collector.NewTypedDesc("os", "version",
			"Metric containing the major.minor part of the OS version.",
			prometheus.GaugeValue, "id", "id_like", "name"),
	}, nil
}

func (c *osCollector) Update(_ context.Context, ch *collector.Sink) error {
	st, err := c.load()
	if err != nil {
		return err
	}
	ch.Send(c.info.Metric(1, st.info...))
	if st.version > 0 {
		ch.Send(c.version.Metric(st.version, st.id, st.idLike, st.name))
	}
	return nil
}

// load returns the parsed os-release, re-reading the file only when its
// path, modification time or size changed since the last scrape.
func (c *osCollector) load() (osReleaseState, error) {
	var (
		path string
		fi   os.FileInfo
		err  error
	)
	for _, rel := range osReleaseFiles {
		path = c.cfg.rootfsPath(rel)
		if fi, err = os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return osReleaseState{}, fmt.Errorf("no os-release file: %w: %w", collector.ErrNoData, err)
		}
		return osReleaseState{}, fmt.Errorf("stat os-release: %w", err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached.valid && c.cached.path == path && c.cached.mtime.Equal(fi.ModTime()) && c.cached.size == fi.Size() {
		return c.cached, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return osReleaseState{}, fmt.Errorf("open os-release: %w", err)
	}
	defer f.Close()
	kv, err := parseOSRelease(f)
	if err != nil {
		return osReleaseState{}, fmt.Errorf("parse %s: %w", path, err)
	}
	st := osReleaseState{
		path:   path,
		mtime:  fi.ModTime(),
		size:   fi.Size(),
		valid:  true,
		info:   make([]string, len(osReleaseInfoKeys)),
		id:     kv["ID"],
		idLike: kv["ID_LIKE"],
		name:   kv["NAME"],
	}
	for i, k := range osReleaseInfoKeys {
		st.info[i] = kv[k]
	}
	if mm := majorMinor(kv["VERSION_ID"]); mm != "" {
		if v, err := strconv.ParseFloat(mm, 64); err == nil {
			st.version = v
		}
	}
	c.logger.Debug("read os-release", "path", path)
	c.cached = st
	return st, nil
}

// majorMinor returns the leading "<digits>[.<digits>]" of a version string,
// the part node_exporter turns into node_os_version.
func majorMinor(v string) string {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == 0 {
		return ""
	}
	if i < len(v) && v[i] == '.' {
		i++
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
	}
	return v[:i]
}

// parseOSRelease parses an os-release(5) file: newline-separated
// shell-compatible assignments KEY=VALUE, where VALUE may mix unquoted text
// (backslash escapes the next character), 'single-quoted' literal text and
// "double-quoted" text (backslash escapes \ " $ ` and newline). Blank lines
// and lines starting with # are ignored, as is an "export " prefix. A later
// assignment of a key wins. Malformed input is an error naming the line.
func parseOSRelease(r io.Reader) (map[string]string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxOSReleaseSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxOSReleaseSize {
		return nil, fmt.Errorf("os-release larger than %d bytes", maxOSReleaseSize)
	}
	p := osReleaseParser{b: b, line: 1}
	out := make(map[string]string)
	for {
		p.skipBlank()
		if p.eof() {
			return out, nil
		}
		if p.peek() == '#' {
			p.skipLine()
			continue
		}
		key := p.ident()
		if key == "export" && !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
			p.skipSpace()
			key = p.ident()
		}
		if key == "" {
			return nil, p.errorf("expected variable name")
		}
		if p.eof() || p.peek() != '=' {
			return nil, p.errorf("expected '=' after %q", key)
		}
		p.pos++
		val, err := p.value()
		if err != nil {
			return nil, err
		}
		out[key] = val
	}
}

type osReleaseParser struct {
	b    []byte
	pos  int
	line int
}

func (p *osReleaseParser) eof() bool  { return p.pos >= len(p.b) }
func (p *osReleaseParser) peek() byte { return p.b[p.pos] }

func (p *osReleaseParser) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s", p.line, fmt.Sprintf(format, args...))
}

// skipBlank skips whitespace including newlines.
func (p *osReleaseParser) skipBlank() {
	for !p.eof() {
		switch p.peek() {
		case '\n':
			p.line++
		case ' ', '\t', '\r', '\f', '\v':
		default:
			return
		}
		p.pos++
	}
}

// skipSpace skips blanks on the current line.
func (p *osReleaseParser) skipSpace() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t' || p.peek() == '\r') {
		p.pos++
	}
}

// skipLine skips to the start of the next line.
func (p *osReleaseParser) skipLine() {
	for !p.eof() {
		c := p.peek()
		p.pos++
		if c == '\n' {
			p.line++
			return
		}
	}
}

func (p *osReleaseParser) ident() string {
	start := p.pos
	for !p.eof() {
		c := p.peek()
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || p.pos > start && c >= '0' && c <= '9' {
			p.pos++
			continue
		}
		break
	}
	return string(p.b[start:p.pos])
}

// value parses the right-hand side of an assignment up to the end of its
// line, which it consumes.
func (p *osReleaseParser) value() (string, error) {
	var v []byte
	for !p.eof() {
		c := p.peek()
		switch c {
		case '\n':
			p.pos++
			p.line++
			return string(v), nil
		case ' ', '\t', '\r':
			// An unquoted blank ends the word; only a comment may follow.
			p.skipSpace()
			if p.eof() {
				return string(v), nil
			}
			switch p.peek() {
			case '\n':
				continue
			case '#':
				p.skipLine()
				return string(v), nil
			}
			return "", p.errorf("unexpected text after value (unquoted blank)")
		case '\'':
			p.pos++
			end := p.pos
			for end < len(p.b) && p.b[end] != '\'' {
				if p.b[end] == '\n' {
					p.line++
				}
				end++
			}
			if end >= len(p.b) {
				return "", p.errorf("unterminated single quote")
			}
			v = append(v, p.b[p.pos:end]...)
			p.pos = end + 1
		case '"':
			p.pos++
			closed := false
			for !p.eof() && !closed {
				c := p.peek()
				p.pos++
				switch c {
				case '"':
					closed = true
				case '\\':
					if p.eof() {
						continue
					}
					switch n := p.peek(); n {
					case '"', '\\', '$', '`':
						v = append(v, n)
						p.pos++
					case '\n':
						p.line++
						p.pos++
					default:
						v = append(v, '\\')
					}
				case '\n':
					p.line++
					v = append(v, c)
				default:
					v = append(v, c)
				}
			}
			if !closed {
				return "", p.errorf("unterminated double quote")
			}
		case '\\':
			p.pos++
			if p.eof() {
				return "", p.errorf("backslash at end of file")
			}
			if n := p.peek(); n == '\n' {
				p.line++
			} else {
				v = append(v, n)
			}
			p.pos++
		default:
			v = append(v, c)
			p.pos++
		}
	}
	return string(v), nil
}
