#!/usr/bin/env python3
"""CalDAV through the PyPI library `caldav`, as a desktop client uses it.

Usage: caldav_client.py BASE_URL USER PASSWORD

Discovery (from /dav/ and from /.well-known/caldav), a new calendar, a
weekly series with a moved occurrence and a cancelled one, a time-range
search expanded by the client and by the server, tasks with the queries
`todos()` sends, sync tokens across a change and a removal, conditional
writes, UID uniqueness and malformed requests. Every check raises on a
mismatch; the figures go to standard output as JSON.
"""

import base64
import datetime as dt
import json
import sys
import urllib.error
import urllib.request

import caldav
from caldav.lib import error

base, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
origin = base.split("/dav/")[0]
out = {}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def raw(method, path, body=b"", headers=None):
    """One request with urllib: (status, body text)."""
    req = urllib.request.Request(origin + path, data=body or None, method=method)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req.add_header("Authorization", "Basic " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def vevent(uid, start, summary, extra=""):
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//axigen tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{start}\r\nDURATION:PT1H\r\nSUMMARY:{summary}\r\n{extra}END:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )


client = caldav.DAVClient(url=base, username=user, password=password)
principal = client.principal()
names = sorted(c.get_display_name() for c in principal.calendars())
out["default_calendars"] = names
check({"Calendar", "Tasks", "Notes"} <= set(names), f"default calendars: {names}")

# The well-known entry point leads to the same principal (308 keeps PROPFIND).
wk = caldav.DAVClient(url=origin + "/.well-known/caldav", username=user, password=password)
check(str(wk.principal().url) == str(principal.url), "well-known discovery")

# A new calendar: MKCALENDAR, then its display name.
work = principal.make_calendar(name="Work Week")
check(work.get_display_name() == "Work Week", "display name of the new calendar")
check("Work Week" in [c.get_display_name() for c in principal.calendars()], "new calendar listed")

# A weekly series of 6 on Mondays 09:00 UTC from 5 Jan 2026: the 3rd moved to
# Wednesday, the 4th cancelled (EXDATE); and one single event.
series = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//axigen tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\n"
    "DURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE:20260126T090000Z\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260119T090000Z\r\n"
    "DTSTART:20260121T090000Z\r\nDURATION:PT1H\r\nSUMMARY:Standup (moved)\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)
work.save_event(series)
work.save_event(vevent("single-1", "20260115T140000Z", "Review"))
work.save_event(vevent("far-1", "20270101T100000Z", "Next year"))

# January 12 to 31: occurrences on the 12th and the moved one on the 21st
# (the 19th moved away, the 26th cancelled), and the single event.
start, end = dt.datetime(2026, 1, 12, tzinfo=dt.timezone.utc), dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc)
found = work.search(start=start, end=end, event=True, expand=False)
out["search_objects"] = sorted(o.icalendar_component["uid"] for o in found)
check(out["search_objects"] == ["single-1", "weekly-1"], f"time-range search: {out['search_objects']}")
expanded = work.search(start=start, end=end, event=True, expand=True)
client_side = sorted(str(o.icalendar_component["dtstart"].dt) for o in expanded)
out["client_expanded"] = client_side
check(len(client_side) == 3, f"client-side expansion: {client_side}")
server = work.search(start=start, end=end, event=True, expand=True, server_expand=True)
server_side = sorted(str(o.icalendar_component["dtstart"].dt) for o in server)
out["server_expanded"] = server_side
check(server_side == client_side, f"server expansion {server_side} != client expansion {client_side}")
# limit-recurrence-set (RFC 4791 9.6.6): the series, with only the
# overridden instances in the range.
def limited(start, end):
    body = ('<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data>'
            f'<C:limit-recurrence-set start="{start}" end="{end}"/></C:calendar-data></D:prop><C:filter>'
            '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:prop-filter name="UID">'
            '<C:text-match collation="i;octet">weekly-1</C:text-match></C:prop-filter></C:comp-filter>'
            '</C:comp-filter></C:filter></C:calendar-query>').encode()
    status, text = raw("REPORT", str(work.url).split(origin, 1)[1], body, {"Depth": "1"})
    check(status == 207, f"limit-recurrence-set: {status} {text}")
    return text
early, late = limited("20260101T000000Z", "20260110T000000Z"), limited("20260120T000000Z", "20260122T000000Z")
check("RRULE" in early and "moved" not in early, f"overrides outside the range: {early}")
check("RRULE" in late and "moved" in late, f"the override in the range: {late}")

# A range with nothing in it.
empty = work.search(start=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
                    end=dt.datetime(2025, 2, 1, tzinfo=dt.timezone.utc), event=True)
check(len(empty) == 0, "empty range")

