// Package k8s gives tests a real Kubernetes control plane: the
// kube-apiserver and etcd that hack/k8s-testenv builds and starts on
// loopback, with certificates, a service-account key, RBAC and the
// front-proxy (requestheader) flags that API aggregation needs. There are no
// kubelets or controllers: tests create Node and Pod objects and patch their
// status themselves.
//
// It is test support only: import it from _test.go files, never from
// Panoptes itself.
//
// A package's tests share one control plane, started on first use by Start
// (or by Setup from a TestMain) with its own state directory under a
// temporary directory, and stopped by hack/k8s-testenv/down.sh at the end: by
// Main or Setup's stop function, or else by up.sh's watchdog as soon as the
// test binary exits. When K8S_TESTENV_KUBECONFIG names a kubeconfig, or
// KUBECONFIG names one that up.sh wrote (its cluster is named k8s-testenv), that
// cluster is used instead and left running. The binaries come from
// hack/k8s-testenv/build.sh (run by `make deps`); without them the tests skip,
// or fail when CI=true.
package k8s

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// ErrNotBuilt is returned (wrapped) by Setup when kube-apiserver or etcd has
// not been built by hack/k8s-testenv/build.sh.
var ErrNotBuilt = errors.New("k8s-testenv binaries are not built (run `make deps` or hack/k8s-testenv/build.sh)")

// Env is a running control plane.
type Env struct {
	// Kubeconfig is the path of a kubeconfig whose current context is the
	// cluster's admin (group system:masters).
	Kubeconfig string
	// URL is the API server's base URL, https://127.0.0.1:PORT.
	URL string
	// Client talks to the API server as the admin: the kubeconfig's client
	// certificate (or bearer token) and the cluster CA.
	Client *http.Client
	// Anonymous trusts the cluster CA but presents no credentials.
	Anonymous *http.Client
	// RunDir is the state directory of a control plane this package started
	// (certificates in RunDir/pki, logs, etcd data); empty for a reused one.
	RunDir string
}

// Do sends one request as the admin and returns the status code and the body.
// body, when not nil, is sent with contentType (application/json when empty).
func (e *Env) Do(ctx context.Context, method, path, contentType string, body []byte) (int, []byte, error) {
	return do(ctx, e.Client, method, e.URL+path, contentType, body)
}

// Ensure creates obj by a POST to path unless it exists: it accepts 201
// and 409 (AlreadyExists). For fixed objects, such as a manifest's
// namespace, ServiceAccount and ClusterRole, that a test creates and a
// later run of the same test binary (-count=3) finds made, with the same
// content, on the control plane they share.
func (e *Env) Ensure(t testing.TB, path string, obj any) {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, resp, err := e.Do(ctx, "POST", path, "", b)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	if code != http.StatusCreated && code != http.StatusConflict {
		t.Fatalf("POST %s: status %d, want 201 or 409: %s", path, code, resp)
	}
}

// Call sends body (encoded as JSON unless nil) as the admin and fails the
// test unless the API server answers want; it returns the answer's body.
func (e *Env) Call(t testing.TB, want int, method, path, contentType string, body any) []byte {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, resp, err := e.Do(ctx, method, path, contentType, b)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, resp)
	}
	return resp
}

func do(ctx context.Context, c *http.Client, method, url, contentType string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

var (
	sharedOnce sync.Once
	shared     *Env
	sharedStop func()
	sharedErr  error
)

// Start returns the package's shared control plane, starting it on first use.
// Without the binaries it skips the test, or fails it when CI=true (the
// policy of testkit.Missing). Pair it with Main in TestMain to stop the
// control plane when the package's tests end; otherwise up.sh's watchdog stops
// it within a second or two of the test binary exiting.
func Start(t testing.TB) *Env {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedStop, sharedErr = Setup() })
	switch {
	case errors.Is(sharedErr, ErrNotBuilt):
		testkit.Missing(t, "k8s-testenv", sharedErr.Error())
	case sharedErr != nil:
		t.Fatalf("k8s-testenv: %v", sharedErr)
	}
	return shared
}

