package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// utx is one user's view of an index transaction: it loads the user and
// mailbox records, keeps their counters right as messages come and go,
// writes them back in save, and collects what must happen after the
// commit (changes to publish, training, files to remove).
type utx struct {
	s         *Store
	tx        *bolt.Tx
	name      string
	ub        *bolt.Bucket
	rec       userRec
	userDirty bool
	boxes     map[string]*mbox

	changes []Change
	trains  []trainReq
	freed   []fileID
}

// mbox is a mailbox loaded in a utx.
type mbox struct {
	name  string
	rec   mboxRec
	b     *bolt.Bucket // the message records
	dirty bool
}

// trainReq asks for one message to be trained after the commit.
type trainReq struct {
	spam bool
	file fileID
}

// openUser loads user name (already normalised) in tx.
func (s *Store) openUser(tx *bolt.Tx, name string) (*utx, error) {
	users := tx.Bucket([]byte(bucketUsers))
	if users == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchUser, name)
	}
	ub := users.Bucket([]byte(name))
	if ub == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchUser, name)
	}
	u := &utx{s: s, tx: tx, name: name, ub: ub, boxes: map[string]*mbox{}}
	if _, err := getJSON(ub, []byte(keyInfo), &u.rec); err != nil {
		return nil, err
	}
	return u, nil
}

// mailbox loads mailbox name (already normalised).
func (u *utx) mailbox(name string) (*mbox, error) {
	if m, ok := u.boxes[name]; ok {
		return m, nil
	}
	m := &mbox{name: name}
	found, err := getJSON(u.ub.Bucket([]byte(bucketMbox)), []byte(name), &m.rec)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchMailbox, name)
	}
	m.b = u.ub.Bucket([]byte(bucketMsgs)).Bucket(idKey(m.rec.ID))
	if m.b == nil {
		return nil, fmt.Errorf("store: mailbox %s of %s has no message bucket", name, u.name)
	}
	u.boxes[name] = m
	return m, nil
}

// createMailbox creates mailbox name with role; it must not exist.
func (u *utx) createMailbox(name, role string) (*mbox, error) {
	uv, err := nextUIDValidity(u.tx, u.s.now())
	if err != nil {
		return nil, err
	}
	u.rec.NextMbox++
	u.userDirty = true
	m := &mbox{name: name, dirty: true, rec: mboxRec{
		ID: u.rec.NextMbox, Role: role, UIDValidity: uv, UIDNext: 1,
		Subscribed: role != "",
	}}
	msgs, err := u.ub.CreateBucketIfNotExists([]byte(bucketMsgs))
	if err != nil {
		return nil, err
	}
	if msgs.Bucket(idKey(m.rec.ID)) != nil {
		if err := msgs.DeleteBucket(idKey(m.rec.ID)); err != nil {
			return nil, err
		}
	}
	if m.b, err = msgs.CreateBucket(idKey(m.rec.ID)); err != nil {
		return nil, err
	}
	u.boxes[name] = m
	return m, nil
}

// quota is the user's quota in bytes, 0 meaning unlimited.
func (u *utx) quota() int64 {
	if u.rec.Quota > 0 {
		return u.rec.Quota
	}
	return u.s.quota
}

// fits reports whether size more bytes fit the user's quota.
func (u *utx) fits(size int64) bool {
	q := u.quota()
	return q <= 0 || u.rec.Used+size <= q
}

// get returns the record of uid in m.
func (m *mbox) get(uid uint32) (msgRec, bool, error) {
	var r msgRec
	v := m.b.Get(uidKey(uid))
	if v == nil {
		return r, false, nil
	}
	if err := r.unmarshal(v); err != nil {
		return r, false, fmt.Errorf("%w: %s uid %d", err, m.name, uid)
	}
	return r, true, nil
}

