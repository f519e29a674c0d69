package master

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/tffs/tffs/protocol"
)

// publish handles OpPublish and OpUnpublish for the session's container.
func (m *Master) publish(s *session, msg *protocol.Msg) {
	var req protocol.PublishRequest
	if err := msg.DecodeBody(&req); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	c, ok := m.containers[msg.Container]
	if !ok || c.session != s.id {
		m.reply(s.id, msg, nil, fmt.Errorf("container %q: %w", msg.Container, protocol.ErrNotFound))
		return
	}
	domain, err := checkDomain(req.Domain)
	if err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	if err := m.claim(s, domain); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	e := m.endpoints[domain]
	if msg.Op == protocol.OpUnpublish {
		if e != nil && e.session == s.id {
			out := e.backends[:0]
			for _, b := range e.backends {
				if b.container != c.id {
					out = append(out, b)
				}
			}
			e.backends = out
		}
		m.reply(s.id, msg, protocol.Empty{}, nil)
		return
	}
	if req.Port <= 0 || req.Port > 65535 {
		m.reply(s.id, msg, nil, fmt.Errorf("port %d: %w", req.Port, protocol.ErrInvalid))
		return
	}
	if e == nil {
		e = &endpoint{domain: domain, account: s.account, session: s.id}
		m.endpoints[domain] = e
	}
	if e.session != s.id {
		m.reply(s.id, msg, nil, fmt.Errorf("domain %s is published by another session: %w", domain, protocol.ErrBusy))
		return
	}
	for _, b := range e.backends {
		if b.container == c.id {
			m.reply(s.id, msg, nil, fmt.Errorf("%s already serves %s: %w", c.name, domain, protocol.ErrExists))
			return
		}
	}
	e.backends = append(e.backends, backend{container: c.id, port: req.Port})
	m.reply(s.id, msg, protocol.Empty{}, nil)
}

// endpointCert sets a published domain's TLS certificate.
func (m *Master) endpointCert(s *session, msg *protocol.Msg) {
	var req protocol.EndpointCert
	if err := msg.DecodeBody(&req); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	domain, err := checkDomain(req.Domain)
	if err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	if err := m.claim(s, domain); err != nil {
		m.reply(s.id, msg, nil, err)
		return
	}
	cert, err := tls.X509KeyPair(req.Cert, req.Key)
	if err != nil {
		m.reply(s.id, msg, nil, fmt.Errorf("certificate of %s: %v: %w", domain, err, protocol.ErrInvalid))
		return
	}
	e := m.endpoints[domain]
	if e == nil {
		e = &endpoint{domain: domain, account: s.account, session: s.id}
		m.endpoints[domain] = e
	}
	if e.session != s.id {
		m.reply(s.id, msg, nil, fmt.Errorf("domain %s is published by another session: %w", domain, protocol.ErrBusy))
		return
	}
	e.cert = &cert
	m.reply(s.id, msg, protocol.Empty{}, nil)
}

// claim gives domain to the session's account if nobody holds it; another
// account's domain is ErrPermission.
func (m *Master) claim(s *session, domain string) error {
	all, err := m.store.all(bucketDomains)
	if err != nil {
		return err
	}
	if owner, ok := all[domain]; ok {
		if string(owner) != s.account {
			return fmt.Errorf("domain %s belongs to another account: %w", domain, protocol.ErrPermission)
		}
		return nil
	}
	return m.store.put(bucketDomains, domain, []byte(s.account))
}

// endSessionEndpoints removes the endpoints of a session that ended.
func (m *Master) endSessionEndpoints(id string) {
	for d, e := range m.endpoints {
		if e.session == id {
			delete(m.endpoints, d)
		}
	}
}

// checkDomain lower-cases a domain and checks its syntax: labels of
// letters, digits and '-', at least two, "*." allowed first.
func checkDomain(d string) (string, error) {
	d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
	rest := strings.TrimPrefix(d, "*.")
	labels := strings.Split(rest, ".")
	bad := len(d) > 253 || len(labels) < 2
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			bad = true
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				bad = true
			}
		}
	}
	if bad {
		return "", fmt.Errorf("domain %q: %w", d, protocol.ErrInvalid)
	}
	return d, nil
}
