package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ErrInvalidRecipient is returned by Deliver for a recipient that cannot be
// used as a mailbox directory name: empty, or holding a path separator, a
// NUL or other control character, a leading dot or "..".
var ErrInvalidRecipient = errors.New("store: invalid recipient")

// JunkFolder is the Maildir++ folder junk is delivered to, under the
// recipient's maildir.
const JunkFolder = ".Junk"

// Local delivers messages into one Maildir++ per recipient under a root
// directory: dir/<recipient>/{cur,new,tmp} is the INBOX and
// dir/<recipient>/.Junk/{cur,new,tmp} the Junk folder. It is safe for
// concurrent use, also by several processes on the same directory.
type Local struct {
	dir   string
	host  string // this host's name, made safe for Maildir file names
	pid   int
	count atomic.Uint64
	now   func() time.Time
}

// NewLocal returns a Local delivering under dir, creating dir if needed.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("store: empty directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("store: %s is not a directory", dir)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return &Local{dir: dir, host: maildirHost(host), pid: os.Getpid(), now: time.Now}, nil
}

// Dir returns the root directory.
func (l *Local) Dir() string { return l.dir }

// Deliver stores msg for rcpt, in its Junk folder when junk is set. When it
// returns nil the message is on disk: written under tmp/, fsync'd, renamed
// into new/, and new/ fsync'd. On error nothing is left in tmp/ or new/.
// The recipient is lower-cased; an unsafe recipient yields
// ErrInvalidRecipient. Deliver checks ctx before it starts and between reads
// of msg.
func (l *Local) Deliver(ctx context.Context, rcpt string, junk bool, msg io.Reader) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: deliver: %w", err)
	}
	user, err := normalise(rcpt)
	if err != nil {
		return err
	}
	folder := filepath.Join(l.dir, user)
	if junk {
		folder = filepath.Join(folder, JunkFolder)
	}
	if err := l.ensureMaildir(folder, junk); err != nil {
		return err
	}
	name, err := l.uniqueName()
	if err != nil {
		return err
	}
	tmp := filepath.Join(folder, "tmp", name)
	if err := writeSynced(ctx, tmp, msg); err != nil {
		return err
	}
	newDir := filepath.Join(folder, "new")
	if err := os.Rename(tmp, filepath.Join(newDir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: deliver: %w", err)
	}
	if err := syncDir(newDir); err != nil {
		return fmt.Errorf("store: deliver: %w", err)
	}
	return nil
}

// normalise lower-cases rcpt and checks it is a safe single path element.
func normalise(rcpt string) (string, error) {
	user := strings.ToLower(rcpt)
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrInvalidRecipient, rcpt, why)
	}
	switch {
	case user == "":
		return bad("empty")
	case len(user) > 255:
		return bad("too long")
	case user[0] == '.':
		return bad("leading dot")
	case strings.Contains(user, ".."):
		return bad(`contains ".."`)
	case strings.ContainsAny(user, `/\`):
		return bad("contains a path separator")
	}
	for _, r := range user {
		if r < 0x20 || r == 0x7f {
			return bad("contains a control character")
		}
	}
	return user, nil
}

// writeSynced writes msg to a new file at path and fsyncs it. On error the
// file is removed.
func writeSynced(ctx context.Context, path string, msg io.Reader) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: deliver: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, msg}); err != nil {
		return fmt.Errorf("store: deliver: writing message: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: deliver: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: deliver: %w", err)
	}
	return nil
}

// ctxReader stops reading once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// uniqueName returns a Maildir file name unique across processes and
// goroutines: seconds, microseconds, pid, a per-Local counter and random
// bits, then the host name ("1700000000.M123456P42Q7R1a2b3c4d.host").
func (l *Local) uniqueName() (string, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	now := l.now()
	var b strings.Builder
	b.WriteString(strconv.FormatInt(now.Unix(), 10))
	b.WriteString(".M")
	b.WriteString(strconv.Itoa(now.Nanosecond() / 1000))
	b.WriteString("P")
	b.WriteString(strconv.Itoa(l.pid))
	b.WriteString("Q")
	b.WriteString(strconv.FormatUint(l.count.Add(1), 10))
	b.WriteString("R")
	b.WriteString(hex.EncodeToString(rnd[:]))
	b.WriteString(".")
	b.WriteString(l.host)
	return b.String(), nil
}

// maildirHost makes a host name safe for a Maildir file name, replacing "/"
// and ":" as the Maildir convention does.
func maildirHost(h string) string {
	return strings.NewReplacer("/", `\057`, ":", `\072`).Replace(h)
}