// Main runs the package's tests, then stops the control plane that Start
// started (if any), and exits: `func TestMain(m *testing.M) { k8s.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the control plane that Start started, if any: for a TestMain
// that does more than Main (call it after m.Run).
func Stop() {
	if sharedStop != nil {
		sharedStop()
	}
}

// Setup starts a control plane (or picks up a reused one, see the package
// comment) and returns it with the function that stops it (a no-op for a
// reused one). The error wraps ErrNotBuilt when the binaries are missing.
func Setup() (*Env, func(), error) {
	if kc := reusable(); kc != "" {
		env, err := fromKubeconfig(kc)
		if err != nil {
			return nil, nil, fmt.Errorf("kubeconfig %s: %w", kc, err)
		}
		return env, func() {}, nil
	}
	scripts, err := scriptDir()
	if err != nil {
		return nil, nil, err
	}
	bin := binDir()
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if st, err := os.Stat(filepath.Join(bin, b)); err != nil || st.Mode()&0o111 == 0 {
			return nil, nil, fmt.Errorf("%w: %s missing", ErrNotBuilt, filepath.Join(bin, b))
		}
	}
	tmp, err := os.MkdirTemp("", "k8s-testenv-")
	if err != nil {
		return nil, nil, err
	}
	run := filepath.Join(tmp, "run")
	script := func(name string, timeout time.Duration) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(scripts, name))
		cmd.Env = append(os.Environ(),
			"K8S_TESTENV_BIN="+bin,
			"K8S_TESTENV_RUN_DIR="+run,
			fmt.Sprintf("K8S_TESTENV_WATCH_PID=%d", os.Getpid()))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%s: %w\n%s", name, err, stderr.String())
		}
		return string(out), nil
	}
	stop := func() {
		if _, err := script("down.sh", time.Minute); err != nil {
			fmt.Fprintf(os.Stderr, "k8s-testenv: %v\n", err)
		}
		_ = os.RemoveAll(tmp)
	}
	out, err := script("up.sh", 3*time.Minute)
	if err != nil {
		stop()
		return nil, nil, err
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok {
			vars[k] = v
		}
	}
	env, err := fromKubeconfig(vars["KUBECONFIG"])
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("kubeconfig written by up.sh: %w", err)
	}
	env.RunDir = run
	return env, stop, nil
}

// reusable returns the kubeconfig of a running cluster to reuse, or "".
// KUBECONFIG is reused only when up.sh wrote it, so that a developer's
// KUBECONFIG for a real cluster never receives the tests' objects.
func reusable() string {
	if kc := os.Getenv("K8S_TESTENV_KUBECONFIG"); kc != "" {
		return kc
	}
	kc := os.Getenv("KUBECONFIG")
	if kc == "" || strings.Contains(kc, string(os.PathListSeparator)) {
		return ""
	}
	cfg, err := readKubeconfig(kc)
	if err != nil {
		return ""
	}
	if _, name, err := cfg.current(); err == nil && name == "k8s-testenv" {
		return kc
	}
	return ""
}

// scriptDir finds hack/k8s-testenv from the working directory, which go test
// sets to the package's directory inside this repository.
func scriptDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		d := filepath.Join(dir, "hack", "k8s-testenv")
		if _, err := os.Stat(filepath.Join(d, "up.sh")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("hack/k8s-testenv/up.sh not found above the working directory")
		}
		dir = parent
	}
}

// Kubectl returns the path of the real kubectl that build.sh builds beside
// kube-apiserver (the same Kubernetes version), or skips the test when it is
// missing; under CI=true a missing kubectl fails the test instead.
func Kubectl(t testing.TB) string {
	t.Helper()
	p := filepath.Join(binDir(), "kubectl")
	if _, err := os.Stat(p); err != nil {
		testkit.Missing(t, "kubectl", "not built at "+p+" (run `make deps` or hack/k8s-testenv/build.sh)")
	}
	return p
}

