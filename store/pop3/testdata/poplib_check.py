"""Drives moat's POP3 server with Python's poplib (used by poplib_test.go).

usage: poplib_check.py HOST PORT USER PASSWORD DIR MODE [CAFILE]

DIR holds 1.eml, 2.eml, ...: each message exactly as the server must send
it (CRLF line endings, before dot-stuffing), in maildrop order. MODE is
plain, stls or ssl. Checks CAPA, STAT, LIST, UIDL, TOP n 0, RETR (byte for
byte), then DELE 1 + QUIT and a second session without message 1. Prints
"ok" and exits 0, or raises.
"""
import os
import poplib
import ssl
import sys


def connect(host, port, mode, cafile):
    ctx = None
    if mode != "plain":
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.check_hostname = False
    if mode == "ssl":
        p = poplib.POP3_SSL(host, port, context=ctx, timeout=30)
    else:
        p = poplib.POP3(host, port, timeout=30)
    caps = p.capa()
    for c in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER"):
        assert c in caps, "CAPA lacks %s: %r" % (c, caps)
    assert caps.get("SASL") == ["PLAIN"], caps
    assert ("STLS" in caps) == (mode != "ssl"), caps
    if mode == "stls":
        p.stls(context=ctx)
        assert "STLS" not in p.capa()
    return p


def main():
    host, port, user, password, d, mode = sys.argv[1:7]
    cafile = sys.argv[7] if len(sys.argv) > 7 else None
    port = int(port)
    want = []
    while os.path.exists(os.path.join(d, "%d.eml" % (len(want) + 1))):
        with open(os.path.join(d, "%d.eml" % (len(want) + 1)), "rb") as f:
            want.append(f.read())

    p = connect(host, port, mode, cafile)
    try:
        p.user(user)
        p.pass_("wrong")
        raise AssertionError("wrong password accepted")
    except poplib.error_proto as e:
        assert str(e).startswith("b'-ERR [AUTH]"), e
    p.user(user)
    p.pass_(password)
    count, size = p.stat()
    assert count == len(want), (count, len(want))
    assert size == sum(len(w) for w in want), (size, sum(len(w) for w in want))
    _, listing, _ = p.list()
    sizes = [int(l.split()[1]) for l in listing]
    assert sizes == [len(w) for w in want], sizes
    _, uidl, _ = p.uidl()
    ids = [l.split()[1] for l in uidl]
    assert len(set(ids)) == len(ids), ids
    for n, w in enumerate(want, 1):
        _, lines, _ = p.retr(n)
        got = b"\r\n".join(lines) + b"\r\n"
        assert got == w, "RETR %d differs: %d vs %d bytes" % (n, len(got), len(w))
        _, lines, _ = p.top(n, 0)
        head = w.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        assert b"\r\n".join(lines) + b"\r\n" == head, "TOP %d 0 differs" % n
    p.dele(1)
    p.quit()

    p = connect(host, port, mode, cafile)
    p.user(user)
    p.pass_(password)
    assert p.stat()[0] == len(want) - 1
    _, uidl, _ = p.uidl()
    assert [l.split()[1] for l in uidl] == ids[1:], "UIDLs changed"
    p.quit()
    print("ok")


if __name__ == "__main__":
    main()
