package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v2"
)

// stdGuard is the lean build's KubeletGuard: what k8s.io/apiserver's
// delegating authenticator and authorizer do, for the kubelet's case only,
// with the standard library. The agent on every node must not link
// client-go and apiserver (tens of MB, and their init in every node's
// memory), and the two reviews are one JSON POST each:
//   - a client certificate signed by ClientCAFile authenticates as its
//     CommonName with its Organizations as groups (and system:authenticated);
//   - else a bearer token is sent in an authentication.k8s.io/v1
//     TokenReview, whose answer is kept TokenWebhookCacheTTL; a token the
//     API server rejects is refused, never taken as anonymous;
//   - else, with Anonymous, the request is system:anonymous;
//   - an authorization.k8s.io/v1 SubjectAccessReview authorizes the user,
//     its allow kept AuthorizedTTL and its deny UnauthorizedTTL.
//
// Unlike the apiserver's, it reads ClientCAFile once, at start.
type stdGuard struct {
	o         KubeletAuthOptions
	clientCAs *x509.CertPool // nil: client certificates are ignored
	api       *apiClient     // nil when no review is needed
	tokens    *ttlCache[tokenResult]
	decisions *ttlCache[decision]
}

type tokenResult struct {
	u  KubeletUser
	ok bool
}

type decision struct {
	allowed bool
	reason  string
}

var _ KubeletGuard = (*stdGuard)(nil)

// NewStdKubeletGuard makes the standard library's KubeletGuard: the lean
// build's, and the full build's when nothing else is given.
func NewStdKubeletGuard(_ context.Context, o KubeletAuthOptions, logger *slog.Logger) (KubeletGuard, error) {
	g := &stdGuard{o: o, tokens: newTTLCache[tokenResult](), decisions: newTTLCache[decision]()}
	if o.ClientCAFile != "" {
		b, err := os.ReadFile(o.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read the client CA file: %w", err)
		}
		g.clientCAs = x509.NewCertPool()
		if !g.clientCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("client CA file %s holds no PEM certificate", o.ClientCAFile)
		}
	}
	if o.needsAPI() {
		var err error
		if g.api, err = newAPIClient(o.Kubeconfig); err != nil {
			return nil, err
		}
		logger.Info("kubelet endpoint: authenticating and authorizing through the API server", "api_server", g.api.base,
			"token_webhook", o.TokenWebhook, "authorization_mode", o.AuthorizationMode)
	}
	return g, nil
}

func (g *stdGuard) Authenticate(r *http.Request) (KubeletUser, bool, error) {
	var errs []error
	if g.clientCAs != nil && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		u, err := g.verifyClientCert(r.TLS.PeerCertificates)
		if err == nil {
			return u, true, nil
		}
		errs = append(errs, err)
	}
	if token, ok := bearerToken(r); ok && g.o.TokenWebhook {
		key := tokenKey(token)
		res, cached := g.tokens.get(key)
		if !cached {
			var err error
			res, err = g.reviewToken(r.Context(), token)
			if err != nil {
				return KubeletUser{}, false, errors.Join(append(errs, err)...)
			}
			g.tokens.put(key, res, g.o.TokenWebhookCacheTTL)
		}
		if res.ok {
			return res.u, true, nil
		}
		// As the apiserver's bearer-token authenticator: a token given and
		// rejected is an error, not an anonymous request.
		return KubeletUser{}, false, errors.Join(append(errs, errors.New("the API server rejected the bearer token"))...)
	}
	if g.o.Anonymous {
		return KubeletUser{Name: "system:anonymous", Groups: []string{"system:unauthenticated"}}, true, nil
	}
	return KubeletUser{}, false, errors.Join(errs...)
}

// verifyClientCert is the apiserver's x509 authenticator with
// CommonNameUserConversion.
func (g *stdGuard) verifyClientCert(chain []*x509.Certificate) (KubeletUser, error) {
	opts := x509.VerifyOptions{Roots: g.clientCAs, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := chain[0].Verify(opts); err != nil {
		return KubeletUser{}, fmt.Errorf("verify client certificate %q: %w", chain[0].Subject.CommonName, err)
	}
	cn := chain[0].Subject.CommonName
	if cn == "" {
		return KubeletUser{}, errors.New("client certificate has no common name")
	}
	groups := slices.Clone(chain[0].Subject.Organization)
	return KubeletUser{Name: cn, Groups: append(groups, "system:authenticated")}, nil
}

func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
		return "", false
	}
	return token, true
}

