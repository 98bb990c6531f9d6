package top

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// Source lists usage: the metrics API (API) or an agent (Agent).
type Source interface {
	Nodes(ctx context.Context, o Options) ([]Row, error)
	Pods(ctx context.Context, containers bool, o Options) ([]Row, error)
}

var (
	_ Source = (*API)(nil)
	_ Source = (*Agent)(nil)
)

// NewSource validates o and picks where to read: the agent of o.Agent; else
// the metrics API when a kubeconfig is found; else, with no cluster
// configured at all, this host's agent (DefaultAgent). It fills in o's
// namespace: the kubeconfig's for the metrics API, all for an agent.
func NewSource(o *Options) (Source, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	agent := func(url string) Source {
		if o.Namespace == "" {
			o.AllNamespaces = true
		}
		return &Agent{URL: url, Client: &http.Client{Timeout: 10 * time.Second}, Interval: o.Interval}
	}
	if o.Agent != "" {
		return agent(o.Agent), nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if o.Kubeconfig != "" || o.Context != "" || !clientcmd.IsEmptyConfig(err) {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		// No cluster configured: this host's agent.
		return agent(DefaultAgent), nil
	}
	if o.Namespace == "" {
		if ns, _, err := cc.Namespace(); err == nil {
			o.Namespace = ns
		}
	}
	return NewAPI(cfg)
}

// Nodes prints the nodes' table to w, as kubectl top nodes. Nodes the metrics
// API has no metrics for yet are listed as unknown.
func Nodes(ctx context.Context, w io.Writer, o *Options) error {
	src, err := NewSource(o)
	if err != nil {
		return err
	}
	rows, err := src.Nodes(ctx, *o)
	if err != nil && !(errors.Is(err, ErrNoMetrics) && len(rows) > 0) {
		return err
	}
	return PrintNodes(w, rows, *o)
}

// Pods prints the pods' (or, with containers, their containers') table to w,
// as kubectl top pods.
func Pods(ctx context.Context, w io.Writer, containers bool, o *Options) error {
	src, err := NewSource(o)
	if err != nil {
		return err
	}
	rows, err := src.Pods(ctx, containers, *o)
	if err != nil {
		return err
	}
	return PrintPods(w, rows, containers, *o)
}
