package store

import (
	"context"
	"fmt"
)

// Copy copies the given messages (those that do not exist are skipped)
// from src to dst, keeping flags, internal date and what they were trained
// as, and returns the source UIDs copied, their new UIDs in dst (in the
// same order) and dst's UIDVALIDITY. Copying into Junk trains spam,
// copying out of Junk into any mailbox but Trash trains ham.
// ErrQuotaExceeded when the copies do not fit.
func (s *Store) Copy(ctx context.Context, user, src string, uids []uint32, dst string) (srcUIDs, dstUIDs []uint32, dstUIDValidity uint32, err error) {
	return s.transfer(ctx, user, src, uids, dst, false)
}

// Move moves the given messages from src to dst in one index transaction,
// as Copy followed by the removal of the originals.
func (s *Store) Move(ctx context.Context, user, src string, uids []uint32, dst string) (srcUIDs, dstUIDs []uint32, dstUIDValidity uint32, err error) {
	return s.transfer(ctx, user, src, uids, dst, true)
}

// trainingFor says how moving or copying from src to dst trains: spam
// into Junk, ham out of Junk into anything but Trash.
func trainingFor(src, dst *mbox) (train, spam bool) {
	switch {
	case dst.rec.Role == RoleJunk && src.rec.Role != RoleJunk:
		return true, true
	case src.rec.Role == RoleJunk && dst.rec.Role != RoleJunk && dst.rec.Role != RoleTrash:
		return true, false
	}
	return false, false
}

func (s *Store) transfer(ctx context.Context, user, src string, uids []uint32, dst string, move bool) (srcUIDs, dstUIDs []uint32, dstUIDValidity uint32, err error) {
	un, sn, err := names(user, src)
	if err != nil {
		return nil, nil, 0, err
	}
	dn, err := NormalizeMailbox(dst)
	if err != nil {
		return nil, nil, 0, err
	}
	err = s.userUpdate(ctx, un, "", func(u *utx) error {
		srcUIDs, dstUIDs, dstUIDValidity = nil, nil, 0
		sm, err := u.mailbox(sn)
		if err != nil {
			return err
		}
		dm, err := u.mailbox(dn)
		if err != nil {
			return err
		}
		train, spam := trainingFor(sm, dm)
		type item struct {
			uid uint32
			rec msgRec
		}
		var items []item
		var total int64
		for _, uid := range sortedUIDs(uids) {
			r, ok, err := sm.get(uid)
			if err != nil {
				return err
			}
			if ok {
				items = append(items, item{uid, r})
				total += r.Size
			}
		}
		if !move && !u.fits(total) {
			return fmt.Errorf("%w: %s", ErrQuotaExceeded, un)
		}
		for _, it := range items {
			r := it.rec
			if train && u.train(&r, spam) && !move {
				// The original is the same message: remember it too.
				if err := u.replace(sm, it.uid, &it.rec, &r); err != nil {
					return err
				}
			}
			if move {
				if err := u.remove(sm, it.uid, &it.rec); err != nil {
					return err
				}
			} else if err := u.ref(r.File, 1, r.Size); err != nil {
				return err
			}
			nu, err := u.add(dm, &r)
			if err != nil {
				return err
			}
			srcUIDs = append(srcUIDs, it.uid)
			dstUIDs = append(dstUIDs, nu)
		}
		dstUIDValidity = dm.rec.UIDValidity
		if len(srcUIDs) > 0 {
			if move {
				u.change(ChangeExpunged, sn, srcUIDs)
			}
			u.change(ChangeAdded, dn, dstUIDs)
		}
		return nil
	})
	if err != nil {
		return nil, nil, 0, err
	}
	return srcUIDs, dstUIDs, dstUIDValidity, nil
}
