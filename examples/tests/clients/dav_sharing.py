#!/usr/bin/env python3
"""Calendar sharing between two accounts: the owner grants rights with the
IMAP ACL commands (imaplib, RFC 4314), the other account sees and uses the
calendar through the PyPI library `caldav`.

Usage: dav_sharing.py DAV_BASE IMAP_HOST IMAP_PORT

Accounts: ann@example.com / ann-pw (owner), bob@example.com / bob-pw.
Raises on the first mismatch; prints what it saw as JSON.
"""

import base64
import imaplib
import json
import sys
import urllib.error
import urllib.request

import caldav
from caldav.lib import error

base, imap_host, imap_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
origin = base.split("/dav/")[0]
out = {}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def imap_acl(command, *args):
    m = imaplib.IMAP4(imap_host, imap_port)
    m.login("ann@example.com", "ann-pw")
    typ, data = getattr(m, command)(*args)
    m.logout()
    check(typ == "OK", f"IMAP {command} {args}: {typ} {data}")
    return data


def http(user, method, url, body=None, headers=None):
    req = urllib.request.Request(url if url.startswith("http") else origin + url, data=body, method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode(user.encode()).decode())
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def event(uid, summary):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//axigen tests//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260401T100000Z\r\nDURATION:PT1H\r\n"
            f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


ann = caldav.DAVClient(url=base, username="ann@example.com", password="ann-pw").principal()
ann_cal = [c for c in ann.calendars() if c.get_display_name() == "Calendar"][0]
ann_cal.save_event(event("ann-1", "Ann's meeting"))

bob_client = caldav.DAVClient(url=base, username="bob@example.com", password="bob-pw")
bob = bob_client.principal()
check(not any("ann@example.com" in c.get_display_name() for c in bob.calendars()), "shared before any grant")
status, _ = http("bob@example.com:bob-pw", "PROPFIND", str(ann_cal.url), b"", {"Depth": "0"})
check(status == 404, f"ann's calendar before a grant: {status}")

# Read-only: lr.
imap_acl("setacl", "Calendar", "bob@example.com", "lr")
out["acl_after_grant"] = [x.decode() if isinstance(x, bytes) else x for x in imap_acl("getacl", "Calendar")]
shared = [c for c in bob.calendars() if c.get_display_name() == "Calendar (ann@example.com)"]
check(len(shared) == 1, f"shared calendar in bob's home: {[c.get_display_name() for c in bob.calendars()]}")
shared = shared[0]
out["shared_url"] = str(shared.url)
events = [e.icalendar_component["summary"] for e in shared.events()]
check(events == ["Ann's meeting"], f"bob reads ann's events: {events}")
status, body = http("bob@example.com:bob-pw", "PROPFIND", str(shared.url),
                    b'<D:propfind xmlns:D="DAV:"><D:prop><D:current-user-privilege-set/></D:prop></D:propfind>',
                    {"Depth": "0", "Content-Type": "application/xml"})
check(status == 207 and "<D:read/>" in body and "write-content" not in body, f"privileges, read-only: {body}")
try:
    shared.save_event(event("bob-1", "Bob's addition"))
    raise AssertionError("bob wrote into a read-only calendar")
except error.DAVError:
    pass
status, body = http("bob@example.com:bob-pw", "PUT", str(shared.url) + "bob-1.ics", event("bob-1", "x").encode(),
                    {"Content-Type": "text/calendar"})
check(status == 403 and "need-privileges" in body, f"write without the right: {status} {body}")
status, body = http("bob@example.com:bob-pw", "DELETE", str(shared.url) + "ann-1.ics")
check(status == 403 and "need-privileges" in body, f"delete without the right: {status} {body}")

# Read-write: lrit lets bob add and remove.
imap_acl("setacl", "Calendar", "bob@example.com", "lrit")
shared.save_event(event("bob-1", "Bob's addition"))
summaries = sorted(e.icalendar_component["summary"] for e in ann_cal.events())
check(summaries == ["Ann's meeting", "Bob's addition"], f"ann sees bob's event: {summaries}")
status, _ = http("bob@example.com:bob-pw", "DELETE", str(shared.url) + "bob-1.ics")
check(status == 204, f"bob deletes with t: {status}")

# Revoked: gone from bob's home and unreadable.
imap_acl("deleteacl", "Calendar", "bob@example.com")
check(not any("ann@example.com" in c.get_display_name() for c in bob.calendars()), "still shared after DELETEACL")
status, _ = http("bob@example.com:bob-pw", "PROPFIND", out["shared_url"], b"", {"Depth": "0"})
check(status == 404, f"after revocation: {status}")
# Another of ann's folders was never shared.
status, _ = http("bob@example.com:bob-pw", "PROPFIND", "/dav/calendars/ann@example.com/Tasks/", b"", {"Depth": "1"})
check(status == 404, f"ann's tasks: {status}")
out["ok"] = True
print(json.dumps(out))
