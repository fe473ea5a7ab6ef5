"""Folder sharing (RFC 4314 ACL) between accounts, driven with imaplib.

Usage: imap_acl.py HOST PORT PASSWORD
Accounts alice, bob and carol @example.com share PASSWORD; alice owns
"Team" (two messages) and "Private" (one message).
"""

import imaplib
import re
import sys

host, port, password = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# imaplib has no method for LISTRIGHTS; let it send the command.
imaplib.Commands.setdefault("LISTRIGHTS", ("AUTH", "SELECTED"))
TEAM = '"Other Users/alice@example.com/Team"'
PRIVATE = '"Other Users/alice@example.com/Private"'


def connect(user):
    m = imaplib.IMAP4(host, port)
    m.login(user + "@example.com", password)
    return m


def expect(result, status, code=None):
    typ, data = result
    text = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
    assert typ == status, f"expected {status} {code or ''}, got {typ} {text}"
    if code:
        assert f"[{code}" in text, f"expected [{code}], got {text}"
    return data


def names(m, pattern="*"):
    out = {}
    for line in expect(m.list('""', pattern), "OK"):
        if line is None:
            continue
        attrs, name = re.match(rb'\(([^)]*)\) "/" (.*)$', line).groups()
        out[name.decode().strip('"')] = attrs.decode()
    return out


def untagged(m, name):
    return [d for d in m.untagged_responses.pop(name, []) if d is not None]


alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
assert "ACL" in alice.capabilities and "RIGHTS=TEXK" in alice.capabilities, alice.capabilities

# Nothing shared yet: bob neither sees nor opens alice's folders, and the
# answers do not tell that they exist.
assert not any(n.startswith("Other Users") for n in names(bob)), names(bob)
expect(bob.select(TEAM), "NO", "NONEXISTENT")
expect(bob.myrights(TEAM), "NO", "NONEXISTENT")
expect(bob.status(TEAM, "(MESSAGES)"), "NO", "NONEXISTENT")
expect(bob.getacl(TEAM), "NO", "NONEXISTENT")

# alice shares Team with bob, read-only.
expect(alice.setacl("Team", "bob@example.com", "lr"), "OK")
acl = expect(alice.getacl("Team"), "OK")[0].decode()
assert acl == "Team alice@example.com lrswipkxtea bob@example.com lr", acl
expect(alice._simple_command("LISTRIGHTS", "Team", "bob@example.com"), "OK")
listed = untagged(alice, "LISTRIGHTS")[0].decode()
assert listed == 'Team bob@example.com "" l r s w i p k x t e a', listed
expect(alice._simple_command("LISTRIGHTS", "Team", "alice@example.com"), "OK")
assert untagged(alice, "LISTRIGHTS")[0].decode() == "Team alice@example.com lrswipkxtea"
assert expect(alice.myrights("Team"), "OK")[0].decode() == "Team lrswipkxtea"
expect(alice.setacl("Team", "alice@example.com", "lr"), "NO", "CANNOT")
expect(alice.setacl("Team", "nobody@example.com", "lr"), "NO", "NONEXISTENT")
expect(alice.setacl("Team", "-bob@example.com", "w"), "NO", "CANNOT")
try:
    alice._simple_command("SETACL", "Team", "bob@example.com", "lrz")
    raise AssertionError("an unknown right was accepted")
except imaplib.IMAP4.error as e:
    assert "BAD" in str(e), e

# bob sees the shared folder under the other users namespace, not Private.
ns = expect(bob.namespace(), "OK")[0].decode()
assert ns == '(("" "/")) (("Other Users/" "/")) NIL', ns
listing = names(bob)
assert "\\Noselect" in listing["Other Users"], listing
assert "\\Noselect" in listing["Other Users/alice@example.com"], listing
assert "Other Users/alice@example.com/Team" in listing, listing
assert "Other Users/alice@example.com/Private" not in listing, listing
assert "Team" not in listing, listing
assert expect(bob.myrights(TEAM), "OK")[0].decode() == '"Other Users/alice@example.com/Team" lr'
status = expect(bob.status(TEAM, "(MESSAGES UIDNEXT)"), "OK")[0].decode()
assert "MESSAGES 2" in status, status

# With l and r only, SELECT opens the folder read-only (imaplib raises
# on [READ-ONLY] after selecting) and its messages can be read.
try:
    bob.select(TEAM)
    raise AssertionError("SELECT of a folder shared with lr was not read-only")
except imaplib.IMAP4.readonly:
    pass
expect(bob.select(TEAM, readonly=True), "OK")
typ, data = bob.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert typ == "OK", data
subjects = [d[1].decode().strip() for d in data if isinstance(d, tuple)]
assert subjects == ["Subject: team one", "Subject: team two"], subjects
# imaplib itself refuses STORE on an examined mailbox; send it raw.
bob.send(b"s1 STORE 1 +FLAGS (\\Flagged)\r\n")
line = bob.readline()
assert line.startswith(b"s1 NO [READ-ONLY]"), line
expect(bob.append(TEAM, None, None, b"Subject: from bob\r\n\r\nhi\r\n"), "NO", "NOPERM")
expect(bob.setacl(TEAM, "carol@example.com", "lr"), "NO", "NOPERM")
expect(bob.getacl(TEAM), "NO", "NOPERM")
expect(bob.delete(TEAM), "NO", "NOPERM")
expect(bob.rename(TEAM, "Mine"), "NO", "CANNOT")
# Reading a message does not mark it \Seen without the s right.
typ, data = bob.fetch("1", "(BODY[TEXT])")
assert typ == "OK", data
assert b"\\Seen" not in b" ".join(d[0] if isinstance(d, tuple) else d for d in data), data
# Copying out of the shared folder into bob's own INBOX works.
copied = expect(bob.copy("1", "INBOX"), "OK")[0].decode()
assert "COPYUID" in copied, copied
expect(bob.select("INBOX"), "OK")
typ, data = bob.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert any(isinstance(d, tuple) and b"team one" in d[1] for d in data), data