// binDir is where build.sh puts the binaries (the knobs of up.sh).
func binDir() string {
	if b := os.Getenv("K8S_TESTENV_BIN"); b != "" {
		return b
	}
	if d := os.Getenv("K8S_TESTENV_DIR"); d != "" {
		return filepath.Join(d, "bin")
	}
	return filepath.Join(testkit.CacheDir(), "k8s-testenv", "bin")
}

// kubeconfig is the part of a kubeconfig file that Env needs.
type kubeconfig struct {
	dir            string
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server   string `yaml:"server"`
			CAData   string `yaml:"certificate-authority-data"`
			CAFile   string `yaml:"certificate-authority"`
			Insecure bool   `yaml:"insecure-skip-tls-verify"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string   `yaml:"name"`
		User userInfo `yaml:"user"`
	} `yaml:"users"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
}

type userInfo struct {
	CertData  string `yaml:"client-certificate-data"`
	CertFile  string `yaml:"client-certificate"`
	KeyData   string `yaml:"client-key-data"`
	KeyFile   string `yaml:"client-key"`
	Token     string `yaml:"token"`
	TokenFile string `yaml:"tokenFile"`
}

func readKubeconfig(path string) (*kubeconfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg := &kubeconfig{dir: filepath.Dir(path)}
	if err := yaml.Unmarshal(b, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// current returns the current context's user and its cluster's name.
func (c *kubeconfig) current() (user, cluster string, err error) {
	for _, x := range c.Contexts {
		if x.Name == c.CurrentContext {
			return x.Context.User, x.Context.Cluster, nil
		}
	}
	return "", "", fmt.Errorf("current context %q not found", c.CurrentContext)
}

// pem returns inline base64 data, or the content of a file named relative to
// the kubeconfig's directory.
func (c *kubeconfig) pem(data, file string) ([]byte, error) {
	if data != "" {
		return base64.StdEncoding.DecodeString(data)
	}
	if file == "" {
		return nil, nil
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(c.dir, file)
	}
	return os.ReadFile(file)
}

func fromKubeconfig(path string) (*Env, error) {
	cfg, err := readKubeconfig(path)
	if err != nil {
		return nil, err
	}
	userName, clusterName, err := cfg.current()
	if err != nil {
		return nil, err
	}
	env := &Env{Kubeconfig: path}
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	found := false
	for _, cl := range cfg.Clusters {
		if cl.Name != clusterName {
			continue
		}
		found = true
		env.URL = strings.TrimRight(cl.Cluster.Server, "/")
		ca, err := cfg.pem(cl.Cluster.CAData, cl.Cluster.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cluster CA: %w", err)
		}
		if ca != nil {
			base.RootCAs = x509.NewCertPool()
			if !base.RootCAs.AppendCertsFromPEM(ca) {
				return nil, errors.New("cluster CA: no certificate in PEM data")
			}
		}
		base.InsecureSkipVerify = cl.Cluster.Insecure // only when the kubeconfig asks for it
	}
	if !found || env.URL == "" {
		return nil, fmt.Errorf("cluster %q not found or has no server", clusterName)
	}
	admin := base.Clone()
	var token string
	for _, u := range cfg.Users {
		if u.Name != userName {
			continue
		}
		cert, err := cfg.pem(u.User.CertData, u.User.CertFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		key, err := cfg.pem(u.User.KeyData, u.User.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client key: %w", err)
		}
		if cert != nil {
			pair, err := tls.X509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			admin.Certificates = []tls.Certificate{pair}
		}
		token = u.User.Token
		if token == "" && u.User.TokenFile != "" {
			b, err := os.ReadFile(u.User.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("token file: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
	}
	if len(admin.Certificates) == 0 && token == "" {
		return nil, fmt.Errorf("user %q has neither a client certificate nor a token", userName)
	}
	var rt http.RoundTripper = &http.Transport{TLSClientConfig: admin, ForceAttemptHTTP2: true}
	if token != "" {
		rt = bearer{token: token, next: rt}
	}
	env.Client = &http.Client{Transport: rt, Timeout: time.Minute}
	env.Anonymous = &http.Client{
		Transport: &http.Transport{TLSClientConfig: base, ForceAttemptHTTP2: true},
		Timeout:   time.Minute,
	}
	return env, nil
}

// bearer adds an Authorization header to each request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// ServiceAccountToken returns a token of the existing ServiceAccount ns/name
// from the TokenRequest API (valid for an hour), so that a test can act with
// exactly the RBAC that ServiceAccount is bound to.
func (e *Env) ServiceAccountToken(t testing.TB, ns, name string) string {
	t.Helper()
	var tr struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	resp := e.Call(t, http.StatusCreated, http.MethodPost, "/api/v1/namespaces/"+ns+"/serviceaccounts/"+name+"/token", "",
		map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": map[string]any{"expirationSeconds": 3600}})
	if err := json.Unmarshal(resp, &tr); err != nil || tr.Status.Token == "" {
		t.Fatalf("TokenRequest for %s/%s: %v: %s", ns, name, err, resp)
	}
	return tr.Status.Token
}

// ServiceAccountKubeconfig writes a kubeconfig (in a temporary directory of
// the test) that talks to this API server, trusting its CA, as the existing
// ServiceAccount ns/name, and returns its path.
func (e *Env) ServiceAccountKubeconfig(t testing.TB, ns, name string) string {
	t.Helper()
	token := e.ServiceAccountToken(t, ns, name)
	ca := e.caPEM(t)
	out, err := yaml.Marshal(map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        []any{map[string]any{"name": "test", "cluster": map[string]any{"server": e.URL, "certificate-authority-data": base64.StdEncoding.EncodeToString(ca)}}},
		"users":           []any{map[string]any{"name": name, "user": map[string]any{"token": token}}},
		"contexts":        []any{map[string]any{"name": "test", "context": map[string]any{"cluster": "test", "user": name}}},
		"current-context": "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), ns+"-"+name+".kubeconfig")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// caPEM returns the cluster CA's certificates (PEM), from the admin
// kubeconfig.
func (e *Env) caPEM(t testing.TB) []byte {
	t.Helper()
	cfg, err := readKubeconfig(e.Kubeconfig)
	if err != nil {
		t.Fatalf("admin kubeconfig %s: %v", e.Kubeconfig, err)
	}
	_, clusterName, err := cfg.current()
	if err != nil {
		t.Fatalf("admin kubeconfig %s: %v", e.Kubeconfig, err)
	}
	var ca []byte
	for _, cl := range cfg.Clusters {
		if cl.Name == clusterName {
			if ca, err = cfg.pem(cl.Cluster.CAData, cl.Cluster.CAFile); err != nil {
				t.Fatalf("admin kubeconfig %s: cluster CA: %v", e.Kubeconfig, err)
			}
		}
	}
	if len(ca) == 0 {
		t.Fatalf("admin kubeconfig %s: no certificate authority for cluster %q", e.Kubeconfig, clusterName)
	}
	return ca
}

// ServiceAccountDir writes what a pod of the existing ServiceAccount ns/name
// finds mounted at /var/run/secrets/kubernetes.io/serviceaccount — token,
// ca.crt and namespace — into a temporary directory of the test, and
// returns it: a config that reads those files (authorization's
// credentials_file, tls_config's ca_file) runs here as in the pod.
func (e *Env) ServiceAccountDir(t testing.TB, ns, name string) string {
	t.Helper()
	dir := t.TempDir()
	for f, b := range map[string][]byte{
		"token":     []byte(e.ServiceAccountToken(t, ns, name)),
		"ca.crt":    e.caPEM(t),
		"namespace": []byte(ns),
	} {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
