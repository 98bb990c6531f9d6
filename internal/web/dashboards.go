package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// Dashboard is the file format of web/dashboards/README.md. Field names
// follow Grafana's dashboard JSON where it has one (panels, type, title,
// gridPos, targets[].expr, targets[].legendFormat, unit, interval,
// maxDataPoints, templating variables with label_values), so that an
// importer of Grafana dashboards maps onto it.
type Dashboard struct {
	ID          string     `yaml:"id" json:"id"`
	Title       string     `yaml:"title" json:"title"`
	Description string     `yaml:"description,omitempty" json:"description,omitempty"`
	Nav         bool       `yaml:"nav,omitempty" json:"nav,omitempty"`
	Tags        []string   `yaml:"tags,omitempty" json:"tags,omitempty"`
	Links       []Link     `yaml:"links,omitempty" json:"links,omitempty"`
	Variables   []Variable `yaml:"variables,omitempty" json:"variables,omitempty"`
	Panels      []Panel    `yaml:"panels" json:"panels"`

	// Folder is the file's directory under --web.dashboards-dir ("" at
	// its top), set by the loader.
	Folder string `yaml:"-" json:"folder,omitempty"`
	// Import says what an import from another format (Grafana's JSON)
	// kept and what it could not render; nil for Panoptes' own format.
	Import *ImportSummary `yaml:"-" json:"import,omitempty"`
}

// Link is a link shown on a dashboard or a panel (Grafana's links[]).
type Link struct {
	Title string `yaml:"title,omitempty" json:"title,omitempty"`
	URL   string `yaml:"url" json:"url"`
}

// ImportSummary is what an import of a foreign dashboard rendered.
type ImportSummary struct {
	Format       string            `json:"format"`   // "grafana"
	Panels       int               `json:"panels"`   // panels in the file, rows excluded
	Rendered     int               `json:"rendered"` // of them, drawn by a panel type of ours
	Placeholders []PlaceholderNote `json:"placeholders,omitempty"`
	Unresolved   []VariableNote    `json:"unresolvedVariables,omitempty"`
	// Ignored names what was dropped on purpose (datasource variables,
	// annotations, alert definitions), so nobody wonders where it went.
	Ignored []string `json:"ignored,omitempty"`
}

// PlaceholderNote is one panel shown as a placeholder, by its type.
type PlaceholderNote struct {
	Panel string `json:"panel"`
	Type  string `json:"type"`
}

// VariableNote is one variable that could not be resolved, and why.
type VariableNote struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Variable is a dashboard variable, used as $name in expressions.
type Variable struct {
	Name  string `yaml:"name" json:"name"`
	Label string `yaml:"label,omitempty" json:"label,omitempty"`
	// Type is query (default), custom, textbox, constant or interval.
	Type string `yaml:"type,omitempty" json:"type,omitempty"`
	// Query (type query) is label_values([selector,] label),
	// label_names(), metrics(regex) or query_result(expr), as Grafana's
	// Prometheus data source has them.
	Query string `yaml:"query,omitempty" json:"query,omitempty"`
	// Regex keeps only the values it matches, and when it has a capture
	// group the value is the first group (Grafana's variable regex).
	Regex string `yaml:"regex,omitempty" json:"regex,omitempty"`
	// Options are the choices of a custom or interval variable.
	Options    []string `yaml:"options,omitempty" json:"options,omitempty"`
	Default    *string  `yaml:"default,omitempty" json:"default,omitempty"`
	Multi      bool     `yaml:"multi,omitempty" json:"multi,omitempty"`
	IncludeAll bool     `yaml:"includeAll,omitempty" json:"includeAll,omitempty"`
	AllValue   *string  `yaml:"allValue,omitempty" json:"allValue,omitempty"`
	Hide       bool     `yaml:"hide,omitempty" json:"hide,omitempty"`
}

// PanelTypes are the panel types the UI draws; "placeholder" stands for a
// type it does not (OriginalType names it).
var PanelTypes = []string{"timeseries", "stat", "gauge", "bargauge", "table", "text", "row", "heatmap", "piechart", "placeholder"}