# Tasks: pending ones only, as todos() asks (is-not-defined, negate-condition).
tasks = [c for c in principal.calendars() if c.get_display_name() == "Tasks"][0]
todo = tasks.save_todo(
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//axigen tests//EN\r\nBEGIN:VTODO\r\nUID:todo-1\r\n"
    "DTSTAMP:20260101T000000Z\r\nSUMMARY:Write report\r\nSTATUS:NEEDS-ACTION\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
tasks.save_todo(
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//axigen tests//EN\r\nBEGIN:VTODO\r\nUID:todo-2\r\n"
    "DTSTAMP:20260101T000000Z\r\nSUMMARY:Done already\r\nSTATUS:COMPLETED\r\nCOMPLETED:20260102T000000Z\r\n"
    "END:VTODO\r\nEND:VCALENDAR\r\n")
pending = sorted(t.icalendar_component["uid"] for t in tasks.todos())
out["pending_todos"] = pending
check(pending == ["todo-1"], f"pending todos: {pending}")
check(len(tasks.todos(include_completed=True)) == 2, "all todos")
# An event does not go into a task list.
try:
    tasks.save_event(vevent("misplaced", "20260301T100000Z", "x"))
    raise AssertionError("an event was stored in a task list")
except error.DAVError:
    pass

# Sync tokens: an initial sync, then one change and one removal.
objects = work.objects_by_sync_token()
token = objects.sync_token
check(len(list(objects)) == 3, "initial sync lists every object")
single = work.event_by_uid("single-1")
single.icalendar_component["summary"] = "Review (moved room)"
single.save()
work.event_by_uid("far-1").delete()
later = work.objects_by_sync_token(sync_token=token, load_objects=True)
changed = sorted(str(o.url).rsplit("/", 1)[1] for o in later)
out["sync_changed_and_removed"] = changed
check(len(changed) == 2, f"sync after a change and a removal: {changed}")
check(later.sync_token != token, "the token moved")
again = work.objects_by_sync_token(sync_token=later.sync_token)
check(len(list(again)) == 0, "nothing new since the last token")

# Conditional writes and UID uniqueness (raw HTTP, as the RFCs word them).
path = str(work.url).split(origin, 1)[1]
status, _ = raw("PUT", path + "single-1.ics", vevent("single-1", "20260115T140000Z", "x").encode(),
                {"If-None-Match": "*", "Content-Type": "text/calendar"})
check(status == 412, f"If-None-Match * on an existing item: {status}")
status, _ = raw("PUT", path + "nothere.ics", vevent("nothere", "20260115T140000Z", "x").encode(),
                {"If-Match": "*", "Content-Type": "text/calendar"})
check(status == 412, f"If-Match * on a missing item: {status}")
status, body = raw("PUT", path + "copy.ics", vevent("single-1", "20260115T140000Z", "x").encode(),
                   {"Content-Type": "text/calendar"})
check(status == 403 and "no-uid-conflict" in body, f"UID conflict: {status} {body}")

# Malformed input: each gets its error, and the server keeps serving.
status, body = raw("PUT", path + "bad.ics", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n",
                   {"Content-Type": "text/calendar"})
check(status == 403 and "valid-calendar-data" in body, f"truncated iCalendar: {status} {body}")
bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&b;</D:displayname></D:prop></D:propfind>')
status, _ = raw("PROPFIND", path, bomb, {"Depth": "0", "Content-Type": "application/xml"})
check(status == 400, f"entity declarations: {status}")
status, _ = raw("PROPFIND", path, b"<D:propfind xmlns:D='DAV:'><D:prop>", {"Depth": "0"})
check(status == 400, f"truncated XML: {status}")
status, body = raw("PROPFIND", path, b"", {"Depth": "infinity"})
check(status == 403 and "propfind-finite-depth" in body, f"Depth infinity: {status}")
status, body = raw("REPORT", path,
                   b"<D:sync-collection xmlns:D='DAV:'><D:sync-token>http://example.invalid/x</D:sync-token>"
                   b"<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>",
                   {"Depth": "0"})
check(status == 403 and "valid-sync-token" in body, f"unknown sync token: {status} {body}")
big = vevent("big", "20260115T140000Z", "x", "DESCRIPTION:" + "y" * (2 * 1024 * 1024) + "\r\n").encode()
status, body = raw("PUT", path + "big.ics", big, {"Content-Type": "text/calendar"})
check(status == 403 and "max-resource-size" in body, f"an object over 2 MiB: {status}")
status, body = raw("PUT", "/dav/addressbooks/" + user + "/Contacts/bad.vcf", b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\n",
                   {"Content-Type": "text/vcard"})
check(status == 403 and "valid-address-data" in body, f"truncated vCard: {status} {body}")
status, body = raw("PUT", "/dav/addressbooks/" + user + "/Contacts/ev.vcf", vevent("e", "20260101T000000Z", "x").encode(),
                   {"Content-Type": "text/vcard"})
check(status == 403 and "valid-address-data" in body, f"an event in an address book: {status} {body}")
status, _ = raw("PROPFIND", "/dav/calendars/nobody@example.com/", b"", {"Depth": "0"})
check(status == 404, f"a home of nobody: {status}")

# Removing the calendar frees its name.
work.delete()
check("Work Week" not in [c.get_display_name() for c in principal.calendars()], "calendar deleted")
out["ok"] = True
print(json.dumps(out))