// tokenKey keeps the cache from holding the tokens themselves.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return string(sum[:])
}

func (g *stdGuard) reviewToken(ctx context.Context, token string) (tokenResult, error) {
	var review struct {
		Status struct {
			Authenticated bool   `json:"authenticated"`
			Error         string `json:"error"`
			User          struct {
				Username string              `json:"username"`
				UID      string              `json:"uid"`
				Groups   []string            `json:"groups"`
				Extra    map[string][]string `json:"extra"`
			} `json:"user"`
		} `json:"status"`
	}
	req := map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
		"spec": map[string]any{"token": token},
	}
	if err := g.api.post(ctx, "/apis/authentication.k8s.io/v1/tokenreviews", req, &review); err != nil {
		return tokenResult{}, fmt.Errorf("token review: %w", err)
	}
	s := review.Status
	if !s.Authenticated {
		return tokenResult{}, nil
	}
	return tokenResult{ok: true, u: KubeletUser{Name: s.User.Username, UID: s.User.UID, Groups: s.User.Groups, Extra: s.User.Extra}}, nil
}

func (g *stdGuard) Authorize(ctx context.Context, u KubeletUser, a KubeletAttributes) (bool, string, error) {
	if g.o.AuthorizationMode == AuthorizationAlwaysAllow {
		return true, "", nil
	}
	spec := map[string]any{
		"user": u.Name, "uid": u.UID, "groups": u.Groups, "extra": u.Extra,
		"resourceAttributes": map[string]any{
			"verb": a.Verb, "version": "v1", "resource": a.Resource, "subresource": a.Subresource, "name": a.Name,
		},
	}
	keyJSON, err := json.Marshal(spec)
	if err != nil {
		return false, "", fmt.Errorf("BUG: encode a subject access review: %w", err)
	}
	key := string(keyJSON)
	if d, ok := g.decisions.get(key); ok {
		return d.allowed, d.reason, nil
	}
	var review struct {
		Status struct {
			Allowed         bool   `json:"allowed"`
			Reason          string `json:"reason"`
			EvaluationError string `json:"evaluationError"`
		} `json:"status"`
	}
	req := map[string]any{"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
	if err := g.api.post(ctx, "/apis/authorization.k8s.io/v1/subjectaccessreviews", req, &review); err != nil {
		return false, "", fmt.Errorf("subject access review: %w", err)
	}
	d := decision{allowed: review.Status.Allowed, reason: review.Status.Reason}
	ttl := g.o.UnauthorizedTTL
	if d.allowed {
		ttl = g.o.AuthorizedTTL
	}
	g.decisions.put(key, d, ttl)
	return d.allowed, d.reason, nil
}

// apiClient posts reviews to the API server with the agent's own
// credentials.
type apiClient struct {
	base      string
	client    *http.Client
	token     string // static token, or
	tokenFile string // re-read on every review: projected tokens rotate
}

// The in-cluster service account, as client-go's rest.InClusterConfig
// reads it.
const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func newAPIClient(kubeconfig string) (*apiClient, error) {
	if kubeconfig == "" {
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return nil, errors.New("the kubelet endpoint's authentication needs the API server: not in a cluster (KUBERNETES_SERVICE_HOST unset) and no kubeconfig given")
		}
		ca, err := os.ReadFile(filepath.Join(saDir, "ca.crt"))
		if err != nil {
			return nil, fmt.Errorf("in-cluster API server CA: %w", err)
		}
		tlsCfg, err := clientTLS(ca, nil, nil, false)
		if err != nil {
			return nil, err
		}
		return &apiClient{base: "https://" + net.JoinHostPort(host, port), client: httpClient(tlsCfg), tokenFile: filepath.Join(saDir, "token")}, nil
	}
	return apiClientFromKubeconfig(kubeconfig)
}

