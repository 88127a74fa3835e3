package queue

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

const (
	maxDSNHeaders = 1 << 20  // header block returned in a DSN
	maxDSNFull    = 10 << 20 // RET=FULL above this returns the headers only
)

// bounce queues a DSN for m's failed recipients (from the null sender to
// m's sender) and marks them bounced. m is busy.
func (q *Queue) bounce(m *message) error {
	now := q.now()
	q.mu.Lock()
	in := dsnInput{
		hostname: q.opt.Hostname,
		queueID:  m.id,
		to:       m.d.From,
		envID:    m.d.EnvID,
		arrival:  m.d.Received,
		now:      now,
		full:     m.d.Ret == "FULL" && m.bodySize <= maxDSNFull,
	}
	var idx []int
	for i := range m.d.Rcpts {
		if r := m.d.Rcpts[i]; r.State == Failed {
			idx = append(idx, i)
			in.rcpts = append(in.rcpts, r)
		}
	}
	q.mu.Unlock()
	if len(idx) == 0 {
		return nil
	}
	body, release := q.body(m)
	msg, err := buildDSN(in, body)
	release()
	if err != nil {
		return err
	}
	d := diskMsg{
		From:        "",
		Received:    now,
		Enqueued:    now,
		BounceOf:    m.id,
		BounceRcpts: idx,
		Rcpts:       []diskRcpt{{Addr: m.d.From}},
	}
	dsnID, err := q.add(m.id+"-dsn", d, bytes.NewReader(msg))
	if err != nil {
		return err
	}
	st := make([]rcptStatus, len(idx))
	q.mu.Lock()
	for k, i := range idx {
		r := &m.d.Rcpts[i].rcptStatus
		r.State = Bounced
		r.Idx = i
		st[k] = *r
	}
	q.mu.Unlock()
	q.stats.dsns.Add(1)
	q.stats.bounced.Add(uint64(len(idx)))
	q.log.Info("queue: DSN queued", "id", m.id, "dsn", dsnID, "to", m.d.From, "rcpts", len(idx))
	// The DSN's own record already says so (replay marks the recipients
	// bounced); this record lets the original's segment be reclaimed
	// independently.
	return q.writeStatus(m.id, st)
}

// dsnInput is what a DSN reports.
type dsnInput struct {
	hostname string
	queueID  string
	to       string // the original sender
	envID    string
	arrival  time.Time
	now      time.Time
	full     bool // return the whole message (RET=FULL)
	rcpts    []diskRcpt
}

var enhancedRE = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}$`)

// dsnStatus is the RFC 3463 status of a failed recipient.
func dsnStatus(r *diskRcpt) string {
	if enhancedRE.MatchString(r.Enh) && r.Enh[0] != '2' {
		return r.Enh
	}
	switch {
	case r.Expired:
		return "4.4.7"
	case r.Code >= 500:
		return "5.0.0"
	default:
		return "4.0.0"
	}
}

// oneLine makes s safe for a header field value.
func oneLine(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > limit {
		s = s[:limit]
	}
	return s
}

// buildDSN writes an RFC 3464 multipart/report about in.rcpts, returning
// the original message's headers (or all of it when in.full).
func buildDSN(in dsnInput, original io.Reader) ([]byte, error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read does not fail
	boundary := "=_moat_" + hex.EncodeToString(rnd[:])
	var part []byte
	if in.full {
		b, err := io.ReadAll(original)
		if err != nil {
			return nil, fmt.Errorf("queue: DSN: read message: %w", err)
		}
		part = b
	} else {
		h, err := headerBlock(original)
		if err != nil {
			return nil, err
		}
		part = h
	}

	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: Mail Delivery System <MAILER-DAEMON@%s>", in.hostname)
	w("To: <%s>", oneLine(in.to, 900))
	w("Subject: Undelivered Mail Returned to Sender")
	w("Date: %s", in.now.Format(time.RFC1123Z))
	w("Message-ID: <%s.%s@%s>", in.now.UTC().Format("20060102150405"), hex.EncodeToString(rnd[:6]), in.hostname)
	w("Auto-Submitted: auto-replied")
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"", boundary)
	w("")
	w("This is a MIME-encapsulated message.")
	w("")

	// The human-readable part.
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Transfer-Encoding: 8bit")
	w("")
	w("This is the mail system at host %s.", in.hostname)
	w("")
	w("Your message could not be delivered to one or more recipients.")
	if in.full {
		w("It is attached below.")
	} else {
		w("Its headers are attached below.")
	}
	w("")
	for i := range in.rcpts {
		r := &in.rcpts[i]
		reason := replyText(r.rcptStatus)
		if r.Expired {
			reason = fmt.Sprintf("gave up after %d attempts since %s; last answer: %s",
				r.Attempts, in.arrival.Format(time.RFC1123Z), reason)
		}
		w("<%s>: %s", oneLine(r.Addr, 900), oneLine(reason, 900))
	}
	w("")

	// The machine-readable part.
	w("--%s", boundary)
	w("Content-Type: message/delivery-status")
	w("")
	w("Reporting-MTA: dns; %s", in.hostname)
	w("X-Moat-Queue-ID: %s", in.queueID)
	if in.envID != "" {
		w("Original-Envelope-Id: %s", oneLine(in.envID, 900))
	}
	w("Arrival-Date: %s", in.arrival.Format(time.RFC1123Z))
	for i := range in.rcpts {
		r := &in.rcpts[i]
		w("")
		if r.ORcpt != "" && strings.Contains(r.ORcpt, ";") {
			w("Original-Recipient: %s", oneLine(r.ORcpt, 900))
		}
		w("Final-Recipient: rfc822; %s", oneLine(r.Addr, 900))
		w("Action: failed")
		w("Status: %s", dsnStatus(r))
		if r.Code != 0 {
			w("Diagnostic-Code: smtp; %s", oneLine(replyText(r.rcptStatus), 900))
		}
		if !r.Last.IsZero() {
			w("Last-Attempt-Date: %s", r.Last.Format(time.RFC1123Z))
		}
	}
	w("")

	// The original message or its headers.
	w("--%s", boundary)
	if in.full {
		w("Content-Type: message/rfc822")
	} else {
		w("Content-Type: text/rfc822-headers")
	}
	if has8bit(part) {
		w("Content-Transfer-Encoding: 8bit")
	}
	w("")
	b.Write(part)
	w("") // the delimiter's CRLF is not part of the content
	w("--%s--", boundary)
	return b.Bytes(), nil
}

// headerBlock reads the header section of a message (up to the blank
// line, which is left out), at most maxDSNHeaders bytes of whole lines.
func headerBlock(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(io.LimitReader(r, maxDSNHeaders))
	var b bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A very long line: keep it whole.
			b.Write(line)
			continue
		}
		if len(line) > 0 && err == nil {
			if len(bytes.TrimRight(line, "\r\n")) == 0 {
				return b.Bytes(), nil
			}
			b.Write(line)
			continue
		}
		if err == io.EOF {
			return b.Bytes(), nil // no body, or cut at the limit: whole lines only
		}
		if err != nil {
			return nil, fmt.Errorf("queue: DSN: read headers: %w", err)
		}
	}
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}
