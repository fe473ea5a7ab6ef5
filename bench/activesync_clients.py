#!/usr/bin/env python3
"""ActiveSync clients for bench/activesync-bench.sh.

usage:
  activesync_clients.py load HOST:PORT USER PASSWORD N [CONNS]
      IMAP APPEND N messages into INBOX over implicit TLS, CONNS connections.
  activesync_clients.py initial URL USER PASSWORD DEVICE_ID VERSION [WINDOW]
      One pyactivesync device: Provision (both phases), FolderSync, Sync key 0,
      then Sync with WindowSize WINDOW (512) until no MoreAvailable. Times it.
  activesync_clients.py provision URL USER PASSWORD N PREFIX VERSION OUT [PROCS]
      N devices PREFIX0..PREFIX{N-1}, each Provision, FolderSync, Sync key 0 and
      one Sync of the Inbox, over a process pool; writes [device, policy key,
      inbox id] per device to OUT (JSON).
  activesync_clients.py park URL USER PASSWORD DEVICES VERSION SERVER_PID SMTP RCPT [HEARTBEAT]
      Every device in DEVICES (from `provision`) sends Ping on its Inbox with
      HEARTBEAT (600) over its own raw HTTP/1.1 TLS connection (asyncio); the
      server's memory (the process tree of SERVER_PID) is read before and once
      all are parked (as many established connections to the server's port as
      devices); then one message is delivered to RCPT over SMTP and the time
      until every Ping has answered is measured.

URL is https://HOST:PORT/PATH (PATH: Microsoft-Server-ActiveSync, or SOGo's
SOGo/Microsoft-Server-ActiveSync). Certificates are not verified (the servers
use self-signed development certificates). Results are one JSON object on
stdout; progress goes to stderr.
"""

import asyncio
import base64
import json
import multiprocessing
import os
import resource
import smtplib
import ssl
import sys
import time
import warnings
from urllib.parse import quote, urlsplit

import pyactivesync._http as eas_http
from pyactivesync import Client
from pyactivesync._wbxml import WBXMLReader, WBXMLWriter, find, text_of, wtag

warnings.filterwarnings("ignore")  # urllib3: unverified HTTPS to the test servers


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# ---- loading the Inbox ---------------------------------------------------------
def message(i, rcpt):
    body = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 8 + "\r\n") * 4
    return (f"From: Sender {i} <sender{i}@load.example>\r\nTo: {rcpt}\r\n"
            f"Subject: Inbox message {i}\r\nDate: Mon, 7 Feb 2022 21:52:25 +0000\r\n"
            f"Message-ID: <{i}.inbox@load.example>\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{body}").encode()


def load_part(args):
    import imaplib
    hostport, user, password, start, count = args
    host, port = hostport.rsplit(":", 1)
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=tls_context())
    m.login(user, password)
    for i in range(start, start + count):
        typ, _ = m.append("INBOX", "(\\Seen)" if i % 3 else None, None, message(i, user))
        assert typ == "OK", typ
    m.logout()


def load(hostport, user, password, n, conns):
    per = (n + conns - 1) // conns
    jobs = [(hostport, user, password, s, min(per, n - s)) for s in range(0, n, per)]
    t = time.time()
    with multiprocessing.Pool(len(jobs)) as pool:
        pool.map(load_part, jobs)
    return {"messages": n, "connections": len(jobs), "seconds": time.time() - t}


# ---- pyactivesync devices ------------------------------------------------------
def client(url, user, password, device_id, version):
    eas_http._EAS_PROTOCOL_VERSION = version
    parts = urlsplit(url)
    c = Client(parts.netloc, user, password, device_id=device_id, verify_ssl=False,
               device_type="BenchPhone", timeout=300)
    c._transport.base_url = url
    c._transport.session.trust_env = False  # REQUESTS_CA_BUNDLE must not override verify=False
    return c


def inbox_of(c):
    return next(f.id for f in c.list_folders() if int(f.type) == 2)