// Panel is one chart, stat, gauge, table, text, row header or placeholder.
type Panel struct {
	Title         string   `yaml:"title" json:"title"`
	Type          string   `yaml:"type,omitempty" json:"type"`
	Description   string   `yaml:"description,omitempty" json:"description,omitempty"`
	Unit          string   `yaml:"unit,omitempty" json:"unit,omitempty"`
	Stack         bool     `yaml:"stack,omitempty" json:"stack,omitempty"`
	Min           *float64 `yaml:"min,omitempty" json:"min,omitempty"`
	Max           *float64 `yaml:"max,omitempty" json:"max,omitempty"`
	Decimals      *int     `yaml:"decimals,omitempty" json:"decimals,omitempty"`
	GridPos       *GridPos `yaml:"gridPos,omitempty" json:"gridPos,omitempty"`
	Interval      string   `yaml:"interval,omitempty" json:"interval,omitempty"`
	MaxDataPoints int      `yaml:"maxDataPoints,omitempty" json:"maxDataPoints,omitempty"`
	Targets       []Target `yaml:"targets,omitempty" json:"targets,omitempty"`
	Labels        []string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Link          string   `yaml:"link,omitempty" json:"link,omitempty"`
	Links         []Link   `yaml:"links,omitempty" json:"links,omitempty"`
	Text          string   `yaml:"text,omitempty" json:"text,omitempty"`

	// Thresholds colour stat, gauge and bargauge values.
	Thresholds *Thresholds `yaml:"thresholds,omitempty" json:"thresholds,omitempty"`
	// Reduce is how stat, gauge, bargauge and piechart turn a series into
	// one value: lastNotNull (default), last, mean, max, min or sum.
	Reduce string `yaml:"reduce,omitempty" json:"reduce,omitempty"`
	// PieType is pie (default) or donut.
	PieType string `yaml:"pieType,omitempty" json:"pieType,omitempty"`
	// Orientation of a bargauge: horizontal (default) or vertical.
	Orientation string `yaml:"orientation,omitempty" json:"orientation,omitempty"`

	// Repeat names a variable: the panel (or row, with the panels under
	// it) is drawn once per selected value, with $var set to it.
	Repeat          string `yaml:"repeat,omitempty" json:"repeat,omitempty"`
	RepeatDirection string `yaml:"repeatDirection,omitempty" json:"repeatDirection,omitempty"` // h (default) or v
	MaxPerRow       int    `yaml:"maxPerRow,omitempty" json:"maxPerRow,omitempty"`

	// Collapsed (rows) hides the row's panels, and they are not queried,
	// until it is opened. The panels of a collapsed row are in Panels; an
	// open row's follow it in the dashboard's list, as in Grafana.
	Collapsed bool    `yaml:"collapsed,omitempty" json:"collapsed,omitempty"`
	Panels    []Panel `yaml:"panels,omitempty" json:"panels,omitempty"`

	// OriginalType is the imported type a placeholder stands for.
	OriginalType string `yaml:"originalType,omitempty" json:"originalType,omitempty"`
}

// Thresholds are Grafana's: the colour of a value is the one of the last
// step whose value it reaches; the first step has no value (the base).
type Thresholds struct {
	Mode  string          `yaml:"mode,omitempty" json:"mode,omitempty"` // absolute (default) or percentage (of min..max)
	Steps []ThresholdStep `yaml:"steps" json:"steps"`
}

// ThresholdStep is one colour from a value on.
type ThresholdStep struct {
	Color string   `yaml:"color" json:"color"`
	Value *float64 `yaml:"value" json:"value"`
}

// GridPos is the panel's place on the 24-column grid (h in rows of 30 px).
// X and Y are optional: without them panels flow left to right in order.
type GridPos struct {
	X *int `yaml:"x,omitempty" json:"x,omitempty"`
	Y *int `yaml:"y,omitempty" json:"y,omitempty"`
	W int  `yaml:"w,omitempty" json:"w,omitempty"`
	H int  `yaml:"h,omitempty" json:"h,omitempty"`
}

