#!/usr/bin/env python3
"""CalDAV load for bench/dav-bench.sh: the same client code for every server.

Usage: dav_clients.py HOST PORT USER PASSWORD COLLECTION_PATH EVENTS

One HTTP/1.1 connection (keep-alive) per client, responses read whole and
not parsed beyond what the next step needs, so the figures are the
server's time plus one loopback round trip. Prints one JSON object:
  put_total_s      PUT of EVENTS events (a tenth weekly series), one at a time
  put_parallel_s   PUT of EVENTS/10 more events from 8 connections at once
  query_month_ms   calendar-query, one month, calendar-data + getetag (median of 5)
  query_matches    objects that query returned
  sync_change_ms   sync-collection after one change (median of 5)
  propfind_ms      PROPFIND Depth 1 of the collection: getetag, getcontenttype (median of 5)
  propfind_members members it listed
"""

import base64
import http.client
import json
import re
import statistics
import sys
import threading
import time

host, port, user, password, coll, events = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def connect():
    return http.client.HTTPConnection(host, port, timeout=300)


def request(conn, method, path, body=b"", headers=None):
    h = {"Authorization": auth}
    h.update(headers or {})
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    return r.status, data, r


def event(i, uid_prefix="ev"):
    # Events over 2026 and 2027, one a tenth of them a weekly series of a year.
    day = i % 730
    month, mday = 1 + (day // 31) % 12, 1 + day % 28
    year = 2026 + day // 372
    start = f"{year}{month:02d}{mday:02d}T{8 + i % 9:02d}0000Z"
    rule = "RRULE:FREQ=WEEKLY;COUNT=52\r\n" if i % 10 == 0 else ""
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//axigen bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid_prefix}-{i}@bench.example\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\n"
            f"DURATION:PT1H\r\n{rule}SUMMARY:Event {i}\r\nLOCATION:Room {i % 40}\r\n"
            f"DESCRIPTION:Benchmark event number {i} with a little text to make it realistic.\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def put(conn, i, prefix="ev"):
    status, data, _ = request(conn, "PUT", f"{coll}{prefix}-{i}.ics", event(i, prefix),
                              {"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"})
    if status not in (200, 201, 204):
        raise SystemExit(f"PUT {i}: {status} {data[:200]!r}")


out = {}
conn = connect()
t = time.perf_counter()
for i in range(events):
    put(conn, i)
out["put_total_s"] = round(time.perf_counter() - t, 3)

# Parallel writers: 8 connections, EVENTS/10 more events.
def writer(k, n):
    c = connect()
    for i in range(k, n, 8):
        put(c, i, "par")

t = time.perf_counter()
threads = [threading.Thread(target=writer, args=(k, events // 10)) for k in range(8)]
for th in threads:
    th.start()
for th in threads:
    th.join()
out["put_parallel_s"] = round(time.perf_counter() - t, 3)

query = (b'<?xml version="1.0" encoding="utf-8"?>\n<C:calendar-query xmlns:D="DAV:" '
         b'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>'
         b'<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
         b'<C:time-range start="20260301T000000Z" end="20260401T000000Z"/></C:comp-filter></C:comp-filter>'
         b'</C:filter></C:calendar-query>')
times = []
for _ in range(5):
    t = time.perf_counter()
    status, data, _ = request(conn, "REPORT", coll, query, {"Depth": "1", "Content-Type": "application/xml"})
    times.append(time.perf_counter() - t)
    if status != 207:
        raise SystemExit(f"calendar-query: {status} {data[:300]!r}")
out["query_month_ms"] = round(statistics.median(times) * 1000, 2)
out["query_matches"] = data.count(b"<D:response>") + data.count(b"<response>") + data.count(b"<d:response>")

def token_of(data):
    m = re.search(rb"<[A-Za-z]*:?sync-token>([^<]+)</", data)
    return m.group(1).decode() if m else ""

sync_body = lambda tok: (f'<?xml version="1.0" encoding="utf-8"?>\n<D:sync-collection xmlns:D="DAV:">'
                         f'<D:sync-token>{tok}</D:sync-token><D:sync-level>1</D:sync-level>'
                         f'<D:prop><D:getetag/></D:prop></D:sync-collection>').encode()
status, data, _ = request(conn, "REPORT", coll, sync_body(""), {"Depth": "0", "Content-Type": "application/xml"})
if status != 207:
    raise SystemExit(f"initial sync: {status} {data[:300]!r}")
token = token_of(data)
times = []
for round_ in range(5):
    status, data, _ = request(conn, "PUT", f"{coll}ev-{round_ + 1}.ics", event(round_ + 1).replace(b"Event", b"Changed"),
                              {"Content-Type": "text/calendar; charset=utf-8"})
    if status not in (200, 201, 204):
        raise SystemExit(f"change: {status}")
    t = time.perf_counter()
    status, data, _ = request(conn, "REPORT", coll, sync_body(token), {"Depth": "0", "Content-Type": "application/xml"})
    times.append(time.perf_counter() - t)
    if status != 207:
        raise SystemExit(f"sync: {status} {data[:300]!r}")
    token = token_of(data)
out["sync_change_ms"] = round(statistics.median(times) * 1000, 2)

propfind = (b'<?xml version="1.0" encoding="utf-8"?>\n<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
            b'<D:getcontenttype/><D:resourcetype/></D:prop></D:propfind>')
times = []
for _ in range(5):
    t = time.perf_counter()
    status, data, _ = request(conn, "PROPFIND", coll, propfind, {"Depth": "1", "Content-Type": "application/xml"})
    times.append(time.perf_counter() - t)
    if status != 207:
        raise SystemExit(f"propfind: {status}")
out["propfind_ms"] = round(statistics.median(times) * 1000, 2)
out["propfind_members"] = len(re.findall(rb"<[A-Za-z]*:?response>", data)) - 1
print(json.dumps(out))
