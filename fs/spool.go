package fs

import (
	"io"
	"os"
	"syscall"
)

// spool holds a pre-boot file's bytes in a temporary file of this host,
// never in memory; what was never written (a truncate that grows the file)
// stays a hole, and at start only the written part is sent, the rest made
// by a truncate on the node. Its methods are called with the container's
// mu held, or once the container left the "new" state.
type spool struct {
	f       *os.File // made on the first write
	size    int64
	dataEnd int64 // the written part is [0, dataEnd)
}

func (s *spool) open() error {
	if s.f != nil {
		return nil
	}
	f, err := os.CreateTemp("", "tffs-preboot-")
	if err != nil {
		return failf(syscall.EIO, "pre-boot file: %v", err)
	}
	os.Remove(f.Name()) // held open, gone with the last handle
	s.f = f
	return nil
}

func (s *spool) readAt(n int, off int64) ([]byte, error) {
	if off >= s.size || n <= 0 {
		return nil, nil
	}
	n = int(min(int64(n), s.size-off))
	buf := make([]byte, n)
	if s.f != nil && off < s.dataEnd {
		if _, err := s.f.ReadAt(buf[:min(int64(n), s.dataEnd-off)], off); err != nil && err != io.EOF {
			return nil, failf(syscall.EIO, "pre-boot file: %v", err)
		}
	}
	return buf, nil
}

func (s *spool) writeAt(p []byte, off int64) error {
	if err := s.open(); err != nil {
		return err
	}
	if _, err := s.f.WriteAt(p, off); err != nil {
		if pe, ok := err.(*os.PathError); ok {
			if en, ok := pe.Err.(syscall.Errno); ok {
				return failf(en, "pre-boot file: %v", err)
			}
		}
		return failf(syscall.EIO, "pre-boot file: %v", err)
	}
	end := off + int64(len(p))
	s.dataEnd = max(s.dataEnd, end)
	s.size = max(s.size, end)
	return nil
}

func (s *spool) truncate(n int64) error {
	if n < 0 {
		return failf(syscall.EINVAL, "negative size")
	}
	if n < s.dataEnd {
		if err := s.f.Truncate(n); err != nil {
			return failf(syscall.EIO, "pre-boot file: %v", err)
		}
		s.dataEnd = n
	}
	s.size = n
	return nil
}

// written reads the written part, for the put at start.
func (s *spool) written() io.Reader {
	if s.f == nil {
		return eofReader{}
	}
	return io.NewSectionReader(s.f, 0, min(s.dataEnd, s.size))
}

func (s *spool) close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
