#!/usr/bin/env python3
"""mailbox_client.py — drive moat's IMAP and POP3 with Python's imaplib and
poplib for the end-to-end tests. Usage:

  mailbox_client.py imap-inspect HOST PORT USER PASSWORD
  mailbox_client.py imap-move HOST PORT USER PASSWORD FROM TO MODE   (MODE: move | copy-expunge)
  mailbox_client.py pop3 HOST PORT USER PASSWORD

Prints one JSON object on the last line; "error" is set on failure.
"""
import imaplib, json, poplib, re, sys

def imap_login(host, port, user, pw):
    m = imaplib.IMAP4(host, int(port))
    m.login(user, pw)
    return m

def imap_inspect(host, port, user, pw):
    m = imap_login(host, port, user, pw)
    typ, data = m.capability()  # after LOGIN: the full list
    out = {"capabilities": sorted(data[0].decode().upper().split())}
    typ, boxes = m.list()
    out["list"] = [b.decode() for b in boxes]
    for box in ("INBOX", "Junk"):
        typ, data = m.select(box, readonly=True)
        n = int(data[0])
        info = {"exists": n, "messages": []}
        if n:
            typ, data = m.fetch("1:*", "(UID RFC822.SIZE FLAGS ENVELOPE BODYSTRUCTURE)")
            for item in data:
                if isinstance(item, tuple):
                    item = item[0]
                s = item.decode(errors="replace")
                uid = re.search(r"UID (\d+)", s)
                size = re.search(r"RFC822.SIZE (\d+)", s)
                info["messages"].append({"uid": int(uid.group(1)) if uid else 0,
                                         "size": int(size.group(1)) if size else -1,
                                         "has_envelope": "ENVELOPE (" in s,
                                         "has_bodystructure": "BODYSTRUCTURE (" in s})
            typ, data = m.uid("FETCH", str(info["messages"][0]["uid"]), "(BODY.PEEK[])")
            body = data[0][1]
            info["first_body_len"] = len(body)
            info["first_body_has_received"] = b"Received:" in body[:2000]
            typ, data = m.uid("SEARCH", None, "ALL")
            info["search_all"] = len(data[0].split())
            typ, data = m.uid("SEARCH", None, "FROM", '"nobody-matches-this"')
            info["search_none"] = len(data[0].split())
        out[box] = info
        m.close()
    m.logout()
    return out

def imap_move(host, port, user, pw, src, dst, mode):
    m = imap_login(host, port, user, pw)
    typ, data = m.select(src)
    typ, data = m.uid("SEARCH", None, "ALL")
    uids = data[0].split()
    if not uids:
        return {"error": "no message in " + src}
    uid = uids[0].decode()
    if mode == "move":
        typ, data = m.uid("MOVE", uid, dst)
        if typ != "OK":
            return {"error": "MOVE: %r" % (data,)}
    else:
        typ, data = m.uid("COPY", uid, dst)
        if typ != "OK":
            return {"error": "COPY: %r" % (data,)}
        m.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
        m.expunge()
    typ, data = m.uid("SEARCH", None, "ALL")
    left = len(data[0].split())
    m.close()
    m.logout()
    return {"moved": uid, "left_in_src": left}

def pop3(host, port, user, pw):
    p = poplib.POP3(host, int(port))
    out = {"capa": sorted(p.capa().keys())}
    p.user(user)
    p.pass_(pw)
    count, size = p.stat()
    out["stat"] = [count, size]
    out["uidl"] = [l.decode() for l in p.uidl()[1]]
    out["list"] = [l.decode() for l in p.list()[1]]
    if count:
        resp, lines, octets = p.top(1, 0)
        out["top_has_blank_end"] = len(lines) > 0
        resp, lines, octets = p.retr(1)
        out["retr_octets"] = octets
        out["retr_lines"] = len(lines)
        p.dele(1)
    p.quit()
    p = poplib.POP3(host, int(port))
    p.user(user)
    p.pass_(pw)
    out["stat_after"] = list(p.stat())
    p.quit()
    return out

def main():
    op = sys.argv[1]
    try:
        if op == "imap-inspect":
            res = imap_inspect(*sys.argv[2:6])
        elif op == "imap-move":
            res = imap_move(*sys.argv[2:9])
        elif op == "pop3":
            res = pop3(*sys.argv[2:6])
        else:
            res = {"error": "unknown op " + op}
    except Exception as e:  # report, don't crash: the Go test prints it
        res = {"error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(res))

main()
