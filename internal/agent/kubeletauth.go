package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/panoptes-dev/panoptes/internal/option"
)

// The kubelet's --authorization-mode values the kubelet-shaped endpoint
// accepts.
const (
	// AuthorizationWebhook asks the API server with a SubjectAccessReview.
	AuthorizationWebhook = "Webhook"
	// AuthorizationAlwaysAllow lets every authenticated request through.
	AuthorizationAlwaysAllow = "AlwaysAllow"
)

// KubeletAuthOptions are how the kubelet-shaped endpoint authenticates and
// authorizes its clients, with the kubelet's flags and cache lifetimes. The
// defaults are the secure ones (the kubelet's own flag defaults are not):
// no anonymous requests, bearer tokens checked with a TokenReview, every
// request authorized with a SubjectAccessReview.
type KubeletAuthOptions struct {
	// Anonymous lets a request without accepted credentials through as
	// system:anonymous (group system:unauthenticated), to be authorized as
	// such (--anonymous-auth).
	Anonymous bool
	// ClientCAFile is a PEM bundle: a client certificate it signed
	// authenticates as its CommonName, with its Organizations as groups
	// (--client-ca-file). Empty: client certificates are ignored.
	ClientCAFile string
	// TokenWebhook checks bearer tokens with a TokenReview
	// (--authentication-token-webhook).
	TokenWebhook bool
	// TokenWebhookCacheTTL is how long a TokenReview's answer is kept
	// (--authentication-token-webhook-cache-ttl).
	TokenWebhookCacheTTL time.Duration
	// AuthorizationMode is AuthorizationWebhook or AuthorizationAlwaysAllow
	// (--authorization-mode).
	AuthorizationMode string
	// AuthorizedTTL and UnauthorizedTTL are how long a SubjectAccessReview's
	// allow and deny are kept.
	AuthorizedTTL, UnauthorizedTTL time.Duration
	// Kubeconfig reaches the API server for the reviews; empty: the
	// in-cluster service account.
	Kubeconfig string
}

// NewKubeletAuthOptions returns the defaults: the kubelet's cache lifetimes,
// and the settings a secure kubelet deployment uses.
func NewKubeletAuthOptions() KubeletAuthOptions {
	return KubeletAuthOptions{
		TokenWebhook:         true,
		TokenWebhookCacheTTL: 2 * time.Minute,
		AuthorizationMode:    AuthorizationWebhook,
		AuthorizedTTL:        5 * time.Minute,
		UnauthorizedTTL:      30 * time.Second,
	}
}

// Validate reports a mode it does not know, negative lifetimes, and
// settings that would refuse every request.
func (o *KubeletAuthOptions) Validate() error {
	var errs []error
	switch o.AuthorizationMode {
	case AuthorizationWebhook, AuthorizationAlwaysAllow:
	default:
		errs = append(errs, option.Invalid("AuthorizationMode", "%q: must be %s or %s", o.AuthorizationMode, AuthorizationWebhook, AuthorizationAlwaysAllow))
	}
	for field, d := range map[string]time.Duration{"TokenWebhookCacheTTL": o.TokenWebhookCacheTTL, "AuthorizedTTL": o.AuthorizedTTL, "UnauthorizedTTL": o.UnauthorizedTTL} {
		if d < 0 {
			errs = append(errs, option.Invalid(field, "%v: must be 0 (no cache) or more", d))
		}
	}
	if !o.Anonymous && !o.TokenWebhook && o.ClientCAFile == "" {
		errs = append(errs, option.Invalid("TokenWebhook", "with no client CA and anonymous requests refused, no request could be authenticated"))
	}
	return errors.Join(errs...)
}

// needsAPI reports whether the options ask the API server anything.
func (o *KubeletAuthOptions) needsAPI() bool {
	return o.TokenWebhook || o.AuthorizationMode == AuthorizationWebhook
}

