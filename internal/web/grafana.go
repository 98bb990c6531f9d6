package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// This file converts Grafana's dashboard JSON (as Grafana 7 to 11 export
// it, and the older rows[] schema) to the Dashboard model and back. What
// has no equivalent is kept as a placeholder panel or named in the
// dashboard's ImportSummary; it never fails an import on its own.

// maxGrafanaBytes caps a Grafana file: exports of large dashboards run to
// a few hundred kilobytes.
const maxGrafanaBytes = 8 << 20

// gNum is a number that Grafana writes as a number, a string or null
// ("min": "0" in the legacy graph panel). Anything else reads as absent.
type gNum struct{ v *float64 }

func (n *gNum) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	var f float64
	if json.Unmarshal(b, &f) != nil {
		var s string
		if json.Unmarshal(b, &s) != nil {
			return nil
		}
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
			return nil
		}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	n.v = &f
	return nil
}

func (n gNum) intOr(def int) int {
	if n.v == nil || *n.v < math.MinInt32 || *n.v > math.MaxInt32 {
		return def
	}
	return int(*n.v)
}

// gStrs is a string or a list of strings (a variable's current value).
type gStrs []string

func (s *gStrs) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = gStrs{one}
		return nil
	}
	var many []any
	if json.Unmarshal(b, &many) == nil {
		for _, v := range many {
			if str, ok := v.(string); ok {
				*s = append(*s, str)
			}
		}
	}
	return nil
}

type gLink struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

type gThresholds struct {
	Mode  string `json:"mode"`
	Steps []struct {
		Color string `json:"color"`
		Value gNum   `json:"value"`
	} `json:"steps"`
}

type gFieldConfig struct {
	Defaults struct {
		Unit       string       `json:"unit"`
		Decimals   gNum         `json:"decimals"`
		Min        gNum         `json:"min"`
		Max        gNum         `json:"max"`
		Thresholds *gThresholds `json:"thresholds"`
		Custom     struct {
			Stacking struct {
				Mode string `json:"mode"`
			} `json:"stacking"`
		} `json:"custom"`
		Links []json.RawMessage `json:"links"`
	} `json:"defaults"`
	Overrides []struct {
		Matcher struct {
			ID      string `json:"id"`
			Options any    `json:"options"`
		} `json:"matcher"`
		Properties []struct {
			ID    string `json:"id"`
			Value any    `json:"value"`
		} `json:"properties"`
	} `json:"overrides"`
}

type gOptions struct {
	ReduceOptions struct {
		Calcs []string `json:"calcs"`
	} `json:"reduceOptions"`
	PieType     string `json:"pieType"`
	Orientation string `json:"orientation"`
	Content     string `json:"content"`
}

type gTarget struct {
	Expr         string          `json:"expr"`
	LegendFormat string          `json:"legendFormat"`
	RefID        string          `json:"refId"`
	Format       string          `json:"format"`
	Instant      bool            `json:"instant"`
	Hide         bool            `json:"hide"`
	Interval     string          `json:"interval"`
	Datasource   json.RawMessage `json:"datasource"`
}

type gPanel struct {
	Type            string                     `json:"type"`
	Title           string                     `json:"title"`
	Description     string                     `json:"description"`
	Datasource      json.RawMessage            `json:"datasource"`
	GridPos         *struct{ X, Y, W, H gNum } `json:"gridPos"`
	Interval        string                     `json:"interval"`
	MaxDataPoints   gNum                       `json:"maxDataPoints"`
	Targets         []gTarget                  `json:"targets"`
	FieldConfig     json.RawMessage            `json:"fieldConfig"`
	Options         json.RawMessage            `json:"options"`
	Links           []gLink                    `json:"links"`
	Repeat          string                     `json:"repeat"`
	RepeatDirection string                     `json:"repeatDirection"`
	MaxPerRow       gNum                       `json:"maxPerRow"`
	Collapsed       bool                       `json:"collapsed"`
	Panels          []gPanel                   `json:"panels"`
	Alert           json.RawMessage            `json:"alert"`
	Transformations []any                      `json:"transformations"`

	// The legacy graph, singlestat, text and piechart plugin panels.
	Content    string            `json:"content"`
	Stack      bool              `json:"stack"`
	Percentage bool              `json:"percentage"`
	Yaxes      []json.RawMessage `json:"yaxes"`
	Format     string            `json:"format"`
	Decimals   gNum              `json:"decimals"`
	ValueName  string            `json:"valueName"`
	Thresholds json.RawMessage   `json:"thresholds"`
	Colors     []string          `json:"colors"`
	PieType    string            `json:"pieType"`
	Span       gNum              `json:"span"`
	Height     json.RawMessage   `json:"height"`
}

type gRow struct {
	Title     string          `json:"title"`
	Collapse  bool            `json:"collapse"`
	ShowTitle bool            `json:"showTitle"`
	Height    json.RawMessage `json:"height"`
	Repeat    string          `json:"repeat"`
	Panels    []gPanel        `json:"panels"`
}

