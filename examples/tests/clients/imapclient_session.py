#!/usr/bin/env python3
"""A mail client's session against the reference server, driven with the
PyPI library `imapclient` over implicit TLS (the development certificate is
self-signed, so the TLS context does not verify it).

It walks through what a desktop client does on an empty account: LOGIN,
CAPABILITY, NAMESPACE, LIST with special-use attributes, folder
CREATE/RENAME/DELETE, APPEND with flags and an internal date, SELECT, SEARCH
(flags, ASCII text, UTF-8 text), FETCH of the parsed items, flag changes,
COPY, MOVE, EXPUNGE, sequence-number and UID commands, STATUS with
HIGHESTMODSEQ, CONDSTORE (EXAMINE, FETCH CHANGEDSINCE), IDLE woken by a
second connection, LOGOUT.

Every check compares an actual value. On success it prints one JSON object
(a few observed values for the Rust side, and `known_bugs`: server
behaviour that is wrong but tolerated here, each described); on the first
mismatch it exits non-zero with the step, the expected and the actual value.

usage: imapclient_session.py HOST PORT USER PASSWORD
"""

import datetime
import json
import re
import ssl
import sys
import time

from imapclient import IMAPClient
from imapclient import imapclient as imapclient_module
from imapclient.exceptions import IMAPClientError

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

step = "start"
known_bugs = []


def expect(what, actual, expected):
    if actual != expected:
        sys.exit(f"[{step}] {what}: expected {expected!r}, got {actual!r}")


def expect_true(what, cond, detail=None):
    if not cond:
        sys.exit(f"[{step}] {what}" + (f" ({detail!r})" if detail is not None else ""))


def connect():
    c = IMAPClient(host, port, ssl=True, ssl_context=ctx, timeout=30)
    # Keep INTERNALDATE with its zone, to compare with what was appended.
    c.normalise_times = False
    return c


def uid_code(response, code):
    """The numbers of a [CODE ...] response code in a tagged reply."""
    m = re.search(rb"\[" + code + rb" ([^\]]*)\]", response or b"")
    return m.group(1).split() if m else None


def take_code(c, code):
    """The last [CODE ...] response code the server sent: imapclient returns
    None for UID COPY and UID MOVE (imaplib keeps the code among its
    untagged responses), so it is read, and cleared, there."""
    values = c._imap.untagged_responses.pop(code, None)
    return values[-1].split() if values else None


def list_special_use(c):
    """LIST "" "*" RETURN (SPECIAL-USE) (RFC 6154 / RFC 5258): imapclient
    has no method for the return option, so it goes through the imaplib
    object underneath and imapclient's own LIST parser."""
    typ, _ = c._imap._simple_command("LIST", '""', '"*"', "RETURN", "(SPECIAL-USE)")
    expect("LIST RETURN (SPECIAL-USE) status", typ, "OK")
    _, data = c._imap._untagged_response(typ, [None], "LIST")
    return {name: set(flags) for flags, _, name in c._proc_folder_list(data)}


# ---- login, capabilities, namespace ------------------------------------------
step = "login"
c = connect()
expect_true("greeting is OK", c.welcome.startswith(b"* OK"), c.welcome)
login_reply = c.login(user, password)
expect_true("LOGIN reply carries the new CAPABILITY", login_reply.startswith(b"[CAPABILITY "), login_reply)

step = "capabilities"
caps = set(c.capabilities())
for cap in [b"IMAP4REV1", b"IDLE", b"NAMESPACE", b"UIDPLUS", b"MOVE", b"CONDSTORE", b"SPECIAL-USE", b"UNSELECT", b"ENABLE"]:
    expect_true(f"{cap.decode()} advertised", cap in caps, sorted(caps))
expect_true("no AUTH= after login (RFC 9051 7.2.2 lists the current state)", not any(x.startswith(b"AUTH=") for x in caps), sorted(caps))

