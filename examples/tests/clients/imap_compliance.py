"""IMAP behaviour the RFCs fix and clients rely on, checked line by line
over a real socket against the reference server (plaintext IMAP on
loopback, `[imap] allow_plaintext_auth`). Each check names the rule it
holds the server to; the script stops at the first broken one.

usage: imap_compliance.py HOST PORT USER PASSWORD
"""

import base64
import re
import socket
import sys

HOST, PORT, USER, PASSWORD = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


class Conn:
    """One IMAP connection: sends a command, gathers the untagged lines
    (with any literal inlined as bytes) until the tagged reply."""

    def __init__(self):
        self.sock = socket.create_connection((HOST, PORT), timeout=10)
        self.file = self.sock.makefile("rb")
        self.n = 0
        greeting = self.file.readline()
        assert greeting.startswith(b"* OK"), greeting
        self.ok(f'LOGIN "{USER}" "{PASSWORD}"')

    def line(self):
        """One response line, literals included, without the final CRLF."""
        out = b""
        while True:
            raw = self.file.readline()
            assert raw, "connection closed"
            out += raw
            m = re.search(rb"~?\{(\d+)\}\r\n$", raw)
            if not m:
                return out.rstrip(b"\r\n")
            out += self.file.read(int(m.group(1)))

    def cmd(self, text, data=b""):
        """Sends `tag text` (bytes in `data` follow as-is); returns
        (untagged lines, tagged line)."""
        self.n += 1
        tag = b"c%d" % self.n
        self.sock.sendall(tag + b" " + text.encode() + data + b"\r\n")
        untagged = []
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return untagged, line[len(tag) + 1:]
            untagged.append(line)

    def ok(self, text, data=b""):
        untagged, status = self.cmd(text, data)
        assert status.startswith(b"OK"), (text, status, untagged)
        return untagged, status


def check(rule, cond, seen):
    if not cond:
        print(f"FAILED: {rule}\n  saw: {seen!r}", file=sys.stderr)
        sys.exit(1)


a = Conn()
b = Conn()

