#!/usr/bin/env python3
"""ActiveSync clients for bench/activesync-bench.sh.

usage:
  activesync_clients.py load HOST:PORT USER PASSWORD N [CONNS] [PRIME_PORT]
      IMAP APPEND N messages into INBOX over implicit TLS, CONNS connections.
      With PRIME_PORT (plain IMAP, Dovecot), one more connection then does
      ENABLE CONDSTORE and SELECT INBOX: Dovecot only reports HIGHESTMODSEQ
      on a mailbox (which SOGo's EAS Sync needs) once some client has enabled
      CONDSTORE on it; without it SOGo's Sync returns no items at all.
  activesync_clients.py initial URL USER PASSWORD DEVICE_ID VERSION [WINDOW]
      One pyactivesync device: Provision (both phases), FolderSync, Sync key 0,
      then Sync with WindowSize WINDOW (512) until no MoreAvailable. Times it.
  activesync_clients.py provision URL USER PASSWORD N PREFIX VERSION OUT [PROCS]
      N devices PREFIX0..PREFIX{N-1}, each Provision, FolderSync, Sync key 0 and
      one Sync of the Inbox, over a process pool; writes [device, policy key,
      inbox id] per device to OUT (JSON).
  activesync_clients.py memory PIDS
      RSS and PSS of the process trees rooted at PIDS (comma separated).
  activesync_clients.py park URL USER PASSWORD DEVICES VERSION PIDS DELIVERY RCPT [HEARTBEAT] [SETTLE] [MIN_FREE_MIB]
      Every device in DEVICES (from `provision`) sends Ping on its Inbox with
      HEARTBEAT (600) over its own raw HTTP/1.1 connection (TLS for https
      URLs; asyncio); the memory of the process trees rooted at PIDS (comma
      separated: the server, or every daemon of a stack) is read before and
      once all are parked: every request sent and every connection accepted
      by a process of those trees, then SETTLE seconds (2). If the machine's
      MemAvailable falls under MIN_FREE_MIB (2048) while Pings are being
      opened, no further Pings are opened and the figures are for the ones
      parked (reported). Then one message is delivered to RCPT -- DELIVERY is
      smtp://HOST:PORT or imap://USER:PASSWORD@HOST:PORT (IMAP APPEND to the
      Inbox) -- and the time until every Ping has answered is measured.

Provision: a server may answer the first Provision with no PolicyKey (SOGo
5.8 answers every Provision with Policy Status 2, "no policy for this
client", and never asks for X-MS-PolicyKey); the device then goes on without
a key after that one request, which is recorded (`policy`).

URL is https://HOST:PORT/PATH or http://... (PATH: Microsoft-Server-ActiveSync,
or SOGo's SOGo/Microsoft-Server-ActiveSync). Certificates are not verified
(the servers use self-signed development certificates). Results are one JSON
object on stdout; progress goes to stderr.
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
from pyactivesync import Client, ProvisionError
from pyactivesync._wbxml import WBXMLReader, WBXMLWriter, find, text_of, wtag

warnings.filterwarnings("ignore")  # urllib3: unverified HTTPS to the test servers


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


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


def load(hostport, user, password, n, conns, prime_port=None):
    per = (n + conns - 1) // conns
    jobs = [(hostport, user, password, s, min(per, n - s)) for s in range(0, n, per)]
    t = time.time()
    with multiprocessing.Pool(len(jobs)) as pool:
        pool.map(load_part, jobs)
    out = {"messages": n, "connections": len(jobs), "seconds": time.time() - t}
    if prime_port:
        out["highestmodseq"] = prime_condstore(hostport.rsplit(":", 1)[0], prime_port, user, password)
    return out


def prime_condstore(host, port, user, password):
    """ENABLE CONDSTORE and SELECT INBOX once, so that Dovecot keeps and
    reports HIGHESTMODSEQ for the Inbox from then on."""
    import imaplib
    m = imaplib.IMAP4(host, int(port))
    m.login(user, password)
    typ, _ = m._simple_command("ENABLE", "CONDSTORE")
    assert typ == "OK", typ
    m.select("INBOX")
    modseq = m.response("HIGHESTMODSEQ")[1]
    m.logout()
    return modseq[0].decode() if modseq and modseq[0] else None


# ---- pyactivesync devices ------------------------------------------------------
def client(url, user, password, device_id, version):
    eas_http._EAS_PROTOCOL_VERSION = version
    parts = urlsplit(url)
    c = Client(parts.netloc, user, password, device_id=device_id, verify_ssl=False,
               device_type="BenchPhone", timeout=300)
    c._transport.base_url = url
    c._transport.session.trust_env = False  # REQUESTS_CA_BUNDLE must not override verify=False
    return c


def provision_device(c):
    """pyactivesync's two-phase Provision. Returns (policy key or None,
    requests made, what the server said)."""
    try:
        return c.provision(), 2, "PolicyKey (2 requests)"
    except ProvisionError as e:
        if "no PolicyKey" not in str(e):
            raise
    # One request, no key: go on without X-MS-PolicyKey, as the server does
    # not require one (it would answer 449 / status 142 otherwise).
    c._transport.policy_key = None
    c._provisioned = True
    return None, 1, "no PolicyKey (1 request)"


def policy_status(c):
    """The Policy Status of a bare Provision request (for the report)."""
    w = WBXMLWriter()
    w.tag("Provision", "Provision", children=[wtag("Provision", "Policies", children=[
        wtag("Provision", "Policy", children=[wtag("Provision", "PolicyType", text="MS-EAS-Provisioning-WBXML")])])])
    nodes = WBXMLReader(c._post("Provision", w.render())).parse()
    statuses = [text_of(n) for n in find_all_nodes(nodes, "Provision.Status")]
    return {"provision_status": statuses[0] if statuses else None,
            "policy_status": statuses[1] if len(statuses) > 1 else None,
            "policy_key": text_of(find(nodes, "Provision.PolicyKey"))}


def find_all_nodes(nodes, name):
    from pyactivesync._wbxml import find_all
    return find_all(nodes, name)


def inbox_of(c):
    return next(f.id for f in c.list_folders() if int(f.type) == 2)


def initial(url, user, password, device_id, version, window):
    c = client(url, user, password, device_id, version)
    out = {"version": version, "window": window}
    t0 = time.time()
    key, prov_requests, policy = provision_device(c)  # normally: the policy, then its acknowledgement
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
    if key is None:
        try:
            policy += ": " + json.dumps(policy_status(c))
        except Exception as e:  # noqa: BLE001 - only for the report
            policy += f": ({e})"
    c.close()
    out.update(policy_key=key, policy=policy, provision_requests=prov_requests, items=items, sync_rounds=rounds,
               round_trips=prov_requests + 1 + 1 + rounds,
               provision_s=t1 - t0, foldersync_s=t2 - t1, sync0_s=t3 - t2, sync_s=t4 - t3, total_s=t4 - t0)
    return out


def provision_chunk(args):
    url, user, password, ids, version = args
    done = []
    for device_id in ids:
        c = client(url, user, password, device_id, version)
        key, requests, _ = provision_device(c)
        inbox = inbox_of(c)
        sync_key = c.sync_folder(inbox, "0").sync_key
        c.sync_folder(inbox, sync_key, window_size=100)
        c.close()
        done.append([device_id, key, inbox, requests + 3])
    return done


def provision(url, user, password, n, prefix, version, out_path, procs):
    ids = [f"{prefix}{i:05d}" for i in range(n)]
    t = time.time()
    # The first device alone: SOGo creates a per-user state table on an
    # account's first EAS request, and concurrent first requests race (501).
    devices = provision_chunk((url, user, password, [ids[0]], version))
    chunks = [ch for ch in (ids[1:][i::procs * 4] for i in range(procs * 4)) if ch]
    with multiprocessing.Pool(procs) as pool:
        for part in pool.imap_unordered(provision_chunk, [(url, user, password, ch, version) for ch in chunks if ch]):
            devices += part
            if len(devices) % 200 < len(part) or len(devices) == n:
                log(f"  provisioned {len(devices)}/{n}")
    seconds = time.time() - t
    with open(out_path, "w") as f:
        json.dump([d[:3] for d in devices], f)
    return {"devices": len(devices), "seconds": seconds, "requests": sum(d[3] for d in devices)}


# ---- parked Pings --------------------------------------------------------------
def process_trees(roots):
    """PIDs of the process trees rooted at ROOTS."""
    kids = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open(f"/proc/{e}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(e))
            except OSError:
                pass
    todo, pids = list(roots), set()
    while todo:
        p = todo.pop()
        if p not in pids:
            pids.add(p)
            todo += kids.get(p, [])
    return pids


def memory(roots):
    """RSS and PSS (bytes) of the process trees rooted at ROOTS."""
    pids = process_trees(roots)
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


def server_sockets(port):
    """Inodes of the established TCP sockets whose local port is PORT."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "01" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(cols[9])
        except OSError:
            pass
    return inodes