// kubeconfigFile is the part of a kubeconfig the reviews need.
type kubeconfigFile struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server   string `yaml:"server"`
			CA       string `yaml:"certificate-authority"`
			CAData   string `yaml:"certificate-authority-data"`
			Insecure bool   `yaml:"insecure-skip-tls-verify"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Cert      string `yaml:"client-certificate"`
			CertData  string `yaml:"client-certificate-data"`
			Key       string `yaml:"client-key"`
			KeyData   string `yaml:"client-key-data"`
			Token     string `yaml:"token"`
			TokenFile string `yaml:"tokenFile"`
		} `yaml:"user"`
	} `yaml:"users"`
}

func apiClientFromKubeconfig(path string) (*apiClient, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig: %w", err)
	}
	var kc kubeconfigFile
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return nil, fmt.Errorf("parse kubeconfig %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	// data returns inline base64 data, or the file it names (relative to
	// the kubeconfig's directory).
	data := func(inline, file string) ([]byte, error) {
		if inline != "" {
			return base64.StdEncoding.DecodeString(inline)
		}
		if file == "" {
			return nil, nil
		}
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		return os.ReadFile(file)
	}
	var cur struct{ Cluster, User string }
	found := false
	for _, c := range kc.Contexts {
		if c.Name == kc.CurrentContext {
			cur.Cluster, cur.User, found = c.Context.Cluster, c.Context.User, true
		}
	}
	if !found {
		return nil, fmt.Errorf("kubeconfig %s: no context %q (its current-context)", path, kc.CurrentContext)
	}
	c := &apiClient{}
	var tlsCfg *tls.Config
	for _, cl := range kc.Clusters {
		if cl.Name != cur.Cluster {
			continue
		}
		ca, err := data(cl.Cluster.CAData, cl.Cluster.CA)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: cluster CA: %w", path, err)
		}
		c.base = strings.TrimSuffix(cl.Cluster.Server, "/")
		var cert, key []byte
		for _, u := range kc.Users {
			if u.Name != cur.User {
				continue
			}
			if cert, err = data(u.User.CertData, u.User.Cert); err != nil {
				return nil, fmt.Errorf("kubeconfig %s: client certificate: %w", path, err)
			}
			if key, err = data(u.User.KeyData, u.User.Key); err != nil {
				return nil, fmt.Errorf("kubeconfig %s: client key: %w", path, err)
			}
			c.token, c.tokenFile = u.User.Token, u.User.TokenFile
			if c.tokenFile != "" && !filepath.IsAbs(c.tokenFile) {
				c.tokenFile = filepath.Join(dir, c.tokenFile)
			}
		}
		if tlsCfg, err = clientTLS(ca, cert, key, cl.Cluster.Insecure); err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
		}
	}
	if c.base == "" {
		return nil, fmt.Errorf("kubeconfig %s: no server for cluster %q", path, cur.Cluster)
	}
	c.client = httpClient(tlsCfg)
	return c, nil
}

func clientTLS(ca, cert, key []byte, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // the kubeconfig's own choice
	if len(ca) > 0 {
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(ca) {
			return nil, errors.New("the API server's CA holds no PEM certificate")
		}
	}
	if len(cert) > 0 {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("client certificate and key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func httpClient(tlsCfg *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.Proxy = nil // reviews go to the API server directly, as the kubelet's
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// post sends in as JSON and decodes a 201 (or 200) answer into out.
func (c *apiClient) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	token := c.token
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return fmt.Errorf("read the service account token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode the answer of POST %s: %w", path, err)
	}
	return nil
}

// ttlCache keeps answers until they expire. It holds at most
// maxCacheEntries: past that it drops the expired ones, and if none had
// expired, all (a flood of distinct tokens must not grow the agent).
type ttlCache[V any] struct {
	mu sync.Mutex
	m  map[string]cacheEntry[V]
}

type cacheEntry[V any] struct {
	v       V
	expires time.Time
}

const maxCacheEntries = 4096

func newTTLCache[V any]() *ttlCache[V] { return &ttlCache[V]{m: map[string]cacheEntry[V]{}} }

func (c *ttlCache[V]) get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || time.Now().After(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[V]) put(k string, v V, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if len(c.m) >= maxCacheEntries {
		for k, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCacheEntries {
			clear(c.m)
		}
	}
	c.m[k] = cacheEntry[V]{v: v, expires: now.Add(ttl)}
}
