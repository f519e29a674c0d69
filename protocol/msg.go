package protocol

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Limits on what the codec accepts. Anything larger is refused before or
// while decoding, never allocated.
const (
	MaxMessageSize = 1 << 20   // one wire message, bytes
	MaxChunkSize   = 256 << 10 // one stream chunk, bytes
	maxFieldBytes  = MaxMessageSize
	maxItems       = 4096 // array elements and map pairs
	maxDepth       = 16
)

// Kind is what a message is.
type Kind uint8

// Message kinds.
const (
	KindRequest Kind = iota + 1 // asks for Op; answered by one KindReply with the same ID
	KindReply                   // answers the request with ID; Err set on failure
	KindEvent                   // one-way notice (Op names it)
	KindData                    // a stream chunk (Stream, Seq, Data, EOF)
	KindAck                     // a stream credit: the receiver consumed chunks up to Seq
	KindPing                    // heartbeat
	KindPong                    // heartbeat answer
	KindBye                     // the sender ends its session cleanly
	// KindLinkReset never crosses the wire: the transport hands it to its
	// consumer when a link was declared broken (Err says why). Messages in
	// flight on it may be lost: fail what is open over it.
	KindLinkReset
)

func (k Kind) String() string {
	names := [...]string{"?", "request", "reply", "event", "data", "ack", "ping", "pong", "bye", "link-reset"}
	if int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Msg is one message on the wire.
//
// Session and Container are routing fields: the master stamps Session on
// everything it forwards to a node (a client's value is ignored), and a
// client names the Container a stream message is for.
type Msg struct {
	Kind      Kind            `cbor:"1,keyasint"`
	ID        uint64          `cbor:"2,keyasint,omitempty"`
	Op        string          `cbor:"3,keyasint,omitempty"`
	Err       *Error          `cbor:"4,keyasint,omitempty"`
	Body      cbor.RawMessage `cbor:"5,keyasint,omitempty"`
	Stream    uint64          `cbor:"6,keyasint,omitempty"`
	Seq       uint64          `cbor:"7,keyasint,omitempty"`
	Data      []byte          `cbor:"8,keyasint,omitempty"`
	EOF       bool            `cbor:"9,keyasint,omitempty"`
	Session   string          `cbor:"10,keyasint,omitempty"`
	Container string          `cbor:"11,keyasint,omitempty"`
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   maxDepth,
		MaxArrayElements:  maxItems,
		MaxMapPairs:       maxItems,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Marshal encodes v (a message or a body) as CBOR.
func Marshal(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return b, nil
}

// Unmarshal decodes CBOR into v with the codec's hard limits. Unknown fields
// and oversized input are errors wrapping ErrInvalid or ErrTooLarge.
func Unmarshal(b []byte, v any) error {
	if len(b) > MaxMessageSize+1024 {
		return fmt.Errorf("message of %d bytes: %w", len(b), ErrTooLarge)
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode: %v: %w", err, ErrInvalid)
	}
	return nil
}

// A stream chunk (KindData with Data) is framed apart from CBOR, so no hop
// copies its bytes more than once: dataMark, the length of the CBOR
// message without Data (4 bytes, big endian), that message, then the raw
// bytes. Encode writes the bytes once into the frame and Decode slices them
// out of the frame without copying. 0xff (a CBOR "break") never starts a
// CBOR message.
const (
	dataMark   = 0xff
	dataHdrLen = 5
)

// Encode marshals a message, refusing one larger than MaxMessageSize.
func Encode(m *Msg) ([]byte, error) {
	if len(m.Data) > MaxChunkSize {
		return nil, fmt.Errorf("chunk of %d bytes: %w", len(m.Data), ErrTooLarge)
	}
	if m.Kind == KindData && len(m.Data) > 0 {
		return encodeData(m)
	}
	b, err := Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMessageSize+1024 {
		return nil, fmt.Errorf("message of %d bytes: %w", len(b), ErrTooLarge)
	}
	return b, nil
}

func encodeData(m *Msg) ([]byte, error) {
	h := *m
	h.Data = nil
	hb, err := Marshal(&h)
	if err != nil {
		return nil, err
	}
	if len(hb)+len(m.Data) > MaxMessageSize+1024 {
		return nil, fmt.Errorf("message of %d bytes: %w", len(hb)+len(m.Data), ErrTooLarge)
	}
	b := frameBuf(dataHdrLen + len(hb) + len(m.Data))
	b[0] = dataMark
	binary.BigEndian.PutUint32(b[1:], uint32(len(hb)))
	copy(b[dataHdrLen:], hb)
	copy(b[dataHdrLen+len(hb):], m.Data)
	return b, nil
}

// Chunk frames are reused: a link hands a frame back with recycleFrame once
// its peer acknowledged it (nothing else holds an encoded message then: the
// socket copied it when it was sent). Fresh 256 KiB buffers on every hop
// cost page faults, zeroing and GC cycles.
const frameCap = dataHdrLen + MaxChunkSize + 1024

var framePool = sync.Pool{New: func() any { b := make([]byte, frameCap); return &b }}

// frameBuf is a buffer of n bytes, from the pool when it fits.
func frameBuf(n int) []byte {
	if n > frameCap {
		return make([]byte, n)
	}
	return (*framePool.Get().(*[]byte))[:n]
}

// recycleFrame returns a chunk frame nobody holds any more to the pool.
func recycleFrame(b []byte) {
	if cap(b) == frameCap && len(b) > 0 && b[0] == dataMark {
		b = b[:frameCap]
		framePool.Put(&b)
	}
}

// Decode parses and validates one wire message. A chunk's Data is a slice
// of b: the caller must not reuse b.
func Decode(b []byte) (*Msg, error) {
	var m Msg
	if len(b) > 0 && b[0] == dataMark {
		if len(b) < dataHdrLen {
			return nil, fmt.Errorf("short data frame: %w", ErrInvalid)
		}
		hl := binary.BigEndian.Uint32(b[1:])
		if uint64(hl) > uint64(len(b)-dataHdrLen) {
			return nil, fmt.Errorf("data frame header of %d bytes in %d: %w", hl, len(b), ErrInvalid)
		}
		end := dataHdrLen + int(hl)
		if err := Unmarshal(b[dataHdrLen:end], &m); err != nil {
			return nil, err
		}
		if m.Kind != KindData || m.Data != nil {
			return nil, fmt.Errorf("data frame holding a %s: %w", m.Kind, ErrInvalid)
		}
		m.Data = b[end:len(b):len(b)]
		if len(m.Data) == 0 {
			return nil, fmt.Errorf("empty data frame: %w", ErrInvalid)
		}
	} else if err := Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m.Kind < KindRequest || m.Kind > KindBye {
		return nil, fmt.Errorf("unknown message kind %d: %w", m.Kind, ErrInvalid)
	}
	if len(m.Data) > MaxChunkSize {
		return nil, fmt.Errorf("chunk of %d bytes: %w", len(m.Data), ErrTooLarge)
	}
	if len(m.Op) > 64 || len(m.Session) > 128 || len(m.Container) > 128 {
		return nil, fmt.Errorf("routing field too long: %w", ErrInvalid)
	}
	if (m.Kind == KindRequest || m.Kind == KindEvent) && m.Op == "" {
		return nil, fmt.Errorf("%s without op: %w", m.Kind, ErrInvalid)
	}
	return &m, nil
}

// DecodeBody decodes a message body into v.
func (m *Msg) DecodeBody(v any) error {
	if len(m.Body) == 0 {
		return fmt.Errorf("%s %q: empty body: %w", m.Kind, m.Op, ErrInvalid)
	}
	return Unmarshal(m.Body, v)
}

// NewRequest builds a request message with an encoded body.
func NewRequest(id uint64, op string, body any) (*Msg, error) {
	m := &Msg{Kind: KindRequest, ID: id, Op: op}
	return m, m.SetBody(body)
}

// SetBody encodes v into the message body (nil leaves it empty).
func (m *Msg) SetBody(v any) error {
	if v == nil {
		return nil
	}
	b, err := Marshal(v)
	if err != nil {
		return err
	}
	m.Body = b
	return nil
}

// Reply builds the reply to request m: body on success, err otherwise.
func (m *Msg) Reply(body any, err error) *Msg {
	r := &Msg{Kind: KindReply, ID: m.ID, Op: m.Op, Session: m.Session, Container: m.Container}
	if err != nil {
		r.Err = WireError(err)
		return r
	}
	if serr := r.SetBody(body); serr != nil {
		r.Err = WireError(serr)
	}
	return r
}