// Target is one PromQL query of a panel.
type Target struct {
	Expr         string `yaml:"expr" json:"expr"`
	LegendFormat string `yaml:"legendFormat,omitempty" json:"legendFormat,omitempty"`
	Unit         string `yaml:"unit,omitempty" json:"unit,omitempty"`
	RefID        string `yaml:"refId,omitempty" json:"refId,omitempty"`
	// Format is time_series (default), table or heatmap (classic
	// histogram buckets, one series per le).
	Format string `yaml:"format,omitempty" json:"format,omitempty"`
	// Instant asks for the value at the range's end only.
	Instant bool `yaml:"instant,omitempty" json:"instant,omitempty"`
	// Hide keeps the query out of the panel (another may refer to it).
	Hide bool `yaml:"hide,omitempty" json:"hide,omitempty"`
}

// Units are the unit ids the UI formats (Grafana's, plus cores).
var Units = []string{"", "short", "none", "bytes", "decbytes", "Bps", "binBps", "bps", "percent", "percentunit", "cores", "s", "ms", "ops", "reqps", "iops", "pps", "dateTimeFromNow"}

var (
	idRE          = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	varNameRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	labelValuesRE = regexp.MustCompile(`(?s)^\s*label_values\(\s*(?:(.+?)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
	varRefRE      = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]`)
	durationRE    = regexp.MustCompile(`^(\d+(ms|s|m|h|d|w|y))+$`)
)

// builtinVars are set by the UI from the time range and step.
// The values are placeholders of the right kind for checking expressions.
var builtinVars = map[string]string{
	"__rate_interval": "5m", "__interval": "15s", "__range": "1h",
	"__rate_interval_ms": "300000", "__interval_ms": "15000", "__range_s": "3600", "__range_ms": "3600000",
	"__from": "0", "__to": "0", "__dashboard": "placeholder",
}

// maxDashboardBytes caps a dashboard file: they are small; a huge one is a mistake.
const maxDashboardBytes = 1 << 20

