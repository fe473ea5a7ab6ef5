#!/usr/bin/env python3
"""Invitations by mail (iMIP) between two local accounts and a remote one.

Usage: imip_session.py DAV_BASE IMAP_HOST IMAP_PORT SUBMISSION_PORT MX_PORT

ann@example.com (ann-pw) organizes an event over CalDAV (python caldav)
with bob@example.com (bob-pw) and carol@remote.example as attendees; bob's
calendar gets the invitation (NEEDS-ACTION) and his INBOX the mail; bob
answers with a REPLY sent by SMTP submission (smtplib) and ann's copy takes
his PARTSTAT; a CANCEL forged by someone else is ignored; ann moves the
event (bob's copy follows) and deletes it (bob's copy is cancelled).
Raises on the first mismatch; prints what it saw as JSON.
"""

import base64
import imaplib
import json
import smtplib
import sys
import time
import urllib.request
from email.message import EmailMessage

import caldav

base, imap_host, imap_port, sub_port, mx_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
out = {}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def calendar(user, password):
    principal = caldav.DAVClient(url=base, username=user, password=password).principal()
    return [c for c in principal.calendars() if c.get_display_name() == "Calendar"][0]


def event(start, summary, sequence):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//axigen tests//EN\r\nBEGIN:VEVENT\r\nUID:imip-1@example.com\r\n"
            f"DTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDURATION:PT1H\r\nSUMMARY:{summary}\r\nSEQUENCE:{sequence}\r\n"
            "ORGANIZER;CN=Ann:mailto:ann@example.com\r\n"
            "ATTENDEE;CN=Ann;PARTSTAT=ACCEPTED:mailto:ann@example.com\r\n"
            "ATTENDEE;CN=Bob;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.com\r\n"
            "ATTENDEE;CN=Carol;RSVP=TRUE:mailto:carol@remote.example\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def partstat(cal, who):
    ev = cal.event_by_uid("imip-1@example.com")
    ev.load()
    for a in ev.icalendar_component.get("attendee", []):
        if str(a).lower() == f"mailto:{who}":
            return str(a.params.get("PARTSTAT", ""))
    return None


def wait_for(what, probe, seconds=10):
    deadline = time.time() + seconds
    while True:
        try:
            value = probe()
            if value:
                return value
        except Exception:
            if time.time() > deadline:
                raise
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def itip_mail(sender, to, method, body, subject):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content(f"{method} for imip-1")
    msg.add_alternative(body, subtype="calendar", params={"method": method})
    return msg


ann_cal = calendar("ann@example.com", "ann-pw")
bob_cal = calendar("bob@example.com", "bob-pw")
ann_cal.save_event(event("20260610T100000Z", "Design review", 0))

# Bob's calendar has the invitation, waiting for his answer; his INBOX the mail.
wait_for("bob's copy", lambda: partstat(bob_cal, "bob@example.com") == "NEEDS-ACTION")
bob_event = bob_cal.event_by_uid("imip-1@example.com")
bob_event.load()
check("METHOD" not in bob_event.data, "a stored invitation has no METHOD")
m = imaplib.IMAP4(imap_host, imap_port)
m.login("bob@example.com", "bob-pw")
m.select("INBOX")
typ, data = m.search(None, "SUBJECT", '"Invitation: Design review"')
check(typ == "OK" and data[0].split(), f"invitation mail in bob's INBOX: {data}")
m.logout()
out["bob_invited"] = True

# Bob accepts: a REPLY by mail through submission.
reply = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bob//EN\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\n"
         "UID:imip-1@example.com\r\nDTSTAMP:20260102T000000Z\r\nDTSTART:20260610T100000Z\r\nSEQUENCE:0\r\n"
         "ORGANIZER:mailto:ann@example.com\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.com\r\n"
         "END:VEVENT\r\nEND:VCALENDAR\r\n")
s = smtplib.SMTP(imap_host, sub_port)
s.login("bob@example.com", "bob-pw")
s.send_message(itip_mail("bob@example.com", "ann@example.com", "REPLY", reply, "Accepted: Design review"))
s.quit()
wait_for("ann's copy to take bob's answer", lambda: partstat(ann_cal, "bob@example.com") == "ACCEPTED")
out["reply_recorded"] = True

# Bob changes his answer in his own calendar (CalDAV): the server replies
# for him, and ann's copy follows.
bob_event = bob_cal.event_by_uid("imip-1@example.com")
bob_event.load()
mine = [a for a in bob_event.icalendar_component.get("attendee", []) if str(a).lower() == "mailto:bob@example.com"]
check(len(mine) == 1, f"bob in his copy: {bob_event.data}")
mine[0].params["PARTSTAT"] = "TENTATIVE"
bob_event.save()
wait_for("ann's copy to take bob's CalDAV answer", lambda: partstat(ann_cal, "bob@example.com") == "TENTATIVE")
out["caldav_answer_replied"] = True

# A CANCEL that does not come from the organizer changes nothing.
forged = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nMETHOD:CANCEL\r\nBEGIN:VEVENT\r\n"
          "UID:imip-1@example.com\r\nDTSTAMP:20260103T000000Z\r\nSEQUENCE:5\r\nORGANIZER:mailto:ann@example.com\r\n"
          "ATTENDEE:mailto:bob@example.com\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
s = smtplib.SMTP(imap_host, mx_port)
s.send_message(itip_mail("mallory@remote.example", "bob@example.com", "CANCEL", forged, "Cancelled"),
               from_addr="mallory@remote.example", to_addrs=["bob@example.com"])
s.quit()
time.sleep(0.5)
bob_event = bob_cal.event_by_uid("imip-1@example.com")
bob_event.load()
check("CANCELLED" not in bob_event.data, "a forged CANCEL was applied")

# Ann moves the event: bob's copy follows.
ann_event = ann_cal.event_by_uid("imip-1@example.com")
ann_event.load()
moved = ann_event.data.replace("DTSTART:20260610T100000Z", "DTSTART:20260611T140000Z").replace("SEQUENCE:0", "SEQUENCE:1")
ann_cal.save_event(moved)
def bob_copy_has(text):
    e = bob_cal.event_by_uid("imip-1@example.com")
    e.load()
    return text in e.data


wait_for("bob's copy to move", lambda: bob_copy_has("20260611T140000Z"))
out["update_followed"] = True

# Bob may see when ann is busy (not what she does), from all her calendars.
fb_query = (b'<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20260601T000000Z" '
            b'end="20260701T000000Z"/></C:free-busy-query>')
req = urllib.request.Request(base + "calendars/ann@example.com/", data=fb_query, method="REPORT")
req.add_header("Authorization", "Basic " + base64.b64encode(b"bob@example.com:bob-pw").decode())
req.add_header("Depth", "1")
with urllib.request.urlopen(req) as r:
    freebusy = r.read().decode()
check("FREEBUSY" in freebusy and "20260611T140000Z/20260611T150000Z" in freebusy, f"ann's free/busy: {freebusy}")
check("Design review" not in freebusy, "free/busy shows no details")
out["free_busy"] = True

# Ann deletes it: bob's copy is cancelled.
ann_cal.event_by_uid("imip-1@example.com").delete()
wait_for("bob's copy to be cancelled", lambda: bob_copy_has("STATUS:CANCELLED"))
out["cancel_applied"] = True
out["ok"] = True
print(json.dumps(out))
