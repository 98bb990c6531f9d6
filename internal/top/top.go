package top

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// Row is one line of the table.
type Row struct {
	Namespace, Name, Container string
	CPU, Memory                resource.Quantity
	// CPUAvail and MemAvail are what percentages are taken of (a node's
	// allocatable); zero leaves the percentage out.
	CPUAvail, MemAvail resource.Quantity
	// Unknown marks a node without metrics (kubectl prints <unknown>).
	Unknown bool
	// Ephemeral is the pod's ephemeral storage (the container's writable
	// layer and logs with --containers), from the agent's /stats/summary;
	// nil where unknown. The metrics API has no such field: reading it, the
	// column is left out.
	Ephemeral *resource.Quantity
}

// ErrNoMetrics says the metrics API answered but had nothing to list.
var ErrNoMetrics = errors.New("metrics not available yet")

// sortRows orders rows by name, or by CPU or memory, largest first.
func sortRows(rows []Row, by string) error {
	key := func(r Row) string { return r.Namespace + "/" + r.Name + "/" + r.Container }
	switch by {
	case "":
		sort.SliceStable(rows, func(i, j int) bool { return key(rows[i]) < key(rows[j]) })
	case "cpu":
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].CPU.Cmp(rows[j].CPU) > 0 })
	case "memory":
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].Memory.Cmp(rows[j].Memory) > 0 })
	default:
		return fmt.Errorf("--sort-by %q: must be cpu or memory", by)
	}
	return nil
}

func cpuCell(q resource.Quantity) string { return fmt.Sprintf("%vm", q.MilliValue()) }
func memCell(q resource.Quantity) string { return fmt.Sprintf("%vMi", q.Value()/(1024*1024)) }

// pct is kubectl's percentage: the milli-values' ratio, truncated.
func pct(used, avail resource.Quantity) string {
	if avail.IsZero() {
		return "<unknown>"
	}
	return fmt.Sprintf("%d%%", int64(float64(used.MilliValue())/float64(avail.MilliValue())*100))
}

// newTabWriter is kubectl's printers.GetNewTabWriter.
func newTabWriter(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 6, 4, 3, ' ', 0) }

// PrintNodes writes kubectl top nodes' table; as kubectl, the nodes without
// metrics come last.
func PrintNodes(w io.Writer, rows []Row, o Options) error {
	var known, unknown []Row
	for _, r := range rows {
		if r.Unknown {
			unknown = append(unknown, r)
		} else {
			known = append(known, r)
		}
	}
	if err := sortRows(known, o.SortBy); err != nil {
		return err
	}
	_ = sortRows(unknown, "")
	rows = append(known, unknown...)
	tw := newTabWriter(w)
	if !o.NoHeaders {
		fmt.Fprintln(tw, "NAME\tCPU(cores)\tCPU(%)\tMEMORY(bytes)\tMEMORY(%)\t")
	}
	for _, r := range rows {
		if r.Unknown {
			fmt.Fprintf(tw, "%s\t<unknown>\t<unknown>\t<unknown>\t<unknown>\t\n", r.Name)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Name, cpuCell(r.CPU), pct(r.CPU, r.CPUAvail), memCell(r.Memory), pct(r.Memory, r.MemAvail))
	}
	return tw.Flush()
}

// PrintPods writes kubectl top pods' table; rows with a Container are
// printed as with --containers.
func PrintPods(w io.Writer, rows []Row, containers bool, o Options) error {
	if err := sortRows(rows, o.SortBy); err != nil {
		return err
	}
	// The ephemeral storage column only where some row has the figure
	// (the agent's summary), so the metrics API's table stays kubectl's.
	ephemeral := false
	for _, r := range rows {
		ephemeral = ephemeral || r.Ephemeral != nil
	}
	tw := newTabWriter(w)
	if !o.NoHeaders {
		var h []string
		if o.AllNamespaces {
			h = append(h, "NAMESPACE")
		}
		if containers {
			h = append(h, "POD")
		}
		h = append(h, "NAME", "CPU(cores)", "MEMORY(bytes)")
		if ephemeral {
			h = append(h, "EPHEMERAL-STORAGE(bytes)")
		}
		fmt.Fprintln(tw, strings.Join(h, "\t")+"\t")
	}
	for _, r := range rows {
		var cells []string
		if o.AllNamespaces {
			cells = append(cells, r.Namespace)
		}
		cells = append(cells, r.Name)
		if containers {
			cells = append(cells, r.Container)
		}
		cells = append(cells, cpuCell(r.CPU), memCell(r.Memory))
		if ephemeral {
			e := "<unknown>"
			if r.Ephemeral != nil {
				e = memCell(*r.Ephemeral)
			}
			cells = append(cells, e)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	return tw.Flush()
}

// API reads the metrics API of a cluster.
type API struct {
	core    kubernetes.Interface
	metrics metricsclient.Interface
}

// NewAPI returns a reader for the cluster of cfg.
func NewAPI(cfg *rest.Config) (*API, error) {
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for the Kubernetes API: %w", err)
	}
	m, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for metrics.k8s.io: %w", err)
	}
	return &API{core: core, metrics: m}, nil
}

// Nodes lists node usage with the nodes' allocatable (or capacity), nodes
// without metrics as unknown, as kubectl top nodes.
func (a *API) Nodes(ctx context.Context, o Options) ([]Row, error) {
	list, err := a.metrics.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
	if err != nil {
		return nil, fmt.Errorf("list node metrics (is a metrics API, panoptes metrics-api or metrics-server, registered?): %w", err)
	}
	nodes, err := a.core.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	byName := map[string]int{}
	for i, m := range list.Items {
		byName[m.Name] = i
	}
	var rows []Row
	for _, n := range nodes.Items {
		i, ok := byName[n.Name]
		if !ok {
			rows = append(rows, Row{Name: n.Name, Unknown: true})
			continue
		}
		avail := n.Status.Allocatable
		if o.UseCapacity {
			avail = n.Status.Capacity
		}
		m := list.Items[i]
		rows = append(rows, Row{Name: n.Name, CPU: m.Usage[corev1.ResourceCPU], Memory: m.Usage[corev1.ResourceMemory],
			CPUAvail: avail[corev1.ResourceCPU], MemAvail: avail[corev1.ResourceMemory]})
	}
	if len(list.Items) == 0 {
		return rows, ErrNoMetrics
	}
	return rows, nil
}

// Pods lists pod usage (one row per container with containers), as
// kubectl top pods.
func (a *API) Pods(ctx context.Context, containers bool, o Options) ([]Row, error) {
	ns := o.Namespace
	if o.AllNamespaces {
		ns = metav1.NamespaceAll
	}
	list, err := a.metrics.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
	if err != nil {
		return nil, fmt.Errorf("list pod metrics (is a metrics API, panoptes metrics-api or metrics-server, registered?): %w", err)
	}
	if len(list.Items) == 0 {
		return nil, ErrNoMetrics
	}
	var rows []Row
	for _, p := range list.Items {
		if containers {
			for _, c := range p.Containers {
				rows = append(rows, Row{Namespace: p.Namespace, Name: p.Name, Container: c.Name,
					CPU: c.Usage[corev1.ResourceCPU], Memory: c.Usage[corev1.ResourceMemory]})
			}
			continue
		}
		r := Row{Namespace: p.Namespace, Name: p.Name}
		for _, c := range p.Containers {
			r.CPU.Add(c.Usage[corev1.ResourceCPU])
			r.Memory.Add(c.Usage[corev1.ResourceMemory])
		}
		rows = append(rows, r)
	}
	return rows, nil
}