step = "namespace"
ns = c.namespace()
expect("personal namespace", [tuple(p) for p in ns.personal], [("", "/")])
# Folders other accounts share (RFC 4314 ACL) live under their own prefix.
expect("other users' namespace", [tuple(p) for p in ns.other or ()], [("Other Users/", "/")])
expect("shared namespace", ns.shared, None)

# ---- folders -----------------------------------------------------------------
step = "list_folders"
folders = {name: set(flags) for flags, delim, name in c.list_folders()}
expect("default folders", sorted(folders), ["Drafts", "INBOX", "Junk", "Sent", "Trash"])
for name, use in [("Drafts", b"\\Drafts"), ("Junk", b"\\Junk"), ("Sent", b"\\Sent"), ("Trash", b"\\Trash")]:
    expect_true(f"{name} carries {use.decode()} in LIST", use in folders[name], folders[name])
expect("Sent found by find_special_folder", c.find_special_folder(imapclient_module.SENT), "Sent")
expect("Trash found by find_special_folder", c.find_special_folder(imapclient_module.TRASH), "Trash")
special = list_special_use(c)
expect("RETURN (SPECIAL-USE) lists every folder", sorted(special), sorted(folders))
expect_true("RETURN (SPECIAL-USE): Sent", b"\\Sent" in special["Sent"], special)
expect_true("RETURN (SPECIAL-USE): INBOX has no use", not any(f in special["INBOX"] for f in [b"\\Sent", b"\\Trash", b"\\Drafts", b"\\Junk"]), special)

step = "create/rename/delete"
expect_true("CREATE Projects", c.create_folder("Projects"), None)
c.create_folder("Projects/2026")
expect_true("Projects exists", c.folder_exists("Projects"))
try:
    c.create_folder("Projects")
    sys.exit(f"[{step}] CREATE of an existing folder succeeded")
except IMAPClientError as e:
    expect_true("CREATE existing is refused with NO", "NO" in str(e) or "exist" in str(e).lower(), str(e))
# A non-ASCII name: imapclient sends it in modified UTF-7 (RFC 3501 5.1.3).
c.rename_folder("Projects", "Archiv Köln")
names = {name for _, _, name in c.list_folders()}
expect_true("renamed folder listed", "Archiv Köln" in names, names)
expect_true("its child moved with it (RFC 9051 6.3.6)", "Archiv Köln/2026" in names, names)
expect_true("old name gone", "Projects" not in names and "Projects/2026" not in names, names)
expect_true("child listed by pattern", [n for _, _, n in c.list_folders("Archiv Köln/", "%")] == ["Archiv Köln/2026"], c.list_folders("Archiv Köln/", "%"))
c.delete_folder("Archiv Köln/2026")
c.delete_folder("Archiv Köln")
expect("folders after delete", sorted(n for _, _, n in c.list_folders()), ["Drafts", "INBOX", "Junk", "Sent", "Trash"])
try:
    c.select_folder("Archiv Köln")
    sys.exit(f"[{step}] SELECT of a deleted folder succeeded")
except IMAPClientError:
    pass
c.create_folder("Work")

def flagset(flags):
    """A message's flags without \\Recent, which an IMAP4rev1 session sees on
    the messages it is the first to find (RFC 3501 2.3.2); checked apart."""
    return set(flags) - {b"\\Recent"}


