package greylist

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moatmail/moat/filter/state"
)

// EntryKind is what a listed entry is.
type EntryKind int

// The kinds of entries.
const (
	// KindTriplet is a triplet waiting or passed.
	KindTriplet EntryKind = iota
	// KindClient is a client network or SPF domain with passed triplets
	// counted, auto-allowed or allowed by an administrator.
	KindClient
	// KindSender is a sender address or domain allowed by an
	// administrator.
	KindSender
)

// String names the kind ("triplet", "client", "sender").
func (k EntryKind) String() string {
	switch k {
	case KindClient:
		return "client"
	case KindSender:
		return "sender"
	}
	return "triplet"
}

// MarshalText writes the kind's name (JSON output of the CLI).
func (k EntryKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Entry states.
const (
	StateWaiting  = "waiting"  // triplet: before its first successful retry
	StateReleased = "released" // triplet: released, passes at its next retry
	StatePassed   = "passed"   // triplet: passed, remembered until Expires
	StateCounting = "counting" // client: passed triplets counted, not allowed yet
	StateAuto     = "auto-allowed"
	StateAllowed  = "allowed" // client or sender allowed by an administrator
)

// Entry is one record, as `moat greylist list` shows it.
type Entry struct {
	Kind  EntryKind `json:"kind"`
	State string    `json:"state"`
	// Triplet is the triplet (KindTriplet); Client alone for KindClient;
	// Sender alone for KindSender (an address or "@domain").
	Triplet   Triplet   `json:"triplet"`
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	PassedAt  time.Time `json:"passed_at,omitzero"`
	// Attempts counts a triplet's delivery attempts.
	Attempts int64 `json:"attempts,omitempty"`
	// Passed counts a client's passed triplets (towards auto-allowing).
	Passed int64 `json:"passed,omitempty"`
	// Expires is when the entry is forgotten; zero for never.
	Expires time.Time `json:"expires,omitzero"`
}

// listBatch is how many records one round trip reads while listing.
const listBatch = 100

// List calls fn with every live entry: triplets, clients, allowed
// senders. Order is not specified. An error from fn stops the listing.
func (g *Greylist) List(ctx context.Context, fn func(Entry) error) error {
	now := g.now()
	for _, prefix := range []string{keyTriplet, keyClient, keySender} {
		if err := g.scanBatches(ctx, prefix, func(keys []string) error {
			return g.listKeys(ctx, prefix, keys, now, fn)
		}); err != nil {
			return err
		}
	}
	return nil
}

// scanBatches scans prefix and hands the keys over listBatch at a time.
func (g *Greylist) scanBatches(ctx context.Context, prefix string, fn func([]string) error) error {
	var batch []string
	err := g.st.Scan(ctx, prefix, func(k string) error {
		if batch = append(batch, k); len(batch) == listBatch {
			err := fn(batch)
			batch = nil
			return err
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = fn(batch)
	}
	if err != nil {
		return fmt.Errorf("greylist: %w", err)
	}
	return nil
}

func (g *Greylist) listKeys(ctx context.Context, prefix string, keys []string, now time.Time, fn func(Entry) error) error {
	ops := make([]*state.Op, len(keys))
	for i, k := range keys {
		if prefix == keySender {
			ops[i] = state.Get(k)
		} else {
			ops[i] = state.HGetAll(k)
		}
	}
	if err := g.st.Do(ctx, ops...); err != nil && !errors.Is(err, state.ErrWrongType) && !errors.Is(err, state.ErrNotInteger) {
		return err
	}
	ms := now.UnixMilli()
	for i, k := range keys {
		if ops[i].Err() != nil || !ops[i].Found() {
			continue // a foreign or vanished key
		}
		var e Entry
		var ok bool
		switch prefix {
		case keyTriplet:
			e, ok = tripletEntry(k, ops[i].Hash(), ms)
		case keyClient:
			e, ok = clientEntry(k, ops[i].Hash(), ms)
		default:
			e, ok = senderEntry(k, ops[i].Bytes(), ms)
		}
		if !ok {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func msTime(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func tripletEntry(k string, h map[string]int64, now int64) (Entry, bool) {
	tr, ok := parseTripletKey(k)
	if !ok || h["e"] <= now {
		return Entry{}, false
	}
	e := Entry{Kind: KindTriplet, Triplet: tr, State: StateWaiting, FirstSeen: msTime(h["f"]), LastSeen: msTime(h["l"]),
		PassedAt: msTime(h["p"]), Attempts: h["n"], Expires: msTime(h["e"])}
	switch {
	case h["p"] > 0:
		e.State = StatePassed
	case h["r"] == 1:
		e.State = StateReleased
	}
	return e, true
}

func clientEntry(k string, h map[string]int64, now int64) (Entry, bool) {
	client, ok := parseClientKey(k)
	if !ok {
		return Entry{}, false
	}
	m, alive := h["m"], h["e"] > now
	e := Entry{Kind: KindClient, Triplet: Triplet{Client: client}, LastSeen: msTime(h["l"])}
	switch {
	case m == -1:
		e.State = StateAllowed
	case m > now:
		e.State, e.Expires = StateAllowed, msTime(m)
	case alive && h["a"] > now:
		e.State, e.Expires = StateAuto, msTime(h["a"])
	case alive:
		e.State, e.Expires = StateCounting, msTime(h["e"])
	default:
		return Entry{}, false
	}
	if alive {
		e.Passed = h["c"]
	}
	return e, true
}

func senderEntry(k string, v []byte, now int64) (Entry, bool) {
	until, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || (until != 0 && until <= now) {
		return Entry{}, false
	}
	return Entry{Kind: KindSender, State: StateAllowed, Triplet: Triplet{Sender: strings.TrimPrefix(k, keySender)}, Expires: msTime(until)}, true
}

// Allow lets target through greylisting for ttl (0: for ever) and returns
// the entry it made. target is an IP address or network (allowing its
// greylisting network), "spf:DOMAIN", a sender address, or a sender domain
// ("@example.org" or "example.org").
func (g *Greylist) Allow(ctx context.Context, target string, ttl time.Duration) (Entry, error) {
	if ttl < 0 {
		return Entry{}, fmt.Errorf("greylist: negative allow duration")
	}
	now := g.now()
	until := int64(0)
	var expires time.Time
	if ttl > 0 {
		expires = now.Add(ttl)
		until = expires.UnixMilli()
	}
	kind, key, who, err := g.target(target)
	if err != nil {
		return Entry{}, err
	}
	var op *state.Op
	if kind == KindClient {
		m := int64(-1)
		if ttl > 0 {
			m = until
		}
		op = state.Run(g.scripts.allowClient, []string{key}, now.UnixMilli(), m, gcSlack.Milliseconds())
	} else {
		op = state.Set(key, []byte(strconv.FormatInt(until, 10)), ttl)
	}
	if err := g.st.Do(ctx, op); err != nil {
		return Entry{}, fmt.Errorf("greylist: allow %s: %w", target, err)
	}
	e := Entry{Kind: kind, State: StateAllowed, Expires: expires}
	if kind == KindClient {
		e.Triplet.Client = who
	} else {
		e.Triplet.Sender = who
	}
	return e, nil
}

// Revoke removes an administrator's allow made by Allow (same target
// forms). It reports whether there was one. Auto-allowing is not affected.
func (g *Greylist) Revoke(ctx context.Context, target string) (bool, error) {
	kind, key, _, err := g.target(target)
	if err != nil {
		return false, err
	}
	if kind == KindClient {
		read := state.HMGet(key, "m")
		if err := g.st.Do(ctx, read); err != nil {
			return false, fmt.Errorf("greylist: revoke %s: %w", target, err)
		}
		m := read.Ints()[0]
		had := m == -1 || m > g.now().UnixMilli()
		if !read.Found() {
			return false, nil
		}
		op := state.Run(g.scripts.allowClient, []string{key}, g.now().UnixMilli(), 0, gcSlack.Milliseconds())
		if err := g.st.Do(ctx, op); err != nil {
			return false, fmt.Errorf("greylist: revoke %s: %w", target, err)
		}
		return had, nil
	}
	del := state.Del(key)
	if err := g.st.Do(ctx, del); err != nil {
		return false, fmt.Errorf("greylist: revoke %s: %w", target, err)
	}
	return del.Int() > 0, nil
}

// target parses an Allow/Revoke target into its kind, key and display form.
func (g *Greylist) target(s string) (EntryKind, string, string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return 0, "", "", fmt.Errorf("greylist: empty target")
	case s == NullSender:
		return KindSender, senderKey(NullSender), NullSender, nil
	case strings.Contains(s, "@"):
		if d, ok := strings.CutPrefix(s, "@"); ok {
			d = strings.ToLower(d)
			if !validDomain(d) {
				return 0, "", "", fmt.Errorf("greylist: %q is not a domain", d)
			}
			return KindSender, senderKey("@" + d), "@" + d, nil
		}
		a := NormalizeSender(s)
		return KindSender, senderKey(a), a, nil
	}
	if c, err := g.ClientFor(s); err == nil {
		return KindClient, clientKey(c), c, nil
	} else if strings.HasPrefix(strings.ToLower(s), spfPrefix) || strings.ContainsAny(s, ":/") || isIPish(s) {
		return 0, "", "", err
	}
	d := strings.ToLower(s)
	if !validDomain(d) {
		return 0, "", "", fmt.Errorf("greylist: %q is neither an address, a domain, an IP address, a network nor spf:DOMAIN", s)
	}
	return KindSender, senderKey("@" + d), "@" + d, nil
}

// isIPish reports whether s is made of digits and dots only (a mistyped
// IPv4 address, not a domain).
func isIPish(s string) bool {
	return strings.Trim(s, "0123456789.") == ""
}

// Selector picks triplets for Release. Empty fields match anything; at
// least one must be set. Client takes the forms of ClientFor; Sender and
// Rcpt are normalised like triplets.
type Selector struct {
	Client string
	Sender string
	Rcpt   string
}

// Release lets the waiting triplets matching sel through at their next
// retry, whatever the delay, and returns how many it released.
func (g *Greylist) Release(ctx context.Context, sel Selector) (int, error) {
	if sel == (Selector{}) {
		return 0, fmt.Errorf("greylist: release needs a client, a sender or a recipient")
	}
	prefix := keyTriplet
	if sel.Client != "" {
		c, err := g.ClientFor(sel.Client)
		if err != nil {
			return 0, err
		}
		sel.Client = c
		prefix = keyTriplet + "{" + c + "}:"
	}
	if sel.Sender != "" {
		sel.Sender = NormalizeSender(sel.Sender)
	}
	sel.Rcpt = NormalizeRcpt(sel.Rcpt)
	n := 0
	err := g.scanBatches(ctx, prefix, func(keys []string) error {
		var ops []*state.Op
		for _, k := range keys {
			tr, ok := parseTripletKey(k)
			if !ok || (sel.Client != "" && tr.Client != sel.Client) || (sel.Sender != "" && tr.Sender != sel.Sender) || (sel.Rcpt != "" && tr.Rcpt != sel.Rcpt) {
				continue
			}
			ops = append(ops, state.Run(g.scripts.release, []string{k}, g.now().UnixMilli()))
		}
		if len(ops) == 0 {
			return nil
		}
		err := g.st.Do(ctx, ops...)
		for _, op := range ops {
			if op.Err() == nil && len(op.Ints()) == 1 {
				n += int(op.Ints()[0])
			}
		}
		return err
	})
	return n, err
}