// KubeletUser is who made a request, as an authenticator found it.
type KubeletUser struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// KubeletAttributes are what a request asks to do, in the kubelet's terms:
// a verb on nodes/<subresource> named after the node.
type KubeletAttributes struct {
	Verb        string
	Resource    string
	Subresource string
	Name        string
	Path        string
}

// KubeletGuard authenticates and authorizes the requests to the
// kubelet-shaped endpoint. The lean build's is newStdGuard (the standard
// library); the full build's uses k8s.io/apiserver's delegating
// authenticator and authorizer (internal/kubeletauth).
type KubeletGuard interface {
	// Authenticate returns who made r; ok is false when r carries no
	// credentials the guard accepts.
	Authenticate(r *http.Request) (u KubeletUser, ok bool, err error)
	// Authorize decides whether u may do a; reason says why not.
	Authorize(ctx context.Context, u KubeletUser, a KubeletAttributes) (allowed bool, reason string, err error)
}

// NewKubeletGuardFunc makes a KubeletGuard; ctx bounds its background work
// (reloading the client CA).
type NewKubeletGuardFunc func(ctx context.Context, o KubeletAuthOptions, logger *slog.Logger) (KubeletGuard, error)

// KubeletRequestAttributes maps a request to the kubelet's authorization
// attributes as the kubelet does (pkg/kubelet/server/auth.go): the verb from
// the method (GET is get, POST create, PUT update, PATCH patch, DELETE
// delete; any other, HEAD included, none, which no role grants), resource
// nodes named node, subresource stats under /stats, metrics under
// /metrics, healthz for /healthz (the kubelet's fine-grained mapping) and
// proxy for anything else.
func KubeletRequestAttributes(method, path, node string) KubeletAttributes {
	verb := ""
	switch method {
	case http.MethodPost:
		verb = "create"
	case http.MethodGet:
		verb = "get"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
	}
	sub := "proxy"
	switch {
	case isSubpath(path, "/stats"):
		sub = "stats"
	case isSubpath(path, "/metrics"):
		sub = "metrics"
	case isSubpath(path, "/logs"):
		sub = "log"
	case isSubpath(path, "/spec"):
		sub = "spec"
	case path == "/healthz":
		sub = "healthz"
	}
	return KubeletAttributes{Verb: verb, Resource: "nodes", Subresource: sub, Name: node, Path: path}
}

// isSubpath reports whether p is dir or under it: /metrics and
// /metrics/resource are, /metricsx is not.
func isSubpath(p, dir string) bool {
	return p == dir || (strings.HasPrefix(p, dir) && p[len(dir)] == '/')
}

// guardHandler is the kubelet's auth filter: 401 without accepted
// credentials, 403 when the authorizer says no, 500 when it cannot say.
func guardHandler(g KubeletGuard, node string, logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok, err := g.Authenticate(r)
		if err != nil {
			logger.Warn("kubelet endpoint: authentication failed", "err", err, "remote", r.RemoteAddr)
		}
		if !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		a := KubeletRequestAttributes(r.Method, r.URL.Path, node)
		allowed, reason, err := g.Authorize(r.Context(), u, a)
		desc := fmt.Sprintf("user=%s, verb=%s, resource=%s, subresource=%s", u.Name, a.Verb, a.Resource, a.Subresource)
		if err != nil {
			logger.Warn("kubelet endpoint: authorization failed", "err", err, "user", u.Name, "path", r.URL.Path)
			http.Error(w, "Authorization error ("+desc+")", http.StatusInternalServerError)
			return
		}
		if !allowed {
			logger.Debug("kubelet endpoint: forbidden", "user", u.Name, "path", r.URL.Path, "reason", reason)
			http.Error(w, "Forbidden ("+desc+")", http.StatusForbidden)
			return
		}
		// The token was for us; the handlers behind have no use for it.
		r.Header.Del("Authorization")
		next.ServeHTTP(w, r)
	})
}
