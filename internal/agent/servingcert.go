package agent

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/panoptes-dev/panoptes/internal/option"
)

// ServingCertConfig has the agent issue its own serving certificate for the
// kubelet-shaped endpoint, signed by a CA that every agent is given (the
// panoptes-agent-ca Secret of deploy/metrics-api-agents), for its pod IP and node
// name. `panoptes metrics-api --source=agents` holds only the CA's
// certificate and sends its credentials to an agent only after verifying
// this certificate for the pod IP it dials.
//
// The trade-off: the CA's key is on every node, so whoever controls one
// node can issue a certificate for any agent's address. That is no more
// than such a node's kubelet credentials already give; the certificates
// API (a CertificateSigningRequest per node, signed by a signer that checks
// the node) would keep the key off the nodes at the cost of a signer and
// of RBAC to create CSRs (see the README).
type ServingCertConfig struct {
	// CACertFile and CAKeyFile are the CA's certificate and private key,
	// PEM (an EC, PKCS#1 RSA or PKCS#8 key).
	CACertFile, CAKeyFile string
	// Hosts are the IP addresses and DNS names the certificate is issued
	// for: the pod IP (the node's, with hostNetwork) and the node name.
	Hosts []string
	// Validity is the certificate's lifetime; it is reissued once two
	// thirds of it have passed, without a restart.
	Validity time.Duration
}

// DefaultServingCertValidity is short: the agent holds the CA and renews
// on its own, so a leaked certificate is useful for a day at most.
const DefaultServingCertValidity = 24 * time.Hour

// Validate reports missing files, hosts and a lifetime out of range, each
// under its field name.
func (c *ServingCertConfig) Validate() error {
	var errs []error
	if c.CACertFile == "" || c.CAKeyFile == "" {
		errs = append(errs, option.Invalid("CACertFile", "the CA's certificate and its key go together, and both are needed to issue the serving certificate"))
	}
	if len(c.Hosts) == 0 {
		errs = append(errs, option.Invalid("Hosts", "no host to issue the serving certificate for: give the pod IP and the node name"))
	}
	for _, h := range c.Hosts {
		if net.ParseIP(h) == nil && (h == "" || strings.ContainsAny(h, ":/ \t")) {
			errs = append(errs, option.Invalid("Hosts", "%q is neither an IP address nor a DNS name", h))
		}
	}
	if c.Validity < 10*time.Minute {
		errs = append(errs, option.Invalid("Validity", "%v: must be at least 10m (the certificate is renewed after two thirds of it)", c.Validity))
	}
	return errors.Join(errs...)
}

// ServingCert issues and renews the serving certificate. Its
// GetCertificate goes into a tls.Config; WriteFiles serves a server that
// reads certificate files (an exporter-toolkit web config) instead.
type ServingCert struct {
	cfg   ServingCertConfig
	ca    *x509.Certificate
	caKey crypto.Signer
	now   func() time.Time

	mu      sync.Mutex
	cur     *tls.Certificate
	renewAt time.Time
}

// NewServingCert loads the CA and issues the first certificate, so that a
// wrong CA stops the agent at start rather than at the first handshake.
func NewServingCert(cfg ServingCertConfig) (*ServingCert, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ca, key, err := loadCA(cfg.CACertFile, cfg.CAKeyFile)
	if err != nil {
		return nil, err
	}
	s := &ServingCert{cfg: cfg, ca: ca, caKey: key, now: time.Now}
	if _, err := s.current(); err != nil {
		return nil, err
	}
	return s, nil
}

// GetCertificate returns the current certificate, reissued when due; it
// fits tls.Config.GetCertificate.
func (s *ServingCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.current()
}

// WriteFiles writes the current certificate and its key (mode 0600) for a
// server that reads files. Call it again before NotAfter to renew: a server
// that rereads its files per handshake picks the new one up.
func (s *ServingCert) WriteFiles(certFile, keyFile string) error {
	c, err := s.current()
	if err != nil {
		return err
	}
	var certPEM bytes.Buffer
	for _, der := range c.Certificate {
		if err := pem.Encode(&certPEM, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
			return fmt.Errorf("encode the serving certificate: %w", err)
		}
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return fmt.Errorf("encode the serving key: %w", err)
	}
	// The key first, so that a reader never pairs a new certificate with
	// the old key for long; each file is replaced whole (rename).
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})); err != nil {
		return err
	}
	return writeFileAtomic(certFile, certPEM.Bytes())
}

// NotAfter is when the current certificate expires.
func (s *ServingCert) NotAfter() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.Leaf.NotAfter
}

// current returns the certificate, issuing a new one when due. A failed
// renewal keeps serving the old one while it is valid.
func (s *ServingCert) current() (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.cur != nil && now.Before(s.renewAt) {
		return s.cur, nil
	}
	c, err := s.issue(now)
	if err != nil {
		if s.cur != nil && now.Before(s.cur.Leaf.NotAfter) {
			return s.cur, nil
		}
		return nil, err
	}
	s.cur = c
	s.renewAt = c.Leaf.NotBefore.Add(c.Leaf.NotAfter.Sub(c.Leaf.NotBefore) * 2 / 3)
	return c, nil
}

// issue signs a new ECDSA P-256 key for the hosts, valid from a few minutes
// ago (clock skew between nodes) for Validity, and never past the CA.
func (s *ServingCert) issue(now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate the serving key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	notAfter := now.Add(s.cfg.Validity)
	if notAfter.After(s.ca.NotAfter) {
		notAfter = s.ca.NotAfter
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("the agent CA in %s expired on %s: make a new one (deploy/metrics-api-agents)", s.cfg.CACertFile, s.ca.NotAfter.Format(time.RFC3339))
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: s.cfg.Hosts[0], Organization: []string{"panoptes-agent"}},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range s.cfg.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, &key.PublicKey, s.caKey)
	if err != nil {
		return nil, fmt.Errorf("sign the serving certificate with the agent CA: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse the serving certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// loadCA reads a CA certificate and its key and checks that they belong
// together and that the certificate may sign others; its errors name the
// file at fault.
func loadCA(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, option.Invalid("CACertFile", "read the agent CA certificate: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, nil, option.Invalid("CACertFile", "%s: no PEM CERTIFICATE block", certFile)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, option.Invalid("CACertFile", "parse the agent CA certificate %s: %w", certFile, err)
	}
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, nil, option.Invalid("CACertFile", "%s is not a CA certificate (basicConstraints CA:TRUE and keyUsage keyCertSign are needed)", certFile)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, option.Invalid("CAKeyFile", "read the agent CA key: %w", err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, nil, option.Invalid("CAKeyFile", "parse the agent CA key %s: %w", keyFile, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(ca.PublicKey) {
		return nil, nil, option.Invalid("CAKeyFile", "the key in %s is not the key of the CA certificate %s", keyFile, certFile)
	}
	return ca, key, nil
}

// parseKey reads the first private key block: PKCS#8 (openssl genpkey),
// EC or PKCS#1 RSA.
func parseKey(b []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no PEM private key block")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue // EC PARAMETERS and the like
		}
		if err != nil {
			return nil, err
		}
		if k, ok := key.(crypto.Signer); ok {
			return k, nil
		}
		return nil, fmt.Errorf("a %T cannot sign certificates", key)
	}
}

// writeFileAtomic replaces path with b through a temporary file in its
// directory, mode 0600.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".servingcert-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