# ---- append ------------------------------------------------------------------
step = "append"
# The first message: multipart/alternative, raw UTF-8 in the Subject
# (RFC 6532, accepted by UTF8=ACCEPT servers) and in the text part.
m1 = (
    "From: Jörg Bauer <joerg@example.net>\r\n"
    f"To: Reader <{user}>\r\n"
    "Cc: team@example.org\r\n"
    "Subject: Grüße aus Köln\r\n"
    "Date: Mon, 7 Feb 2022 21:52:25 +0100\r\n"
    "Message-ID: <m1.koeln@example.net>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/alternative; boundary="b1"\r\n'
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Hallo Müller, viele Grüße.\r\n"
    "--b1\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "<p>Hallo M&uuml;ller</p>\r\n"
    "--b1--\r\n"
).encode()
m2 = (
    "From: Carol <carol@example.org>\r\n"
    f"To: {user}\r\n"
    "Subject: Quarterly report\r\n"
    "Date: Tue, 1 Mar 2022 09:00:00 +0000\r\n"
    "Message-ID: <m2.report@example.org>\r\n"
    "\r\n"
    "Numbers attached.\r\n"
).encode()
# The Subject as an RFC 2047 encoded-word, as most clients write it.
m3 = (
    "From: Dave <dave@example.com>\r\n"
    f"To: {user}\r\n"
    "Subject: =?UTF-8?Q?Mittagessen_am_Fr=C3=A4itag?=\r\n"
    "Date: Fri, 4 Mar 2022 11:30:00 +0000\r\n"
    "Message-ID: <m3.lunch@example.com>\r\n"
    "\r\n"
    "Pizza?\r\n"
).encode()
cet = datetime.timezone(datetime.timedelta(hours=1))
d1 = datetime.datetime(2022, 2, 7, 21, 53, 0, tzinfo=cet)
d2 = datetime.datetime(2022, 3, 1, 9, 0, 5, tzinfo=datetime.timezone.utc)
r1 = c.append("INBOX", m1, flags=[b"\\Flagged", b"$Important"], msg_time=d1)
r2 = c.append("INBOX", m2, flags=[b"\\Seen"], msg_time=d2)
r3 = c.append("INBOX", m3)
a1, a2, a3 = uid_code(r1, b"APPENDUID"), uid_code(r2, b"APPENDUID"), uid_code(r3, b"APPENDUID")
expect_true("APPENDUID in every APPEND reply (RFC 4315)", a1 and a2 and a3, (r1, r2, r3))
uidvalidity = int(a1[0])
expect("same UIDVALIDITY for the three", {int(a1[0]), int(a2[0]), int(a3[0])}, {uidvalidity})
u1, u2, u3 = int(a1[1]), int(a2[1]), int(a3[1])
expect("UIDs ascending from 1", [u1, u2, u3], [1, 2, 3])

# ---- select ------------------------------------------------------------------
step = "select"
sel = c.select_folder("INBOX")
expect("EXISTS", sel[b"EXISTS"], 3)
expect("UIDVALIDITY", sel[b"UIDVALIDITY"], uidvalidity)
expect("UIDNEXT", sel[b"UIDNEXT"], 4)
expect("RECENT: the three appended messages (RFC 3501 7.3.2)", sel.get(b"RECENT"), 3)
expect_true("READ-WRITE", sel.get(b"READ-WRITE") is True, sel)
expect_true("PERMANENTFLAGS allows keywords", b"\\*" in sel[b"PERMANENTFLAGS"], sel[b"PERMANENTFLAGS"])
expect_true("HIGHESTMODSEQ on SELECT (RFC 7162 3.1.2.1)", sel.get(b"HIGHESTMODSEQ", 0) > 0, sel)

