// Package kubeletauth authenticates and authorizes the agent's
// kubelet-shaped endpoint with k8s.io/apiserver's delegating authenticator
// (client certificates, TokenReview) and authorizer (SubjectAccessReview),
// the kubelet's own, with their caches. The full build wires it into
// `panoptes agent`; the lean agent build must not link it (client-go and
// apiserver), and uses the agent's standard-library guard instead.
//
// It imports the agent's types only; nothing under internal/agent may
// import it.
package kubeletauth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	apiserverapi "k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	authenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/panoptes-dev/panoptes/internal/agent"
	"github.com/panoptes-dev/panoptes/internal/version"
)

// reviewTimeout bounds one TokenReview, as the kubelet's 10 s.
const reviewTimeout = 10 * time.Second

// retryBackoff is the apiserver's DefaultAuthWebhookRetryBackoff (not
// imported: pkg/server/options would link the whole generic API server).
func retryBackoff() *wait.Backoff {
	return &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
}

// guard adapts the delegating authenticator and authorizer to the agent's
// KubeletGuard.
type guard struct {
	authn authenticator.Request
	authz authorizer.Authorizer
}

var _ agent.KubeletGuard = (*guard)(nil)

// New makes the delegating guard o describes; the client CA file is
// reloaded when it changes until ctx ends.
func New(ctx context.Context, o agent.KubeletAuthOptions, logger *slog.Logger) (agent.KubeletGuard, error) {
	var cfg *rest.Config
	if o.TokenWebhook || o.AuthorizationMode == agent.AuthorizationWebhook {
		var err error
		if cfg, err = restConfig(o.Kubeconfig); err != nil {
			return nil, err
		}
		logger.Info("kubelet endpoint: authenticating and authorizing through the API server (k8s.io/apiserver delegating)", "api_server", cfg.Host,
			"token_webhook", o.TokenWebhook, "authorization_mode", o.AuthorizationMode)
	}
	ac := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserverapi.AnonymousAuthConfig{Enabled: o.Anonymous},
		TokenAccessReviewTimeout: reviewTimeout,
		WebhookRetryBackoff:      retryBackoff(),
		CacheTTL:                 o.TokenWebhookCacheTTL,
	}
	if o.TokenWebhook {
		c, err := authenticationv1.NewForConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("TokenReview client: %w", err)
		}
		ac.TokenAccessReviewClient = c
	}
	if o.ClientCAFile != "" {
		ca, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca-bundle", o.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client CA file: %w", err)
		}
		go ca.Run(ctx, 1)
		ac.ClientCertificateCAContentProvider = ca
	}
	authn, _, err := ac.New()
	if err != nil {
		return nil, fmt.Errorf("delegating authenticator: %w", err)
	}
	g := &guard{authn: authn}
	if o.AuthorizationMode == agent.AuthorizationAlwaysAllow {
		g.authz = authorizerfactory.NewAlwaysAllowAuthorizer()
		return g, nil
	}
	c, err := authorizationv1.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("SubjectAccessReview client: %w", err)
	}
	if g.authz, err = (authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: c,
		AllowCacheTTL:             o.AuthorizedTTL,
		DenyCacheTTL:              o.UnauthorizedTTL,
		WebhookRetryBackoff:       retryBackoff(),
	}).New(); err != nil {
		return nil, fmt.Errorf("delegating authorizer: %w", err)
	}
	return g, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("the kubelet endpoint's authentication needs the API server (give --kubeconfig outside a cluster): %w", err)
	}
	cfg.UserAgent = "panoptes-agent/" + version.Get().Version
	return cfg, nil
}

func (g *guard) Authenticate(r *http.Request) (agent.KubeletUser, bool, error) {
	resp, ok, err := g.authn.AuthenticateRequest(r)
	if err != nil || !ok {
		return agent.KubeletUser{}, false, err
	}
	u := resp.User
	return agent.KubeletUser{Name: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(), Extra: u.GetExtra()}, true, nil
}

func (g *guard) Authorize(ctx context.Context, u agent.KubeletUser, a agent.KubeletAttributes) (bool, string, error) {
	d, reason, err := g.authz.Authorize(ctx, authorizer.AttributesRecord{
		User:            &user.DefaultInfo{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra},
		Verb:            a.Verb,
		APIVersion:      "v1",
		Resource:        a.Resource,
		Subresource:     a.Subresource,
		Name:            a.Name,
		ResourceRequest: true,
		Path:            a.Path,
	})
	if err != nil {
		return false, reason, fmt.Errorf("authorize %s: %w", u.Name, err)
	}
	return d == authorizer.DecisionAllow, reason, nil
}
