package kubeletauth

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/panoptes-dev/panoptes/internal/agent"
)

// reviewer answers TokenReviews and SubjectAccessReviews as an API server
// would for two service accounts, and keeps what it was sent. It decodes
// each review strictly into k8s.io/api's types, so a field the lean build's
// JSON got wrong fails the test.
type reviewer struct {
	t    *testing.T
	mu   sync.Mutex
	trs  []authenticationv1.TokenReviewSpec
	sars []authorizationv1.SubjectAccessReviewSpec
}

func (rv *reviewer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("Authorization"); got != "Bearer agent-token" {
		http.Error(w, "the agent's own credentials are missing: "+got, http.StatusUnauthorized)
		return
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	w.Header().Set("Content-Type", "application/json")
	rv.mu.Lock()
	defer rv.mu.Unlock()
	switch r.URL.Path {
	case "/apis/authentication.k8s.io/v1/tokenreviews":
		var tr authenticationv1.TokenReview
		if err := dec.Decode(&tr); err != nil {
			rv.t.Errorf("TokenReview: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rv.trs = append(rv.trs, tr.Spec)
		if tr.Spec.Token == "reader-token" || tr.Spec.Token == "stranger-token" {
			name := strings.TrimSuffix(tr.Spec.Token, "-token")
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{
				Username: "system:serviceaccount:ns:" + name, UID: "uid-" + name,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated"},
				Extra:  map[string]authenticationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"p-" + name}},
			}}
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(tr)
	case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
		var sar authorizationv1.SubjectAccessReview
		if err := dec.Decode(&sar); err != nil {
			rv.t.Errorf("SubjectAccessReview: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rv.sars = append(rv.sars, sar.Spec)
		ra := sar.Spec.ResourceAttributes
		sar.Status.Allowed = ra != nil && sar.Spec.User == "system:serviceaccount:ns:reader" && ra.Verb == "get" &&
			ra.Resource == "nodes" && (ra.Subresource == "metrics" || ra.Subresource == "stats") && ra.Name == "node-1"
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(sar)
	default:
		http.NotFound(w, r)
	}
}

// TestGuardsSendTheSameReviews runs the full build's delegating guard
// (k8s.io/apiserver) and the lean build's standard-library guard against
// the same reviewer: both must send the same TokenReviews and
// SubjectAccessReviews and reach the same decisions. The end-to-end test
// (test/e2e TestKubeletEndpointAuth) runs both against the real API server.
func TestGuardsSendTheSameReviews(t *testing.T) {
	t.Parallel()
	rv := &reviewer{t: t}
	srv := httptest.NewTLSServer(rv)
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	kc := `apiVersion: v1
kind: Config
current-context: agent
clusters:
- name: c
  cluster: {server: "` + srv.URL + `", certificate-authority: ca.crt}
contexts:
- name: agent
  context: {cluster: c, user: agent}
users:
- name: agent
  user: {token: agent-token}
`
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	o := agent.NewKubeletAuthOptions()
	o.Kubeconfig = kubeconfig

	type outcome struct {
		User          string
		Authenticated bool
		Allowed       bool
	}
	run := func(newGuard agent.NewKubeletGuardFunc) ([]outcome, []authenticationv1.TokenReviewSpec, []authorizationv1.SubjectAccessReviewSpec) {
		t.Helper()
		rv.mu.Lock()
		rv.trs, rv.sars = nil, nil
		rv.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		g, err := newGuard(ctx, o, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		var outs []outcome
		for _, c := range []struct{ method, path, token string }{
			{"GET", "/metrics/resource", "reader-token"},
			{"GET", "/stats/summary", "reader-token"},
			{"GET", "/metrics/resource", "reader-token"}, // cached: no second review
			{"GET", "/healthz", "reader-token"},
			{"POST", "/stats/summary", "reader-token"},
			{"GET", "/metrics/resource", "stranger-token"},
			{"GET", "/metrics/resource", "bad-token"},
			{"GET", "/metrics/resource", ""},
		} {
			r := httptest.NewRequest(c.method, "https://agent"+c.path, bytes.NewReader(nil))
			if c.token != "" {
				r.Header.Set("Authorization", "Bearer "+c.token)
			}
			u, ok, _ := g.Authenticate(r)
			out := outcome{User: u.Name, Authenticated: ok}
			if ok {
				allowed, _, err := g.Authorize(ctx, u, agent.KubeletRequestAttributes(c.method, c.path, "node-1"))
				if err != nil {
					t.Errorf("%s %s: %v", c.method, c.path, err)
				}
				out.Allowed = allowed
			}
			outs = append(outs, out)
		}
		rv.mu.Lock()
		defer rv.mu.Unlock()
		return outs, rv.trs, rv.sars
	}
	stdOut, stdTR, stdSAR := run(agent.NewStdKubeletGuard)
	delOut, delTR, delSAR := run(New)
	reader := "system:serviceaccount:ns:reader"
	want := []outcome{{reader, true, true}, {reader, true, true}, {reader, true, true}, {reader, true, false}, {reader, true, false},
		{"system:serviceaccount:ns:stranger", true, false}, {"", false, false}, {"", false, false}}
	if d := cmp.Diff(want, delOut); d != "" {
		t.Errorf("delegating guard's decisions (-want +got):\n%s", d)
	}
	if d := cmp.Diff(delOut, stdOut); d != "" {
		t.Errorf("decisions: delegating (-) vs standard library (+):\n%s", d)
	}
	if d := cmp.Diff(delTR, stdTR); d != "" {
		t.Errorf("TokenReviews: delegating (-) vs standard library (+):\n%s", d)
	}
	if d := cmp.Diff(delSAR, stdSAR); d != "" {
		t.Errorf("SubjectAccessReviews: delegating (-) vs standard library (+):\n%s", d)
	}
	if len(stdSAR) != 5 {
		t.Errorf("%d SubjectAccessReviews, want 5 (the repeated request is cached)", len(stdSAR))
	}
}
