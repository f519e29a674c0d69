package protocol

import (
	"strings"
	"sync"
	"testing"

	zmq "github.com/pebbe/zmq4"
)

// The ZAP decision: only an admitted CURVE key of the request's domain
// gets 200, with its Z85 key as User-Id; other keys, domains, mechanisms
// and malformed requests get 400 (or nothing for a non-request).
func TestZapAnswers(t *testing.T) {
	z := zapKeys{keys: map[string]map[string]bool{}}
	raw := strings.Repeat("k", 32)
	pub := zmq.Z85encode(raw)
	z.add("d", pub)
	req := func(domain, mech string, cred ...string) []string {
		return append([]string{"1.0", "7", domain, "127.0.0.1", "", mech}, cred...)
	}
	ok := z.answer(req("d", "CURVE", raw))
	if ok[2] != "200" || ok[4] != pub || ok[1] != "7" {
		t.Fatalf("admitted key: %q", ok)
	}
	for name, r := range map[string][]string{
		"other domain":   req("e", "CURVE", raw),
		"other key":      req("d", "CURVE", strings.Repeat("x", 32)),
		"NULL mechanism": req("d", "NULL"),
		"PLAIN":          req("d", "PLAIN", "u", "p"),
		"short key":      req("d", "CURVE", "short"),
		"bad version":    {"2.0", "7", "d", "a", "", "CURVE", raw},
		"extra frame":    req("d", "CURVE", raw, "more"),
	} {
		if got := z.answer(r); got[2] != "400" {
			t.Errorf("%s: %q", name, got)
		}
	}
	if z.answer([]string{"1.0"}) != nil {
		t.Error("a non-request got an answer")
	}
	z.remove("d", pub)
	if got := z.answer(req("d", "CURVE", raw)); got[2] != "400" {
		t.Fatalf("removed key: %q", got)
	}
}

// Keys change while requests are answered: no data race (run with -race).
func TestZapKeysConcurrent(t *testing.T) {
	z := zapKeys{keys: map[string]map[string]bool{}}
	raw := strings.Repeat("k", 32)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 1000 {
			z.add("d", zmq.Z85encode(strings.Repeat(string(rune('a'+i%26)), 32)))
			z.removeAll("e")
		}
	}()
	go func() {
		defer wg.Done()
		for range 1000 {
			z.answer([]string{"1.0", "1", "d", "a", "", "CURVE", raw})
		}
	}()
	wg.Wait()
}
