package store

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/argon2"
)

// Password hashing: argon2id with the OWASP minimum for argon2id
// (m=19 MiB, t=2, p=1): about 30-60 ms per login on one core of a small
// box, memory-hard enough to make offline guessing expensive.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// kdfParams are argon2id's parameters for new hashes; stored hashes carry
// their own.
type kdfParams struct {
	time, memory uint32
	threads      uint8
}

// defaultKDF returns the parameters for new hashes.
func defaultKDF() kdfParams {
	return kdfParams{time: argonTime, memory: argonMemory, threads: argonThreads}
}

// hashPassword returns an encoded argon2id hash of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded base64).
func (s *Store) hashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	k := s.kdf
	key := argon2.IDKey([]byte(password), salt, k.time, k.memory, k.threads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, k.memory, k.time, k.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// checkPassword reports whether password matches the encoded hash.
func checkPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var k kdfParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &k.memory, &k.time, &k.threads); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || k.time == 0 || k.threads == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, k.time, k.memory, k.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// NormalizeUser returns the canonical (lower-case) form of a user name,
// which must be a full address such as alice@example.test; ErrInvalidName
// otherwise.
func NormalizeUser(name string) (string, error) {
	n := strings.ToLower(name)
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: user %q: %s", ErrInvalidName, name, why)
	}
	if !utf8.ValidString(n) {
		return bad("not UTF-8")
	}
	if len(n) > 254 {
		return bad("too long")
	}
	at := strings.LastIndexByte(n, '@')
	if at <= 0 || at == len(n)-1 {
		return bad("not an address (local@domain)")
	}
	local, domain := n[:at], n[at+1:]
	if len(local) > 64 {
		return bad("local part too long")
	}
	for _, r := range n {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`"(),:;<>[\]`, r) {
			return bad("invalid character")
		}
	}
	if strings.Contains(local, "@") {
		return bad("more than one @")
	}
	if strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") ||
		strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return bad("misplaced dot")
	}
	return n, nil
}

// roleMailboxes lists the mailboxes every user has, with their roles.
func roleMailboxes() [6][2]string {
	return [6][2]string{
		{Inbox, RoleInbox}, {Junk, RoleJunk}, {Trash, RoleTrash},
		{Sent, RoleSent}, {Drafts, RoleDrafts}, {Archive, RoleArchive},
	}
}

