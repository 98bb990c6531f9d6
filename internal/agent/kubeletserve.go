package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"
)

// KubeletConfig serves the kubelet-shaped endpoints (/metrics/resource,
// /stats/summary) over HTTPS on a kubelet-like address, where
// `panoptes metrics-api --source=agents` (or metrics-server) reads them.
type KubeletConfig struct {
	// Address is HOST:PORT to listen on.
	Address string
	// CertFile and KeyFile are the serving certificate; when empty a
	// self-signed one is made for the address's host (and this host's name).
	CertFile, KeyFile string
	// Handlers are the routes, by path.
	Handlers map[string]http.Handler
	// NodeName is the node the SubjectAccessReviews name (nodes/<name>);
	// Run sets it from the container collector's node name.
	NodeName string
	// Auth is how clients are authenticated and authorized, as the
	// kubelet's flags say; Run makes Guard from it.
	Auth KubeletAuthOptions
	// NewGuard makes Guard from Auth; nil is NewStdKubeletGuard (the
	// standard library's). The full build gives k8s.io/apiserver's.
	NewGuard NewKubeletGuardFunc
	// Guard checks every request; ServeKubelet refuses to serve without
	// one.
	Guard KubeletGuard
}

// ServeKubelet listens on cfg.Address with TLS and serves cfg.Handlers,
// every request authenticated and authorized by cfg.Guard as the kubelet
// does (401 without accepted credentials, 403 when refused), until ctx
// ends. onListen, if not nil, is called with the bound address.
func ServeKubelet(ctx context.Context, cfg KubeletConfig, logger *slog.Logger, onListen func(net.Addr)) error {
	if len(cfg.Handlers) == 0 {
		return errors.New("the kubelet address needs the container collector (its kubelet-shaped endpoints)")
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return errors.New("the serving certificate and its key go together")
	}
	if cfg.Guard == nil {
		return errors.New("BUG: the kubelet-shaped endpoints need a guard (authentication and authorization)")
	}
	var cert tls.Certificate
	var err error
	if cfg.CertFile != "" {
		cert, err = tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return fmt.Errorf("load the serving certificate and key: %w", err)
		}
	} else {
		host, _, err := net.SplitHostPort(cfg.Address)
		if err != nil {
			return fmt.Errorf("kubelet address %q: %w", cfg.Address, err)
		}
		cert, err = selfSigned(host)
		if err != nil {
			return fmt.Errorf("self-signed certificate for %s: %w", host, err)
		}
		logger.Warn("serving the kubelet-shaped endpoints with a self-signed certificate; clients must skip verification (give --tls-cert-file and --tls-private-key-file signed by a CA they trust)", "address", cfg.Address)
	}
	mux := http.NewServeMux()
	for path, h := range cfg.Handlers {
		mux.Handle(path, h)
	}
	// As on the kubelet's port, /healthz too is authorized (nodes/healthz):
	// probes use the metrics port's.
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return fmt.Errorf("listen on %s for the kubelet-shaped endpoints: %w", cfg.Address, err)
	}
	// A client certificate is asked for, not required, and verified by the
	// guard: one it does not trust falls through to the bearer token, as on
	// the kubelet.
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert}
	srv := &http.Server{
		Handler:           guardHandler(cfg.Guard, cfg.NodeName, logger, mux),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         tlsCfg,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if onListen != nil {
		onListen(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, tlsCfg)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve kubelet endpoints: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown kubelet endpoints: %w", err)
	}
	return nil
}

// selfSigned makes a one-year certificate for host (an IP or a name), this
// machine's host name and localhost.
func selfSigned(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "panoptes-agent"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, name)
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else if host != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
