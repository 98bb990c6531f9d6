package server

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
)

// Rule files come from three places, each named by the identifier the rule
// manager keeps as a group's "file" (what /api/v1/rules shows):
//   - the config's rule_files globs: the file's absolute path, as Prometheus;
//   - the built-in rules (Options.BuiltinRules): "builtin/<file>";
//   - PrometheusRule objects (Options.RuleSources): the source's identifier,
//     "prometheusrule/<namespace>/<name>".
const builtinRulePrefix = "builtin/"

// RuleSource supplies rule files that do not live on disk: the
// PrometheusRule objects of a cluster. Files returns identifier -> content
// of a Prometheus rule file; the server reads it on every reload.
type RuleSource interface {
	Files() map[string][]byte
}

// ruleLoader is the rule manager's GroupLoader: files on disk as
// Prometheus's FileLoader, the built-in files from an fs.FS, and the
// sources' files from memory. A built-in group whose name a group of the
// user's rule files (or of a source) also has is left out: that is how a
// user overrides a built-in group, as a dashboard file with a built-in
// dashboard's id replaces it.
type ruleLoader struct {
	parser  parser.Parser
	logger  *slog.Logger
	builtin fs.FS

	mu sync.Mutex
	// memory holds the sources' files of the current load.
	memory map[string][]byte
	// overridden are the built-in groups replaced by the user's.
	overridden map[string]bool
}

func (l *ruleLoader) Load(identifier string, ignoreUnknownFields bool, scheme model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	l.mu.Lock()
	content, inMemory := l.memory[identifier]
	overridden := l.overridden
	l.mu.Unlock()
	switch {
	case strings.HasPrefix(identifier, builtinRulePrefix) && l.builtin != nil:
		b, err := fs.ReadFile(l.builtin, strings.TrimPrefix(identifier, builtinRulePrefix))
		if err != nil {
			return nil, []error{fmt.Errorf("%s: %w", identifier, err)}
		}
		rgs, errs := l.parse(identifier, b, ignoreUnknownFields, scheme)
		if rgs != nil {
			rgs.Groups = slices.DeleteFunc(rgs.Groups, func(g rulefmt.RuleGroup) bool { return overridden[g.Name] })
		}
		return rgs, errs
	case inMemory:
		return l.parse(identifier, content, ignoreUnknownFields, scheme)
	default:
		return rulefmt.ParseFile(identifier, ignoreUnknownFields, scheme, l.parser, l.logger)
	}
}

func (l *ruleLoader) parse(identifier string, b []byte, ignoreUnknownFields bool, scheme model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	rgs, errs := rulefmt.Parse(b, ignoreUnknownFields, scheme, l.parser, l.logger)
	for i := range errs {
		errs[i] = fmt.Errorf("%s: %w", identifier, errs[i])
	}
	return rgs, errs
}

func (l *ruleLoader) Parse(query string) (parser.Expr, error) { return l.parser.ParseExpr(query) }

// ruleSet is what one (re)load hands the rule manager: the identifiers in
// order, and the sources' contents and overridden built-in groups the
// loader needs for them.
type ruleSet struct {
	files      []string
	memory     map[string][]byte
	overridden map[string]bool
}

// resolveRules globs the config's rule_files, adds the built-in and the
// sources' files, and parses every one of them, so that a rule file that
// does not load rejects the whole reload before anything is applied, as
// Prometheus rejects it at start-up. The error names the file, the group,
// the rule and its position (rulefmt's message).
func (s *Server) resolveRules(cfg *config.Config) (*ruleSet, error) {
	set := &ruleSet{memory: map[string][]byte{}, overridden: map[string]bool{}}
	seen := map[string]bool{}
	for _, pat := range cfg.RuleFiles {
		matches, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("rule_files: bad pattern %q: %w", pat, err)
		}
		for _, fn := range matches {
			if !seen[fn] {
				seen[fn] = true
				set.files = append(set.files, fn)
			}
		}
	}
	for _, src := range s.opts.RuleSources {
		files := src.Files()
		ids := make([]string, 0, len(files))
		for id := range files {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			set.memory[id] = files[id]
			set.files = append(set.files, id)
		}
	}
	scheme := cfg.GlobalConfig.MetricNameValidationScheme
	loader := &ruleLoader{parser: s.parser, logger: s.logger, builtin: s.builtinRules, memory: set.memory}
	var errs []error
	for _, fn := range set.files {
		rgs, ferrs := loader.Load(fn, false, scheme)
		if len(ferrs) > 0 {
			errs = append(errs, ferrs...)
			continue
		}
		for _, g := range rgs.Groups {
			set.overridden[g.Name] = true
		}
	}
	if s.builtinRules != nil {
		names, err := fs.Glob(s.builtinRules, "*.yaml")
		if err != nil {
			return nil, fmt.Errorf("built-in rules: %w", err)
		}
		loader.overridden = set.overridden
		for _, name := range names {
			id := builtinRulePrefix + path.Base(name)
			if _, ferrs := loader.Load(id, false, scheme); len(ferrs) > 0 {
				errs = append(errs, ferrs...)
				continue
			}
			set.files = append(set.files, id)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("rule files: %w", errors.Join(errs...))
	}
	return set, nil
}

// updateRules hands the rule set to the rule manager, which keeps the
// state of the groups that did not change.
func (s *Server) updateRules(cfg *config.Config, set *ruleSet) error {
	s.ruleLoader.mu.Lock()
	s.ruleLoader.memory = set.memory
	s.ruleLoader.overridden = set.overridden
	s.ruleLoader.mu.Unlock()
	return s.rules.Update(
		time.Duration(cfg.GlobalConfig.EvaluationInterval),
		set.files,
		cfg.GlobalConfig.ExternalLabels,
		s.externalURL().String(),
		nil,
	)
}

// RuleGroups are the rule manager's groups (the API and tests read them).
func (s *Server) RuleGroups() []*rules.Group { return s.rules.RuleGroups() }
