// Package kubewatch holds what the server's watchers of prometheus-operator's
// custom resources (kuberules: PrometheusRule; monitors: ServiceMonitor,
// PodMonitor, Probe) share: the client config, whether the API server
// serves a resource, the Event recorder, the informers' transform and the
// one-line form of an error for logs and Events.
package kubewatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"github.com/panoptes-dev/panoptes/internal/option"
)

// RestConfig is the kubeconfig's client config, or the pod's in-cluster
// one when kubeconfig is empty. Its errors name the option Kubeconfig.
func RestConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, option.Invalid("Kubeconfig", "not running in a pod (%w): give a kubeconfig file", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, option.Invalid("Kubeconfig", "%w", err)
	}
	return cfg, nil
}

// Served asks the API server's discovery whether it serves the resource.
// Discovery is open to every authenticated identity (system:discovery), so
// this needs no RBAC on CRDs.
func Served(ctx context.Context, kube kubernetes.Interface, gvr schema.GroupVersionResource) (bool, error) {
	gv := gvr.GroupVersion().String()
	// The discovery client's own call takes no context; this one ends
	// with ctx, so that a watcher stops promptly when the API server hangs.
	raw, err := kube.Discovery().RESTClient().Get().AbsPath("/apis", gv).
		SetHeader("Accept", "application/json").Do(ctx).Raw()
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discovery of %s: %w", gv, err)
	}
	var list metav1.APIResourceList
	if err := json.Unmarshal(raw, &list); err != nil {
		return false, fmt.Errorf("discovery of %s: %w", gv, err)
	}
	for _, r := range list.APIResources {
		if r.Name == gvr.Resource {
			return true, nil
		}
	}
	return false, nil
}

// NewRecorder returns an event recorder that writes Events through the API
// server, and the function that stops it. An identity without the right
// to create Events gets a log line from client-go per event, and the
// watcher works the same.
func NewRecorder(ctx context.Context, kube kubernetes.Interface) (record.EventRecorder, func()) {
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "panoptes-server"}), b.Shutdown
}

// DropManagedFields is the informers' transform: managedFields are most of
// a small object's bytes and are never read.
func DropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// OneLine joins a multi-error's lines for a log line or an Event.
func OneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
