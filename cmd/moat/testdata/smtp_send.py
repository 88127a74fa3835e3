#!/usr/bin/env python3
"""smtp_send.py - drive an SMTP server with Python's smtplib for moat's e2e tests.

Usage: smtp_send.py HOST PORT SPEC

SPEC is a JSON document describing transactions sent one after the other over
ONE connection:

  {"helo": "client.e2e.test",
   "transactions": [
     {"from": "a@example.net",
      "mail_options": ["SIZE=100000"],       # optional ESMTP MAIL parameters
      "rcpts": ["x@relay.test", ...],
      "file": "/path/to/message.eml"         # the message, or
      "data": "Subject: hi\\r\\n\\r\\nbody",  # the message inline, or
      "body_size": 6000}                     # a generated message of that size
   ]}

Output (stdout): one JSON document
  {"ehlo": [code, text], "features": ["size", "pipelining", ...],
   "transactions": [{"mail": [code, text], "rcpts": [[code, text], ...],
                     "data": [code, text] or null}],
   "error": "..." (only when the connection broke)}

A transaction whose MAIL is refused or whose recipients are all refused is
reset (RSET) and DATA is not sent. smtplib normalises line endings to CRLF and
dot-stuffs the message, as any client does. Every socket operation is bounded
by a 20 s timeout. Exit status 0 unless the arguments are wrong.
"""

import json
import re
import smtplib
import sys


def reply(pair):
    code, text = pair
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [code, text]


def message_bytes(txn):
    if "file" in txn:
        # Files on disk have LF line endings; on the wire they are CRLF
        # (smtplib converts str messages itself, but not bytes).
        with open(txn["file"], "rb") as f:
            return re.sub(rb"\r?\n", b"\r\n", f.read())
    if "data" in txn:
        return txn["data"].encode("utf-8")
    size = int(txn.get("body_size", 0))
    head = (
        "From: Sender <%s>\r\nTo: <%s>\r\nSubject: generated %d bytes\r\n"
        "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
        "Message-ID: <generated-%d@client.e2e.test>\r\n\r\n"
        % (txn["from"], txn["rcpts"][0], size, size)
    )
    line = "x" * 76 + "\r\n"
    body = line * (max(size - len(head), 0) // len(line) + 1)
    return (head + body).encode("ascii")


def run(host, port, spec):
    out = {"transactions": []}
    s = smtplib.SMTP(timeout=20)
    try:
        s.connect(host, port)
        out["ehlo"] = reply(s.ehlo(spec.get("helo", "client.e2e.test")))
        out["features"] = sorted(s.esmtp_features.keys())
        for txn in spec["transactions"]:
            res = {"mail": None, "rcpts": [], "data": None}
            out["transactions"].append(res)
            res["mail"] = reply(s.mail(txn["from"], txn.get("mail_options", [])))
            if res["mail"][0] != 250:
                s.rset()
                continue
            accepted = 0
            for r in txn["rcpts"]:
                rr = reply(s.rcpt(r))
                res["rcpts"].append(rr)
                if rr[0] in (250, 251):
                    accepted += 1
            if accepted == 0:
                s.rset()
                continue
            try:
                res["data"] = reply(s.data(message_bytes(txn)))
            except smtplib.SMTPDataError as e:  # DATA itself refused
                res["data"] = reply((e.smtp_code, e.smtp_error))
                s.rset()
        s.quit()
    except (smtplib.SMTPException, OSError) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    return out


def main():
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    spec = json.loads(sys.argv[3])
    print(json.dumps(run(sys.argv[1], int(sys.argv[2]), spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
