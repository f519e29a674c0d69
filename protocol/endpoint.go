package protocol

// Web endpoint operations (client → master).
const (
	// OpPublish: PublishRequest → {}: the request's container serves
	// Domain on Port, behind the master's web gateway. The first account
	// to publish a domain owns it; another's publish is ErrPermission.
	OpPublish = "endpoint.publish"
	// OpUnpublish: PublishRequest (Port ignored) → {}.
	OpUnpublish = "endpoint.unpublish"
	// OpEndpointCert: EndpointCert → {}: the TLS certificate and key the
	// gateway serves for Domain (chosen by SNI).
	OpEndpointCert = "endpoint.cert"
	// OpGatewayDial: master → node: GatewayDial → {}: a tunnel dial for
	// the web gateway; its streams belong to the master, not a session.
	OpGatewayDial = "gateway.dial"
)

// PublishRequest publishes (or unpublishes) the request's container at a
// domain ("*.example.com" for a wildcard).
type PublishRequest struct {
	Domain string `cbor:"1,keyasint"`
	Port   int    `cbor:"2,keyasint,omitempty"`
}

// EndpointCert is a PEM certificate chain and key for a domain.
type EndpointCert struct {
	Domain string `cbor:"1,keyasint"`
	Cert   []byte `cbor:"2,keyasint"`
	Key    []byte `cbor:"3,keyasint"`
}

// GatewayDial is a tunnel dial of the gateway into a container of Session.
type GatewayDial struct {
	Session string     `cbor:"1,keyasint"`
	Dial    TunnelDial `cbor:"2,keyasint"`
}

// GatewayInfo is where the location's web gateway listens.
type GatewayInfo struct {
	HTTP  string `cbor:"1,keyasint,omitempty"`
	HTTPS string `cbor:"2,keyasint,omitempty"`
}

// EndpointInfo is one of the session's published domains.
type EndpointInfo struct {
	Domain     string   `cbor:"1,keyasint"`
	Containers []string `cbor:"2,keyasint,omitempty"` // names
	TLS        bool     `cbor:"3,keyasint,omitempty"`
}
