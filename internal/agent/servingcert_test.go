package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/panoptes-dev/panoptes/internal/option"
	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// TestServingCertVerifies: a certificate issued from the CA is accepted by
// a client holding only the CA's certificate, for the pod IP and for the
// node name, over a real TLS connection; for any other name it is not.
func TestServingCertVerifies(t *testing.T) {
	t.Parallel()
	other := testkit.NewCA(t, "another-ca")
	caCert, caKey := writeCA(t)
	sc, err := NewServingCert(ServingCertConfig{CACertFile: caCert, CAKeyFile: caKey, Hosts: []string{"127.0.0.1", "node-a"}, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: sc.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	pool := x509.NewCertPool()
	b, err := os.ReadFile(caCert)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(b)
	dial := func(serverName string, roots *x509.CertPool) error {
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: serverName})
		if err != nil {
			return err
		}
		return conn.Close()
	}
	for _, name := range []string{"127.0.0.1", "node-a"} {
		if err := dial(name, pool); err != nil {
			t.Errorf("dial as %s with the agent CA: %v", name, err)
		}
	}
	if err := dial("node-b", pool); err == nil {
		t.Error("the certificate was accepted for node-b, another node's name")
	}
	if err := dial("127.0.0.1", other.Pool); err == nil {
		t.Error("the certificate was accepted by a client trusting another CA")
	}
	if got := time.Until(sc.NotAfter()); got > time.Hour || got < 50*time.Minute {
		t.Errorf("the certificate expires in %v, want about the 1h validity", got)
	}
}

// TestServingCertRenews: past two thirds of its life the certificate is
// reissued, and a server reading files gets the new one.
func TestServingCertRenews(t *testing.T) {
	t.Parallel()
	caCert, caKey := writeCA(t)
	sc, err := NewServingCert(ServingCertConfig{CACertFile: caCert, CAKeyFile: caKey, Hosts: []string{"10.0.0.7"}, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := sc.GetCertificate(nil)
	now := time.Now()
	sc.now = func() time.Time { return now.Add(30 * time.Minute) }
	if c, _ := sc.GetCertificate(nil); c != first {
		t.Error("reissued at half its life, want the same certificate until two thirds")
	}
	sc.now = func() time.Time { return now.Add(41 * time.Minute) }
	second, _ := sc.GetCertificate(nil)
	if second == first || !second.Leaf.NotAfter.After(first.Leaf.NotAfter) {
		t.Errorf("not reissued past two thirds of its life: NotAfter %v then %v", first.Leaf.NotAfter, second.Leaf.NotAfter)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := sc.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("the written files do not load: %v", err)
	}
	if leaf, _ := x509.ParseCertificate(pair.Certificate[0]); !leaf.NotAfter.Equal(second.Leaf.NotAfter) {
		t.Errorf("files hold the certificate expiring %v, want the current one (%v)", leaf.NotAfter, second.Leaf.NotAfter)
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestServingCertConfigErrors: each mistake is refused at start, under its
// field, with what is wrong.
func TestServingCertConfigErrors(t *testing.T) {
	t.Parallel()
	caCert, caKey := writeCA(t)
	other := testkit.NewCA(t, "other")
	leaf := other.Issue(t, "leaf", false, "127.0.0.1")
	tests := []struct {
		name  string
		cfg   ServingCertConfig
		names []string // the fields named
		text  string
	}{
		{"nothing", ServingCertConfig{}, []string{"CACertFile", "Hosts", "Validity"}, ""},
		{"bad host", ServingCertConfig{CACertFile: caCert, CAKeyFile: caKey, Hosts: []string{"10.0.0.1:10250"}, Validity: time.Hour}, []string{"Hosts"}, ""},
		{"key of another CA", ServingCertConfig{CACertFile: caCert, CAKeyFile: leaf.KeyFile, Hosts: []string{"n"}, Validity: time.Hour}, []string{"CAKeyFile"}, "is not the key of the CA certificate"},
		{"a leaf as CA", ServingCertConfig{CACertFile: leaf.CertFile, CAKeyFile: leaf.KeyFile, Hosts: []string{"n"}, Validity: time.Hour}, []string{"CACertFile"}, "is not a CA certificate"},
		{"missing file", ServingCertConfig{CACertFile: caCert + ".nope", CAKeyFile: caKey, Hosts: []string{"n"}, Validity: time.Hour}, []string{"CACertFile"}, "read the agent CA certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewServingCert(tt.cfg)
			if err == nil {
				t.Fatal("NewServingCert() succeeded")
			}
			if diff := cmp.Diff(tt.names, option.Names(err)); diff != "" {
				t.Errorf("NewServingCert() = %v; fields named (-want +got):\n%s", err, diff)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("NewServingCert() = %v, want it to say %q", err, tt.text)
			}
		})
	}
}

// writeCA writes a CA certificate and its PKCS#8 key, as
// `openssl req -x509 -newkey ec` does in deploy/metrics-api-agents's recipe.
func writeCA(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "panoptes-agent-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