// ParseDashboard reads and validates one dashboard file; id is the default
// id (the file name without its extension). Errors name the field at fault.
func ParseDashboard(r io.Reader, id string) (*Dashboard, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxDashboardBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(b) > maxDashboardBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxDashboardBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var d Dashboard
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty file")
		}
		return nil, fmt.Errorf("yaml: %w", err)
	}
	if d.ID == "" {
		d.ID = id
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// Validate checks what the UI relies on, so that a mistake shows as one
// clear error instead of a broken page.
func (d *Dashboard) Validate() error {
	if !idRE.MatchString(d.ID) {
		return fmt.Errorf("id %q: use 1-64 letters, digits, '-' or '_'", d.ID)
	}
	if strings.TrimSpace(d.Title) == "" {
		return errors.New("title: missing")
	}
	vars := map[string]bool{}
	for i := range d.Variables {
		v := &d.Variables[i]
		where := fmt.Sprintf("variables[%d] (%s)", i, v.Name)
		if !varNameRE.MatchString(v.Name) || strings.HasPrefix(v.Name, "__") {
			return fmt.Errorf("%s: name must be letters, digits and '_', not starting with a digit or '__'", where)
		}
		if vars[v.Name] {
			return fmt.Errorf("%s: defined twice", where)
		}
		switch v.Type {
		case "", "query":
			if err := checkVariableQuery(v.Query, vars); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		case "custom":
			if len(v.Options) == 0 {
				return fmt.Errorf("%s: a custom variable needs options", where)
			}
		case "interval":
			if len(v.Options) == 0 {
				return fmt.Errorf("%s: an interval variable needs options", where)
			}
			for _, o := range v.Options {
				if o != "auto" && !durationRE.MatchString(o) {
					return fmt.Errorf("%s: option %q is not a duration like 5m", where, o)
				}
			}
		case "textbox", "constant":
		default:
			return fmt.Errorf("%s: type %q is not one of query, custom, interval, textbox, constant", where, v.Type)
		}
		if v.Regex != "" {
			if _, err := regexp.Compile(strings.TrimSuffix(strings.TrimPrefix(v.Regex, "/"), "/")); err != nil {
				return fmt.Errorf("%s: regex: %w", where, err)
			}
		}
		vars[v.Name] = true
	}
	if len(d.Panels) == 0 {
		return errors.New("panels: none")
	}
	for i := range d.Panels {
		if err := validatePanel(&d.Panels[i], fmt.Sprintf("panels[%d]", i), vars, true); err != nil {
			return err
		}
	}
	return nil
}

// validatePanel checks one panel, and a row's panels; at names it in
// errors (panels[3] or panels[3].panels[1]).
func validatePanel(p *Panel, at string, vars map[string]bool, top bool) error {
	where := fmt.Sprintf("%s (%s)", at, p.Title)
	if p.Type == "" {
		p.Type = "timeseries"
	}
	switch p.Type {
	case "timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "piechart":
		if len(p.Targets) == 0 {
			return fmt.Errorf("%s: a %s panel needs targets", where, p.Type)
		}
	case "text", "row", "placeholder":
	default:
		return fmt.Errorf("%s: type %q is not one of %s", where, p.Type, strings.Join(PanelTypes, ", "))
	}
	if len(p.Panels) > 0 && (p.Type != "row" || !top) {
		return fmt.Errorf("%s: only a top-level row holds panels", where)
	}
	if !validUnit(p.Unit) {
		return fmt.Errorf("%s: unit %q is not one of %s", where, p.Unit, strings.Join(Units[1:], ", "))
	}
	if g := p.GridPos; g != nil && (g.W < 0 || g.W > 24 || g.H < 0 || g.H > 50 ||
		(g.X != nil && (*g.X < 0 || *g.X > 23)) || (g.Y != nil && *g.Y < 0)) {
		return fmt.Errorf("%s: gridPos x must be 0-23, y at least 0, w 1-24 and h 1-50", where)
	}
	if p.Interval != "" && !durationRE.MatchString(p.Interval) && !varRefRE.MatchString(p.Interval) {
		return fmt.Errorf("%s: interval %q is not a duration like 15s", where, p.Interval)
	}
	if p.MaxDataPoints < 0 || p.MaxDataPoints > 20000 {
		return fmt.Errorf("%s: maxDataPoints must be 0-20000", where)
	}
	switch p.Reduce {
	case "", "lastNotNull", "last", "mean", "max", "min", "sum":
	default:
		return fmt.Errorf("%s: reduce %q is not one of lastNotNull, last, mean, max, min, sum", where, p.Reduce)
	}
	if p.PieType != "" && p.PieType != "pie" && p.PieType != "donut" {
		return fmt.Errorf("%s: pieType %q is not pie or donut", where, p.PieType)
	}
	if p.Orientation != "" && p.Orientation != "horizontal" && p.Orientation != "vertical" && p.Orientation != "auto" {
		return fmt.Errorf("%s: orientation %q is not horizontal or vertical", where, p.Orientation)
	}
	if p.Repeat != "" && !vars[p.Repeat] {
		return fmt.Errorf("%s: repeat names %q, which is not a variable of this dashboard", where, p.Repeat)
	}
	if p.RepeatDirection != "" && p.RepeatDirection != "h" && p.RepeatDirection != "v" {
		return fmt.Errorf("%s: repeatDirection %q is not h or v", where, p.RepeatDirection)
	}
	if th := p.Thresholds; th != nil {
		if th.Mode != "" && th.Mode != "absolute" && th.Mode != "percentage" {
			return fmt.Errorf("%s: thresholds.mode %q is not absolute or percentage", where, th.Mode)
		}
		for j, st := range th.Steps {
			if st.Color == "" {
				return fmt.Errorf("%s: thresholds.steps[%d]: color missing", where, j)
			}
		}
	}
	for j, t := range p.Targets {
		if !validUnit(t.Unit) {
			return fmt.Errorf("%s: targets[%d]: unit %q is not one of %s", where, j, t.Unit, strings.Join(Units[1:], ", "))
		}
		switch t.Format {
		case "", "time_series", "table", "heatmap":
		default:
			return fmt.Errorf("%s: targets[%d]: format %q is not time_series, table or heatmap", where, j, t.Format)
		}
		if err := checkExpr(t.Expr, vars); err != nil {
			return fmt.Errorf("%s: targets[%d]: %w", where, j, err)
		}
	}
	for j := range p.Panels {
		if err := validatePanel(&p.Panels[j], fmt.Sprintf("%s.panels[%d]", at, j), vars, false); err != nil {
			return err
		}
	}
	return nil
}

var (
	labelNamesRE  = regexp.MustCompile(`(?s)^\s*label_names\(\s*\)\s*$`)
	metricsRE     = regexp.MustCompile(`(?s)^\s*metrics\(\s*(.*?)\s*\)\s*$`)
	queryResultRE = regexp.MustCompile(`(?s)^\s*query_result\(\s*(.+)\s*\)\s*$`)
)

// checkVariableQuery accepts the queries of Grafana's Prometheus data
// source: label_values([selector,] label), label_names(), metrics(regex)
// and query_result(expr).
func checkVariableQuery(q string, vars map[string]bool) error {
	if m := labelValuesRE.FindStringSubmatch(q); m != nil {
		if m[1] != "" {
			if err := checkExpr(m[1], vars); err != nil {
				return fmt.Errorf("selector: %w", err)
			}
		}
		return nil
	}
	if labelNamesRE.MatchString(q) {
		return nil
	}
	if m := metricsRE.FindStringSubmatch(q); m != nil {
		if _, err := regexp.Compile(m[1]); err != nil {
			return fmt.Errorf("metrics(): %w", err)
		}
		return nil
	}
	if m := queryResultRE.FindStringSubmatch(q); m != nil {
		if err := checkExpr(m[1], vars); err != nil {
			return fmt.Errorf("query_result(): %w", err)
		}
		return nil
	}
	return fmt.Errorf("query must be label_values([selector,] label), label_names(), metrics(regex) or query_result(expr), got %q", q)
}

func validUnit(u string) bool {
	for _, k := range Units {
		if u == k {
			return true
		}
	}
	return false
}

// LabelValuesQuery splits a variable's label_values([selector,] label)
// query; ok is false for any other kind of query.
func LabelValuesQuery(q string) (selector, label string, ok bool) {
	m := labelValuesRE.FindStringSubmatch(q)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// SubstituteVars replaces the references to vars in expr ($name, ${name},
// [[name]]) with their values, as the UI does before it sends a query;
// references to anything else stay as they are.
func SubstituteVars(expr string, vars map[string]string) string {
	return varRefRE.ReplaceAllStringFunc(expr, func(ref string) string {
		m := varRefRE.FindStringSubmatch(ref)
		if v, ok := vars[m[1]+m[2]+m[3]]; ok {
			return v
		}
		return ref
	})
}

var promqlParser = parser.NewParser(parser.Options{})

// checkExpr parses expr as PromQL once its variables are replaced by
// placeholders; it also rejects variables the dashboard does not define.
func checkExpr(expr string, vars map[string]bool) error {
	if strings.TrimSpace(expr) == "" {
		return errors.New("expr: empty")
	}
	var unknown string
	var sb strings.Builder
	last := 0
	for _, ix := range varRefRE.FindAllStringSubmatchIndex(expr, -1) {
		sb.WriteString(expr[last:ix[0]])
		sb.WriteString(substituteVar(expr, ix, vars, &unknown))
		last = ix[1]
	}
	sb.WriteString(expr[last:])
	sub := sb.String()
	if unknown != "" {
		return fmt.Errorf("expr uses $%s, which is not a variable of this dashboard", unknown)
	}
	if _, err := promqlParser.ParseExpr(sub); err != nil {
		return fmt.Errorf("expr %q: %w", expr, err)
	}
	return nil
}

// substituteVar is the placeholder for the variable reference at ix (a
// match of varRefRE in expr): a duration where one goes ([$interval],
// [5m:$step], offset $d), as interval variables are used, else a name.
func substituteVar(expr string, ix []int, vars map[string]bool, unknown *string) string {
	m := expr[ix[0]:ix[1]]
	name := ""
	for k := 2; k+1 < len(ix); k += 2 {
		if ix[k] >= 0 {
			name = expr[ix[k]:ix[k+1]]
		}
	}
	if v, ok := builtinVars[name]; ok {
		return v
	}
	if vars[name] {
		before := strings.TrimRight(expr[:ix[0]], " ")
		if strings.HasSuffix(before, "[") || strings.HasSuffix(before, ":") || strings.HasSuffix(before, "offset") {
			return "5m"
		}
		return "placeholder"
	}
	// $1 and the like are label_replace's references, not variables.
	if name[0] >= '0' && name[0] <= '9' {
		return m
	}
	if *unknown == "" {
		*unknown = name
	}
	return m
}

// Entry is one dashboard in the list the UI shows.
type Entry struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Source string `json:"source"` // "built-in" or the file's path
	Nav    bool   `json:"nav,omitempty"`
	Error  string `json:"error,omitempty"`
	// Folder is the file's directory under --web.dashboards-dir ("" at its top).
	Folder string   `json:"folder,omitempty"`
	Tags   []string `json:"tags,omitempty"`
	// Format is the file's: "panoptes" (the YAML of this README) or "grafana".
	Format string         `json:"format"`
	Import *ImportSummary `json:"import,omitempty"`

	dash *Dashboard
}

// fileKey identifies a version of a user's dashboard file.
type fileKey struct {
	path  string
	size  int64
	mtime int64
}

// parseCache keeps parsed user dashboards by file version, so that a page
// load does not parse and validate every file again.
type parseCache struct {
	mu      sync.Mutex
	entries map[fileKey]Entry
}

func (c *parseCache) get(k fileKey) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	return e, ok
}

