package sdk

import (
	"context"
	"fmt"

	"github.com/tffs/tffs/protocol"
)

// Publish puts c behind the location's web gateway at domain (a host
// name, or "*.example.com" for its subdomains): the gateway balances the
// domain's requests across the containers published there and skips one
// that stops answering. The first account to publish a domain owns it;
// another account's publish fails with ErrPermission. Endpoints end with
// the session.
func (l *Location) Publish(ctx context.Context, domain string, c *Container, port int) error {
	if c == nil {
		return fmt.Errorf("publish %s: no container: %w", domain, ErrInvalid)
	}
	if err := l.call(ctx, protocol.OpPublish, protocol.PublishRequest{Domain: domain, Port: port}, nil, c.ID); err != nil {
		return fmt.Errorf("publish %s at %s: %w", c.Name, domain, err)
	}
	return nil
}

// Unpublish takes c out of domain.
func (l *Location) Unpublish(ctx context.Context, domain string, c *Container) error {
	if c == nil {
		return fmt.Errorf("unpublish %s: no container: %w", domain, ErrInvalid)
	}
	if err := l.call(ctx, protocol.OpUnpublish, protocol.PublishRequest{Domain: domain}, nil, c.ID); err != nil {
		return fmt.Errorf("unpublish %s from %s: %w", c.Name, domain, err)
	}
	return nil
}

// SetEndpointCert sets the PEM certificate chain and key the gateway
// serves for domain over HTTPS (chosen by SNI).
func (l *Location) SetEndpointCert(ctx context.Context, domain string, certPEM, keyPEM []byte) error {
	if err := l.call(ctx, protocol.OpEndpointCert, protocol.EndpointCert{Domain: domain, Cert: certPEM, Key: keyPEM}, nil, ""); err != nil {
		return fmt.Errorf("certificate of %s: %w", domain, err)
	}
	return nil
}
