package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/panoptes-dev/panoptes/internal/agent"
)

// newAgentCertCommand issues the serving certificate of the agent's
// kubelet-shaped endpoint from the agent CA. The DaemonSet of
// deploy/metrics-api-agents runs it as an init container, so the long-lived
// agent process never holds the CA's key. It is in the lean build too.
func newAgentCertCommand() *cobra.Command {
	cfg := agent.ServingCertConfig{Validity: 365 * 24 * time.Hour}
	var certFile, keyFile string
	names := flagNames{"CACertFile": "ca-cert-file", "CAKeyFile": "ca-key-file", "Hosts": "hosts", "Validity": "validity"}
	cmd := &cobra.Command{
		Use:   "agent-cert",
		Short: "Issue the agent's serving certificate for --kubelet-address from the agent CA",
		Long: `Issue the serving certificate of the agent's kubelet-shaped endpoint
(--kubelet-address), signed by the agent CA, for this agent's pod IP and node
name, and write it and its new key (mode 0600) for the agent's
--tls-cert-file and --tls-private-key-file.

panoptes metrics-api --source=agents trusts only that CA
(--kubelet-certificate-authority) and sends its credentials to an agent only
once the agent's certificate is verified for the pod IP it dials. The agent
does not renew a certificate read from files: a restart of the pod (a
DaemonSet rollout) issues a new one; give a --validity longer than the pods
live. See deploy/metrics-api-agents for the trust model.`,
		Example: `  panoptes agent-cert --ca-cert-file=/ca/ca.crt --ca-key-file=/ca/ca.key \
    --hosts=$(POD_IP),$(NODE_NAME) --cert-file=/certs/tls.crt --key-file=/certs/tls.key`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			sc, err := agent.NewServingCert(cfg)
			if err != nil {
				return names.rename(err)
			}
			if err := sc.WriteFiles(certFile, keyFile); err != nil {
				return err
			}
			fmt.Printf("wrote %s and %s for %v, valid until %s\n", certFile, keyFile, cfg.Hosts, sc.NotAfter().UTC().Format(time.RFC3339))
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.CACertFile, "ca-cert-file", "", "The agent CA's certificate (PEM), ca.crt of the panoptes-agent-ca Secret.")
	fs.StringVar(&cfg.CAKeyFile, "ca-key-file", "", "The agent CA's private key (PEM: EC, RSA or PKCS#8).")
	fs.StringSliceVar(&cfg.Hosts, "hosts", nil, "IP addresses and DNS names to issue the certificate for: the pod IP (which the metrics API dials and verifies) and the node name.")
	fs.DurationVar(&cfg.Validity, "validity", cfg.Validity, "How long the certificate is valid (never past the CA's own expiry).")
	fs.StringVar(&certFile, "cert-file", "tls.crt", "Where to write the certificate.")
	fs.StringVar(&keyFile, "key-file", "tls.key", "Where to write its private key.")
	return cmd
}
