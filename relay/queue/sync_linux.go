package queue

import (
	"fmt"
	"os"
	"syscall"
)

// datasync flushes f's data and the metadata needed to read it back
// (fdatasync(2)): cheaper than fsync for an append-only file.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("fdatasync: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return fmt.Errorf("fdatasync: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("fdatasync: %w", serr)
	}
	return nil
}