# ---- search ------------------------------------------------------------------
step = "search"
expect("ALL", c.search("ALL"), [u1, u2, u3])
expect("UNSEEN", c.search("UNSEEN"), [u1, u3])
expect("SEEN", c.search(["SEEN"]), [u2])
expect("FLAGGED", c.search(["FLAGGED"]), [u1])
expect("KEYWORD $Important", c.search(["KEYWORD", "$Important"]), [u1])
expect("SUBJECT report", c.search(["SUBJECT", "report"]), [u2])
expect("SUBJECT is case-insensitive", c.search(["SUBJECT", "QUARTERLY"]), [u2])
expect("FROM carol", c.search(["FROM", "carol@example.org"]), [u2])
expect("NOT FLAGGED UNSEEN", c.search(["NOT", "FLAGGED", "UNSEEN"]), [u3])
expect("OR", c.search(["OR", "FLAGGED", "SEEN"]), [u1, u2])
expect("SINCE (internal date)", c.search(["SINCE", datetime.date(2022, 2, 8)]), [u2, u3])
expect("UID range", c.search(["UID", f"{u2}:*"]), [u2, u3])
expect("SUBJECT, UTF-8 charset", c.search(["SUBJECT", "Köln"], charset="UTF-8"), [u1])
expect("BODY, UTF-8 charset", c.search(["BODY", "Müller"], charset="UTF-8"), [u1])
expect("TEXT, UTF-8 charset, header and body", c.search(["TEXT", "Grüße"], charset="UTF-8"), [u1])
expect("UTF-8 with no match", c.search(["SUBJECT", "Zürich"], charset="UTF-8"), [])
try:
    c.search(["SUBJECT", "K\xf6ln".encode("latin-1")], charset="ISO-8859-1")
    sys.exit(f"[{step}] ISO-8859-1, which this server does not convert, was accepted")
except IMAPClientError as e:
    expect_true("unknown charset: NO [BADCHARSET] (RFC 9051 6.4.4)", "BADCHARSET" in str(e), str(e))
# RFC 2047 encoded-words are searched decoded: "Fräitag" finds the Subject
# "=?UTF-8?Q?Mittagessen_am_Fr=C3=A4itag?=".
expect("encoded-word subject", c.search(["SUBJECT", "Fräitag"], charset="UTF-8"), [u3])
# SENT* compare the Date: header field (RFC 9051 6.4.4), not the internal
# date: the third message has no internal date given (so today) and is
# dated Fri, 4 Mar 2022; the first was appended with an internal date of
# 7 Feb 2022 21:53 +0100 and is dated the same day.
expect("SENTON the Date: header", c.search(["SENTON", datetime.date(2022, 3, 4)]), [u3])
expect("SENTBEFORE", c.search(["SENTBEFORE", datetime.date(2022, 3, 1)]), [u1])
expect("SENTSINCE", c.search(["SENTSINCE", datetime.date(2022, 3, 1)]), [u2, u3])

