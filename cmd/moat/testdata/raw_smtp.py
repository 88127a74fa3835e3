#!/usr/bin/env python3
"""raw_smtp.py - raw-socket SMTP scenarios for moat's e2e tests: the byte-level
cases no well-behaved client library produces (bare LF/CR, SMTP smuggling, NUL
in a header) and several pipelined transactions in a single write.

Usage:
  raw_smtp.py HOST PORT data SCENARIO RCPT
      One transaction to RCPT whose message text holds the flaw SCENARIO names:
        bare-lf        a line ending in LF alone
        bare-cr        a CR alone inside a line
        smuggle-lf     "\\n.\\r\\n" followed by a second, smuggled transaction
                       (to smuggled-RCPT) before the real end of data
        smuggle-crlf-lf "\\r\\n.\\n" followed by a smuggled transaction
        nul-header     a NUL byte in a header field
        clean          no flaw (the control case)
      then RSET and NOOP on the same connection, to show it is still usable.
      Prints {"ehlo": [...], "mail": r, "rcpt": r, "data": r, "end": r,
              "rset": r, "noop": r} where r is the reply's last line.
  raw_smtp.py HOST PORT pipeline MODE N PREFIX DOMAIN FOREIGN
      N transactions (MODE "data": MAIL, RCPT, DATA, text, "."; MODE "bdat":
      MAIL, RCPT, BDAT n LAST + text) and QUIT, all sent in ONE write. Message
      i goes to PREFIX-i@DOMAIN, has "Subject: pipelined i" and the body
      "pipelined body i"; transaction 2 also names PREFIX-2@FOREIGN, which must
      be refused without disturbing the rest.
      Prints {"ehlo": [...], "replies": [last line of each reply, in order]}.

Replies are read until the expected count arrived; every socket operation has
a 20 s timeout. On a closed connection the output has "error" and the replies
read so far.
"""

import json
import socket
import sys


class Conn:
    """A line-oriented SMTP client connection on a raw socket."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=20)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """Read one (possibly multi-line) reply; return its lines."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed by server")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] == b" ":
                return lines

    def cmd(self, line):
        self.send(line.encode("utf-8") + b"\r\n")
        return self.reply()[-1]

    def close(self):
        self.sock.close()


HEAD = (
    b"From: Raw Client <raw@client.e2e.test>\r\n"
    b"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
    b"Message-ID: <raw-%s@client.e2e.test>\r\n"
)


def flawed(scenario, rcpt):
    head = HEAD % scenario.encode()
    smuggled = (
        b"MAIL FROM:<evil@client.e2e.test>\r\n"
        b"RCPT TO:<smuggled-" + rcpt.encode() + b">\r\n"
        b"DATA\r\n"
        b"Subject: smuggled\r\n\r\nsmuggled body\r\n"
    )
    bodies = {
        "clean": head + b"Subject: clean\r\n\r\nline one\r\nline two\r\n",
        "bare-lf": head + b"Subject: bare lf\r\n\r\nline one\nline two\r\n",
        "bare-cr": head + b"Subject: bare cr\r\n\r\nline one\rline two\r\n",
        "smuggle-lf": head + b"Subject: smuggle\r\n\r\nhello\n.\r\n" + smuggled,
        "smuggle-crlf-lf": head + b"Subject: smuggle\r\n\r\nhello\r\n.\n" + smuggled,
        "nul-header": head + b"Subject: nul \x00 here\r\n\r\nbody\r\n",
    }
    return bodies[scenario]


def data_scenario(c, out, scenario, rcpt):
    c.reply()  # greeting
    c.send(b"EHLO raw.client.e2e.test\r\n")
    out["ehlo"] = c.reply()
    out["mail"] = c.cmd("MAIL FROM:<raw@client.e2e.test>")
    out["rcpt"] = c.cmd("RCPT TO:<%s>" % rcpt)
    out["data"] = c.cmd("DATA")
    if out["data"].startswith("354"):
        c.send(flawed(scenario, rcpt) + b".\r\n")
        out["end"] = c.reply()[-1]
    out["rset"] = c.cmd("RSET")
    out["noop"] = c.cmd("NOOP")
    c.cmd("QUIT")


def pipeline_scenario(c, out, mode, n, prefix, domain, foreign):
    out["replies"] = []
    c.reply()  # greeting
    c.send(b"EHLO pipe.client.e2e.test\r\n")
    out["ehlo"] = c.reply()
    batch = b""
    expect = 0
    for i in range(n):
        msg = (HEAD % (b"pipe-%d" % i)) + (
            b"To: <%s-%d@%s>\r\nSubject: pipelined %d\r\n\r\npipelined body %d\r\n"
            % (prefix.encode(), i, domain.encode(), i, i)
        )
        batch += b"MAIL FROM:<pipe@client.e2e.test>\r\n"
        batch += b"RCPT TO:<%s-%d@%s>\r\n" % (prefix.encode(), i, domain.encode())
        expect += 2
        if i == 2:
            batch += b"RCPT TO:<%s-%d@%s>\r\n" % (prefix.encode(), i, foreign.encode())
            expect += 1
        if mode == "bdat":
            batch += b"BDAT %d LAST\r\n" % len(msg) + msg
            expect += 1
        else:
            batch += b"DATA\r\n" + msg + b".\r\n"
            expect += 2
    batch += b"QUIT\r\n"
    expect += 1
    c.send(batch)
    for _ in range(expect):
        out["replies"].append(c.reply()[-1])


def main():
    a = sys.argv
    try:
        if len(a) == 6 and a[3] == "data":
            c = Conn(a[1], int(a[2]))
            run = lambda out: data_scenario(c, out, a[4], a[5])
        elif len(a) == 9 and a[3] == "pipeline":
            c = Conn(a[1], int(a[2]))
            run = lambda out: pipeline_scenario(
                c, out, a[4], int(a[5]), a[6], a[7], a[8])
        else:
            sys.stderr.write(__doc__)
            return 2
    except OSError as e:
        print(json.dumps({"error": "connect: %s" % e}))
        return 0
    out = {}
    try:
        run(out)
    except (OSError, EOFError) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        c.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