def initial(url, user, password, device_id, version, window):
    c = client(url, user, password, device_id, version)
    out = {"version": version, "window": window}
    t0 = time.time()
    key = c.provision()  # two requests: the policy, then its acknowledgement
    t1 = time.time()
    inbox = inbox_of(c)
    t2 = time.time()
    sync_key = c.sync_folder(inbox, "0").sync_key
    t3 = time.time()
    rounds, items = 0, 0
    while True:
        r = c.sync_folder(inbox, sync_key, window_size=window)
        rounds += 1
        items += len(r.added)
        sync_key = r.sync_key
        if not r.more_available:
            break
    t4 = time.time()
    c.close()
    out.update(policy_key=key, items=items, sync_rounds=rounds, round_trips=2 + 1 + 1 + rounds,
               provision_s=t1 - t0, foldersync_s=t2 - t1, sync0_s=t3 - t2, sync_s=t4 - t3, total_s=t4 - t0)
    return out


def provision_chunk(args):
    url, user, password, ids, version = args
    done = []
    for device_id in ids:
        c = client(url, user, password, device_id, version)
        key = c.provision()
        inbox = inbox_of(c)
        sync_key = c.sync_folder(inbox, "0").sync_key
        c.sync_folder(inbox, sync_key, window_size=100)
        c.close()
        done.append([device_id, key, inbox])
    return done


def provision(url, user, password, n, prefix, version, out_path, procs):
    ids = [f"{prefix}{i:05d}" for i in range(n)]
    chunks = [ids[i::procs * 4] for i in range(procs * 4)]
    t = time.time()
    devices = []
    with multiprocessing.Pool(procs) as pool:
        for part in pool.imap_unordered(provision_chunk, [(url, user, password, ch, version) for ch in chunks if ch]):
            devices += part
            log(f"  provisioned {len(devices)}/{n}")
    seconds = time.time() - t
    with open(out_path, "w") as f:
        json.dump(devices, f)
    return {"devices": len(devices), "seconds": seconds, "requests": 5 * len(devices)}


# ---- parked Pings --------------------------------------------------------------
def memory(pid):
    """RSS and PSS (bytes) of PID and its descendants."""
    kids = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open(f"/proc/{e}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(e))
            except OSError:
                pass
    todo, pids = [pid], []
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += kids.get(p, [])
    rss = pss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                rss += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) * 1024
            with open(f"/proc/{p}/smaps_rollup") as f:
                pss += next(int(l.split()[1]) for l in f if l.startswith("Pss:")) * 1024
        except (OSError, StopIteration):
            pass
    return {"rss": rss, "pss": pss, "processes": len(pids)}