// AddUser creates user name with password and the role mailboxes (INBOX,
// Junk, Trash, Sent, Drafts, Archive). ErrUserExists if it exists.
func (s *Store) AddUser(ctx context.Context, name, password string) error {
	n, err := NormalizeUser(name)
	if err != nil {
		return err
	}
	if password == "" {
		return fmt.Errorf("%w: empty", ErrInvalidPassword)
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	return s.update(ctx, "", func(tx *bolt.Tx) error {
		users, err := tx.CreateBucketIfNotExists([]byte(bucketUsers))
		if err != nil {
			return err
		}
		if users.Bucket([]byte(n)) != nil {
			return fmt.Errorf("%w: %s", ErrUserExists, n)
		}
		ub, err := users.CreateBucket([]byte(n))
		if err != nil {
			return err
		}
		if _, err := ub.CreateBucket([]byte(bucketMbox)); err != nil {
			return err
		}
		u := &utx{s: s, tx: tx, name: n, ub: ub, boxes: map[string]*mbox{}, userDirty: true,
			rec: userRec{Hash: hash, Created: s.now().UTC()}}
		for _, rm := range roleMailboxes() {
			if _, err := u.createMailbox(rm[0], rm[1]); err != nil {
				return err
			}
		}
		return u.save()
	})
}

// SetPassword replaces user name's password.
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	n, err := NormalizeUser(name)
	if err != nil {
		return err
	}
	if password == "" {
		return fmt.Errorf("%w: empty", ErrInvalidPassword)
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	return s.userUpdate(ctx, n, "", func(u *utx) error {
		u.rec.Hash = hash
		u.userDirty = true
		return nil
	})
}

// SetQuota sets user name's quota in bytes; 0 means the default quota.
func (s *Store) SetQuota(ctx context.Context, name string, bytes int64) error {
	n, err := NormalizeUser(name)
	if err != nil {
		return err
	}
	if bytes < 0 {
		return fmt.Errorf("%w: %d", ErrInvalidQuota, bytes)
	}
	return s.userUpdate(ctx, n, "", func(u *utx) error {
		u.rec.Quota = bytes
		u.userDirty = true
		return nil
	})
}

// DeleteUser removes user name with all their mail.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	n, err := NormalizeUser(name)
	if err != nil {
		return err
	}
	var freed []fileID
	err = s.update(ctx, "", func(tx *bolt.Tx) error {
		freed = nil
		users := tx.Bucket([]byte(bucketUsers))
		if users == nil || users.Bucket([]byte(n)) == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchUser, n)
		}
		msgs := users.Bucket([]byte(n)).Bucket([]byte(bucketMsgs))
		if msgs != nil {
			err := msgs.ForEachBucket(func(k []byte) error {
				return msgs.Bucket(k).ForEach(func(_, v []byte) error {
					var r msgRec
					if err := r.unmarshal(v); err != nil {
						return err
					}
					free, err := addRef(tx, r.File, -1)
					if free {
						freed = append(freed, r.File)
					}
					return err
				})
			})
			if err != nil {
				return err
			}
		}
		return users.DeleteBucket([]byte(n))
	})
	if err != nil {
		return err
	}
	for _, f := range freed {
		s.removeFile(f)
	}
	s.publish([]Change{{User: n, Kind: ChangeMailboxes}})
	return nil
}

// Users lists the users in name order.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	var out []User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		users := tx.Bucket([]byte(bucketUsers))
		if users == nil {
			return nil
		}
		return users.ForEachBucket(func(k []byte) error {
			var rec userRec
			if _, err := getJSON(users.Bucket(k), []byte(keyInfo), &rec); err != nil {
				return err
			}
			out = append(out, User{Name: string(k), Quota: rec.Quota, Used: rec.Used, Created: rec.Created})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// UserExists reports whether user name exists; an invalid name does not.
func (s *Store) UserExists(ctx context.Context, name string) (bool, error) {
	n, err := NormalizeUser(name)
	if err != nil {
		return false, nil
	}
	var ok bool
	err = s.view(ctx, func(tx *bolt.Tx) error {
		users := tx.Bucket([]byte(bucketUsers))
		ok = users != nil && users.Bucket([]byte(n)) != nil
		return nil
	})
	return ok, err
}

// Authenticate checks name's password; ErrAuthFailed when the user does not
// exist or the password is wrong. An unknown user costs one hash too, so
// timing does not tell which users exist.
func (s *Store) Authenticate(ctx context.Context, name, password string) error {
	var hash string
	n, err := NormalizeUser(name)
	if err == nil {
		err = s.view(ctx, func(tx *bolt.Tx) error {
			users := tx.Bucket([]byte(bucketUsers))
			if users == nil || users.Bucket([]byte(n)) == nil {
				return nil
			}
			var rec userRec
			if _, err := getJSON(users.Bucket([]byte(n)), []byte(keyInfo), &rec); err != nil {
				return err
			}
			hash = rec.Hash
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: authenticate: %w", err)
		}
	}
	if hash == "" {
		k := s.kdf
		argon2.IDKey([]byte(password), make([]byte, argonSaltLen), k.time, k.memory, k.threads, argonKeyLen)
		return fmt.Errorf("%w: %s", ErrAuthFailed, name)
	}
	if !checkPassword(hash, password) {
		return fmt.Errorf("%w: %s", ErrAuthFailed, n)
	}
	return nil
}
