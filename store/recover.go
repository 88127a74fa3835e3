package store

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

var errNoIndex = errors.New("store: index missing")

// repairs counts what recover fixed.
type repairs struct {
	orphanFiles, missingFiles, badRecords, counters, refs, buckets int
}

func (r repairs) any() bool { return r != repairs{} }

// recover makes the index and the message files agree after a crash:
// files no record refers to are removed (a delivery that died before its
// commit), records whose file is missing or unreadable are dropped,
// mailbox counters, UIDNEXT, users' usage and file reference counts are
// recomputed, and missing role mailboxes are created.
func (s *Store) recover(ctx context.Context) error {
	present, err := s.scanFiles()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: recover: %w", err)
	}
	var rep repairs
	var counts map[fileID]uint32
	err = s.db.Update(func(tx *bolt.Tx) error {
		rep, counts = repairs{}, map[fileID]uint32{}
		if tx.Bucket([]byte(bucketUsers)) == nil && len(present) > 0 {
			// A lost or replaced index must not make us delete all mail.
			return fmt.Errorf("%w: the index is empty but %d message files exist under %s; refusing to remove them",
				errNoIndex, len(present), filepath.Join(s.dir, "msgs"))
		}
		return s.fsck(tx, present, counts, &rep)
	})
	if err != nil {
		return fmt.Errorf("store: recover: %w", err)
	}
	for f := range present {
		if counts[f] == 0 {
			rep.orphanFiles++
			s.log.Warn("store: recover: removing message file not in the index", "file", s.path(f))
			s.removeFile(f)
		}
	}
	if rep.any() {
		s.log.Warn("store: recovered", "orphan_files", rep.orphanFiles, "missing_files", rep.missingFiles,
			"bad_records", rep.badRecords, "counters", rep.counters, "refs", rep.refs, "buckets", rep.buckets)
	}
	return nil
}

// scanFiles lists the message files on disk, removing stray ones (names
// that are not message files).
func (s *Store) scanFiles() (map[fileID]bool, error) {
	present := map[fileID]bool{}
	for i := range 256 {
		shard := fmt.Sprintf("%02x", i)
		d := filepath.Join(s.dir, "msgs", shard)
		ents, err := os.ReadDir(d)
		if err != nil {
			return nil, fmt.Errorf("store: recover: %w", err)
		}
		for _, e := range ents {
			var f fileID
			b, err := hex.DecodeString(e.Name())
			if err != nil || len(b) != len(f) || e.Name()[:2] != shard || !e.Type().IsRegular() {
				s.log.Warn("store: recover: removing stray file", "file", filepath.Join(d, e.Name()))
				os.RemoveAll(filepath.Join(d, e.Name()))
				continue
			}
			copy(f[:], b)
			present[f] = true
		}
	}
	return present, nil
}

// fsck checks and repairs the whole index in tx (see recover), counting
// the references to each file in counts.
func (s *Store) fsck(tx *bolt.Tx, present map[fileID]bool, counts map[fileID]uint32, rep *repairs) error {
	users, err := tx.CreateBucketIfNotExists([]byte(bucketUsers))
	if err != nil {
		return err
	}
	var names []string
	users.ForEachBucket(func(k []byte) error {
		names = append(names, string(k))
		return nil
	})
	for _, name := range names {
		if err := s.fsckUser(tx, users.Bucket([]byte(name)), name, present, counts, rep); err != nil {
			return fmt.Errorf("user %s: %w", name, err)
		}
	}
	refs, err := tx.CreateBucketIfNotExists([]byte(bucketRefs))
	if err != nil {
		return err
	}
	var stale [][]byte
	refs.ForEach(func(k, v []byte) error {
		var f fileID
		copy(f[:], k)
		if len(k) != len(f) || len(v) != 4 || counts[f] == 0 {
			stale = append(stale, k)
		}
		return nil
	})
	for _, k := range stale {
		rep.refs++
		if err := refs.Delete(k); err != nil {
			return err
		}
	}
	for f, n := range counts {
		v := refs.Get(f[:])
		if len(v) == 4 && binary.BigEndian.Uint32(v) == n {
			continue
		}
		rep.refs++
		if err := refs.Put(f[:], binary.BigEndian.AppendUint32(nil, n)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) fsckUser(tx *bolt.Tx, ub *bolt.Bucket, name string, present map[fileID]bool, counts map[fileID]uint32, rep *repairs) error {
	u := &utx{s: s, tx: tx, name: name, ub: ub, boxes: map[string]*mbox{}}
	if _, err := getJSON(ub, []byte(keyInfo), &u.rec); err != nil {
		return err
	}
	if _, err := ub.CreateBucketIfNotExists([]byte(bucketMbox)); err != nil {
		return err
	}
	msgs, err := ub.CreateBucketIfNotExists([]byte(bucketMsgs))
	if err != nil {
		return err
	}
	ids := map[uint64]bool{}
	var used int64
	for _, mn := range u.mailboxNames() {
		m := &mbox{name: mn}
		if _, err := getJSON(ub.Bucket([]byte(bucketMbox)), []byte(mn), &m.rec); err != nil {
			return err
		}
		if m.rec.ID > u.rec.NextMbox {
			u.rec.NextMbox = m.rec.ID
			u.userDirty = true
		}
		ids[m.rec.ID] = true
		if m.b = msgs.Bucket(idKey(m.rec.ID)); m.b == nil {
			rep.buckets++
			if m.b, err = msgs.CreateBucket(idKey(m.rec.ID)); err != nil {
				return err
			}
		}
		u.boxes[mn] = m
		var drop [][]byte
		var n, unseen, maxUID uint32
		var size int64
		m.b.ForEach(func(k, v []byte) error {
			var r msgRec
			if len(k) != 4 || r.unmarshal(v) != nil {
				rep.badRecords++
				drop = append(drop, k)
				return nil
			}
			if !present[r.File] {
				rep.missingFiles++
				s.log.Warn("store: recover: dropping message whose file is missing",
					"user", name, "mailbox", mn, "uid", uidOf(k), "file", s.path(r.File))
				drop = append(drop, k)
				return nil
			}
			counts[r.File]++
			n++
			size += r.Size
			if !r.seen() {
				unseen++
			}
			maxUID = max(maxUID, uidOf(k))
			return nil
		})
		for _, k := range drop {
			if err := m.b.Delete(k); err != nil {
				return err
			}
		}
		used += size
		if m.rec.Messages != n || m.rec.Unseen != unseen || m.rec.Size != size || m.rec.UIDNext <= maxUID {
			rep.counters++
			m.rec.Messages, m.rec.Unseen, m.rec.Size = n, unseen, size
			m.rec.UIDNext = max(m.rec.UIDNext, maxUID+1)
			m.dirty = true
		}
	}
	var orphans [][]byte
	msgs.ForEachBucket(func(k []byte) error {
		if len(k) != 8 || !ids[binary.BigEndian.Uint64(k)] {
			orphans = append(orphans, k)
		}
		return nil
	})
	for _, k := range orphans {
		rep.buckets++
		if err := msgs.DeleteBucket(k); err != nil {
			return err
		}
	}
	if u.rec.Used != used {
		rep.counters++
		u.rec.Used = used
		u.userDirty = true
	}
	for _, rm := range roleMailboxes() {
		if !u.hasMailbox(rm[0]) {
			rep.buckets++
			if _, err := u.createMailbox(rm[0], rm[1]); err != nil {
				return err
			}
		}
	}
	return u.save()
}
