#!/usr/bin/env python3
"""Two-way sync with vdirsyncer (the Debian package) between the server's
default calendar and address book and two local directories.

Usage: vdirsyncer_sync.py BASE_URL USER PASSWORD WORKDIR

Items are added, changed and deleted on both sides between syncs; after
each sync both sides must hold exactly the same set of objects (by UID and
content), nothing lost and nothing twice. Raises on the first mismatch;
prints what it saw as JSON.
"""

import base64
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

base, user, password, work = sys.argv[1:5]
origin = base.split("/dav/")[0]
cal_url = f"{base}calendars/{user}/Calendar/"
card_url = f"{base}addressbooks/{user}/Contacts/"
cal_dir, card_dir = os.path.join(work, "cal"), os.path.join(work, "card")
for d in (cal_dir, card_dir, os.path.join(work, "status")):
    os.makedirs(d, exist_ok=True)
config = os.path.join(work, "config")
with open(config, "w") as f:
    f.write(f"""[general]
status_path = "{work}/status/"

[pair cal]
a = "cal_local"
b = "cal_remote"
collections = null

[storage cal_local]
type = "filesystem"
path = "{cal_dir}/"
fileext = ".ics"

[storage cal_remote]
type = "caldav"
url = "{cal_url}"
username = "{user}"
password = "{password}"

[pair card]
a = "card_local"
b = "card_remote"
collections = null

[storage card_local]
type = "filesystem"
path = "{card_dir}/"
fileext = ".vcf"

[storage card_remote]
type = "carddav"
url = "{card_url}"
username = "{user}"
password = "{password}"
""")
out = {"syncs": 0}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def vds(*args):
    r = subprocess.run(["vdirsyncer", "-c", config, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    check(r.returncode == 0, f"vdirsyncer {' '.join(args)} failed: {r.stdout}{r.stderr}")


def sync():
    vds("sync")
    out["syncs"] += 1


def event(uid, summary):
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//axigen tests//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            f"DTSTAMP:20260101T000000Z\r\nDTSTART:20260310T100000Z\r\nDURATION:PT30M\r\nSUMMARY:{summary}\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def card(uid, name):
    return f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n"


def server_items(url):
    """UID -> text of every item of a collection (PROPFIND, then GET)."""
    status, body, _ = http("PROPFIND", url, b'<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>',
                           {"Depth": "1", "Content-Type": "application/xml"})
    check(status == 207, f"PROPFIND {url}: {status}")
    items = {}
    for href in re.findall(r"<D:href>([^<]+)</D:href>", body):
        if href.endswith("/"):
            continue
        status, text, _ = http("GET", origin + href)
        check(status == 200, f"GET {href}: {status}")
        uid = re.search(r"^UID:(.*?)\r?$", text, re.M).group(1)
        check(uid not in items, f"UID {uid} twice on the server")
        items[uid] = text
    return items


def local_items(path):
    items = {}
    for name in os.listdir(path):
        with open(os.path.join(path, name), newline="") as f:
            text = f.read()
        uid = re.search(r"^UID:(.*?)\r?$", text, re.M).group(1)
        check(uid not in items, f"UID {uid} twice locally")
        items[uid] = text
    return items


def summary(text):
    m = re.search(r"^(SUMMARY|FN):(.*?)\r?$", text, re.M)
    return m.group(2) if m else None


def same(url, path, expected):
    remote, local = server_items(url), local_items(path)
    got_remote = {u: summary(t) for u, t in remote.items()}
    got_local = {u: summary(t) for u, t in local.items()}
    check(got_remote == expected, f"server holds {got_remote}, expected {expected}")
    check(got_local == expected, f"local holds {got_local}, expected {expected}")


def put(url, name, text, ctype):
    status, body, _ = http("PUT", url + name, text.encode(), {"Content-Type": ctype, "If-None-Match": "*"})
    check(status == 201, f"PUT {name}: {status} {body}")


def write_local(path, name, text):
    with open(os.path.join(path, name), "w", newline="") as f:
        f.write(text)


vds("discover")
# Round 1: items on both sides before the first sync.
put(cal_url, "s1.ics", event("s1", "Server one"), "text/calendar")
put(cal_url, "s2.ics", event("s2", "Server two"), "text/calendar")
put(card_url, "c1.vcf", card("c1", "Carol Server"), "text/vcard")
write_local(cal_dir, "l1.ics", event("l1", "Local one"))
write_local(card_dir, "d1.vcf", card("d1", "Dave Local"))
sync()
same(cal_url, cal_dir, {"s1": "Server one", "s2": "Server two", "l1": "Local one"})
same(card_url, card_dir, {"c1": "Carol Server", "d1": "Dave Local"})

# Round 2: change and delete on both sides.
status, _, headers = http("GET", cal_url + "s1.ics")
etag = headers.get("ETag")
status, body, _ = http("PUT", cal_url + "s1.ics", event("s1", "Server one changed").encode(),
                       {"Content-Type": "text/calendar", "If-Match": etag})
check(status == 204, f"server change: {status} {body}")
status, _, _ = http("DELETE", cal_url + "s2.ics")
check(status == 204, f"server delete: {status}")
local_l1 = [n for n in os.listdir(cal_dir) if "l1" in open(os.path.join(cal_dir, n)).read()][0]
write_local(cal_dir, local_l1, event("l1", "Local one changed"))
local_c1 = [n for n in os.listdir(card_dir) if "c1" in open(os.path.join(card_dir, n)).read()][0]
os.remove(os.path.join(card_dir, local_c1))
write_local(card_dir, "d2.vcf", card("d2", "Dora Local"))
sync()
same(cal_url, cal_dir, {"s1": "Server one changed", "l1": "Local one changed"})
same(card_url, card_dir, {"d1": "Dave Local", "d2": "Dora Local"})

# Round 3: a sync with nothing to do changes nothing.
sync()
same(cal_url, cal_dir, {"s1": "Server one changed", "l1": "Local one changed"})
same(card_url, card_dir, {"d1": "Dave Local", "d2": "Dora Local"})
out["ok"] = True
print(json.dumps(out))