def held(port, roots):
    """Established connections to PORT that a process of the trees at ROOTS
    has accepted (holds a descriptor for): not just queued in the kernel."""
    inodes = server_sockets(port)
    found = set()
    for p in process_trees(roots):
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                try:
                    link = os.readlink(f"/proc/{p}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    found.add(link[8:-1])
        except OSError:
            pass
    return len(found)


def mem_available_mib():
    with open("/proc/meminfo") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("MemAvailable:")) // 1024


def ping_body(folder, heartbeat):
    w = WBXMLWriter()
    w.tag("Ping", "Ping", children=[
        wtag("Ping", "HeartbeatInterval", text=str(heartbeat)),
        wtag("Ping", "Folders", children=[wtag("Ping", "Folder", children=[
            wtag("Ping", "Id", text=folder), wtag("Ping", "Class", text="Email")])]),
    ])
    return w.render()


def deliver(delivery, rcpt):
    """One new message for RCPT: over SMTP, or by IMAP APPEND to its Inbox.
    Returns (start, accepted) times."""
    d = urlsplit(delivery)
    msg = (f"From: wake@remote.example\r\nTo: {rcpt}\r\nSubject: Wake up\r\n"
           f"Message-ID: <wake.{time.time()}@remote.example>\r\n\r\nOne new message.\r\n")
    if d.scheme == "smtp":
        s = smtplib.SMTP(d.hostname, d.port)
        t0 = time.time()
        s.sendmail("wake@remote.example", [rcpt], msg)
        t1 = time.time()
        s.quit()
        return t0, t1
    import imaplib
    m = imaplib.IMAP4(d.hostname, d.port)
    m.login(d.username, d.password)
    t0 = time.time()
    typ, _ = m.append("INBOX", None, None, msg.encode())
    t1 = time.time()
    assert typ == "OK", typ
    m.logout()
    return t0, t1


