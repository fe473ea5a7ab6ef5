"""Drives the IMAP server with Python's imaplib (a real client).

Usage: imap_client.py HOST PORT USER PASSWORD MARKER_DIR

The store already holds three messages in INBOX (plain, multipart, plain).
For IDLE the script creates MARKER_DIR/idling and expects the test to append
a message, which must wake the IDLE within a second.
"""

import imaplib
import os
import re
import sys
import time

host, port, user, password, marker_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


def ok(result, what):
    typ, data = result
    assert typ == "OK", f"{what}: {typ} {data}"
    return data


m = imaplib.IMAP4(host, port)
caps = m.capabilities
for cap in ("IMAP4REV1", "IMAP4REV2", "IDLE", "MOVE", "UIDPLUS", "SPECIAL-USE", "AUTH=PLAIN"):
    assert cap in caps, (cap, caps)

# Wrong password first: NO [AUTHENTICATIONFAILED].
try:
    m.login(user, "wrong")
    raise AssertionError("bad password accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e

ok(m.login(user, password), "LOGIN")

# LIST: the default mail folders with their special-use attributes, no
# calendar or contacts folders.
data = ok(m.list(), "LIST")
lines = [d.decode() for d in data]
names = {re.search(r'"/" "?([^"]*)"?$', l).group(1): l for l in lines}
assert set(names) == {"INBOX", "Sent", "Drafts", "Trash", "Junk"}, lines
assert "\\Sent" in names["Sent"] and "\\Trash" in names["Trash"], lines
assert "\\HasNoChildren" in names["INBOX"], lines

ok(m.create("Archive/2024"), "CREATE")
data = ok(m.list('""', "Archive*"), "LIST Archive*")
text = b" ".join(data).decode()
assert "Archive/2024" in text and "\\HasChildren" in text, text
ok(m.rename("Archive/2024", "Archive/Old"), "RENAME")
ok(m.subscribe("Archive"), "SUBSCRIBE")
data = ok(m.lsub('""', "*"), "LSUB")
assert any(b"Archive" in d for d in data), data
data = ok(m.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE)"), "STATUS")
assert b"MESSAGES 3" in data[0] and b"UNSEEN 3" in data[0], data

# SELECT
typ, data = m.select("INBOX")
assert typ == "OK" and data == [b"3"], (typ, data)

# FETCH 1:* (FLAGS UID ENVELOPE BODYSTRUCTURE)
data = ok(m.fetch("1:*", "(FLAGS UID ENVELOPE BODYSTRUCTURE)"), "FETCH")
text = b" ".join(d if isinstance(d, bytes) else b"".join(d) for d in data).decode()
assert text.count("FETCH") == 3 or len(data) == 3, data
assert '"First message"' in text, text
assert '("text" "plain"' in text and '"mixed"' in text, text
assert '"attachment"' in text, text

# BODY.PEEK[HEADER.FIELDS (SUBJECT)] leaves \Seen alone.
data = ok(m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "FETCH PEEK")
assert data[0][1] == b"Subject: Multipart message\r\n\r\n", data
data = ok(m.fetch("2", "(FLAGS)"), "FETCH FLAGS")
assert b"\\Seen" not in data[0], data

# BODY[1] of the multipart: its first part; sets \Seen.
data = ok(m.fetch("2", "(BODY[1])"), "FETCH BODY[1]")
assert data[0][1] == b"This is the text part.", data
joined = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in data)
assert b"\\Seen" in joined, data
data = ok(m.uid("FETCH", "1:*", "(RFC822.SIZE BODY.PEEK[]<0.4>)"), "UID FETCH partial")
assert data[0][1] == b"From", data

# STORE +FLAGS and SEARCH
data = ok(m.store("1", "+FLAGS", "(\\Flagged $Important)"), "STORE")
assert b"\\Flagged" in data[0] and b"$Important" in data[0], data
assert ok(m.search(None, "FLAGGED"), "SEARCH FLAGGED") == [b"1"]
assert ok(m.search(None, "UNSEEN"), "SEARCH UNSEEN") == [b"1 3"]
assert ok(m.search(None, "SUBJECT", "multipart"), "SEARCH SUBJECT") == [b"2"]
assert ok(m.search(None, "BODY", "third"), "SEARCH BODY") == [b"3"]
assert ok(m.search(None, "OR", "FLAGGED", "SEEN"), "SEARCH OR") == [b"1 2"]
assert ok(m.search(None, "NOT", "FROM", "alice"), "SEARCH NOT FROM") == [b"2"]
assert ok(m.search("UTF-8", "KEYWORD", "$Important"), "SEARCH KEYWORD") == [b"1"]
assert ok(m.search(None, "LARGER", "300"), "SEARCH LARGER") == [b"2"]
assert ok(m.uid("SEARCH", "ALL"), "UID SEARCH") == [b"1 2 3"]

# COPY with COPYUID, MOVE with COPYUID and EXPUNGE.
typ, data = m.copy("1", "Archive")
assert typ == "OK", data
assert b"[COPYUID " in data[0], data
typ, data = m._simple_command("MOVE", "3", "Trash")
assert typ == "OK", (typ, data)
expunged = m.untagged_responses.pop("EXPUNGE", [])
assert expunged == [b"3"], expunged
typ, data = m.status("Trash", "(MESSAGES)")
assert b"MESSAGES 1" in data[0], data

# APPEND with APPENDUID.
msg = b"From: carol@example.org\r\nSubject: Appended\r\n\r\nappended body\r\n"
typ, data = m.append("INBOX", "(\\Seen)", None, msg)
assert typ == "OK" and b"APPENDUID" in data[0], (typ, data)
# (imaplib drops the EXISTS that follows APPEND; the raw-socket test checks it.)
ok(m.noop(), "NOOP")

# EXPUNGE
ok(m.store("1", "+FLAGS.SILENT", "(\\Deleted)"), "STORE Deleted")
typ, data = m.expunge()
assert typ == "OK" and data == [b"1"], (typ, data)
assert ok(m.search(None, "ALL"), "SEARCH ALL") == [b"1 2"]

# IDLE: the test appends a message when it sees the marker.
tag = m._new_tag()
m.send(tag + b" IDLE\r\n")
line = m.readline()
assert line.startswith(b"+"), line
open(os.path.join(marker_dir, "idling"), "w").close()
start = time.monotonic()
line = m.readline()
elapsed = time.monotonic() - start
assert re.match(rb"\* 3 EXISTS", line), line
assert elapsed < 1.0, elapsed
# An IMAP4rev1 session takes new mail as \Recent (RFC 3501 7.3.2).
line = m.readline()
assert line == b"* 2 RECENT\r\n", line
m.send(b"DONE\r\n")
line = m.readline()
assert line.startswith(tag + b" OK"), line

ok(m.close(), "CLOSE")
typ, data = m.logout()
assert typ == "BYE", (typ, data)
print("imap client ok")
