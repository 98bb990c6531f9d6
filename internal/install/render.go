package install

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	// manifestNamespace is the namespace deploy/ puts the roles in;
	// Options.Namespace replaces it.
	manifestNamespace = "monitoring"
	// roleLabel names each object's role: panoptes-<role>.
	roleLabel = "app.kubernetes.io/name"
	// metricsAPIService is the Service of our metrics API, which the
	// APIService v1beta1.metrics.k8s.io points at.
	metricsAPIService = "panoptes-metrics-api"
	// metricsAPIServiceName is the APIService metrics-server registers too.
	metricsAPIServiceName = "v1beta1.metrics.k8s.io"
)

// Parse reads a multi-document YAML manifest into objects, in its order.
func Parse(manifest []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, fmt.Errorf("manifest document %d: %w", len(objs)+1, err)
		}
		if len(m) == 0 {
			continue // an empty document, between two "---"
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("manifest document %d: no kind or metadata.name", len(objs)+1)
		}
		objs = append(objs, u)
	}
}

// Render returns the objects of manifest (deploy/'s, in its order) for o:
// the roles of o.Roles (and the Namespace), every container's image set to
// o.Image, and o.Namespace in place of monitoring wherever an object is or
// names one (ServiceAccount subjects, the APIService's Service). The
// metrics API's RoleBinding stays in kube-system.
func Render(manifest []byte, o *Options) ([]*unstructured.Unstructured, error) {
	objs, err := Parse(manifest)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() != "Namespace" {
			role, ok := strings.CutPrefix(u.GetLabels()[roleLabel], "panoptes-")
			if !ok {
				return nil, fmt.Errorf("%s %s: no %s label naming its role", u.GetKind(), u.GetName(), roleLabel)
			}
			if !o.hasRole(role) {
				continue
			}
		}
		if err := setImage(u, o.Image); err != nil {
			return nil, err
		}
		if err := setNamespace(u, o.Namespace); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// setImage sets the image of every container and init container of a
// workload's pod template.
func setImage(u *unstructured.Unstructured, image string) error {
	for _, field := range []string{"containers", "initContainers"} {
		path := []string{"spec", "template", "spec", field}
		cs, found, err := unstructured.NestedSlice(u.Object, path...)
		if err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
		if !found {
			continue
		}
		for _, c := range cs {
			if m, ok := c.(map[string]any); ok {
				m["image"] = image
			}
		}
		if err := unstructured.SetNestedSlice(u.Object, cs, path...); err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// setNamespace moves u from monitoring to ns: its own namespace, the
// Namespace object's name, ServiceAccount subjects of role bindings, and
// the APIService's Service.
func setNamespace(u *unstructured.Unstructured, ns string) error {
	if ns == manifestNamespace {
		return nil
	}
	if u.GetNamespace() == manifestNamespace {
		u.SetNamespace(ns)
	}
	switch u.GetKind() {
	case "Namespace":
		if u.GetName() == manifestNamespace {
			u.SetName(ns)
		}
	case "RoleBinding", "ClusterRoleBinding":
		subjects, _, err := unstructured.NestedSlice(u.Object, "subjects")
		if err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
		for _, s := range subjects {
			if m, ok := s.(map[string]any); ok && m["namespace"] == manifestNamespace {
				m["namespace"] = ns
			}
		}
		if err := unstructured.SetNestedSlice(u.Object, subjects, "subjects"); err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
	case "APIService":
		if got, _, _ := unstructured.NestedString(u.Object, "spec", "service", "namespace"); got == manifestNamespace {
			if err := unstructured.SetNestedField(u.Object, ns, "spec", "service", "namespace"); err != nil {
				return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
			}
		}
	}
	return nil
}

// WriteYAML writes objs as YAML documents separated by "---", for
// `kubectl apply -f -`.
func WriteYAML(w io.Writer, objs []*unstructured.Unstructured) error {
	for i, u := range objs {
		b, err := yaml.Marshal(u.Object)
		if err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