async def park(url, user, password, devices, version, roots, delivery, rcpt, heartbeat, settle, min_free):
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    ctx = tls_context()
    # Behind a proxy (nginx in front of sogod) the port whose accepted
    # connections show a parked request is the backend's.
    held_port = int(os.environ.get("BENCH_HELD_PORT") or port)
    n = len(devices)
    connected = asyncio.Semaphore(64)  # connections (and TLS handshakes) being opened at once
    sent = opening = 0
    stop = False  # memory floor reached: open no more Pings
    answers = []  # (time, status, http code)

    async def one(device_id, key, inbox):
        nonlocal sent, opening
        body = ping_body(inbox, heartbeat)
        path = (f"{parts.path}?Cmd=Ping&User={quote(user)}&DeviceId={quote(device_id)}&DeviceType=BenchPhone")
        policy = f"X-MS-PolicyKey: {key}\r\n" if key else ""
        head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Basic {auth}\r\n"
                f"MS-ASProtocolVersion: {version}\r\n{policy}"
                f"Content-Type: application/vnd.ms-sync.wbxml\r\nUser-Agent: BenchPhone\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        async with connected:
            if stop:
                return
            opening += 1
            try:
                reader, writer = await asyncio.open_connection(host, port,
                                                               ssl=ctx if parts.scheme == "https" else None)
                writer.write(head + body)
                await writer.drain()
                sent += 1
            finally:
                opening -= 1
        status_line = await reader.readline()
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

    before = memory(roots)
    log(f"  before: {before['rss'] / 2**20:.1f} MiB RSS, {before['pss'] / 2**20:.1f} MiB PSS "
        f"({before['processes']} processes), MemAvailable {mem_available_mib()} MiB")
    t_open = time.time()
    tasks = [asyncio.create_task(one(*d[:3])) for d in devices]
    # Parked: every request sent and every connection accepted by the server.
    last_log = 0
    while True:
        await asyncio.sleep(0.5)
        failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception()]
        if failed:
            raise failed[0].exception()
        if not stop and mem_available_mib() < min_free:
            stop = True
            log(f"  MemAvailable under {min_free} MiB after {sent} Pings: opening no more")
        h = held(held_port, roots)
        if time.time() - last_log > 10:
            log(f"  {sent} Pings sent, {h} accepted, {len(answers)} answered, "
                f"MemAvailable {mem_available_mib()} MiB")
            last_log = time.time()
        if (sent == n or stop) and opening == 0 and h >= sent - len(answers):
            break
    open_seconds = time.time() - t_open
    await asyncio.sleep(settle)  # the last requests reach the handler and park
    early = list(answers)
    parked_n = sent - len(early)
    parked = memory(roots)
    h = held(held_port, roots)
    log(f"  {parked_n} Pings parked ({h} connections held, {len(early)} answered early): "
        f"{parked['rss'] / 2**20:.1f} MiB RSS, {parked['pss'] / 2**20:.1f} MiB PSS ({parked['processes']} processes)")

    # One delivery: every parked Ping should answer 2 (changes in the Inbox).
    t_data, t_accepted = await asyncio.get_running_loop().run_in_executor(None, deliver, delivery, rcpt)
    pending = [t for t in tasks if not t.done()]
    try:
        await asyncio.wait_for(asyncio.gather(*pending), timeout=heartbeat + 60)
    except asyncio.TimeoutError:
        pass
    late = [a for a in answers if a not in early]
    times = sorted(a[0] for a in late)
    statuses = {}
    for _, s, code in late:
        statuses[f"{code}/{s}"] = statuses.get(f"{code}/{s}", 0) + 1
    early_statuses = {}
    for _, s, code in early:
        early_statuses[f"{code}/{s}"] = early_statuses.get(f"{code}/{s}", 0) + 1
    return {
        "devices": n, "sent": sent, "parked": parked_n, "heartbeat": heartbeat, "version": version,
        "memory_floor_hit": stop, "min_free_mib": min_free,
        "before": before, "after": parked, "held": h, "open_seconds": open_seconds, "settle": settle,
        "per_ping_rss": (parked["rss"] - before["rss"]) / max(parked_n, 1),
        "per_ping_pss": (parked["pss"] - before["pss"]) / max(parked_n, 1),
        "answers": statuses, "early_answers": early_statuses,
        "delivery": urlsplit(delivery).scheme, "delivery_seconds": t_accepted - t_data,
        "first_after_accept": times[0] - t_accepted if times else None,
        "median_after_accept": times[len(times) // 2] - t_accepted if times else None,
        "last_after_accept": times[-1] - t_accepted if times else None,
        "last_after_delivery_start": times[-1] - t_data if times else None,
    }


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if cmd == "load":
        out = load(args[0], args[1], args[2], int(args[3]), int(args[4]) if len(args) > 4 else 8,
                   args[5] if len(args) > 5 else None)
    elif cmd == "initial":
        out = initial(*args[:5], int(args[5]) if len(args) > 5 else 512)
    elif cmd == "provision":
        out = provision(args[0], args[1], args[2], int(args[3]), args[4], args[5], args[6],
                        int(args[7]) if len(args) > 7 else 16)
    elif cmd == "memory":
        out = memory([int(p) for p in args[0].split(",") if p])
    elif cmd == "park":
        with open(args[3]) as f:
            devices = json.load(f)
        if hard < len(devices) + 100:
            sys.exit(f"open file limit {hard} is too low for {len(devices)} connections")
        roots = [int(p) for p in args[5].split(",") if p]
        out = asyncio.run(park(args[0], args[1], args[2], devices, args[4], roots, args[6], args[7],
                               int(args[8]) if len(args) > 8 else 600,
                               float(args[9]) if len(args) > 9 else 2.0,
                               int(args[10]) if len(args) > 10 else 2048))
    else:
        sys.exit(f"unknown command {cmd}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
