package protocol

import (
	"sync"
	"testing"
	"time"
)

// Ping-pong is what a lost wake-up would show: each message waits for the
// one before it, so a wait that missed its signal stalls the exchange
// until the bounded wait (linkTick) ends. Several clients exchange many
// messages with one server at once; all must arrive. Slow round trips are
// logged, not asserted (the machine is shared).
func TestPumpPingPongManyClients(t *testing.T) {
	srv, skp := testServer(t)
	const clients, rounds = 4, 1000
	var cs []*Client
	for i := range clients {
		ckp, _ := NewKeyPair()
		srv.Allow(ckp.Public)
		cs = append(cs, dialT(t, srv, skp, ckp, "pp-"+string(rune('a'+i))))
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // echo every request as its reply
		for {
			select {
			case in := <-srv.Recv():
				srv.Send(in.Peer, in.Msg.Reply(Offer{}, nil))
			case <-stop:
				return
			}
		}
	}()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		slow int
	)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := uint64(1); id <= rounds; id++ {
				req, _ := NewRequest(id, OpHello, HelloRequest{Client: "t"})
				t0 := time.Now()
				if err := c.Send(req); err != nil {
					t.Error(err)
					return
				}
				select {
				case r := <-c.Recv():
					if r.ID != id {
						t.Errorf("reply %d, want %d", r.ID, id)
						return
					}
				case <-time.After(30 * time.Second):
					t.Errorf("no reply to %d", id)
					return
				}
				if time.Since(t0) >= linkTick*8/10 {
					mu.Lock()
					slow++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d of %d round trips took %v or more", slow, clients*rounds, linkTick*8/10)
}