def established(port):
    """Established TCP connections whose local port is PORT (the server side)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "01" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                        n += 1
        except OSError:
            pass
    return n


def ping_body(folder, heartbeat):
    w = WBXMLWriter()
    w.tag("Ping", "Ping", children=[
        wtag("Ping", "HeartbeatInterval", text=str(heartbeat)),
        wtag("Ping", "Folders", children=[wtag("Ping", "Folder", children=[
            wtag("Ping", "Id", text=folder), wtag("Ping", "Class", text="Email")])]),
    ])
    return w.render()


async def park(url, user, password, devices, version, server_pid, smtp, rcpt, heartbeat):
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    ctx = tls_context()
    n = len(devices)
    connected = asyncio.Semaphore(64)  # TLS handshakes at once
    sent = 0
    answers = []  # (time, status, http code)
    first_byte = []

    async def one(device_id, key, inbox):
        nonlocal sent
        body = ping_body(inbox, heartbeat)
        path = (f"{parts.path}?Cmd=Ping&User={quote(user)}&DeviceId={quote(device_id)}&DeviceType=BenchPhone")
        head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Basic {auth}\r\n"
                f"MS-ASProtocolVersion: {version}\r\nX-MS-PolicyKey: {key}\r\n"
                f"Content-Type: application/vnd.ms-sync.wbxml\r\nUser-Agent: BenchPhone\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        async with connected:
            reader, writer = await asyncio.open_connection(host, port, ssl=ctx if parts.scheme == "https" else None)
            writer.write(head + body)
            await writer.drain()
        sent += 1
        status_line = await reader.readline()
        first_byte.append(time.time())
        headers = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        code = int(status_line.split()[1]) if status_line else 0
        status = None
        if raw:
            try:
                status = text_of(find(WBXMLReader(raw).parse(), "Ping.Status"))
            except Exception:  # noqa: BLE001 - reported as no status
                status = None
        answers.append((time.time(), status, code))
        writer.close()

    before = memory(server_pid)
    baseline = established(port)
    log(f"  before: {before['rss'] / 2**20:.1f} MiB RSS, {baseline} connections established to port {port}")
    t_open = time.time()
    tasks = [asyncio.create_task(one(*d)) for d in devices]
    # Parked: every request sent and as many established connections as devices.
    while True:
        await asyncio.sleep(0.2)
        failed = [t for t in tasks if t.done() and t.exception()]
        if failed:
            raise failed[0].exception()
        est = established(port) - baseline
        if sent == n and est >= n:
            break
        if answers:
            raise SystemExit(f"a Ping answered before the delivery: {answers[0]}")
    open_seconds = time.time() - t_open
    await asyncio.sleep(2.0)  # the last requests reach the handler and park
    if answers:
        raise SystemExit(f"{len(answers)} Pings answered before the delivery: {answers[:3]}")
    parked = memory(server_pid)
    est = established(port) - baseline
    log(f"  {n} Pings parked ({est} connections): {parked['rss'] / 2**20:.1f} MiB RSS")

    # One delivery: every Ping should answer 2 (changes in the Inbox).
    smtp_host, smtp_port = smtp.rsplit(":", 1)

    def deliver():
        s = smtplib.SMTP(smtp_host, int(smtp_port))
        t0 = time.time()
        s.sendmail("wake@remote.example", [rcpt],
                   f"From: wake@remote.example\r\nTo: {rcpt}\r\nSubject: Wake up\r\n"
                   f"Message-ID: <wake.{t0}@remote.example>\r\n\r\nOne new message.\r\n")
        t1 = time.time()
        s.quit()
        return t0, t1

    t_data, t_accepted = await asyncio.get_running_loop().run_in_executor(None, deliver)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=heartbeat + 60)
    times = sorted(a[0] for a in answers)
    statuses = {}
    for _, s, code in answers:
        statuses[f"{code}/{s}"] = statuses.get(f"{code}/{s}", 0) + 1
    return {
        "devices": n, "heartbeat": heartbeat, "version": version,
        "before": before, "parked": parked, "established": est, "open_seconds": open_seconds,
        "per_ping_rss": (parked["rss"] - before["rss"]) / n, "per_ping_pss": (parked["pss"] - before["pss"]) / n,
        "answers": statuses,
        "smtp_seconds": t_accepted - t_data,
        "first_after_accept": times[0] - t_accepted, "median_after_accept": times[len(times) // 2] - t_accepted,
        "last_after_accept": times[-1] - t_accepted, "last_after_smtp_start": times[-1] - t_data,
    }


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if cmd == "load":
        out = load(args[0], args[1], args[2], int(args[3]), int(args[4]) if len(args) > 4 else 8)
    elif cmd == "initial":
        out = initial(*args[:5], int(args[5]) if len(args) > 5 else 512)
    elif cmd == "provision":
        out = provision(args[0], args[1], args[2], int(args[3]), args[4], args[5], args[6],
                        int(args[7]) if len(args) > 7 else 16)
    elif cmd == "park":
        with open(args[3]) as f:
            devices = json.load(f)
        if hard < len(devices) + 100:
            sys.exit(f"open file limit {hard} is too low for {len(devices)} connections")
        out = asyncio.run(park(args[0], args[1], args[2], devices, args[4], int(args[5]), args[6], args[7],
                               int(args[8]) if len(args) > 8 else 600))
    else:
        sys.exit(f"unknown command {cmd}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
