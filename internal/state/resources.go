package state

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/kube-state-metrics/v2/pkg/options"
)

// resource is where a kube-state-metrics resource is served, for the RBAC
// check at start and for the ClusterRole of deploy/state.
type resource struct {
	group, version string
	// namespaced resources are checked per namespace when --namespaces
	// names some.
	namespaced bool
	// kind names the Go type kube-state-metrics' store for it expects.
	kind string
}

// resources are the built-in resources of kube-state-metrics v2.20.0 (its
// builder's availableStores), with the group and version its list-watches
// use.
var resources = map[string]resource{
	"certificatesigningrequests":        {"certificates.k8s.io", "v1", false, "CertificateSigningRequest"},
	"clusterrolebindings":               {"rbac.authorization.k8s.io", "v1", false, "ClusterRoleBinding"},
	"clusterroles":                      {"rbac.authorization.k8s.io", "v1", false, "ClusterRole"},
	"configmaps":                        {"", "v1", true, "ConfigMap"},
	"cronjobs":                          {"batch", "v1", true, "CronJob"},
	"daemonsets":                        {"apps", "v1", true, "DaemonSet"},
	"deployments":                       {"apps", "v1", true, "Deployment"},
	"endpoints":                         {"", "v1", true, "Endpoints"},
	"endpointslices":                    {"discovery.k8s.io", "v1", true, "EndpointSlice"},
	"horizontalpodautoscalers":          {"autoscaling", "v2", true, "HorizontalPodAutoscaler"},
	"ingressclasses":                    {"networking.k8s.io", "v1", false, "IngressClass"},
	"ingresses":                         {"networking.k8s.io", "v1", true, "Ingress"},
	"jobs":                              {"batch", "v1", true, "Job"},
	"leases":                            {"coordination.k8s.io", "v1", true, "Lease"},
	"limitranges":                       {"", "v1", true, "LimitRange"},
	"mutatingadmissionpolicies":         {"admissionregistration.k8s.io", "v1", false, "MutatingAdmissionPolicy"},
	"mutatingadmissionpolicybindings":   {"admissionregistration.k8s.io", "v1", false, "MutatingAdmissionPolicyBinding"},
	"mutatingwebhookconfigurations":     {"admissionregistration.k8s.io", "v1", false, "MutatingWebhookConfiguration"},
	"namespaces":                        {"", "v1", false, "Namespace"},
	"networkpolicies":                   {"networking.k8s.io", "v1", true, "NetworkPolicy"},
	"nodes":                             {"", "v1", false, "Node"},
	"persistentvolumeclaims":            {"", "v1", true, "PersistentVolumeClaim"},
	"persistentvolumes":                 {"", "v1", false, "PersistentVolume"},
	"poddisruptionbudgets":              {"policy", "v1", true, "PodDisruptionBudget"},
	"pods":                              {"", "v1", true, "Pod"},
	"replicasets":                       {"apps", "v1", true, "ReplicaSet"},
	"replicationcontrollers":            {"", "v1", true, "ReplicationController"},
	"resourcequotas":                    {"", "v1", true, "ResourceQuota"},
	"rolebindings":                      {"rbac.authorization.k8s.io", "v1", true, "RoleBinding"},
	"roles":                             {"rbac.authorization.k8s.io", "v1", true, "Role"},
	"secrets":                           {"", "v1", true, "Secret"},
	"serviceaccounts":                   {"", "v1", true, "ServiceAccount"},
	"services":                          {"", "v1", true, "Service"},
	"statefulsets":                      {"apps", "v1", true, "StatefulSet"},
	"storageclasses":                    {"storage.k8s.io", "v1", false, "StorageClass"},
	"validatingadmissionpolicies":       {"admissionregistration.k8s.io", "v1", false, "ValidatingAdmissionPolicy"},
	"validatingadmissionpolicybindings": {"admissionregistration.k8s.io", "v1", false, "ValidatingAdmissionPolicyBinding"},
	"validatingwebhookconfigurations":   {"admissionregistration.k8s.io", "v1", false, "ValidatingWebhookConfiguration"},
	"volumeattachments":                 {"storage.k8s.io", "v1", false, "VolumeAttachment"},
}

// DefaultResources are the resources served when none are named:
// kube-state-metrics' default set, sorted.
func DefaultResources() []string {
	names := options.DefaultResources.AsSlice()
	sort.Strings(names)
	return names
}

// OtherResources are the built-in resources beyond the default set, sorted:
// served only when Options.Resources names them.
func OtherResources() []string {
	var out []string
	for _, r := range Resources() {
		if _, def := options.DefaultResources[r]; !def {
			out = append(out, r)
		}
	}
	return out
}

// Resources are all the built-in resources that Options.Resources accepts,
// sorted.
func Resources() []string {
	names := make([]string, 0, len(resources))
	for n := range resources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CheckResources returns an error naming the resources that are not
// built-in ones.
func CheckResources(names []string) error {
	var unknown []string
	for _, n := range names {
		if _, ok := resources[n]; !ok {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown resources %s; known: %s", strings.Join(unknown, ","), strings.Join(Resources(), ","))
	}
	return nil
}

// Rule is one RBAC PolicyRule: verbs on resources of an API group.
type Rule struct {
	APIGroups []string `json:"apiGroups"`
	Resources []string `json:"resources"`
	Verbs     []string `json:"verbs"`
}

// RBACRules are the least ClusterRole rules that serving names needs: list
// and watch on each, grouped by API group. Unknown names are left out
// (CheckResources reports them).
func RBACRules(names []string) []Rule {
	byGroup := map[string][]string{}
	for _, n := range names {
		r, ok := resources[n]
		if !ok {
			continue
		}
		if !slices.Contains(byGroup[r.group], n) {
			byGroup[r.group] = append(byGroup[r.group], n)
		}
	}
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	rules := make([]Rule, 0, len(groups))
	for _, g := range groups {
		rs := byGroup[g]
		sort.Strings(rs)
		rules = append(rules, Rule{APIGroups: []string{g}, Resources: rs, Verbs: []string{"list", "watch"}})
	}
	return rules
}

// ClusterRoleYAML renders the ClusterRole named name that grants RBACRules(names).
func ClusterRoleYAML(name string, names []string) string {
	var b strings.Builder
	b.WriteString("# Generated from internal/state's resource list by\n")
	b.WriteString("# `go test ./internal/state -run TestClusterRole -update`; a test fails when it drifts.\n")
	b.WriteString("# kube-state-metrics' default resources, list and watch only.\n")
	b.WriteString("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n")
	fmt.Fprintf(&b, "  name: %s\n  labels:\n    app.kubernetes.io/name: panoptes-state\nrules:\n", name)
	for _, r := range RBACRules(names) {
		fmt.Fprintf(&b, "  - apiGroups: [%q]\n    resources:\n", r.APIGroups[0])
		for _, res := range r.Resources {
			fmt.Fprintf(&b, "      - %s\n", res)
		}
		b.WriteString("    verbs: [list, watch]\n")
	}
	return b.String()
}