func (c *parseCache) put(k fileKey, e Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) > 1000 {
		c.entries = map[fileKey]Entry{}
	}
	c.entries[k] = e
}

// loadAll reads the built-in dashboards and then those of dir; a file of dir
// with the id of a built-in one replaces it. Files that fail validation are
// listed with their error.
func loadAll(builtin fs.FS, dir string) ([]Entry, error) {
	b, err := loadBuiltins(builtin)
	if err != nil {
		return nil, err
	}
	return merge(b, loadDir(dir, nil)), nil
}

// loadBuiltins parses the embedded dashboards; they are tested, so an
// error is a bug.
func loadBuiltins(builtin fs.FS) ([]Entry, error) {
	names, err := fs.Glob(builtin, "dashboards/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("built-in dashboards: %w", err)
	}
	var out []Entry
	for _, n := range names {
		f, err := builtin.Open(n)
		if err != nil {
			return nil, fmt.Errorf("built-in dashboard %s: %w", n, err)
		}
		d, err := ParseDashboard(f, strings.TrimSuffix(path.Base(n), ".yaml"))
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("BUG: built-in dashboard %s: %w", n, err)
		}
		out = append(out, Entry{ID: d.ID, Title: d.Title, Source: "built-in", Nav: d.Nav, Tags: d.Tags, Format: "panoptes", dash: d})
	}
	return out, nil
}

