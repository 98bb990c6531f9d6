package state

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/kube-state-metrics/v2/pkg/customresource"
	"k8s.io/kube-state-metrics/v2/pkg/customresourcestate"
	"k8s.io/kube-state-metrics/v2/pkg/metric"
	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

// ParseCustomResourceConfig decodes a custom-resource-state config
// (kube-state-metrics' format) and checks what can be checked without an
// API server.
func ParseCustomResourceConfig(config string) (*customresourcestate.Metrics, error) {
	var m customresourcestate.Metrics
	dec := yaml.NewDecoder(bytes.NewReader([]byte(config)))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("custom resource state config: %w", err)
	}
	for i := range m.Spec.Resources {
		r := &m.Spec.Resources[i]
		if r.GroupVersionKind.Group == "" || r.GroupVersionKind.Group == "*" {
			return nil, fmt.Errorf("custom resource state config: resource %d: groupVersionKind.group is required", i)
		}
		// As kube-state-metrics: the metric type is case-insensitive.
		for j := range r.Metrics {
			r.Metrics[j].Each.Type = metric.Type(strings.ToLower(string(r.Metrics[j].Each.Type)))
		}
	}
	return &m, nil
}

// customResourceFactories builds the metric factories of a
// custom-resource-state config. Versions and kinds given as "*" (or left
// empty), and missing plurals, are resolved once at start from the API
// server's discovery; kube-state-metrics also follows CRDs created later,
// which this does not (restart to pick a new CRD up).
func customResourceFactories(config string, client kubernetes.Interface, logger *slog.Logger) ([]customresource.RegistryFactory, error) {
	if strings.TrimSpace(config) == "" {
		return nil, nil
	}
	m, err := ParseCustomResourceConfig(config)
	if err != nil {
		return nil, err
	}
	groups, err := client.Discovery().ServerGroups()
	if err != nil {
		return nil, fmt.Errorf("custom resources: discovery: %w", err)
	}
	var out []customresource.RegistryFactory
	for _, r := range m.Spec.Resources {
		gvk := r.GroupVersionKind
		var versions []string
		for _, g := range groups.Groups {
			if g.Name != gvk.Group {
				continue
			}
			for _, v := range g.Versions {
				if gvk.Version == "" || gvk.Version == "*" || gvk.Version == v.Version {
					versions = append(versions, v.Version)
				}
			}
		}
		found := false
		for _, v := range versions {
			list, err := client.Discovery().ServerResourcesForGroupVersion(gvk.Group + "/" + v)
			if err != nil {
				return nil, fmt.Errorf("custom resources: discovery of %s/%s: %w", gvk.Group, v, err)
			}
			for _, ar := range list.APIResources {
				if strings.Contains(ar.Name, "/") { // subresources
					continue
				}
				if gvk.Kind != "" && gvk.Kind != "*" && ar.Kind != gvk.Kind {
					continue
				}
				if r.ResourcePlural != "" && gvk.Kind != "" && gvk.Kind != "*" && ar.Name != r.ResourcePlural {
					continue
				}
				res := r
				res.GroupVersionKind = customresourcestate.GroupVersionKind{Group: gvk.Group, Version: v, Kind: ar.Kind}
				res.ResourcePlural = ar.Name
				f, err := customresourcestate.NewCustomResourceMetrics(res)
				if err != nil {
					return nil, fmt.Errorf("custom resource %s/%s %s: %w", gvk.Group, v, ar.Kind, err)
				}
				out = append(out, f)
				found = true
			}
		}
		if !found {
			logger.Warn("custom resource not served by the API server; skipped (restart once its CRD exists)",
				"group", gvk.Group, "version", gvk.Version, "kind", gvk.Kind)
		}
	}
	return out, nil
}
