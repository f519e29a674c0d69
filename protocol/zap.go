package protocol

import (
	"sync"

	zmq "github.com/pebbe/zmq4"
)

// The ZAP handler (ZeroMQ RFC 27) decides which CURVE keys finish the
// handshake with a Server. It is process-wide: libzmq asks whoever is bound
// at zapEndpoint, once per context. zmq4 ships one, but its key sets are
// plain maps written by AuthCurveAdd while its handler goroutine reads
// them: a data race whenever an account or node is added to a running
// master. This one keeps the admitted keys under a lock and stamps each
// connection with its public key as User-Id.

// zapEndpoint is where libzmq sends ZAP requests.
const zapEndpoint = "inproc://zeromq.zap.01"

// zapKeys is the admitted CURVE public keys (Z85) by ZAP domain.
type zapKeys struct {
	mu   sync.RWMutex
	keys map[string]map[string]bool
}

var zap = zapKeys{keys: map[string]map[string]bool{}}

// add admits pub in domain.
func (z *zapKeys) add(domain, pub string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.keys[domain] == nil {
		z.keys[domain] = map[string]bool{}
	}
	z.keys[domain][pub] = true
}

// remove refuses pub in domain from now on.
func (z *zapKeys) remove(domain, pub string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	delete(z.keys[domain], pub)
}

// removeAll forgets domain.
func (z *zapKeys) removeAll(domain string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	delete(z.keys, domain)
}

// allowed reports whether pub may connect in domain.
func (z *zapKeys) allowed(domain, pub string) bool {
	z.mu.RLock()
	defer z.mu.RUnlock()
	return z.keys[domain][pub]
}

// answer decides one ZAP request: version, request id, domain, address,
// identity, mechanism, credentials… It returns the reply frames: only a
// CURVE client whose key is admitted for the domain gets 200 and its key as
// User-Id; anything else (other mechanisms, malformed requests) gets 400.
func (z *zapKeys) answer(req []string) []string {
	if len(req) < 6 {
		return nil // not a ZAP request: nothing sensible to answer
	}
	version, id, domain, mechanism := req[0], req[1], req[2], req[5]
	if version == "1.0" && mechanism == "CURVE" && len(req) == 7 && len(req[6]) == 32 {
		pub := zmq.Z85encode(req[6])
		if z.allowed(domain, pub) {
			return []string{version, id, "200", "OK", pub, ""}
		}
	}
	return []string{"1.0", id, "400", "NO ACCESS", "", ""}
}

// serve answers ZAP requests on sock until it fails (the process ends).
func (z *zapKeys) serve(sock *zmq.Socket) {
	for {
		req, err := sock.RecvMessage(0)
		if err != nil {
			return
		}
		rep := z.answer(req)
		if rep == nil {
			rep = []string{"1.0", "", "400", "BAD REQUEST", "", ""}
		}
		if _, err := sock.SendMessage(rep); err != nil {
			return
		}
	}
}

var (
	zapOnce sync.Once
	zapErr  error
)

// startAuth starts the process-wide ZAP handler once.
func startAuth() error {
	zapOnce.Do(func() {
		sock, err := zmq.NewSocket(zmq.REP)
		if err != nil {
			zapErr = err
			return
		}
		sock.SetLinger(0)
		if err := sock.Bind(zapEndpoint); err != nil {
			sock.Close()
			zapErr = err
			return
		}
		go zap.serve(sock)
	})
	return zapErr
}