// maxFolderDepth bounds how deep loadDir looks under --web.dashboards-dir.
const maxFolderDepth = 8

// loadDir reads the user's dashboards: the directory's files in name
// order, then its subdirectories' (their Folder is the relative path);
// cache (may be nil) skips files unchanged since they were last parsed.
func loadDir(dir string, cache *parseCache) []Entry {
	if dir == "" {
		return nil
	}
	out := loadFolder(dir, "", cache, 0)
	// Two files with one id (the same file name in two folders, or one
	// uid): the first keeps it, the other is listed with an error instead
	// of one hiding the other.
	first := map[string]string{}
	for i, e := range out {
		p, dup := first[e.ID]
		if !dup {
			first[e.ID] = e.Source
			continue
		}
		n := 2
		for first[fmt.Sprintf("%s~%d", e.ID, n)] != "" {
			n++
		}
		id := fmt.Sprintf("%s~%d", e.ID, n)
		first[id] = e.Source
		out[i] = Entry{ID: id, Title: e.Title, Source: e.Source, Folder: e.Folder, Format: e.Format, Tags: e.Tags,
			Error: fmt.Sprintf("%s: id %q is also the one of %s: give one of them another uid or file name", e.Source, e.ID, p)}
	}
	return out
}

func loadFolder(dir, folder string, cache *parseCache, depth int) []Entry {
	full := filepath.Join(dir, filepath.FromSlash(folder))
	ents, err := os.ReadDir(full)
	if err != nil {
		// The directory went away or became unreadable after the start:
		// keep the built-in dashboards and say why the others are missing.
		return []Entry{{ID: "-", Title: full, Source: full, Folder: folder, Error: fmt.Sprintf("--web.dashboards-dir: %v", err)}}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	var out []Entry
	var subdirs []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.IsDir() {
			if depth < maxFolderDepth {
				subdirs = append(subdirs, path.Join(folder, e.Name()))
			}
			continue
		}
		ext := filepath.Ext(e.Name())
		if ext != ".yaml" && ext != ".yml" && ext != ".json" {
			continue
		}
		p := filepath.Join(full, e.Name())
		id := strings.TrimSuffix(e.Name(), ext)
		var key fileKey
		if cache != nil {
			if info, err := e.Info(); err == nil {
				key = fileKey{path: p, size: info.Size(), mtime: info.ModTime().UnixNano()}
				if ce, ok := cache.get(key); ok {
					out = append(out, ce)
					continue
				}
			}
		}
		entry := parseFile(p, id)
		entry.Folder = folder
		if entry.dash != nil {
			entry.dash.Folder = folder
		}
		if key.path != "" {
			cache.put(key, entry)
		}
		out = append(out, entry)
	}
	for _, sd := range subdirs {
		out = append(out, loadFolder(dir, sd, cache, depth+1)...)
	}
	return out
}

