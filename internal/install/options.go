package install

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/panoptes-dev/panoptes/internal/option"
	"github.com/panoptes-dev/panoptes/internal/version"
)

// The values of Options.DryRun, kubectl's.
const (
	DryRunNone   = "none"
	DryRunClient = "client"
	DryRunServer = "server"
)

// FieldManager is the server-side apply field manager of every object
// `panoptes install` applies.
const FieldManager = "panoptes-install"

// Roles are the roles deploy/ deploys, in its order; each role's objects
// carry the label app.kubernetes.io/name: panoptes-<role>.
var Roles = []string{"agent", "server", "state", "metrics-api"}

// Options say what to deploy and how.
type Options struct {
	// Image is the image of every container (init containers included);
	// the agent's containers run its lean build from the same image.
	Image string
	// Namespace is where the roles run (deploy/'s is monitoring).
	Namespace string
	// Roles are the roles to deploy, a subset of Roles.
	Roles []string
	// DryRun is DryRunNone (apply), DryRunClient (print the objects) or
	// DryRunServer (send them with dryRun=All: the API server validates
	// and admits them, and stores nothing).
	DryRun string
	// Kubeconfig is the kubeconfig's path; empty means $KUBECONFIG,
	// ~/.kube/config, or in-cluster. Context is its context; empty means
	// the current one.
	Kubeconfig, Context string
	// ReplaceMetricsServer takes the metrics API (APIService
	// v1beta1.metrics.k8s.io) over from whoever serves it, without checking
	// and forcing its fields; without it an APIService that is not ours is
	// refused.
	ReplaceMetricsServer bool
	// ForceConflicts takes every field over from other field managers, as
	// kubectl apply --server-side --force-conflicts.
	ForceConflicts bool
	// Timeout bounds each request to the API server.
	Timeout time.Duration
}

// NewOptions returns the defaults: every role into monitoring with this
// build's image, applied.
func NewOptions() *Options {
	return &Options{
		Image:     DefaultImage(),
		Namespace: "monitoring",
		Roles:     slices.Clone(Roles),
		DryRun:    DryRunNone,
		Timeout:   30 * time.Second,
	}
}

// DefaultImage is the image the Dockerfile builds (the README tags it
// `panoptes:<tag>`) at this build's version: panoptes:v1.2.3, or
// panoptes:latest for a build without a version stamp, as the README's
// `docker build -t panoptes:latest .` makes.
func DefaultImage() string {
	return "panoptes:" + imageTag(version.Get().Version)
}

// imageTag makes v a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}):
// Go's pseudo-versions carry "+dirty", which a tag cannot.
func imageTag(v string) string {
	if v == "" || v == "dev" {
		return "latest"
	}
	t := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, v)
	if t[0] == '.' || t[0] == '-' {
		t = "v" + t
	}
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

var (
	// dnsLabel is a namespace name (RFC 1123 label).
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// imageRef is a loose image reference: no spaces or upper-case
	// repository, an optional tag or digest.
	imageRef = regexp.MustCompile(`^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`)
)

// Validate reports options out of range.
func (o *Options) Validate() error {
	var errs []error
	if !imageRef.MatchString(o.Image) {
		errs = append(errs, option.Invalid("Image", "%q is not an image reference (such as registry.example/panoptes:v1.0.0)", o.Image))
	}
	if len(o.Namespace) > 63 || !dnsLabel.MatchString(o.Namespace) {
		errs = append(errs, option.Invalid("Namespace", "%q is not a namespace name (lower-case letters, digits and '-', at most 63)", o.Namespace))
	}
	if len(o.Roles) == 0 {
		errs = append(errs, option.Invalid("Roles", "no role: name one or more of %s", strings.Join(Roles, ", ")))
	}
	for _, r := range o.Roles {
		if !slices.Contains(Roles, r) {
			errs = append(errs, option.Invalid("Roles", "%q is not one of %s", r, strings.Join(Roles, ", ")))
		}
	}
	switch o.DryRun {
	case DryRunNone, DryRunClient, DryRunServer:
	default:
		errs = append(errs, option.Invalid("DryRun", "%q must be none, client or server", o.DryRun))
	}
	if o.Timeout <= 0 {
		errs = append(errs, option.Invalid("Timeout", "%v: must be positive", o.Timeout))
	}
	return errors.Join(errs...)
}

// hasRole says whether role is to be deployed.
func (o *Options) hasRole(role string) bool { return slices.Contains(o.Roles, role) }

// metricsService is the Service the APIService of our metrics API names.
func (o *Options) metricsService() string {
	return fmt.Sprintf("%s/%s", o.Namespace, metricsAPIService)
}
