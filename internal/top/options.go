package top

import (
	"errors"
	"time"

	"github.com/panoptes-dev/panoptes/internal/option"
)

// Options say what to list and where to read it, with kubectl top's names.
type Options struct {
	// Kubeconfig is the kubeconfig's path; empty means $KUBECONFIG,
	// ~/.kube/config, or in-cluster.
	Kubeconfig string
	// Context is the kubeconfig context; empty means its current one.
	Context string
	// Agent is the URL of a panoptes agent to read instead of the metrics
	// API; empty means the metrics API when a kubeconfig is found, else
	// DefaultAgent.
	Agent string
	// Interval is the time between the agent's two reads the CPU rate is
	// taken over.
	Interval time.Duration

	// Namespace lists one namespace's pods; AllNamespaces lists all.
	Namespace     string
	AllNamespaces bool
	// Selector is a label selector.
	Selector string
	// SortBy is "", "cpu" or "memory" (largest first, as kubectl).
	SortBy string
	// NoHeaders leaves the header line out.
	NoHeaders bool
	// UseCapacity takes percentages of capacity instead of allocatable
	// (kubectl top node --show-capacity).
	UseCapacity bool
}

// DefaultAgent is the agent read on a host without a kubeconfig.
const DefaultAgent = "http://127.0.0.1:9100"

// NewOptions returns the defaults: the metrics API of the kubeconfig's
// cluster, or this host's agent read one second apart.
func NewOptions() *Options {
	return &Options{Interval: time.Second}
}

// Validate reports options out of range.
func (o *Options) Validate() error {
	var errs []error
	if o.SortBy != "" && o.SortBy != "cpu" && o.SortBy != "memory" {
		errs = append(errs, option.Invalid("SortBy", "%q: must be cpu or memory", o.SortBy))
	}
	if o.Interval <= 0 {
		errs = append(errs, option.Invalid("Interval", "%v: must be positive", o.Interval))
	}
	return errors.Join(errs...)
}