# ---- RFC 3516 4.4: binary APPEND keeps the content -----------------------
a.ok("CREATE bin")
part = b"\x00-\xe4\r\n\r\n"
msg = (b"From: user@example.org\r\nMime-Version: 1.0\r\n"
       b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" + part)
_, status = a.ok("APPEND bin ~{%d+}\r\n" % len(msg), msg)
a.ok("SELECT bin")
u, _ = a.ok("FETCH 1 (BODY.PEEK[] BODY.PEEK[1] BINARY.PEEK[1] BINARY.SIZE[1])")
whole = u[0]
full = re.search(rb"BODY\[\] \{(\d+)\}\r\n", whole)
check("BODY[] of a binary message carries no NUL in a literal (RFC 9051 4.3)",
      full and b"\x00" not in whole[full.end():full.end() + int(full.group(1))], whole)
body1 = re.search(rb"BODY\[1\] \{(\d+)\}\r\n", whole)
check("BODY[1] is a non-empty literal", body1 and int(body1.group(1)) > 0, whole)
start = body1.end()
encoded = whole[start:start + int(body1.group(1))]
check("BODY[1] is the part in base64", base64.b64decode(encoded) == part, encoded)
check("BINARY[1] gives the octets back (RFC 3516 4.2)", b"BINARY[1] ~{7}\r\n" + part in whole, whole)
check("BINARY.SIZE[1] is the decoded size", b"BINARY.SIZE[1] 7" in whole, whole)
a.ok("CLOSE")

# ---- RFC 3501 7.2.6: keywords are announced before a FETCH carries them ---
a.ok("CREATE kw")
a.ok("APPEND kw {14+}\r\nSubject: k\r\n", b"\r\n")
u, _ = a.ok("SELECT kw")
check("SELECT lists only the keywords in use", b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)" in u, u)
u, _ = a.ok("STORE 1 +FLAGS ($Label1)")
flags_at = next(i for i, l in enumerate(u) if l.startswith(b"* FLAGS"))
fetch_at = next(i for i, l in enumerate(u) if b"FETCH" in l)
check("own STORE announces $Label1 in FLAGS before the FETCH", flags_at < fetch_at and b"$Label1" in u[flags_at], u)
check("and in PERMANENTFLAGS", any(b"PERMANENTFLAGS" in l and b"$Label1" in l for l in u), u)
b.ok("SELECT kw")
b.ok("STORE 1 +FLAGS.SILENT (Work)")
u, _ = a.ok("NOOP")
flags_at = next((i for i, l in enumerate(u) if l.startswith(b"* FLAGS")), None)
fetch_at = next((i for i, l in enumerate(u) if b"FETCH" in l), None)
check("another session's new keyword: FLAGS first, then the FETCH",
      flags_at is not None and fetch_at is not None and flags_at < fetch_at and b"Work" in u[flags_at], u)
a.ok("CLOSE")
b.ok("CLOSE")

# ---- RFC 3501 2.3.2: \Recent in exactly one IMAP4rev1 session -------------
a.ok("CREATE rec")
for i in range(2):
    a.ok("APPEND rec {14+}\r\nSubject: %d\r\n" % i, b"\r\n")
u, _ = a.ok("STATUS rec (RECENT MESSAGES)")
check("STATUS counts unclaimed messages as RECENT", u == [b"* STATUS rec (RECENT 2 MESSAGES 2)"], u)
u, _ = b.ok("EXAMINE rec")
check("EXAMINE reports them without taking them", b"* 2 RECENT" in u, u)
b.ok("CLOSE")
u, _ = a.ok("SELECT rec")
check("SELECT takes them", b"* 2 RECENT" in u, u)
u, _ = a.ok("FETCH 1 FLAGS")
check("FETCH FLAGS shows \\Recent", b"\\Recent" in u[0], u)
u, _ = a.ok("SEARCH RECENT")
check("SEARCH RECENT", u == [b"* SEARCH 1 2"], u)
a.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
u, _ = a.ok("SEARCH NEW")
check("SEARCH NEW is RECENT UNSEEN", u == [b"* SEARCH 2"], u)
u, _ = a.ok("SEARCH OLD")
check("SEARCH OLD", u == [b"* SEARCH"], u)
u, _ = b.ok("SELECT rec")
check("a second session sees none recent", b"* 0 RECENT" in u, u)
b.ok("APPEND rec {14+}\r\nSubject: 3\r\n", b"\r\n")
u, _ = a.ok("NOOP")
check("new mail: EXISTS then RECENT", b"* 3 EXISTS" in u and any(l.endswith(b" RECENT") for l in u), u)
b.ok("CLOSE")
c = Conn()
c.ok("ENABLE IMAP4rev2")
u, _ = c.ok("SELECT rec")
check("no RECENT once IMAP4rev2 is enabled (RFC 9051)", not any(b"RECENT" in l for l in u), u)
c.ok("LOGOUT")

# ---- RFC 6851 3.3: MOVE into the selected mailbox --------------------------
u, status = a.ok("MOVE 1 rec")
check("COPYUID for a move into the same mailbox", any(b"[COPYUID " in l for l in u), u)
check("then the EXPUNGE and the new EXISTS", b"* 1 EXPUNGE" in u and b"* 3 EXISTS" in u, u)
a.ok("CLOSE")

# ---- RFC 7162 3.1.2.1 and 3.1.5: CONDSTORE details ------------------------
d = Conn()
d.ok("SELECT rec")
u, _ = d.ok("FETCH 1 (MODSEQ)")
check("first FETCH MODSEQ sends HIGHESTMODSEQ first", u[0].startswith(b"* OK [HIGHESTMODSEQ "), u)
d.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
u, _ = d.ok("FETCH 1:* (MODSEQ)")
modseqs = [int(re.search(rb"MODSEQ \((\d+)\)", l).group(1)) for l in u if b"FETCH" in l]
u, _ = d.ok("SEARCH RETURN (MIN) MODSEQ 1")
check("ESEARCH MIN carries the MODSEQ of that message",
      any(l.endswith(b"MIN 1 MODSEQ %d" % modseqs[0]) for l in u), (u, modseqs))
u, _ = d.ok("SEARCH RETURN (MAX) MODSEQ 1")
check("ESEARCH MAX carries the MODSEQ of that message",
      any(l.endswith(b"MAX %d MODSEQ %d" % (len(modseqs), modseqs[-1])) for l in u), (u, modseqs))
d.ok("LOGOUT")

# ---- RFC 3501 9: odd but valid mailbox names ------------------------------
name = "!#$&'+,-.0123456789:;<=>?@^_`|[}"
_, status = a.cmd("SELECT " + name)
check("SELECT of such a name is NO, not BAD", status.startswith(b"NO"), status)
u, status = a.cmd('LIST "" ' + name + "%*")
check("LIST with such a pattern is OK", status.startswith(b"OK"), (u, status))
a.ok("NOOP")

# ---- RFC 3501 6.4.4: FROM matches an address split by comments ------------
a.ok("CREATE addr")
m = b"From: <user-from (comment)@ (comment) domain.org>\r\nSubject: c\r\n\r\nbody\r\n"
a.ok("APPEND addr {%d+}\r\n" % len(m), m)
a.ok("SELECT addr")
u, _ = a.ok("SEARCH FROM user-from@domain.org")
check("SEARCH FROM user-from@domain.org", u == [b"* SEARCH 1"], u)
a.ok("CLOSE")

# ---- RFC 3501 6.3.9: LSUB -------------------------------------------------
for n in ["sub", "sub/one", "sub/two/", "sub/two/x"]:
    a.ok(f"CREATE {n}")
u, _ = a.ok('LSUB "" sub*')
check("CREATE does not subscribe", u == [], u)
a.ok("SUBSCRIBE sub/one")
a.ok("SUBSCRIBE sub/two/x")
u, _ = a.ok('LSUB "" sub/%')
check("LSUB shows the subscribed child and the unsubscribed parent as \\Noselect",
      sorted(u) == [b'* LSUB () "/" sub/one', b'* LSUB (\\Noselect) "/" sub/two'], u)
a.ok("UNSUBSCRIBE sub/one")
u, _ = a.ok('LSUB "" sub/%')
check("an unsubscribed mailbox is gone from LSUB", u == [b'* LSUB (\\Noselect) "/" sub/two'], u)

# ---- RFC 4469: CATENATE builds a message from text and parts by URL ------
a.ok("CREATE cat")
src = (b"From: a@example.org\r\nSubject: report\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
       b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
       b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n")
_, status = a.ok("APPEND cat {%d+}\r\n" % len(src), src)
validity, uid = re.search(rb"APPENDUID (\d+) (\d+)", status).groups()
head = b"From: b@example.org\r\nSubject: Fwd: report\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n"
tail = b"\r\n--c--\r\n"
url = "/cat;UIDVALIDITY=%s/;UID=%s/;SECTION=2.MIME" % (validity.decode(), uid.decode())
body_url = "/cat/;UID=%s/;SECTION=2" % uid.decode()
_, status = a.ok('APPEND cat CATENATE (TEXT {%d+}\r\n' % len(head), head + (' URL "%s" URL "%s" TEXT {%d+}\r\n' % (url, body_url, len(tail))).encode() + tail + b")")
check("CATENATE answers APPENDUID", b"[APPENDUID " in status, status)
a.ok("SELECT cat")
u, _ = a.ok("FETCH 2 (BODY.PEEK[] BINARY.PEEK[1])")
check("the built message holds the forwarded part", b"--c\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--c--" in u[0], u)
check("and the part decodes", b"BINARY[1] {9}\r\n%PDF-1.4\n" in u[0], u)
_, status = a.cmd('APPEND cat CATENATE (TEXT {5+}\r\nx\r\n\r\n URL "/cat;UIDVALIDITY=1/;UID=1")')
check("a stale UIDVALIDITY is NO [BADURL]", status.startswith(b"NO [BADURL "), status)
u, _ = a.ok("NOOP")
check("and nothing was stored", not any(l.endswith(b" EXISTS") for l in u), u)
a.ok("CLOSE")

# ---- RFC 5258: LIST-EXTENDED; RFC 3501 6.3.6: subscriptions outlive mailboxes
for n in ["ext", "ext/a", "ext/b/", "ext/b/c", "ext/gone"]:
    a.ok(f"CREATE {n}")
a.ok("SUBSCRIBE ext/a")
a.ok("SUBSCRIBE ext/b/c")
a.ok("SUBSCRIBE ext/gone")
a.ok("DELETE ext/gone")
a.ok("SUBSCRIBE ext/later")
u, _ = a.ok('LIST (SUBSCRIBED) "" ext/*')
check("LIST (SUBSCRIBED) shows deleted and future names as \\NonExistent",
      b'* LIST (\\NonExistent \\Subscribed) "/" ext/gone' in u and b'* LIST (\\NonExistent \\Subscribed) "/" ext/later' in u, u)
u, _ = a.ok('LIST "" ext/*')
check("plain LIST does not show them", not any(b"gone" in l or b"later" in l for l in u), u)
u, _ = a.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" ext/% RETURN (CHILDREN)')
check("RECURSIVEMATCH: ext/b has a subscribed child the pattern leaves out",
      b'* LIST (\\HasChildren) "/" ext/b ("CHILDINFO" ("SUBSCRIBED"))' in u, u)
u, _ = a.ok('LIST "" (ext/a ext/b) RETURN (SUBSCRIBED CHILDREN)')
check("several patterns and RETURN (SUBSCRIBED CHILDREN)",
      u == [b'* LIST (\\HasNoChildren \\Subscribed) "/" ext/a', b'* LIST (\\HasChildren) "/" ext/b'], u)
u, _ = a.ok('LIST (SPECIAL-USE) "" * RETURN (SPECIAL-USE)')
check("LIST (SPECIAL-USE)", any(b"\\Sent" in l for l in u) and not any(b"ext" in l for l in u), u)
_, status = a.cmd('LIST (RECURSIVEMATCH) "" *')
check("RECURSIVEMATCH alone is BAD", status.startswith(b"BAD"), status)
a.ok("CREATE ext/later")
u, _ = a.ok('LSUB "" ext/later')
check("a mailbox created under a subscribed name is subscribed", u == [b'* LSUB () "/" ext/later'], u)

# ---- RFC 5267: CONTEXT=SEARCH and CONTEXT=SORT ----------------------------
a.ok("CREATE ctx")
for i in range(5):
    m = b"Subject: %d\r\nDate: Mon, %d Jan 2024 10:00:00 +0000\r\n\r\nx\r\n" % (i, 5 - i)
    a.ok("APPEND ctx {%d+}\r\n" % len(m), m)
a.ok("SELECT ctx")
u, _ = a.ok("SEARCH RETURN (PARTIAL 2:3) ALL")
check("SEARCH PARTIAL: positions 2 and 3 of the result", any(l.endswith(b"PARTIAL (2:3 2:3)") for l in u), u)
u, _ = a.ok("SORT RETURN (PARTIAL 1:2) (DATE) UTF-8 ALL")
check("SORT PARTIAL: in sort order", any(l.endswith(b"PARTIAL (1:2 5,4)") for l in u), u)
u, _ = a.ok("SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL")
check("ESORT: MIN and MAX are the first and last in sort order, ALL keeps that order",
      any(l.endswith(b"MIN 5 MAX 1 ALL 5,4,3,2,1 COUNT 5") for l in u), u)
tag = "c%d" % (a.n + 1)
u, _ = a.ok("SEARCH RETURN (UPDATE) SEEN")
check("UPDATE answers an empty ESEARCH first", u == [b'* ESEARCH (TAG "%s")' % tag.encode()], u)
u, _ = a.ok("STORE 2,4 +FLAGS.SILENT (\\Seen)")
check("a STORE that adds matches gives ADDTO", b'* ESEARCH (TAG "%s") ADDTO (0 2,4)' % tag.encode() in u, u)
sort_tag = "c%d" % (a.n + 1)
a.ok("SORT RETURN (UPDATE) (DATE) UTF-8 SEEN")
a.ok("STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)")
u, _ = a.ok("NOOP")
u, _ = a.ok("EXPUNGE")
removal = b'* ESEARCH (TAG "%s") REMOVEFROM (0 1)' % tag.encode()
check("REMOVEFROM comes before the EXPUNGE, by the old number",
      removal in u and b"* 1 EXPUNGE" in u and u.index(removal) < u.index(b"* 1 EXPUNGE"), u)
_, status = a.cmd('CANCELUPDATE "%s"' % tag)
check("CANCELUPDATE", status.startswith(b"OK"), status)
_, status = a.cmd('CANCELUPDATE "%s"' % tag)
check("CANCELUPDATE of an unknown tag is NO", status.startswith(b"NO"), status)
# Now 1 (4 Jan) and 3 (2 Jan) are seen; 2 (3 Jan) goes between them.
u, _ = a.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
check("a cancelled search sends nothing more", not any(tag.encode() in l for l in u), u)
check("the updating SORT places the message by its date",
      any(l == b'* ESEARCH (TAG "%s") ADDTO (2 2)' % sort_tag.encode() for l in u), u)
a.ok("CLOSE")

# ---- RFC 5465: NOTIFY, pushed between commands ---------------------------
a.ok("CREATE watched")
a.ok("SELECT INBOX")
u, _ = a.ok("NOTIFY SET STATUS (SELECTED (MessageNew (UID FLAGS) MessageExpunge)) "
            "(PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))")
check("NOTIFY SET STATUS reports the other mailboxes first",
      any(l.startswith(b"* STATUS watched (MESSAGES 0 UIDNEXT 1 UIDVALIDITY ") and b"HIGHESTMODSEQ" in l for l in u), u)
_, status = a.cmd("NOTIFY SET (PERSONAL (AnnotationChange))")
check("unsupported events are NO [BADEVENT (...)]", status.startswith(b"NO [BADEVENT (MessageNew"), status)
a.ok("NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge)) "
     "(PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))")


def pushed(conn, want):
    """Lines the server sends on its own, without a command, until one
    contains `want`."""
    lines = []
    while True:
        line = conn.line()
        lines.append(line)
        if want in line:
            return lines


m = b"Subject: pushed\r\n\r\nhi\r\n"
b.ok("APPEND watched {%d+}\r\n" % len(m), m)
lines = pushed(a, b"STATUS watched")
check("a message in another mailbox arrives as STATUS, with no command sent",
      any(l.startswith(b"* STATUS watched (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ") for l in lines), lines)
b.ok("CREATE watched2")
lines = pushed(a, b"watched2")
check("a new mailbox arrives as LIST", b'* LIST () "/" watched2' in lines, lines)
b.ok("RENAME watched2 watched3")
lines = pushed(a, b"watched3")
check("a rename carries OLDNAME", b'* LIST () "/" watched3 ("OLDNAME" (watched2))' in lines, lines)
b.ok("SUBSCRIBE watched3")
lines = pushed(a, b"watched3")
check("a subscription arrives as LIST (\\Subscribed)", b'* LIST (\\Subscribed) "/" watched3' in lines, lines)
b.ok("DELETE watched3")
lines = pushed(a, b"watched3")
check("a deleted mailbox arrives as \\NonExistent", b'* LIST (\\NonExistent) "/" watched3' in lines, lines)
b.ok("APPEND INBOX {%d+}\r\n" % len(m), m)
lines = pushed(a, b"FETCH")
check("new mail in the selected mailbox: EXISTS, then FETCH (UID FLAGS)",
      any(l.endswith(b" EXISTS") for l in lines) and re.search(rb"\* \d+ FETCH \(UID \d+ FLAGS \(", lines[-1]), lines)
a.ok("NOTIFY NONE")
a.ok("CLOSE")

a.ok("LOGOUT")
b.ok("LOGOUT")
print("imap compliance ok")