// add stores r as a new message of m with the next UID; the file's
// reference count and the user's usage are the caller's business.
func (u *utx) add(m *mbox, r *msgRec) (uint32, error) {
	uid := m.rec.UIDNext
	if uid == 0 || uid == ^uint32(0) {
		return 0, fmt.Errorf("store: mailbox %s has run out of UIDs", m.name)
	}
	if err := m.b.Put(uidKey(uid), r.marshal()); err != nil {
		return 0, err
	}
	m.rec.UIDNext++
	m.rec.Messages++
	m.rec.Size += r.Size
	if !r.seen() {
		m.rec.Unseen++
	}
	m.dirty = true
	return uid, nil
}

// replace rewrites uid's record in m from old to r.
func (u *utx) replace(m *mbox, uid uint32, old, r *msgRec) error {
	if err := m.b.Put(uidKey(uid), r.marshal()); err != nil {
		return err
	}
	switch {
	case old.seen() && !r.seen():
		m.rec.Unseen++
	case !old.seen() && r.seen():
		m.rec.Unseen--
	}
	m.dirty = true
	return nil
}

// remove deletes uid (whose record is r) from m.
func (u *utx) remove(m *mbox, uid uint32, r *msgRec) error {
	if err := m.b.Delete(uidKey(uid)); err != nil {
		return err
	}
	m.rec.Messages--
	m.rec.Size -= r.Size
	if !r.seen() {
		m.rec.Unseen--
	}
	m.dirty = true
	return nil
}

// ref changes the reference count of f, noting the file for removal when
// nothing refers to it any more, and the user's usage by size per ref.
func (u *utx) ref(f fileID, delta int, size int64) error {
	free, err := addRef(u.tx, f, delta)
	if err != nil {
		return err
	}
	if free {
		u.freed = append(u.freed, f)
	}
	u.rec.Used += int64(delta) * size
	u.userDirty = true
	return nil
}

// train records that r is now trained as class and asks for training when
// that is a change.
func (u *utx) train(r *msgRec, spam bool) bool {
	class := trainedHam
	if spam {
		class = trainedSpam
	}
	if r.Trained == class {
		return false
	}
	r.Trained = class
	u.trains = append(u.trains, trainReq{spam: spam, file: r.File})
	return true
}

// change notes a change to publish after the commit.
func (u *utx) change(kind ChangeKind, mailbox string, uids []uint32) {
	u.changes = append(u.changes, Change{User: u.name, Mailbox: mailbox, Kind: kind, UIDs: uids})
}

// save writes the dirty mailbox and user records back.
func (u *utx) save() error {
	mb := u.ub.Bucket([]byte(bucketMbox))
	for _, m := range u.boxes {
		if !m.dirty {
			continue
		}
		if err := putJSON(mb, []byte(m.name), &m.rec); err != nil {
			return err
		}
	}
	if u.userDirty {
		return putJSON(u.ub, []byte(keyInfo), &u.rec)
	}
	return nil
}

// userUpdate runs fn on user name's records in a group-committed write
// transaction, saves them, and then does what fn collected: removes freed
// files, publishes changes and trains. dir is as for update.
func (s *Store) userUpdate(ctx context.Context, name, dir string, fn func(u *utx) error) error {
	var done *utx
	err := s.update(ctx, dir, func(tx *bolt.Tx) error {
		done = nil
		u, err := s.openUser(tx, name)
		if err != nil {
			return err
		}
		if err := fn(u); err != nil {
			return err
		}
		if err := u.save(); err != nil {
			return err
		}
		done = u
		return nil
	})
	if err != nil {
		return err
	}
	s.afterCommit(ctx, done)
	return nil
}

// afterCommit removes files nothing refers to, publishes u's changes and
// trains.
func (s *Store) afterCommit(ctx context.Context, u *utx) {
	for _, f := range u.freed {
		s.removeFile(f)
	}
	s.publish(u.changes)
	s.runTraining(ctx, u.name, u.trains)
}

// userView runs fn on user name's records in a read transaction.
func (s *Store) userView(ctx context.Context, name string, fn func(u *utx) error) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		u, err := s.openUser(tx, name)
		if err != nil {
			return err
		}
		return fn(u)
	})
}
