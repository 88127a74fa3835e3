package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ensureMaildir creates folder's cur/, new/ and tmp/ (and the folder and
// its parents up to the root) if they are missing, durably: each directory
// created is recorded by an fsync of its parent. A Maildir++ subfolder also
// gets its "maildirfolder" marker file.
func (l *Local) ensureMaildir(folder string, sub bool) error {
	for _, d := range []string{"tmp", "new", "cur"} {
		if err := l.mkdirDurable(filepath.Join(folder, d)); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	if sub {
		marker := filepath.Join(folder, "maildirfolder")
		if _, err := os.Stat(marker); errors.Is(err, fs.ErrNotExist) {
			f, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE, 0o600)
			if err != nil {
				return fmt.Errorf("store: %w", err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		}
	}
	return nil
}

// mkdirDurable creates dir and any missing parents below l.dir, fsyncing
// the parent of each directory it creates. A directory created meanwhile by
// a concurrent delivery is fine.
func (l *Local) mkdirDurable(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if dir != l.dir && parent != dir {
		if err := l.mkdirDurable(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

// syncDir fsyncs a directory, making the entries created in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	if cerr := d.Close(); serr == nil {
		serr = cerr
	}
	return serr
}