// merge lists the built-in dashboards, then the user's; a user's dashboard
// with a built-in one's id takes its place.
func merge(builtins, user []Entry) []Entry {
	out := append([]Entry(nil), builtins...)
	byID := map[string]int{}
	for i, e := range out {
		byID[e.ID] = i
	}
	for _, e := range user {
		if i, ok := byID[e.ID]; ok {
			out[i] = e
			continue
		}
		byID[e.ID] = len(out)
		out = append(out, e)
	}
	return out
}

// parseFile reads one user dashboard, or says why it does not load. A
// .json file that is a Grafana dashboard is imported (IsGrafanaJSON); one
// that is not JSON at all is tried as YAML, and else its JSON error, with
// line and column, is the one shown.
func parseFile(p, id string) Entry {
	bad := func(err error) Entry {
		return Entry{ID: id, Title: id, Source: p, Error: fmt.Sprintf("%s: %v", p, err)}
	}
	f, err := os.Open(p)
	if err != nil {
		return Entry{ID: id, Title: id, Source: p, Error: err.Error()}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxGrafanaBytes+1))
	_ = f.Close()
	if err != nil {
		return bad(err)
	}
	format := "panoptes"
	var d *Dashboard
	switch {
	case filepath.Ext(p) == ".json" && IsGrafanaJSON(b):
		format = "grafana"
		d, err = ParseGrafanaDashboard(bytes.NewReader(b), id)
	case filepath.Ext(p) == ".json" && !json.Valid(b):
		if d, err = ParseDashboard(bytes.NewReader(b), id); err != nil {
			var v any
			err = jsonError(b, json.Unmarshal(b, &v))
		}
	default:
		d, err = ParseDashboard(bytes.NewReader(b), id)
	}
	if err != nil {
		e := bad(err)
		e.Format = format
		if format == "grafana" {
			// List it under the title people know it by.
			var t struct {
				Title     string `json:"title"`
				Dashboard struct {
					Title string `json:"title"`
				} `json:"dashboard"`
			}
			_ = json.Unmarshal(b, &t)
			if title := strings.TrimSpace(t.Title + t.Dashboard.Title); title != "" {
				e.Title = title
			}
		}
		return e
	}
	return Entry{ID: d.ID, Title: d.Title, Source: p, Nav: d.Nav, Tags: d.Tags, Format: format, Import: d.Import, dash: d}
}