# ---- fetch -------------------------------------------------------------------
step = "fetch"
items = ["ENVELOPE", "BODYSTRUCTURE", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]", "RFC822.SIZE", "INTERNALDATE", "FLAGS"]
f = c.fetch([u1, u2, u3], items)
expect("FETCH answers each UID", sorted(f), [u1, u2, u3])
expect("SEQ of each", [f[u][b"SEQ"] for u in (u1, u2, u3)], [1, 2, 3])
e1 = f[u1][b"ENVELOPE"]
expect("ENVELOPE subject", e1.subject, "Grüße aus Köln".encode())
expect("ENVELOPE date", e1.date, datetime.datetime(2022, 2, 7, 21, 52, 25, tzinfo=cet))
expect("ENVELOPE from", [(a.name, a.mailbox, a.host) for a in e1.from_], [("Jörg Bauer".encode(), b"joerg", b"example.net")])
expect("ENVELOPE sender defaults to from (RFC 9051 7.5.2)", [(a.mailbox, a.host) for a in e1.sender], [(b"joerg", b"example.net")])
expect("ENVELOPE reply-to defaults to from", [(a.mailbox, a.host) for a in e1.reply_to], [(b"joerg", b"example.net")])
to_local, to_host = user.split("@")
expect("ENVELOPE to", [(a.name, a.mailbox, a.host) for a in e1.to], [(b"Reader", to_local.encode(), to_host.encode())])
expect("ENVELOPE cc", [(a.mailbox, a.host) for a in e1.cc], [(b"team", b"example.org")])
expect("ENVELOPE bcc", e1.bcc, None)
expect("ENVELOPE message-id", e1.message_id, b"<m1.koeln@example.net>")
expect("ENVELOPE encoded-word subject is sent as written", f[u3][b"ENVELOPE"].subject, b"=?UTF-8?Q?Mittagessen_am_Fr=C3=A4itag?=")
bs = f[u1][b"BODYSTRUCTURE"]
expect_true("BODYSTRUCTURE is multipart", bs.is_multipart, bs)
parts, subtype = bs[0], bs[1]
expect("multipart subtype", subtype, b"alternative")
expect("parts", [(p[0], p[1]) for p in parts], [(b"text", b"plain"), (b"text", b"html")])
plain = parts[0]
expect("text/plain params", plain[2], (b"charset", b"utf-8"))
expect("text/plain encoding", plain[5].lower(), b"8bit")
# The CRLF before a boundary belongs to the boundary (RFC 2046 5.1.1).
expect("text/plain size (octets)", plain[6], len("Hallo Müller, viele Grüße.".encode()))
expect("text/plain lines", plain[7], 1)
expect_true("multipart boundary parameter", b"boundary" in [x.lower() for x in bs[2][::2]] if bs[2] else False, bs)
bs2 = f[u2][b"BODYSTRUCTURE"]
expect("single-part size and lines", (bs2[6], bs2[7]), (len(b"Numbers attached.\r\n"), 1))
expect("single-part text/plain defaults (RFC 2045)", (bs2[0], bs2[1], bs2[2], bs2[5].lower()), (b"text", b"plain", (b"charset", b"us-ascii"), b"7bit"))
expect("HEADER.FIELDS (SUBJECT)", f[u1][b"BODY[HEADER.FIELDS (SUBJECT)]"], "Subject: Grüße aus Köln\r\n\r\n".encode())
expect("HEADER.FIELDS (SUBJECT), plain", f[u2][b"BODY[HEADER.FIELDS (SUBJECT)]"], b"Subject: Quarterly report\r\n\r\n")
expect("RFC822.SIZE", [f[u][b"RFC822.SIZE"] for u in (u1, u2, u3)], [len(m1), len(m2), len(m3)])
expect("INTERNALDATE keeps the appended time and zone", f[u1][b"INTERNALDATE"], d1)
expect("INTERNALDATE (UTC)", f[u2][b"INTERNALDATE"], d2)
age = datetime.datetime.now(datetime.timezone.utc) - f[u3][b"INTERNALDATE"]
expect_true("INTERNALDATE defaults to now", abs(age.total_seconds()) < 300, f[u3][b"INTERNALDATE"])
expect("FLAGS", [flagset(f[u][b"FLAGS"]) for u in (u1, u2, u3)], [{b"\\Flagged", b"$Important"}, {b"\\Seen"}, set()])
expect("appended messages are \\Recent in the first session to select", [b"\\Recent" in f[u][b"FLAGS"] for u in (u1, u2, u3)], [True] * 3)
expect("BODY.PEEK leaves \\Seen unset", c.search("UNSEEN"), [u1, u3])
body = c.fetch([u3], ["BODY[TEXT]"])
expect("BODY[TEXT]", body[u3][b"BODY[TEXT]"], b"Pizza?\r\n")
expect("BODY[TEXT] sets \\Seen (RFC 9051 6.4.5)", flagset(c.get_flags([u3])[u3]), {b"\\Seen"})
whole = c.fetch([u2], ["RFC822"])[u2][b"RFC822"]
expect("RFC822 is the appended message byte for byte", whole, m2)

# ---- flags -------------------------------------------------------------------
step = "flags"
r = c.add_flags([u2], [b"\\Flagged", b"Work"])
expect("+FLAGS reply", flagset(r[u2]), {b"\\Seen", b"\\Flagged", b"Work"})
r = c.remove_flags([u1], [b"\\Flagged"])
expect("-FLAGS reply", flagset(r[u1]), {b"$Important"})
r = c.set_flags([u3], [b"\\Answered"])
expect("FLAGS reply", flagset(r[u3]), {b"\\Answered"})
g = c.get_flags([u1, u2, u3])
expect("get_flags", {u: flagset(v) for u, v in g.items()}, {u1: {b"$Important"}, u2: {b"\\Seen", b"\\Flagged", b"Work"}, u3: {b"\\Answered"}})
expect("FLAGGED after changes", c.search(["FLAGGED"]), [u2])
expect("KEYWORD Work", c.search(["KEYWORD", "Work"]), [u2])
expect("UNSEEN after changes", c.search(["UNSEEN"]), [u1, u3])