# Subscriptions to a shared folder are bob's own.
expect(bob.subscribe(TEAM), "OK")
typ, data = bob.lsub('""', "*")
assert any(b"Other Users/alice@example.com/Team" in d for d in data if d), data
typ, data = alice.lsub('""', "Team")
# LSUB carries no child attributes: those are LIST's (RFC 3501 6.3.9).
assert data == [b'() "/" Team'], data
expect(bob.unsubscribe(TEAM), "OK")
typ, data = bob.lsub('""', '"Other Users/*"')
assert not any(d for d in data if d), data
typ, data = alice.lsub('""', "Team")
# LSUB carries no child attributes: those are LIST's (RFC 3501 6.3.9).
assert data == [b'() "/" Team'], data
expect(bob.subscribe(TEAM), "OK")

# alice grants \Seen and \Deleted but not other flags nor expunge.
expect(alice.setacl("Team", "bob@example.com", "+st"), "OK")
assert expect(bob.myrights(TEAM), "OK")[0].decode().endswith(" lrst")
expect(bob.select(TEAM), "OK")
permanent = bob.untagged_responses.get("PERMANENTFLAGS", [b""])[-1].decode()
assert "\\Seen" in permanent and "\\Deleted" in permanent and "\\Flagged" not in permanent, permanent
assert "\\*" not in permanent, permanent
expect(bob.store("1", "+FLAGS", "(\\Seen)"), "OK")
expect(bob.store("1", "+FLAGS", "(\\Flagged)"), "NO", "NOPERM")
expect(bob.store("1", "FLAGS", "(\\Seen)"), "NO", "NOPERM")
data = expect(bob.store("2", "+FLAGS", "(\\Deleted \\Flagged)"), "OK")
assert b"\\Deleted" in data[0] and b"\\Flagged" not in data[0], data
expect(bob.expunge(), "NO", "NOPERM")
expect(bob._simple_command("MOVE", "1", "INBOX"), "NO", "NOPERM")
# Flags are the folder's: alice sees what bob set.
expect(alice.select("Team"), "OK")
typ, data = alice.fetch("1:2", "(FLAGS)")
assert b"\\Seen" in data[0] and b"\\Deleted" in data[1] and b"\\Flagged" not in data[1], data
expect(alice.store("2", "-FLAGS", "(\\Deleted)"), "OK")

# With i, bob can file mail into the shared folder; alice sees it at once
# while idling there.
expect(alice.setacl("Team", "bob@example.com", "+ie"), "OK")
alice.send(b"i1 IDLE\r\n")
assert alice.readline().startswith(b"+"), "no IDLE continuation"
appended = expect(bob.append(TEAM, "(\\Seen \\Flagged)", None, b"Subject: from bob\r\n\r\nhi\r\n"), "OK")
assert "APPENDUID" in appended[0].decode(), appended
line = alice.readline()
assert line == b"* 3 EXISTS\r\n", line
# RECENT follows EXISTS (RFC 3501 7.3.2). Bob's session has the folder
# selected too: the message is \Recent in whichever session sees it first.
line = alice.readline()
assert line in (b"* 0 RECENT\r\n", b"* 1 RECENT\r\n"), line
alice.send(b"DONE\r\n")
assert alice.readline().startswith(b"i1 OK"), "IDLE not ended"
typ, data = alice.fetch("3", "(FLAGS)")
assert b"\\Seen" in data[0] and b"\\Flagged" not in data[0], data
# And bob, idling on the shared folder, sees alice's change.
expect(bob.select(TEAM), "OK")
bob.send(b"i2 IDLE\r\n")
assert bob.readline().startswith(b"+"), "no IDLE continuation"
alice.append("Team", None, None, b"Subject: from alice\r\n\r\nnews\r\n")
line = bob.readline()
assert line == b"* 4 EXISTS\r\n", line
line = bob.readline()
assert line in (b"* 0 RECENT\r\n", b"* 1 RECENT\r\n"), line
bob.send(b"DONE\r\n")
assert bob.readline().startswith(b"i2 OK"), "IDLE not ended"
expect(bob.store("4", "+FLAGS", "(\\Deleted)"), "OK")
expect(bob.expunge(), "OK")

# Removing the entry takes everything away again.
expect(bob.select("INBOX"), "OK")
expect(alice.deleteacl("Team", "bob@example.com"), "OK")
assert not any(n.startswith("Other Users") for n in names(bob)), names(bob)
expect(bob.copy("1", TEAM), "NO", "NONEXISTENT")
expect(bob.select(TEAM), "NO", "NONEXISTENT")

# "anyone" shares with every account.
expect(alice.setacl("Private", "anyone", "lr"), "OK")
assert "Other Users/alice@example.com/Private" in names(carol)
assert "Other Users/alice@example.com/Private" in names(bob)
expect(carol.select(PRIVATE, readonly=True), "OK")
expect(carol.select(TEAM, readonly=True), "NO", "NONEXISTENT")
acl = expect(alice.getacl("Private"), "OK")[0].decode()
assert acl == "Private alice@example.com lrswipkxtea anyone lr", acl

for m in (alice, bob, carol):
    m.logout()
print("imap acl ok")
