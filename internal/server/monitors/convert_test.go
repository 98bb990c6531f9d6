package monitors

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/prometheus/config"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixtureRefs are the Secrets and ConfigMaps of a fixture file.
type fixtureRefs map[string]map[string]string // kind/namespace/name -> key -> value

func (r fixtureRefs) SecretKey(ns string, sel SecretKeySelector) (string, error) {
	return r.get("Secret", ns, sel.Name, sel.Key)
}

func (r fixtureRefs) ConfigMapKey(ns string, sel ConfigMapKeySelector) (string, error) {
	return r.get("ConfigMap", ns, sel.Name, sel.Key)
}

func (r fixtureRefs) get(kind, ns, name, key string) (string, error) {
	data, ok := r[kind+"/"+ns+"/"+name]
	if !ok {
		return "", fmt.Errorf("%s %s/%s not found", strings.ToLower(kind), ns, name)
	}
	v, ok := data[key]
	if !ok {
		return "", fmt.Errorf("%s %s/%s has no key %q", strings.ToLower(kind), ns, name, key)
	}
	return v, nil
}

// readFixture returns the monitor of a fixture file (its first document)
// and the Secrets and ConfigMaps of the others.
func readFixture(t *testing.T, path string) (string, map[string]any, fixtureRefs) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var (
		kind string
		obj  map[string]any
		refs = fixtureRefs{}
	)
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		k, _ := doc["kind"].(string)
		switch k {
		case "Secret", "ConfigMap":
			md, _ := doc["metadata"].(map[string]any)
			data := map[string]string{}
			for _, field := range []string{"stringData", "data"} {
				m, _ := doc[field].(map[string]any)
				for key, v := range m {
					data[key] = fmt.Sprint(v)
				}
			}
			refs[fmt.Sprintf("%s/%s/%s", k, md["namespace"], md["name"])] = data
		default:
			kind, obj = k, doc
		}
	}
	return kind, obj, refs
}

// TestConvertGolden converts each testdata/*.yaml object and compares the
// scrape configs with testdata/*.golden, written in the key order and
// with the relabelling rules that prometheus-operator's generator
// (pkg/prometheus/promcfg.go) writes for the same object in a Prometheus
// object with one shard (the operator adds two hashmod rules for
// sharding, which a single server does not need). go test -update
// rewrites the goldens.
func TestConvertGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			kind, obj, refs := readFixture(t, path)
			g := &Generator{Refs: refs}
			if strings.Contains(name, "endpoints-role") {
				g.Role = RoleEndpoints
			}
			got, err := g.Convert(kind, obj)
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			golden := strings.TrimSuffix(path, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
			// Prometheus takes them with its global defaults.
			scs, err := ParseScrapeConfigs(got)
			if err != nil {
				t.Fatal(err)
			}
			for _, sc := range scs {
				if err := sc.Validate(config.DefaultGlobalConfig); err != nil {
					t.Errorf("%s: %v", sc.JobName, err)
				}
			}
		})
	}
}

func TestConvertErrors(t *testing.T) {
	t.Parallel()
	sm := func(ep string) string {
		return `{"metadata": {"name": "m", "namespace": "ns"}, "spec": {"selector": {}, "endpoints": [` + ep + `]}}`
	}
	for _, tc := range []struct {
		name, kind, obj, wantErr string
	}{
		{"bad relabel regex", KindServiceMonitor, sm(`{"port": "web", "relabelings": [{"sourceLabels": ["a"], "regex": "([a-z"}]}`), "error parsing regexp"},
		{"bad metric relabel action", KindServiceMonitor, sm(`{"port": "web", "metricRelabelings": [{"action": "explode"}]}`), "unknown relabel action"},
		{"bad interval", KindServiceMonitor, sm(`{"port": "web", "interval": "soon"}`), "soon"},
		{"missing secret", KindServiceMonitor, sm(`{"port": "web", "bearerTokenSecret": {"name": "nope", "key": "token"}}`), "spec.endpoints[0]: bearerTokenSecret: secret ns/nope not found"},
		{"bad selector operator", KindPodMonitor, `{"metadata": {"name": "m", "namespace": "ns"}, "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}, "podMetricsEndpoints": [{"port": "x"}]}}`, `operator "Near"`},
		{"probe without prober", KindProbe, `{"metadata": {"name": "p", "namespace": "ns"}, "spec": {"targets": {"staticConfig": {"static": ["a"]}}}}`, "spec.prober.url is empty"},
		{"probe of ingresses", KindProbe, `{"metadata": {"name": "p", "namespace": "ns"}, "spec": {"prober": {"url": "bb:9115"}, "targets": {"ingress": {"selector": {}}}}}`, "ingress is not supported"},
		{"wrong type", KindServiceMonitor, `{"metadata": {"name": "m", "namespace": "ns"}, "spec": {"endpoints": "web"}}`, "decode ServiceMonitor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(tc.obj), &obj); err != nil {
				t.Fatal(err)
			}
			_, err := (&Generator{Refs: fixtureRefs{}}).Convert(tc.kind, obj)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Convert: %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

// FuzzConvert: whatever object the API server hands over (its schema is
// loose), Convert returns scrape configs that Prometheus parses, or an
// error; it never panics.
func FuzzConvert(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		doc, _, _ := bytes.Cut(b, []byte("\n---"))
		f.Add(doc)
	}
	f.Add([]byte(`{"kind": "Probe", "spec": {"prober": {"url": "x"}, "targets": {"staticConfig": {"static": [""]}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		var obj map[string]any
		if err := yaml.Unmarshal(b, &obj); err != nil || obj == nil {
			return
		}
		for _, kind := range []string{KindServiceMonitor, KindPodMonitor, KindProbe} {
			for _, role := range []string{RoleEndpointSlice, RoleEndpoints} {
				out, err := (&Generator{Role: role, Refs: fixtureRefs{}}).Convert(kind, obj)
				if err != nil {
					continue
				}
				if _, err := ParseScrapeConfigs(out); err != nil {
					t.Fatalf("Convert's output does not parse: %v\n%s", err, out)
				}
			}
		}
	})
}
