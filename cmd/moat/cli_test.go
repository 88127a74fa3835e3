package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmail/moat/store"
)

func TestTermSafe(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		in        string
		multiline bool
		want      string
	}{
		{"plain text is kept", "Subject: lunch at noon", true, "Subject: lunch at noon"},
		{"utf-8 text is kept", "Subject: café ☕", true, "Subject: café ☕"},
		{"CRLF becomes a newline, folding tab kept", "Subject: a\r\n\tb\r\nTo: c\r\n", true, "Subject: a\n\tb\nTo: c\n"},
		{"ESC sequence is escaped", "Subject: \x1b]0;pwned\x07\x1b[2J", true, `Subject: \x1b]0;pwned\a\x1b[2J`},
		{"lone CR is escaped", "Subject: ok\rfake", true, `Subject: ok\rfake`},
		{"DEL and C1 CSI are escaped", "a\x7fb\u009bc", true, `a\x7fb\u009bc`},
		{"invalid UTF-8 byte is escaped", "a\x9b2Jb", true, `a\x9b2Jb`},
		{"bidi override is escaped", "evil\u202etxt.exe", true, `evil\u202etxt.exe`},
		{"field: newline and tab are escaped", "a@b.test\n\tX", false, `a@b.test\n\tX`},
		{"field: CRLF is escaped", "451 4.4.1 x\r\ny", false, `451 4.4.1 x\r\ny`},
		{"empty", "", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := termSafe(tc.in, tc.multiline)
			if got != tc.want {
				t.Errorf("termSafe(%q, %v) = %q, want %q", tc.in, tc.multiline, got, tc.want)
			}
			if strings.ContainsAny(got, "\x1b\x07\r\x7f\u009b") {
				t.Errorf("termSafe(%q) left a control character: %q", tc.in, got)
			}
		})
	}
}

func TestIsJunk(t *testing.T) {
	t.Parallel()
	const rest = "From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"
	cases := []struct {
		name string
		msg  string
		want bool
	}{
		{"junk", "X-Spam-Flag: YES\r\nX-Spam-Action: junk\r\n" + rest, true},
		{"junk, LF endings and other case", "x-spam-action: Junk\nSubject: x\n\nbody\n", true},
		{"accept", "X-Spam-Flag: NO\r\nX-Spam-Action: accept\r\n" + rest, false},
		{"add_header", "X-Spam-Flag: YES\r\nX-Spam-Action: add_header\r\n" + rest, false},
		{"no header", rest, false},
		{"only in the body", "Subject: x\r\n\r\nX-Spam-Action: junk\r\n", false},
		{"empty message", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := isJunk([]byte(tc.msg)); got != tc.want {
				t.Errorf("isJunk(%q) = %v, want %v", tc.msg, got, tc.want)
			}
		})
	}
}

func TestReadPasswordNotTerminal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
		wantErr        string
	}{
		{"first line", "correct horse\nsecond line\n", "correct horse", ""},
		{"CRLF trimmed", "s3cret-pass\r\n", "s3cret-pass", ""},
		{"no final newline", "s3cret-pass", "s3cret-pass", ""},
		{"too short", "short\n", "", "at least 8 characters"},
		{"short after trimming CRLF", "1234567\r\n", "", "at least 8 characters"},
		{"empty input", "", "", "no password"},
		{"empty line", "\n", "", "at least 8 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var prompt bytes.Buffer
			got, err := readPassword(strings.NewReader(tc.in), &prompt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("readPassword(%q) = %q, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("readPassword(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if prompt.Len() != 0 {
				t.Errorf("prompted on a non-terminal: %q", prompt.String())
			}
		})
	}
}

func TestUserArgErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"keep-password without quota", []string{"user", "passwd", "--keep-password", "a@b.test"},
			"nothing to change: give --quota or drop --keep-password"},
		{"negative quota on add", []string{"user", "add", "--quota", "-5", "a@b.test"}, "invalid --quota -5"},
		{"negative quota on passwd", []string{"user", "passwd", "--keep-password", "--quota", "-1", "a@b.test"}, "invalid --quota -1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A password on stdin must not be read, nor the store touched:
			// the arguments are refused first.
			code, out, errs := runCmd(t, "long-enough-password\n", tc.args...)
			if code != 2 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errs, tc.want)
			}
			if strings.Contains(out, "changed") || strings.Contains(out, "added") {
				t.Errorf("reported success: %q", out)
			}
		})
	}
}

func TestUserAdminQuota(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Dir: filepath.Join(t.TempDir(), "store")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	users := func() []string {
		t.Helper()
		us, err := st.Users(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range us {
			names = append(names, fmt.Sprintf("%s:%d", u.Name, u.Quota))
		}
		return names
	}

	t.Run("negative quota adds nobody", func(t *testing.T) {
		_, err := userAdmin(ctx, st, "add", userReq{Name: "neg@b.test", Password: "long-enough", Quota: -1, SetQuota: true})
		if !errors.Is(err, store.ErrInvalidQuota) {
			t.Fatalf("add with quota -1: %v, want ErrInvalidQuota", err)
		}
		if got := users(); len(got) != 0 {
			t.Errorf("users after a failed add: %v", got)
		}
	})
	t.Run("add with quota", func(t *testing.T) {
		if _, err := userAdmin(ctx, st, "add", userReq{Name: "ok@b.test", Password: "long-enough", Quota: 3, SetQuota: true}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(users(), " "); got != "ok@b.test:3" {
			t.Errorf("users = %q, want ok@b.test with quota 3", got)
		}
	})
	t.Run("negative quota on passwd changes nothing", func(t *testing.T) {
		_, err := userAdmin(ctx, st, "passwd", userReq{Name: "ok@b.test", Password: "another-password", Quota: -1, SetQuota: true})
		if !errors.Is(err, store.ErrInvalidQuota) {
			t.Fatalf("passwd with quota -1: %v, want ErrInvalidQuota", err)
		}
		if err := st.Authenticate(ctx, "ok@b.test", "long-enough"); err != nil {
			t.Errorf("the old password no longer works: %v", err)
		}
	})
}
