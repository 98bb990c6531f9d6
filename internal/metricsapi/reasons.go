package metricsapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// Reasons a node could not be scraped: the values of the reason label of
// panoptes_metricsapi_node_scrape_errors_total. Each comes with a message in
// the log that says what to change.
const (
	reasonNoAddress        = "no-address"
	reasonTLSSANMismatch   = "tls-san-mismatch"
	reasonTLSUnknownCA     = "tls-unknown-authority"
	reasonTLSExpired       = "tls-certificate-expired"
	reasonTLSInvalid       = "tls-certificate-invalid"
	reasonNotTLS           = "tls-not-https"
	reasonRefused          = "connection-refused"
	reasonReset            = "connection-reset"
	reasonUnreachable      = "host-unreachable"
	reasonDNS              = "dns"
	reasonTimeout          = "timeout"
	reasonUnauthorized     = "unauthorized"
	reasonForbidden        = "forbidden"
	reasonHTTPStatus       = "http-status"
	reasonBadResponse      = "bad-response"
	reasonNoNodeUsage      = "no-node-usage"
	reasonConnectionFailed = "connection-failed"
)

// statusError is a kubelet's answer other than 200.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.code, e.body)
}

// decodeError is a body that is not the kubelet's exposition.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// target is where one node's resource metrics are read.
type target struct {
	node string
	// url is https://ADDRESS:PORT/metrics/resource.
	url string
	// address and addressType are the address chosen and its kind
	// (InternalIP, Hostname, ... or "agent pod IP").
	address, addressType string
}

// explain turns a failed scrape into a reason label and a sentence that says
// what is wrong and what to change. identity is the user panoptes presents to
// kubelets (a service account), for the RBAC hint.
func explain(t target, err error, identity string, timeoutDesc string) (string, string) {
	var (
		hostErr    x509.HostnameError
		hostErrP   *x509.HostnameError
		unknownCA  x509.UnknownAuthorityError
		unknownCAP *x509.UnknownAuthorityError
		invalid    x509.CertificateInvalidError
		invalidP   *x509.CertificateInvalidError
		verifyErr  *tls.CertificateVerificationError
		recordErr  tls.RecordHeaderError
		recordErrP *tls.RecordHeaderError
		dnsErr     *net.DNSError
		status     *statusError
		decode     *decodeError
		netErr     net.Error
	)
	switch {
	case errors.As(err, &status):
		switch status.code {
		case http.StatusUnauthorized:
			return reasonUnauthorized, fmt.Sprintf("the kubelet at %s (%s) answered 401 Unauthorized: it did not accept panoptes' credentials; enable webhook authentication on the kubelet (authentication.webhook.enabled: true) and run panoptes with a service account token", t.address, t.addressType)
		case http.StatusForbidden:
			who := identity
			if who == "" {
				who = "panoptes' service account"
			}
			return reasonForbidden, fmt.Sprintf("the kubelet at %s (%s) answered 403 Forbidden: %s may not read the node's metrics; bind it to a ClusterRole with the rule {apiGroups: [\"\"], resources: [\"nodes/metrics\", \"nodes/stats\"], verbs: [\"get\"]} (deploy/metrics-api/rbac.yaml)", t.address, t.addressType, who)
		default:
			return reasonHTTPStatus, fmt.Sprintf("the kubelet at %s answered HTTP %d to %s: %s", t.address, status.code, t.url, status.body)
		}
	case errors.As(err, &decode):
		return reasonBadResponse, fmt.Sprintf("the answer of %s is not the kubelet's /metrics/resource: %v", t.url, decode.err)
	case errors.As(err, &hostErr) || errors.As(err, &hostErrP):
		h := hostErr
		if hostErrP != nil {
			h = *hostErrP
		}
		return reasonTLSSANMismatch, fmt.Sprintf("the kubelet's serving certificate on node %s is valid for %s, not for the address %s (%s) that panoptes used: issue the kubelet's certificate with that address in its subject alternative names (kubelet serverTLSBootstrap: true, or --tls-cert-file), or put an address type the certificate names first in --kubelet-preferred-address-types", t.node, certNames(h.Certificate), t.address, t.addressType)
	case errors.As(err, &unknownCA) || errors.As(err, &unknownCAP):
		return reasonTLSUnknownCA, fmt.Sprintf("the kubelet's serving certificate at %s is not signed by a CA panoptes trusts: give the CA that signs kubelet serving certificates with --kubelet-certificate-authority (by default the cluster CA is trusted); --kubelet-insecure-tls turns verification off and is for tests only", t.address)
	case errors.As(err, &invalid) || errors.As(err, &invalidP):
		c := invalid
		if invalidP != nil {
			c = *invalidP
		}
		if c.Reason == x509.Expired {
			return reasonTLSExpired, fmt.Sprintf("the kubelet's serving certificate at %s has expired or is not valid yet (%s): renew it (kubelet rotateCertificates / serverTLSBootstrap) or fix the node's clock", t.address, c.Error())
		}
		return reasonTLSInvalid, fmt.Sprintf("the kubelet's serving certificate at %s is not valid: %s", t.address, c.Error())
	case errors.As(err, &verifyErr):
		return reasonTLSInvalid, fmt.Sprintf("the kubelet's serving certificate at %s could not be verified: %v", t.address, verifyErr.Err)
	case errors.As(err, &recordErr) || errors.As(err, &recordErrP) ||
		// net/http's words when the TLS handshake gets an HTTP answer.
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return reasonNotTLS, fmt.Sprintf("%s does not speak TLS: the port is not the kubelet's secure port; check --kubelet-port or --kubelet-use-node-status-port", t.url)
	case errors.Is(err, syscall.ECONNREFUSED):
		return reasonRefused, fmt.Sprintf("connection refused by %s: nothing listens on that port; check that the kubelet (or agent) runs and that --kubelet-port (or --kubelet-use-node-status-port) names its secure port", strings.TrimSuffix(strings.TrimPrefix(t.url, "https://"), "/metrics/resource"))
	case errors.Is(err, syscall.ECONNRESET):
		return reasonReset, fmt.Sprintf("connection to %s reset: the port does not speak TLS, or a proxy in the way closed it", t.url)
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return reasonUnreachable, fmt.Sprintf("no route to %s (%s): the node's address is not reachable from this pod; pick another with --kubelet-preferred-address-types", t.address, t.addressType)
	case errors.As(err, &dnsErr):
		return reasonDNS, fmt.Sprintf("cannot resolve %s (%s): %v; put InternalIP first in --kubelet-preferred-address-types", t.address, t.addressType, dnsErr)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return reasonTimeout, fmt.Sprintf("no answer from %s within %s: a firewall, security group or NetworkPolicy drops traffic from this pod to the kubelet port, or the kubelet is overloaded", t.url, timeoutDesc)
	}
	return reasonConnectionFailed, fmt.Sprintf("scraping %s: %v", t.url, err)
}

// certNames lists what a certificate is valid for.
func certNames(c *x509.Certificate) string {
	if c == nil {
		return "other names"
	}
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		if c.Subject.CommonName != "" {
			return "only the common name " + c.Subject.CommonName + " (no subject alternative names)"
		}
		return "no names"
	}
	return strings.Join(names, ", ")
}