type gVariable struct {
	Datasource json.RawMessage `json:"datasource"`
	Name       string          `json:"name"`
	Label      string          `json:"label"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Regex      string          `json:"regex"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   *string         `json:"allValue"`
	Hide       gNum            `json:"hide"`
	Auto       bool            `json:"auto"`
	Current    struct {
		Value *gStrs `json:"value"`
	} `json:"current"`
	Options []struct {
		Value gStrs `json:"value"`
	} `json:"options"`
}

type gDashboard struct {
	UID         string            `json:"uid"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Tags        []string          `json:"tags"`
	Links       []gLink           `json:"links"`
	Panels      []gPanel          `json:"panels"`
	Rows        []gRow            `json:"rows"`
	Inputs      []json.RawMessage `json:"__inputs"`
	Requires    []json.RawMessage `json:"__requires"`
	Templating  struct {
		List []gVariable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			BuiltIn gNum   `json:"builtIn"`
			Name    string `json:"name"`
		} `json:"list"`
	} `json:"annotations"`
}

// grafanaKeys are top-level keys that only Grafana's dashboards have.
var grafanaKeys = []string{"schemaVersion", "templating", "__inputs", "__requires", "annotations", "uid", "gnetId", "graphTooltip", "fiscalYearStartMonth", "timepicker"}

// IsGrafanaJSON says whether b is a Grafana dashboard: an object with
// panels or rows and one of Grafana's own keys, or the API's
// {"dashboard": {...}, "meta": {...}} wrapper around one.
func IsGrafanaJSON(b []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil {
		return false
	}
	if inner, ok := top["dashboard"]; ok {
		if json.Unmarshal(inner, &top) != nil {
			return false
		}
	}
	if top["panels"] == nil && top["rows"] == nil {
		return false
	}
	for _, k := range grafanaKeys {
		if _, ok := top[k]; ok {
			return true
		}
	}
	return false
}

// jsonError says where in b a decoding error is, as line:column.
func jsonError(b []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset - 1 // the offending byte's
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(b)) {
		return fmt.Errorf("json: %w", err)
	}
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(b[:off], '\n')
	return fmt.Errorf("json: %d:%d: %w", line, col, err)
}

// ParseGrafanaDashboard converts a dashboard exported from Grafana (or
// the API's wrapper around one) to the model; id is the default id (the
// file name without .json), used when the uid is not a valid id. The
// result validates, or the error names the panel and the field.
func ParseGrafanaDashboard(r io.Reader, id string) (*Dashboard, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxGrafanaBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(b) > maxGrafanaBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxGrafanaBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("empty file")
	}
	var wrap struct {
		Dashboard json.RawMessage `json:"dashboard"`
	}
	if err := json.Unmarshal(b, &wrap); err != nil {
		return nil, jsonError(b, err)
	}
	var g gDashboard
	if len(wrap.Dashboard) > 0 && !bytes.Equal(wrap.Dashboard, []byte("null")) {
		if err := json.Unmarshal(wrap.Dashboard, &g); err != nil {
			return nil, fmt.Errorf("dashboard: %w", jsonError(wrap.Dashboard, err))
		}
	} else if err := json.Unmarshal(b, &g); err != nil {
		return nil, jsonError(b, err)
	}
	c := &gconv{sum: &ImportSummary{Format: "grafana"}}
	d := c.dashboard(&g, id)
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// gconv holds what one conversion has noted.
type gconv struct {
	sum *ImportSummary
}

func (c *gconv) ignore(format string, args ...any) {
	c.sum.Ignored = append(c.sum.Ignored, fmt.Sprintf(format, args...))
}

func (c *gconv) dashboard(g *gDashboard, id string) *Dashboard {
	d := &Dashboard{Title: g.Title, Description: g.Description, Tags: g.Tags, Import: c.sum}
	d.ID = id
	if idRE.MatchString(g.UID) {
		d.ID = g.UID
	} else if g.UID != "" {
		c.ignore("uid %q is not an id of letters, digits, '-' and '_' (1-64): the file name %q is the id", g.UID, id)
	}
	for i, l := range g.Links {
		switch {
		case (l.Type == "link" || l.Type == "") && l.URL != "":
			d.Links = append(d.Links, Link{Title: l.Title, URL: l.URL})
		default:
			c.ignore("links[%d] (%s): a link of type %q (lists of dashboards by tag) is not carried over", i, l.Title, l.Type)
		}
	}
	if n := len(g.Inputs); n > 0 {
		c.ignore("__inputs (%d): the data source is this server", n)
	}
	if len(g.Requires) > 0 {
		c.ignore("__requires: plugin and version requirements are not checked")
	}
	ann := 0
	for _, a := range g.Annotations.List {
		if a.BuiltIn.intOr(0) != 1 {
			ann++
		}
	}
	if ann > 0 {
		c.ignore("annotations (%d): not drawn", ann)
	}

	for i := range g.Templating.List {
		if v, ok := c.variable(&g.Templating.List[i], i); ok {
			d.Variables = append(d.Variables, v)
		}
	}
	panels := g.Panels
	if len(panels) == 0 && len(g.Rows) > 0 {
		panels = legacyRows(g.Rows)
	}
	for i := range panels {
		d.Panels = append(d.Panels, c.panel(&panels[i], fmt.Sprintf("panels[%d]", i)))
	}
	c.resolve(d)
	layoutGrid(d.Panels)
	c.count(d.Panels)
	return d
}

// legacyRows turns the rows[] of schema versions before 16 into row
// panels, as Grafana's own migration does: spans of 12 columns become
// widths of 24, and heights in pixels rows of 30 px.
func legacyRows(rows []gRow) []gPanel {
	var out []gPanel
	for _, r := range rows {
		h := legacyHeight(r.Height)
		var ps []gPanel
		for _, p := range r.Panels {
			w := 2 * p.Span.intOr(6)
			ph := h
			if n := legacyHeight(p.Height); n > 0 {
				ph = n
			}
			hv := float64(ph)
			if hv == 0 {
				hv = 8
			}
			wv := float64(min(max(w, 1), 24))
			p.GridPos = &struct{ X, Y, W, H gNum }{W: gNum{&wv}, H: gNum{&hv}}
			ps = append(ps, p)
		}
		if len(rows) == 1 && !r.ShowTitle && !r.Collapse {
			out = append(out, ps...)
			continue
		}
		row := gPanel{Type: "row", Title: r.Title, Collapsed: r.Collapse, Repeat: r.Repeat}
		if r.Collapse {
			row.Panels = ps
			out = append(out, row)
			continue
		}
		out = append(out, row)
		out = append(out, ps...)
	}
	return out
}

// legacyHeight reads "250px", "250" or 250 as rows of 30 px.
func legacyHeight(raw json.RawMessage) int {
	var n gNum
	_ = n.UnmarshalJSON(bytes.Replace(raw, []byte("px"), nil, 1))
	px := n.intOr(0)
	if px <= 0 {
		return 0
	}
	return min(max((px+29)/30, 1), 50)
}

func dsType(raw json.RawMessage) string {
	var ds struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(raw, &ds) != nil {
		return ""
	}
	return ds.Type
}

// variable converts one templating variable; false: it is dropped.
func (c *gconv) variable(g *gVariable, i int) (Variable, bool) {
	where := fmt.Sprintf("templating.list[%d] (%s)", i, g.Name)
	v := Variable{Name: g.Name, Label: g.Label, Type: g.Type, Regex: g.Regex, Multi: g.Multi, IncludeAll: g.IncludeAll, Hide: g.Hide.intOr(0) == 2}
	if g.AllValue != nil && *g.AllValue != "" {
		av := *g.AllValue
		v.AllValue = &av
	}
	query := ""
	if len(g.Query) > 0 {
		var s string
		var obj struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(g.Query, &s) == nil {
			query = s
		} else if json.Unmarshal(g.Query, &obj) == nil {
			query = obj.Query
		}
	}
	if query == "" {
		query = g.Definition
	}
	var cur *string
	if g.Current.Value != nil {
		s := ""
		if len(*g.Current.Value) > 0 {
			s = (*g.Current.Value)[0]
		}
		cur = &s
	}
	// nonEmpty is the current value as the default of a selector: none
	// when empty or All.
	nonEmpty := func() *string {
		if cur == nil || *cur == "" || *cur == "$__all" {
			return nil
		}
		return cur
	}
	switch g.Type {
	case "datasource":
		c.ignore("%s: a datasource variable; the data source is this server", where)
		return v, false
	case "adhoc":
		c.ignore("%s: ad hoc filters are not applied", where)
		return v, false
	case "query", "":
		v.Type = "query"
		v.Query = strings.TrimSpace(query)
		v.Default = nonEmpty()
		if ds := dsType(g.Datasource); ds != "" && ds != "prometheus" {
			c.unresolved(&v, fmt.Sprintf("a query of data source type %q", ds))
		}
	case "custom":
		for _, o := range g.Options {
			if len(o.Value) > 0 && o.Value[0] != "$__all" {
				v.Options = append(v.Options, o.Value[0])
			}
		}
		if len(v.Options) == 0 {
			v.Options = splitCustom(query)
		}
		v.Default = nonEmpty()
		if len(v.Options) == 0 {
			c.unresolved(&v, "a custom variable without options")
		}
	case "interval":
		if g.Auto {
			v.Options = append(v.Options, "auto")
		}
		for _, o := range strings.Split(query, ",") {
			o = strings.TrimSpace(o)
			switch {
			case o == "" || o == "auto":
			case durationRE.MatchString(o):
				v.Options = append(v.Options, o)
			default:
				c.ignore("%s: interval %q is not a duration like 5m", where, o)
			}
		}
		if d := nonEmpty(); d != nil {
			s := *d
			if strings.HasPrefix(s, "$__auto_interval") {
				s = "auto"
			}
			v.Default = &s
		}
		if len(v.Options) == 0 {
			c.unresolved(&v, "an interval variable without intervals")
		}
	case "constant":
		q := query
		v.Default = &q
	case "textbox":
		switch {
		case cur != nil:
			v.Default = cur
		case query != "":
			q := query
			v.Default = &q
		}
	default:
		v.Default = nonEmpty()
		c.unresolved(&v, fmt.Sprintf("variables of type %q are not supported", g.Type))
	}
	if v.Regex != "" {
		if _, err := regexp.Compile(strings.TrimSuffix(strings.TrimPrefix(v.Regex, "/"), "/")); err != nil {
			c.ignore("%s: regex %q does not compile (%v): dropped", where, v.Regex, err)
			v.Regex = ""
		}
	}
	return v, true
}

// unresolved keeps v as a text box with its default value, and says why.
func (c *gconv) unresolved(v *Variable, reason string) {
	c.sum.Unresolved = append(c.sum.Unresolved, VariableNote{Name: v.Name, Reason: reason})
	v.Type, v.Query, v.Options, v.Regex = "textbox", "", nil, ""
	v.Multi, v.IncludeAll, v.AllValue = false, false, nil
}

var customSplitRE = regexp.MustCompile(`(?:\\,|[^,])+`)

// splitCustom splits a custom variable's query as Grafana does: on commas
// not escaped by a backslash, values trimmed; "key : value" keeps value.
func splitCustom(q string) []string {
	var out []string
	for _, m := range customSplitRE.FindAllString(q, -1) {
		s := strings.TrimSpace(strings.ReplaceAll(m, `\,`, ","))
		if k, val, ok := strings.Cut(s, " : "); ok && k != "" {
			s = strings.TrimSpace(val)
		}
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

var reduceNames = map[string]string{
	"lastNotNull": "lastNotNull", "last": "last", "mean": "mean", "max": "max", "min": "min", "sum": "sum",
	// The legacy singlestat's valueName, and Grafana's other reducers, by
	// the closest of ours.
	"current": "lastNotNull", "avg": "mean", "total": "sum", "firstNotNull": "lastNotNull", "first": "lastNotNull",
	"allIsNull": "lastNotNull", "allIsZero": "lastNotNull", "count": "lastNotNull", "delta": "sum",
	"diff": "lastNotNull", "range": "lastNotNull", "logmin": "min", "changeCount": "lastNotNull",
	"distinctCount": "lastNotNull", "step": "lastNotNull", "median": "mean", "variance": "mean", "stdDev": "mean",
}

func (c *gconv) reduce(name, where string) string {
	r, ok := reduceNames[name]
	if !ok {
		r = "lastNotNull"
	}
	if r != name {
		c.ignore("%s: reducer %q drawn as %s", where, name, r)
	}
	return r
}

func (c *gconv) unit(u, where string) string {
	if validUnit(u) {
		return u
	}
	c.ignore("%s: unit %q is not one of ours: shown as a plain number", where, u)
	return ""
}

// panelTypes maps Grafana's panel types to ours.
var panelTypes = map[string]string{
	"graph": "timeseries", "timeseries": "timeseries", "singlestat": "stat", "stat": "stat", "gauge": "gauge",
	"bargauge": "bargauge", "table": "table", "table-old": "table", "text": "text", "row": "row",
	"heatmap": "heatmap", "piechart": "piechart", "grafana-piechart-panel": "piechart",
}

func (c *gconv) panel(g *gPanel, at string) Panel {
	where := fmt.Sprintf("%s (%s)", at, g.Title)
	p := Panel{Title: g.Title, Description: g.Description, Repeat: g.Repeat, RepeatDirection: g.RepeatDirection, MaxPerRow: max(g.MaxPerRow.intOr(0), 0)}
	if p.RepeatDirection != "" && p.RepeatDirection != "h" && p.RepeatDirection != "v" {
		c.ignore("%s: repeatDirection %q is not h or v", where, p.RepeatDirection)
		p.RepeatDirection = ""
	}
	typ, ok := panelTypes[g.Type]
	if !ok {
		typ = "placeholder"
		p.OriginalType = g.Type
		if g.Type == "" {
			p.OriginalType = "(none)"
		}
	}
	p.Type = typ
	if gp := g.GridPos; gp != nil {
		p.GridPos = &GridPos{W: min(max(gp.W.intOr(0), 0), 24), H: min(max(gp.H.intOr(0), 0), 50)}
		if gp.H.intOr(0) > 50 {
			c.ignore("%s: height %d rows cut to 50", where, gp.H.intOr(0))
		}
		if gp.X.v != nil && gp.Y.v != nil {
			x, y := min(max(gp.X.intOr(0), 0), 23), max(gp.Y.intOr(0), 0)
			p.GridPos.X, p.GridPos.Y = &x, &y
		}
	}

	// The legacy graph and singlestat panels keep these outside fieldConfig.
	switch g.Type {
	case "graph":
		p.Stack = g.Stack
		if g.Percentage {
			c.ignore("%s: percentage stacking drawn as stacked values", where)
		}
		if len(g.Yaxes) > 0 {
			var ax struct {
				Format   string `json:"format"`
				Decimals gNum   `json:"decimals"`
				Min      gNum   `json:"min"`
				Max      gNum   `json:"max"`
			}
			_ = json.Unmarshal(g.Yaxes[0], &ax)
			p.Unit = c.unit(ax.Format, where)
			p.Min, p.Max, p.Decimals = ax.Min.v, ax.Max.v, decimals(ax.Decimals)
		}
	case "singlestat":
		p.Unit = c.unit(g.Format, where)
		p.Decimals = decimals(g.Decimals)
		if g.ValueName != "" {
			p.Reduce = c.reduce(g.ValueName, where)
		}
		var ts string
		if json.Unmarshal(g.Thresholds, &ts) == nil && ts != "" && len(g.Colors) > 0 {
			th := &Thresholds{Mode: "absolute", Steps: []ThresholdStep{{Color: g.Colors[0]}}}
			for i, s := range strings.Split(ts, ",") {
				f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
				if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || i+1 >= len(g.Colors) {
					break
				}
				th.Steps = append(th.Steps, ThresholdStep{Color: g.Colors[i+1], Value: &f})
			}
			p.Thresholds = th
		}
	case "grafana-piechart-panel":
		p.PieType = g.PieType
	case "text":
		p.Text = g.Content
	}

	var fc gFieldConfig
	if len(g.FieldConfig) > 0 {
		_ = json.Unmarshal(g.FieldConfig, &fc)
	}
	def := fc.Defaults
	if def.Unit != "" {
		p.Unit = c.unit(def.Unit, where)
	}
	if def.Decimals.v != nil {
		p.Decimals = decimals(def.Decimals)
	}
	if def.Min.v != nil {
		p.Min = def.Min.v
	}
	if def.Max.v != nil {
		p.Max = def.Max.v
	}
	switch def.Custom.Stacking.Mode {
	case "normal":
		p.Stack = true
	case "percent":
		p.Stack = true
		c.ignore("%s: percent stacking drawn as stacked values", where)
	}
	if th := def.Thresholds; th != nil && len(th.Steps) > 0 {
		t := &Thresholds{Mode: th.Mode}
		if t.Mode != "absolute" && t.Mode != "percentage" {
			t.Mode = "absolute"
		}
		for _, s := range th.Steps {
			if s.Color == "" {
				continue
			}
			t.Steps = append(t.Steps, ThresholdStep{Color: s.Color, Value: s.Value.v})
		}
		if len(t.Steps) > 0 {
			p.Thresholds = t
		}
	}
	if len(def.Links) > 0 {
		c.ignore("%s: data links (%d) are not carried over", where, len(def.Links))
	}

	var opt gOptions
	if len(g.Options) > 0 {
		_ = json.Unmarshal(g.Options, &opt)
	}
	if len(opt.ReduceOptions.Calcs) > 0 && typ != "row" && typ != "text" {
		p.Reduce = c.reduce(opt.ReduceOptions.Calcs[0], where)
	}
	switch opt.PieType {
	case "":
	case "pie", "donut":
		p.PieType = opt.PieType
	default:
		c.ignore("%s: pieType %q drawn as a pie", where, opt.PieType)
	}
	if p.PieType != "" && p.PieType != "pie" && p.PieType != "donut" {
		p.PieType = ""
	}
	switch opt.Orientation {
	case "horizontal", "vertical", "auto":
		if typ == "bargauge" || typ == "gauge" || typ == "stat" {
			p.Orientation = opt.Orientation
		}
	}
	if typ == "text" && opt.Content != "" {
		p.Text = opt.Content
	}
	for i, l := range g.Links {
		if l.URL == "" {
			c.ignore("%s: links[%d] has no url", where, i)
			continue
		}
		p.Links = append(p.Links, Link{Title: l.Title, URL: l.URL})
	}
	if len(g.Alert) > 0 && !bytes.Equal(g.Alert, []byte("null")) {
		c.ignore("%s: its alert rule is not carried over (write it as a Prometheus rule)", where)
	}
	if len(g.Transformations) > 0 {
		c.ignore("%s: transformations (%d) are not applied", where, len(g.Transformations))
	}

	p.MaxDataPoints = min(max(g.MaxDataPoints.intOr(0), 0), 20000)
	p.Interval = c.interval(g.Interval, where)

	if typ != "row" && typ != "text" {
		panelDS := dsType(g.Datasource)
		for j, t := range g.Targets {
			tw := fmt.Sprintf("%s: targets[%d]", where, j)
			ds := dsType(t.Datasource)
			if ds == "" {
				ds = panelDS
			}
			if ds != "" && ds != "prometheus" && ds != "datasource" {
				c.ignore("%s: a query of data source type %q is dropped", tw, ds)
				continue
			}
			if strings.TrimSpace(t.Expr) == "" {
				c.ignore("%s: no PromQL expr: dropped", tw)
				continue
			}
			nt := Target{Expr: c.exprCompat(t.Expr, tw), LegendFormat: t.LegendFormat, RefID: t.RefID, Instant: t.Instant, Hide: t.Hide}
			if nt.RefID == "" {
				nt.RefID = refID(len(p.Targets))
			}
			switch t.Format {
			case "", "time_series", "table", "heatmap":
				nt.Format = t.Format
			default:
				c.ignore("%s: format %q drawn as time_series", tw, t.Format)
			}
			if p.Interval == "" && t.Interval != "" {
				p.Interval = c.interval(t.Interval, tw)
			}
			p.Targets = append(p.Targets, nt)
		}
		c.overrides(&p, fc, where)
		if typ != "placeholder" && len(p.Targets) == 0 {
			p.Type, p.OriginalType = "placeholder", g.Type
		}
	}
	if typ == "row" {
		p.Collapsed = g.Collapsed
		for j := range g.Panels {
			p.Panels = append(p.Panels, c.panel(&g.Panels[j], fmt.Sprintf("%s.panels[%d]", at, j)))
		}
	} else if len(g.Panels) > 0 {
		c.ignore("%s: panels inside a %s panel are dropped", where, g.Type)
	}
	return p
}

var (
	varFormatRE    = regexp.MustCompile(`\$\{(\w+):(\w+)\}`)
	autoIntervalRE = regexp.MustCompile(`\$__auto_interval_(\w+)`)
)

// exprCompat rewrites two of Grafana's variable forms the model does not
// have: ${var:format} (regex, pipe, raw ...) becomes ${var}, which a
// multi-value variable already expands as (a|b); $__auto_interval_x,
// the auto value of interval variable x in old dashboards, becomes $x.
func (c *gconv) exprCompat(expr, where string) string {
	out := varFormatRE.ReplaceAllString(expr, "$${$1}")
	out = autoIntervalRE.ReplaceAllString(out, "$${$1}")
	if out != expr {
		c.ignore("%s: variable formats ${var:format} and $__auto_interval_var read as ${var}", where)
	}
	return out
}

// overrides applies the per-query units of fieldConfig.overrides (by the
// query's refId), the only override the model has.
func (c *gconv) overrides(p *Panel, fc gFieldConfig, where string) {
	other := 0
	for _, o := range fc.Overrides {
		ref, _ := o.Matcher.Options.(string)
		applied := false
		if o.Matcher.ID == "byFrameRefID" && len(o.Properties) == 1 && o.Properties[0].ID == "unit" {
			u, _ := o.Properties[0].Value.(string)
			for k := range p.Targets {
				if p.Targets[k].RefID == ref && validUnit(u) {
					p.Targets[k].Unit = u
					applied = true
				}
			}
		}
		if !applied {
			other++
		}
	}
	if other > 0 {
		c.ignore("%s: field overrides (%d) are not applied", where, other)
	}
}

func refID(i int) string {
	if i < 26 {
		return string(rune('A' + i))
	}
	return "Q" + strconv.Itoa(i)
}

func decimals(n gNum) *int {
	if n.v == nil || *n.v < 0 || *n.v > 20 {
		return nil
	}
	d := int(*n.v)
	return &d
}

// interval reads a panel's minimum interval; Grafana's old ">10s" is 10s.
func (c *gconv) interval(s, where string) string {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), ">"))
	if s == "" || durationRE.MatchString(s) || (varRefRE.MatchString(s) && varRefRE.FindString(s) == s) {
		return s
	}
	c.ignore("%s: interval %q is not a duration like 15s", where, s)
	return ""
}

// resolve makes the variables consistent: a variable used but not
// defined becomes a hidden, empty text box; a query variable whose query
// is not one of ours becomes a text box; repeats of unknown variables and
// a placeholder's queries that do not parse are dropped. Each is noted.
func (c *gconv) resolve(d *Dashboard) {
	defined := map[string]bool{}
	for _, v := range d.Variables {
		defined[v.Name] = true
	}
	var used []string
	seen := map[string]bool{}
	use := func(s string) {
		for _, m := range varRefRE.FindAllStringSubmatch(s, -1) {
			name := m[1] + m[2] + m[3]
			if _, ok := builtinVars[name]; ok || defined[name] || seen[name] || name[0] >= '0' && name[0] <= '9' {
				continue
			}
			seen[name] = true
			used = append(used, name)
		}
	}
	walkPanels(d.Panels, func(p *Panel) {
		for _, t := range p.Targets {
			use(t.Expr)
		}
		use(p.Interval)
	})
	for _, v := range d.Variables {
		if v.Type == "query" {
			use(v.Query)
		}
	}
	var added []Variable
	for _, name := range used {
		if !varNameRE.MatchString(name) || strings.HasPrefix(name, "__") {
			continue // Validate names it.
		}
		empty := ""
		added = append(added, Variable{Name: name, Type: "textbox", Default: &empty, Hide: true})
		c.sum.Unresolved = append(c.sum.Unresolved, VariableNote{Name: name, Reason: "used in queries but not defined: added as a hidden, empty text box"})
	}
	d.Variables = append(added, d.Variables...)

	vars := map[string]bool{}
	for i := range d.Variables {
		v := &d.Variables[i]
		if v.Type == "query" {
			if err := checkVariableQuery(v.Query, vars); err != nil {
				c.unresolved(v, err.Error())
			}
		}
		vars[v.Name] = true
	}
	walkPanels(d.Panels, func(p *Panel) {
		where := p.Title
		if p.Repeat != "" && !vars[p.Repeat] {
			c.ignore("panel %q: repeat by %q, which is not a variable: dropped", where, p.Repeat)
			p.Repeat = ""
		}
		if p.Type != "placeholder" {
			return
		}
		kept := p.Targets[:0]
		for _, t := range p.Targets {
			if err := checkExpr(t.Expr, vars); err != nil {
				c.ignore("panel %q (%s): query %s does not parse as PromQL: dropped", where, p.OriginalType, t.RefID)
				continue
			}
			kept = append(kept, t)
		}
		p.Targets = kept
		if len(p.Targets) == 0 {
			p.Targets = nil
		}
	})
}

func walkPanels(ps []Panel, f func(*Panel)) {
	for i := range ps {
		f(&ps[i])
		walkPanels(ps[i].Panels, f)
	}
}

// count fills the summary's panel counts.
func (c *gconv) count(ps []Panel) {
	walkPanels(ps, func(p *Panel) {
		switch p.Type {
		case "row":
		case "placeholder":
			c.sum.Panels++
			c.sum.Placeholders = append(c.sum.Placeholders, PlaceholderNote{Panel: p.Title, Type: p.OriginalType})
		default:
			c.sum.Panels++
			c.sum.Rendered++
		}
	})
}

// layoutGrid gives every panel an x, y, w and h where it has none, as the
// UI lays them out: left to right on 24 columns, a row on a line of its
// own and the panels of a collapsed row after it.
func layoutGrid(ps []Panel) {
	var x, y, lineH int
	newline := func() {
		y += lineH
		x, lineH = 0, 0
	}
	var place func(p *Panel)
	place = func(p *Panel) {
		if p.GridPos == nil {
			p.GridPos = &GridPos{}
		}
		g := p.GridPos
		if p.Type == "row" {
			g.W, g.H = 24, 1
		}
		if g.W == 0 {
			g.W = 12
		}
		if g.H == 0 {
			g.H = 8
		}
		if g.X == nil || g.Y == nil {
			if p.Type == "row" || x+g.W > 24 {
				newline()
			}
			gx, gy := x, y
			g.X, g.Y = &gx, &gy
		} else if *g.Y != y {
			y, lineH = *g.Y, 0
		}
		x = *g.X + g.W
		y = *g.Y
		lineH = max(lineH, g.H)
		if p.Type == "row" {
			newline()
			sx, sy, sh := x, y, lineH
			for i := range p.Panels {
				place(&p.Panels[i])
			}
			if p.Collapsed {
				x, y, lineH = sx, sy, sh
			}
		}
	}
	for i := range ps {
		place(&ps[i])
	}
}

// ExportGrafana writes d as a Grafana dashboard (schema version 39), for
// GET /api/ui/dashboards/{id}?format=grafana. Its queries use the data
// source input ${DS_PROMETHEUS}, which Grafana asks for on import.
func ExportGrafana(d *Dashboard) map[string]any {
	panels := clonePanels(d.Panels)
	layoutGrid(panels)
	nextID := 0
	var exportPanels func(ps []Panel) []any
	exportPanels = func(ps []Panel) []any {
		out := []any{}
		for i := range ps {
			nextID++
			gp := exportPanel(&ps[i], nextID)
			if ps[i].Type == "row" {
				gp["panels"] = exportPanels(ps[i].Panels)
			}
			out = append(out, gp)
		}
		return out
	}
	vars := []any{}
	for _, v := range d.Variables {
		vars = append(vars, exportVariable(v))
	}
	links := []any{}
	for _, l := range d.Links {
		links = append(links, map[string]any{"type": "link", "title": l.Title, "url": l.URL, "icon": "external link", "targetBlank": true})
	}
	tags := d.Tags
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{
		"__inputs": []any{map[string]any{
			"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource",
			"pluginId": "prometheus", "pluginName": "Prometheus",
		}},
		"uid":           d.ID,
		"title":         d.Title,
		"description":   d.Description,
		"tags":          tags,
		"links":         links,
		"editable":      true,
		"schemaVersion": 39,
		"version":       1,
		"time":          map[string]any{"from": "now-1h", "to": "now"},
		"refresh":       "",
		"annotations":   map[string]any{"list": []any{}},
		"templating":    map[string]any{"list": vars},
		"panels":        exportPanels(panels),
	}
}

func clonePanels(ps []Panel) []Panel {
	out := make([]Panel, len(ps))
	for i, p := range ps {
		if p.GridPos != nil {
			g := *p.GridPos
			p.GridPos = &g
		}
		p.Panels = clonePanels(p.Panels)
		out[i] = p
	}
	return out
}

var promDS = map[string]any{"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

func exportPanel(p *Panel, id int) map[string]any {
	g := p.GridPos
	out := map[string]any{
		"id":      id,
		"type":    p.Type,
		"title":   p.Title,
		"gridPos": map[string]any{"x": *g.X, "y": *g.Y, "w": g.W, "h": g.H},
	}
	if p.Type == "placeholder" {
		out["type"] = p.OriginalType
	}
	if p.Description != "" {
		out["description"] = p.Description
	}
	if p.Type == "row" {
		out["collapsed"] = p.Collapsed
		if p.Repeat != "" {
			out["repeat"] = p.Repeat
		}
		return out
	}
	if p.Repeat != "" {
		out["repeat"] = p.Repeat
		if p.RepeatDirection != "" {
			out["repeatDirection"] = p.RepeatDirection
		}
		if p.MaxPerRow > 0 {
			out["maxPerRow"] = p.MaxPerRow
		}
	}
	if len(p.Links) > 0 {
		var ls []any
		for _, l := range p.Links {
			ls = append(ls, map[string]any{"title": l.Title, "url": l.URL})
		}
		out["links"] = ls
	}
	if p.Interval != "" {
		out["interval"] = p.Interval
	}
	if p.MaxDataPoints > 0 {
		out["maxDataPoints"] = p.MaxDataPoints
	}
	defaults := map[string]any{}
	if p.Unit != "" {
		defaults["unit"] = p.Unit
	}
	if p.Decimals != nil {
		defaults["decimals"] = *p.Decimals
	}
	if p.Min != nil {
		defaults["min"] = *p.Min
	}
	if p.Max != nil {
		defaults["max"] = *p.Max
	}
	if p.Thresholds != nil {
		steps := []any{}
		for _, s := range p.Thresholds.Steps {
			var v any
			if s.Value != nil {
				v = *s.Value
			}
			steps = append(steps, map[string]any{"color": s.Color, "value": v})
		}
		mode := p.Thresholds.Mode
		if mode == "" {
			mode = "absolute"
		}
		defaults["thresholds"] = map[string]any{"mode": mode, "steps": steps}
	}
	if p.Stack {
		defaults["custom"] = map[string]any{"stacking": map[string]any{"mode": "normal", "group": "A"}}
	}
	overrides := []any{}
	targets := []any{}
	for i, t := range p.Targets {
		ref := t.RefID
		if ref == "" {
			ref = refID(i)
		}
		gt := map[string]any{"datasource": promDS, "expr": t.Expr, "refId": ref}
		if t.LegendFormat != "" {
			gt["legendFormat"] = t.LegendFormat
		}
		if t.Format != "" {
			gt["format"] = t.Format
		}
		if t.Instant {
			gt["instant"], gt["range"] = true, false
		}
		if t.Hide {
			gt["hide"] = true
		}
		if t.Unit != "" {
			overrides = append(overrides, map[string]any{
				"matcher":    map[string]any{"id": "byFrameRefID", "options": ref},
				"properties": []any{map[string]any{"id": "unit", "value": t.Unit}},
			})
		}
		targets = append(targets, gt)
	}
	if p.Type != "text" {
		out["datasource"] = promDS
		out["targets"] = targets
		out["fieldConfig"] = map[string]any{"defaults": defaults, "overrides": overrides}
	}
	options := map[string]any{}
	if p.Reduce != "" {
		options["reduceOptions"] = map[string]any{"calcs": []string{p.Reduce}, "fields": "", "values": false}
	}
	if p.PieType != "" {
		options["pieType"] = p.PieType
	}
	if p.Orientation != "" {
		options["orientation"] = p.Orientation
	}
	if p.Type == "text" {
		options["mode"] = "markdown"
		options["content"] = p.Text
	}
	out["options"] = options
	return out
}

func exportVariable(v Variable) map[string]any {
	hide := 0
	if v.Hide {
		hide = 2
	}
	typ := v.Type
	if typ == "" {
		typ = "query"
	}
	out := map[string]any{"name": v.Name, "type": typ, "hide": hide}
	if v.Label != "" {
		out["label"] = v.Label
	}
	current := map[string]any{}
	if v.Default != nil {
		current = map[string]any{"selected": true, "text": *v.Default, "value": *v.Default}
		if v.Multi {
			current["text"], current["value"] = []string{*v.Default}, []string{*v.Default}
		}
	} else if v.IncludeAll {
		current = map[string]any{"selected": true, "text": "All", "value": "$__all"}
	}
	out["current"] = current
	options := []any{}
	for _, o := range v.Options {
		options = append(options, map[string]any{"text": o, "value": o, "selected": v.Default != nil && *v.Default == o})
	}
	switch typ {
	case "query":
		out["datasource"] = promDS
		out["query"] = map[string]any{"query": v.Query, "refId": "PrometheusVariableQueryEditor-VariableQuery"}
		out["definition"] = v.Query
		out["refresh"] = 2
		out["sort"] = 1
		out["options"] = []any{}
	case "custom":
		esc := make([]string, len(v.Options))
		for i, o := range v.Options {
			esc[i] = strings.ReplaceAll(o, ",", `\,`)
		}
		out["query"] = strings.Join(esc, ",")
		out["options"] = options
	case "interval":
		var qs []string
		auto := false
		for _, o := range v.Options {
			if o == "auto" {
				auto = true
				continue
			}
			qs = append(qs, o)
		}
		out["query"] = strings.Join(qs, ",")
		out["auto"], out["auto_count"], out["auto_min"] = auto, 30, "10s"
		out["options"] = options
		out["refresh"] = 2
	case "constant", "textbox":
		q := ""
		if v.Default != nil {
			q = *v.Default
		}
		out["query"] = q
		out["options"] = []any{}
	}
	if v.Regex != "" {
		out["regex"] = v.Regex
	}
	if typ == "query" || typ == "custom" {
		out["multi"] = v.Multi
		out["includeAll"] = v.IncludeAll
		if v.AllValue != nil {
			out["allValue"] = *v.AllValue
		}
	}
	return out
}
