package store

// The index layout (bbolt):
//
//	meta/uidvalidity      the last UIDVALIDITY handed out (uint32 BE)
//	refs/<file id>        how many message records refer to a file (uint32 BE)
//	users/<name>/info     the user record (JSON)
//	users/<name>/mbox/<mailbox name>  the mailbox record (JSON)
//	users/<name>/msgs/<mailbox id>/<uid>  the message record (binary)
//
// Message buckets are keyed by mailbox id, so a rename only rewrites the
// mailbox records. A copied message shares its file with the original; the
// refs bucket counts the records per file and the file is removed when the
// count drops to zero.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket and key names.
const (
	bucketMeta  = "meta"
	bucketRefs  = "refs"
	bucketUsers = "users"
	bucketMbox  = "mbox"
	bucketMsgs  = "msgs"
	keyInfo     = "info"
	keyUIDValid = "uidvalidity"
)

// fileID names a message file: 16 random bytes, hex in the file name.
type fileID [16]byte

// trained says what a message was trained as.
type trained byte

// Training states.
const (
	trainedNone trained = iota
	trainedSpam
	trainedHam
)

// userRec is a user's record.
type userRec struct {
	Hash     string    `json:"hash"`
	Quota    int64     `json:"quota,omitempty"`
	Used     int64     `json:"used"`
	Created  time.Time `json:"created"`
	NextMbox uint64    `json:"next_mbox"`
}

// mboxRec is a mailbox's record; Messages, Unseen and Size are kept up to
// date by every change (and recomputed by recover).
type mboxRec struct {
	ID          uint64 `json:"id"`
	Role        string `json:"role,omitempty"`
	Subscribed  bool   `json:"subscribed,omitempty"`
	UIDValidity uint32 `json:"uidvalidity"`
	UIDNext     uint32 `json:"uidnext"`
	Messages    uint32 `json:"messages"`
	Unseen      uint32 `json:"unseen"`
	Size        int64  `json:"size"`
}

// msgRec is a message's record.
type msgRec struct {
	File     fileID
	Internal time.Time
	Size     int64
	Trained  trained
	Flags    []string
}

const msgRecVersion = 1

func (m *msgRec) marshal() []byte {
	b := make([]byte, 0, 40+8*len(m.Flags))
	b = append(b, msgRecVersion)
	b = append(b, m.File[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Internal.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Size))
	b = append(b, byte(m.Trained))
	b = binary.AppendUvarint(b, uint64(len(m.Flags)))
	for _, f := range m.Flags {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

var errBadRecord = errors.New("store: corrupt message record")

func (m *msgRec) unmarshal(b []byte) error {
	if len(b) < 35 || b[0] != msgRecVersion {
		return errBadRecord
	}
	copy(m.File[:], b[1:17])
	m.Internal = time.Unix(0, int64(binary.BigEndian.Uint64(b[17:25])))
	m.Size = int64(binary.BigEndian.Uint64(b[25:33]))
	m.Trained = trained(b[33])
	b = b[34:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return errBadRecord
	}
	b = b[k:]
	m.Flags = make([]string, 0, n)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return errBadRecord
		}
		m.Flags = append(m.Flags, string(b[k:k+int(l)]))
		b = b[k+int(l):]
	}
	return nil
}

func (m *msgRec) seen() bool { return slices.Contains(m.Flags, FlagSeen) }

func (m *msgRec) message(uid uint32) Message {
	return Message{UID: uid, Flags: slices.Clone(m.Flags), Internal: m.Internal, Size: m.Size}
}

func uidKey(uid uint32) []byte { return binary.BigEndian.AppendUint32(nil, uid) }

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// nextUIDValidity hands out a UIDVALIDITY never used before in this store:
// the current time in seconds, or one more than the last one if that is
// not larger.
func nextUIDValidity(tx *bolt.Tx, now time.Time) (uint32, error) {
	b, err := tx.CreateBucketIfNotExists([]byte(bucketMeta))
	if err != nil {
		return 0, err
	}
	var last uint32
	if v := b.Get([]byte(keyUIDValid)); len(v) == 4 {
		last = binary.BigEndian.Uint32(v)
	}
	next := uint32(now.Unix())
	if next <= last {
		next = last + 1
	}
	if next == 0 {
		next = 1
	}
	return next, b.Put([]byte(keyUIDValid), binary.BigEndian.AppendUint32(nil, next))
}

// addRef changes file's reference count by delta and reports whether the
// file is no longer referred to.
func addRef(tx *bolt.Tx, f fileID, delta int) (free bool, err error) {
	b, err := tx.CreateBucketIfNotExists([]byte(bucketRefs))
	if err != nil {
		return false, err
	}
	var n int
	if v := b.Get(f[:]); len(v) == 4 {
		n = int(binary.BigEndian.Uint32(v))
	}
	n += delta
	if n <= 0 {
		return true, b.Delete(f[:])
	}
	return false, b.Put(f[:], binary.BigEndian.AppendUint32(nil, uint32(n)))
}

// getJSON decodes b's value under key into v; found is false when absent.
func getJSON(b *bolt.Bucket, key []byte, v any) (found bool, err error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("store: corrupt record %q: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}
