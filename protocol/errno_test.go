package protocol

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

// TestWireErrorCarriesErrno: a file call's errno crosses the wire beside
// the error's class, so a mount answers with exactly what the container's
// filesystem gave.
func TestWireErrorCarriesErrno(t *testing.T) {
	we := WireError(fmt.Errorf("stat /x: %w: %w", ErrInvalid, syscall.ENAMETOOLONG))
	b, err := Marshal(we)
	if err != nil {
		t.Fatal(err)
	}
	var got Error
	if err := Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var en syscall.Errno
	if !errors.As(&got, &en) || en != syscall.ENAMETOOLONG || !errors.Is(&got, ErrInvalid) {
		t.Fatalf("decoded %+v: errno %v, invalid %v", got, en, errors.Is(&got, ErrInvalid))
	}
	plain := WireError(errors.New("no errno"))
	if plain.Errno != 0 || errors.As(plain, &en) {
		t.Fatalf("an error without errno: %+v", plain)
	}
}
