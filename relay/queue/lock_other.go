//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package queue

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir opens the lock file; this platform has no flock(2), so two
// processes on one queue are not detected.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: lock: %w", err)
	}
	return f, nil
}