# ---- sequence numbers vs UIDs ------------------------------------------------
step = "sequence numbers"
c.use_uid = False
expect("SEARCH by sequence number", c.search(["FLAGGED"]), [2])
seq = c.fetch([3], ["UID", "FLAGS"])
expect("FETCH 3 (UID)", seq[3][b"UID"], u3)
c.add_flags([1], [b"\\Draft"])
c.use_uid = True
expect("STORE by sequence number touched UID 1", flagset(c.get_flags([u1])[u1]), {b"$Important", b"\\Draft"})
c.remove_flags([u1], [b"\\Draft"])

# ---- copy, move, expunge -----------------------------------------------------
step = "copy"
take_code(c, "COPYUID")
c.copy([u1, u2], "Work")
cu = take_code(c, "COPYUID")
expect_true("COPYUID in COPY reply (RFC 4315)", cu is not None, cu)
work_validity = int(cu[0])
expect("COPYUID source set", cu[1], f"{u1}:{u2}".encode() if u2 == u1 + 1 else f"{u1},{u2}".encode())
expect("COPYUID destination set", cu[2], b"1:2")
st = c.folder_status("Work", ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"])
expect("Work after COPY", (st[b"MESSAGES"], st[b"UIDNEXT"], st[b"UIDVALIDITY"], st[b"UNSEEN"]), (2, 3, work_validity, 1))
expect("INBOX keeps its messages after COPY", c.search("ALL"), [u1, u2, u3])

step = "move"
c.move([u3], "Work")
mu = take_code(c, "COPYUID")
expect("COPYUID of MOVE (RFC 6851 4.3)", mu, [str(work_validity).encode(), str(u3).encode(), b"3"])
expect("INBOX after MOVE", c.search("ALL"), [u1, u2])
st = c.folder_status("Work", ["MESSAGES", "UIDNEXT"])
expect("Work after MOVE", (st[b"MESSAGES"], st[b"UIDNEXT"]), (3, 4))

step = "expunge"
c.add_flags([u2], [b"\\Deleted"])
expect("DELETED", c.search(["DELETED"]), [u2])
c.expunge([u2])  # UID EXPUNGE (RFC 4315)
expect("INBOX after UID EXPUNGE", c.search("ALL"), [u1])
sel = c.select_folder("Work")
expect("Work EXISTS", sel[b"EXISTS"], 3)
expect("Work UIDVALIDITY matches COPYUID", sel[b"UIDVALIDITY"], work_validity)
work = c.fetch(c.search("ALL"), ["ENVELOPE", "FLAGS"])
expect("Work subjects in order", [work[u][b"ENVELOPE"].subject for u in sorted(work)],
       ["Grüße aus Köln".encode(), b"Quarterly report", b"=?UTF-8?Q?Mittagessen_am_Fr=C3=A4itag?="])
expect("flags travel with COPY and MOVE", [flagset(work[u][b"FLAGS"]) for u in sorted(work)],
       [{b"$Important"}, {b"\\Seen", b"\\Flagged", b"Work"}, {b"\\Answered"}])
c.set_flags([1, 3], [b"\\Deleted"])
_, responses = c.expunge()  # plain EXPUNGE
# Sequence numbers shift as each message goes: 3 then 1, or 1 then 2.
expunged = [n for n, what in responses if what == b"EXPUNGE"]
expect_true("two EXPUNGE responses for messages 1 and 3", expunged in ([3, 1], [1, 2]), responses)
expect("Work after EXPUNGE", c.search("ALL"), [2])
c.unselect_folder()

# ---- STATUS and CONDSTORE ----------------------------------------------------
step = "status"
st = c.folder_status("INBOX", ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ"])
expect("STATUS INBOX", (st[b"MESSAGES"], st[b"UIDNEXT"], st[b"UIDVALIDITY"], st[b"UNSEEN"]), (1, 4, uidvalidity, 1))
modseq0 = st[b"HIGHESTMODSEQ"]
expect_true("HIGHESTMODSEQ positive", modseq0 > 0, st)

step = "condstore"
enabled = c.enable("CONDSTORE")
expect("ENABLE CONDSTORE", [x.upper() for x in enabled], [b"CONDSTORE"])
sel = c.select_folder("INBOX", readonly=True)
expect_true("EXAMINE is READ-ONLY", b"READ-ONLY" in sel and b"READ-WRITE" not in sel, sel)
expect("EXAMINE HIGHESTMODSEQ equals STATUS", sel[b"HIGHESTMODSEQ"], modseq0)
try:
    c.add_flags([u1], [b"\\Seen"])
    sys.exit(f"[{step}] STORE succeeded on a read-only (EXAMINEd) mailbox")
except IMAPClientError:
    pass
expect("nothing changed since HIGHESTMODSEQ", c.fetch(c.search("ALL"), ["FLAGS"], ["CHANGEDSINCE %d" % modseq0]), {})
# A second connection changes a flag; CHANGEDSINCE returns just that message.
other = connect()
other.login(user, password)
other.select_folder("INBOX")
other.add_flags([u1], [b"\\Answered"])
changed = c.fetch(c.search("ALL"), ["FLAGS"], ["CHANGEDSINCE %d" % modseq0])
expect("CHANGEDSINCE lists the changed message", sorted(changed), [u1])
expect_true("MODSEQ of the change is higher (RFC 7162 3.1.4.1)", changed[u1][b"MODSEQ"][0] > modseq0, changed)
expect("its flags", flagset(changed[u1][b"FLAGS"]), {b"$Important", b"\\Answered"})
st = c.folder_status("Work", ["HIGHESTMODSEQ"])
expect_true("HIGHESTMODSEQ is reported by STATUS of another folder", st[b"HIGHESTMODSEQ"] > 0, st)
c.unselect_folder()

# ---- IDLE --------------------------------------------------------------------
step = "idle"
sel = c.select_folder("INBOX")
exists = sel[b"EXISTS"]
c.idle()
expect("nothing to report while nothing changes", c.idle_check(timeout=0.5), [])
m4 = b"From: Erin <erin@example.org>\r\nSubject: while you idle\r\n\r\nping\r\n"
start = time.time()
r4 = other.append("INBOX", m4)
u4 = int(uid_code(r4, b"APPENDUID")[1])
events = []
deadline = time.time() + 10
while (exists + 1, b"EXISTS") not in events and time.time() < deadline:
    events += c.idle_check(timeout=deadline - time.time())
idle_seconds = time.time() - start
expect_true("IDLE reports the new message as EXISTS", (exists + 1, b"EXISTS") in events, events)
other.add_flags([u4], [b"\\Flagged"])
deadline = time.time() + 10
flag_events = []
while not any(e[1] == b"FETCH" for e in flag_events) and time.time() < deadline:
    flag_events += c.idle_check(timeout=deadline - time.time())
fetch_events = [e for e in flag_events if e[1] == b"FETCH"]
expect_true("IDLE reports another session's flag change as FETCH", fetch_events, flag_events)
expect_true("FETCH for the new message, with \\Flagged", fetch_events[-1][0] == exists + 1 and b"\\Flagged" in fetch_events[-1][2][1], fetch_events)
text, _ = c.idle_done()
expect_true("IDLE ends with OK", text, text)
expect("the new message after IDLE", c.search(["SUBJECT", "while you idle"]), [u4])
expect("its flags", flagset(c.get_flags([u4])[u4]), {b"\\Flagged"})

# ---- MULTIAPPEND, SORT and THREAD (what webmails ask of the server) ---------
step = "sort-thread"
caps = set(c.capabilities())
for cap in (b"MULTIAPPEND", b"SORT", b"SORT=DISPLAY", b"ESORT", b"THREAD=REFERENCES", b"THREAD=ORDEREDSUBJECT"):
    expect_true(f"{cap.decode()} advertised", cap in caps, caps)
c.create_folder("Threads")


def mail(sender, subject, date, message_id, references=""):
    refs = f"References: {references}\r\nIn-Reply-To: {references.split()[-1]}\r\n" if references else ""
    return (f"From: {sender}\r\nTo: list@example.org\r\nSubject: {subject}\r\nDate: {date}\r\n"
            f"Message-ID: {message_id}\r\n{refs}\r\nbody\r\n").encode()


batch = [
    mail("Carol <carol@example.org>", "Release plan", "Mon, 1 Jan 2024 09:00:00 +0000", "<a@x>"),
    mail("Alice <alice@example.org>", "Re: Release plan", "Mon, 1 Jan 2024 11:00:00 +0000", "<b@x>", "<a@x>"),
    mail("Bob <bob@example.org>", "Lunch?", "Mon, 1 Jan 2024 10:00:00 +0000", "<c@x>"),
    mail("Dave <dave@example.org>", "Re: Re: Release plan", "Mon, 1 Jan 2024 12:00:00 +0000", "<d@x>", "<a@x> <b@x>"),
    mail("=?UTF-8?Q?=C3=89mile?= <emile@example.org>", "Fwd: Lunch?", "Mon, 1 Jan 2024 08:00:00 -0500", "<e@x>"),
]
typ, data = c.multiappend("Threads", batch)
r = data[0] if typ == "OK" and data else b""
uids = uid_code(r, b"APPENDUID")
expect_true("one MULTIAPPEND gives APPENDUID for the five (RFC 3502, RFC 4315)", uids and uids[1] == b"1:5", r)
c.select_folder("Threads")
expect("SORT (DATE): sent dates in UTC", c.sort(["DATE"]), [1, 3, 2, 4, 5])
expect("SORT (REVERSE DATE)", c.sort(["REVERSE DATE"]), [5, 4, 2, 3, 1])
expect("SORT (SUBJECT): base subjects, then date", c.sort(["SUBJECT", "DATE"]), [3, 5, 1, 2, 4])
expect("SORT (FROM): the address's mailbox", c.sort(["FROM"]), [2, 3, 1, 4, 5])
expect("SORT (DISPLAYFROM): the decoded name", c.sort(["DISPLAYFROM"]), [2, 3, 1, 4, 5])
expect("SORT with a search", c.sort(["ARRIVAL"], ["SUBJECT", "lunch"]), [3, 5])
threads = c.thread("REFERENCES")
expect("THREAD REFERENCES: the reply chain, and Lunch with its forward", [list(t) for t in threads], [[1, 2, 4], [3, 5]])
threads = c.thread("ORDEREDSUBJECT")
expect("THREAD ORDEREDSUBJECT: the later ones are children of the first", threads, ((1, (2,), (4,)), (3, 5)))
c.unselect_folder()

# ---- logout ------------------------------------------------------------------
step = "logout"
bye = c.logout()
expect_true("LOGOUT completes", isinstance(bye, bytes) and bye, bye)
other.logout()
try:
    c.noop()
    sys.exit(f"[{step}] the connection was still usable after LOGOUT")
except Exception:
    pass

print(json.dumps({
    "uidvalidity": uidvalidity,
    "appended_uids": [u1, u2, u3],
    "idle_seconds": idle_seconds,
    "logout": bye.decode(errors="replace"),
    "known_bugs": known_bugs,
}))
