#!/usr/bin/env python3
"""Soak with crashes: every mail path of the reference server under load at
once while the server is killed with SIGKILL at random moments and started
again; at the end, nothing acknowledged may be lost or doubled.

    python3 bench/soak.py --server target/release/examples/server --duration 1800

Loopback only, bounded in time. What runs at once, each client with real
libraries and reconnecting whenever the server is down:

- SMTP ingest (smtplib): messages to four accounts, round robin;
- IMAP sessions (imaplib, STARTTLS), two accounts: APPEND, FETCH, STORE
  +FLAGS (\\Flagged), STORE \\Deleted with UID EXPUNGE, IDLE;
- POP3 (poplib): RETR every message, DELE them, QUIT;
- ActiveSync (pyactivesync): Sync of the Inbox, marking messages read
  through Sync, and Ping on another connection;
- RPOP: the server fetches one account's mail over POP3 into another.

Every acknowledged operation is recorded (an SMTP 250, an APPEND OK, a STORE
OK, an EXPUNGE OK, a POP3 QUIT +OK after DELE, an ActiveSync change with
status 1); operations cut off by a crash are recorded as "maybe". At the
end the server runs undisturbed until RPOP has fetched everything, then
every mailbox is read over IMAP and checked:

- every acknowledged message exists exactly once, unless an acknowledged
  deletion removed it; no message exists twice, "maybe" ones included;
- every acknowledged flag (\\Flagged over IMAP, \\Seen from ActiveSync) is
  set; every acknowledged deletion happened;
- `server check --deep` on the stopped store is clean.

Prints the figures (operations by kind, crashes, anything lost) and exits 1
when anything is lost or doubled.
"""

import argparse
import base64
import imaplib
import json
import os
import poplib
import random
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings

DOMAIN = "soak.example"
PASSWORD = "soak-pw"
SMTP_TARGETS = ["ingest", "pop", "eas", "rsrc"]
IMAP_ACCOUNTS = ["imap1", "imap2"]


def addr(name):
    return f"{name}@{DOMAIN}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls():
    ctx = ssl.create_default_context()
    # The development certificate is self-signed.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Journal:
    """What the clients were told, shared by the worker threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}  # subject -> account
        self.maybe = set()  # subjects whose acknowledgement a crash may have eaten
        self.deleted = set()  # subjects whose deletion was acknowledged
        self.maybe_deleted = set()
        self.flagged = set()  # subjects acknowledged \Flagged
        self.seen = set()  # subjects acknowledged read (ActiveSync)
        self.ops = {}
        self.errors = {}

    def count(self, op, n=1):
        with self.lock:
            self.ops[op] = self.ops.get(op, 0) + n

    def error(self, where, e):
        with self.lock:
            key = f"{where}: {type(e).__name__}"
            self.errors[key] = self.errors.get(key, 0) + 1


class ServerProcess:
    def __init__(self, binary, config, work):
        self.binary, self.config, self.work = binary, config, work
        self.proc = None
        self.starts = 0
        self.lock = threading.Lock()

    def start(self, ports):
        log = open(os.path.join(self.work, f"server-{self.starts}.log"), "wb")
        self.proc = subprocess.Popen([self.binary, "--config", self.config], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        self.starts += 1
        deadline = time.time() + 60
        for port in ports:
            while True:
                if self.proc.poll() is not None:
                    raise SystemExit(f"the server exited at start; see {log.name}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise SystemExit(f"the server did not listen on {port}; see {log.name}")
                    time.sleep(0.05)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def message(subject, to):
    body = "".join(f"{subject} line {n}: the quick brown fox jumps over the lazy dog\r\n" for n in range(20))
    return (f"From: Soak <sender@remote.example>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@soak.example>\r\n\r\n{body}")


def retry_pause(stop):
    stop.wait(0.2)


# ---- workers ------------------------------------------------------------------


def smtp_worker(ports, journal, stop):
    n = 0
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=30) as s:
                s.ehlo("soak.client")
                while not stop.is_set():
                    target = SMTP_TARGETS[n % len(SMTP_TARGETS)]
                    subject = f"smtp-{target}-{n}"
                    n += 1
                    with journal.lock:
                        journal.maybe.add(subject)
                    s.sendmail("sender@remote.example", [addr(target)], message(subject, addr(target)))
                    with journal.lock:
                        journal.maybe.discard(subject)
                        journal.acked[subject] = target
                    journal.count("smtp deliveries")
        except (smtplib.SMTPException, OSError) as e:
            journal.error("smtp", e)
            retry_pause(stop)


def imap_connect(ports, account):
    m = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=30)
    m.starttls(ssl_context=tls())
    m.login(addr(account), PASSWORD)
    return m


def imap_listing(m):
    """UID -> (subject, flags) of the selected mailbox."""
    typ, data = m.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = {}
    if typ != "OK":
        raise imaplib.IMAP4.error(f"FETCH {typ}")
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta, header = item
        uid = re.search(rb"UID (\d+)", meta)
        flags = re.search(rb"FLAGS \(([^)]*)\)", meta)
        subject = re.search(rb"Subject: (\S+)", header)
        if uid and subject:
            out[int(uid.group(1))] = (subject.group(1).decode(), (flags.group(1).decode() if flags else "").split())
    return out


def imap_idle(m, seconds):
    """IDLE (RFC 2177) for a moment: imaplib in 3.11 has no IDLE command."""
    tag = m._new_tag().decode()
    m.send(f"{tag} IDLE\r\n".encode())
    line = m.readline()
    if not line.startswith(b"+"):
        raise imaplib.IMAP4.error(f"IDLE refused: {line!r}")
    m.sock.settimeout(seconds)
    try:
        while True:
            m.readline()
    except (socket.timeout, TimeoutError):
        pass
    m.sock.settimeout(30)
    m.send(b"DONE\r\n")
    while True:
        line = m.readline()
        if not line:
            raise imaplib.IMAP4.abort("connection closed during IDLE")
        if line.startswith(tag.encode()):
            return


def imap_worker(account, ports, journal, stop):
    n = 0
    rnd = random.Random(account)
    while not stop.is_set():
        try:
            m = imap_connect(ports, account)
            m.select("INBOX")
            while not stop.is_set():
                subject = f"imap-{account}-{n}"
                n += 1
                with journal.lock:
                    journal.maybe.add(subject)
                typ, _ = m.append("INBOX", None, None, message(subject, addr(account)).encode())
                if typ == "OK":
                    with journal.lock:
                        journal.maybe.discard(subject)
                        journal.acked[subject] = account
                    journal.count("imap appends")
                listing = imap_listing(m)
                journal.count("imap fetches")
                live = [(uid, s) for uid, (s, _) in listing.items() if s not in journal.maybe_deleted]
                if live:
                    uid, s = rnd.choice(live)
                    typ, _ = m.uid("STORE", str(uid), "+FLAGS", "(\\Flagged)")
                    if typ == "OK":
                        with journal.lock:
                            journal.flagged.add(s)
                        journal.count("imap flag changes")
                if n % 4 == 0 and len(live) > 5:
                    uid, s = rnd.choice(live)
                    with journal.lock:
                        journal.maybe_deleted.add(s)
                    typ, _ = m.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
                    if typ == "OK":
                        typ, _ = m.uid("EXPUNGE", str(uid))
                        if typ == "OK":
                            with journal.lock:
                                journal.deleted.add(s)
                            journal.count("imap expunges")
                if n % 3 == 0:
                    imap_idle(m, 0.3)
                    journal.count("imap idles")
        except (imaplib.IMAP4.error, imaplib.IMAP4.abort, OSError, ssl.SSLError) as e:
            journal.error(f"imap {account}", e)
            retry_pause(stop)


def pop3_worker(ports, journal, stop):
    while not stop.is_set():
        try:
            p = poplib.POP3("127.0.0.1", ports["pop3"], timeout=30)
            p.user(addr("pop"))
            p.pass_(PASSWORD)
            count, _ = p.stat()
            taken = []
            for i in range(1, min(count, 20) + 1):
                _, lines, _ = p.retr(i)
                subject = next((l[9:].decode() for l in lines if l.startswith(b"Subject: ")), None)
                if subject is None:
                    raise poplib.error_proto(b"a message without its Subject came back")
                journal.count("pop3 retrievals")
                p.dele(i)
                taken.append(subject)
            with journal.lock:
                journal.maybe_deleted.update(taken)
            p.quit()
            with journal.lock:
                journal.deleted.update(taken)
            journal.count("pop3 sessions")
            if not taken:
                stop.wait(0.3)
        except (poplib.error_proto, OSError) as e:
            journal.error("pop3", e)
            retry_pause(stop)


def eas_worker(ports, journal, stop):
    from pyactivesync import Client
    from pyactivesync.models import EmailChange

    rnd = random.Random("eas")
    while not stop.is_set():
        try:
            client = Client(f"127.0.0.1:{ports['https']}", addr("eas"), PASSWORD, device_id="SOAKPHONE1",
                            verify_ssl=False, device_type="SoakPhone")
            client._transport.session.trust_env = False
            client.provision()
            inbox = next(f.id for f in client.list_folders() if int(f.type) == 2)
            key = client.sync_folder(inbox, "0").sync_key
            items = {}
            while not stop.is_set():
                result = client.sync_folder(inbox, key, window_size=50)
                key = result.sync_key
                journal.count("activesync syncs")
                for item in result.added:
                    subject = item.fields.get("Email.Subject")
                    if subject:
                        items[item.server_id] = subject
                for sid in result.deleted:
                    items.pop(sid, None)
                unread = [sid for sid, s in items.items() if s not in journal.seen]
                if unread and not result.more_available:
                    sid = rnd.choice(unread)
                    changed = client.apply_email_changes(inbox, key, [EmailChange(server_id=sid, read=True)])
                    key = changed.sync_key
                    if changed.statuses.get(sid) == "1":
                        with journal.lock:
                            journal.seen.add(items[sid])
                        journal.count("activesync read changes")
                if not result.more_available:
                    stop.wait(0.2)
        except Exception as e:  # pyactivesync raises requests' and its own errors
            journal.error("activesync sync", e)
            retry_pause(stop)


def eas_ping_worker(ports, journal, stop):
    from pyactivesync import Client

    while not stop.is_set():
        try:
            client = Client(f"127.0.0.1:{ports['https']}", addr("eas"), PASSWORD, device_id="SOAKPHONE2",
                            verify_ssl=False, device_type="SoakPhone")
            client._transport.session.trust_env = False
            client.provision()
            inbox = next(f.id for f in client.list_folders() if int(f.type) == 2)
            client.sync_folder(inbox, "0")
            while not stop.is_set():
                client.ping(inbox, heartbeat=60, timeout=90)
                journal.count("activesync pings")
        except Exception as e:
            journal.error("activesync ping", e)
            retry_pause(stop)


# ---- the run ------------------------------------------------------------------------


def setup(work, binary, ports):
    subprocess.run([binary, "license", "keygen", "--out", os.path.join(work, "vendor")], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([binary, "license", "issue", "--signing-key", os.path.join(work, "vendor/vendor-signing.key"),
                    "--edition", "business", "--licensee", "soak", "--seats", "activesync=5", "--expires", "30d",
                    "--out", os.path.join(work, "license.json")], check=True, stdout=subprocess.DEVNULL)
    public_key = open(os.path.join(work, "vendor/vendor-public.key")).read().strip()
    accounts = SMTP_TARGETS + IMAP_ACCOUNTS + ["rdst"]
    config = f"""data_dir = "data"
hostname = "mx.{DOMAIN}"
[delivery]
enabled = false
[log]
level = "warn"
[pop3]
allow_plaintext_auth = true
[rpop]
poll_seconds = 1
[license]
public_key = "{public_key}"
file = "license.json"
[imap]
max_connections_per_account = 0
[[listener]]
name = "smtp"
service = "smtp"
bind = "127.0.0.1:{ports['smtp']}"
[[listener]]
name = "imap"
service = "imap"
bind = "127.0.0.1:{ports['imap']}"
tls = "starttls"
[[listener]]
name = "pop3"
service = "pop3"
bind = "127.0.0.1:{ports['pop3']}"
[[listener]]
name = "https"
service = "http"
bind = "127.0.0.1:{ports['https']}"
tls = "implicit"
[[directory.domain]]
name = "{DOMAIN}"
settings = {{ "activesync.enabled" = true, "rpop.permitted" = true }}
"""
    for a in accounts:
        config += f'[[directory.account]]\naddress = "{addr(a)}"\npassword = "{PASSWORD}"\n'
    config += f"""[[directory.rpop]]
account = "{addr('rdst')}"
name = "soak"
host = "127.0.0.1"
port = {ports['pop3']}
tls = "none"
username = "{addr('rsrc')}"
password = "{PASSWORD}"
interval_secs = 1
"""
    path = os.path.join(work, "server.toml")
    with open(path, "w") as f:
        f.write(config)
    return path


def mailbox(ports, account):
    m = imap_connect(ports, account)
    m.select("INBOX", readonly=True)
    listing = imap_listing(m)
    m.logout()
    return list(listing.values())


def verify(ports, journal):
    """Problems found, as text lines."""
    problems = []
    boxes = {a: mailbox(ports, a) for a in SMTP_TARGETS + IMAP_ACCOUNTS + ["rdst"]}
    # Where each subject is, with its flags.
    where = {}
    for account, items in boxes.items():
        for subject, flags in items:
            where.setdefault(subject, []).append((account, flags))
    for subject, places in where.items():
        if len(places) > 1:
            problems.append(f"{subject}: stored {len(places)} times ({[p[0] for p in places]})")
    for subject, account in journal.acked.items():
        places = where.get(subject, [])
        gone = subject in journal.deleted
        maybe_gone = subject in journal.maybe_deleted
        expected = "rdst" if account == "rsrc" else account
        if gone and places:
            problems.append(f"{subject}: deleted (acknowledged) but still in {[p[0] for p in places]}")
        elif not gone and not maybe_gone and not places:
            problems.append(f"{subject}: acknowledged for {account} but lost")
        elif places and places[0][0] != expected:
            problems.append(f"{subject}: expected in {expected}, found in {places[0][0]}")
        if places and subject in journal.flagged and "\\Flagged" not in places[0][1]:
            problems.append(f"{subject}: \\Flagged was acknowledged but is not set")
        if places and subject in journal.seen and "\\Seen" not in places[0][1]:
            problems.append(f"{subject}: read (ActiveSync) was acknowledged but \\Seen is not set")
    return problems, {a: len(items) for a, items in boxes.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True, help="the server binary (examples/server)")
    ap.add_argument("--duration", type=float, default=300, help="seconds of load with crashes")
    ap.add_argument("--kill-min", type=float, default=5, help="shortest time between two crashes (s)")
    ap.add_argument("--kill-max", type=float, default=20, help="longest time between two crashes (s)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    rnd = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="axigen-soak.")
    ports = {k: free_port() for k in ["smtp", "imap", "pop3", "https"]}
    config = setup(work, os.path.abspath(args.server), ports)
    server = ServerProcess(os.path.abspath(args.server), config, work)
    journal = Journal()
    stop = threading.Event()
    crashes = 0
    failed = True
    try:
        server.start(ports.values())
        workers = [threading.Thread(target=smtp_worker, args=(ports, journal, stop)),
                   threading.Thread(target=pop3_worker, args=(ports, journal, stop)),
                   threading.Thread(target=eas_worker, args=(ports, journal, stop)),
                   threading.Thread(target=eas_ping_worker, args=(ports, journal, stop))]
        workers += [threading.Thread(target=imap_worker, args=(a, ports, journal, stop)) for a in IMAP_ACCOUNTS]
        for w in workers:
            w.daemon = True
            w.start()
        started = time.time()
        while time.time() - started < args.duration:
            pause = rnd.uniform(args.kill_min, args.kill_max)
            time.sleep(min(pause, max(0.0, args.duration - (time.time() - started))))
            if time.time() - started >= args.duration:
                break
            server.kill()
            crashes += 1
            server.start(ports.values())
            print(f"crash {crashes} at {time.time() - started:.1f} s: {sum(journal.ops.values())} operations so far",
                  file=sys.stderr, flush=True)
        stop.set()
        # Workers finish their operation in flight (a Ping may wait out its
        # heartbeat: it is left to its daemon thread).
        for w in workers:
            w.join(timeout=10)
        # One more crash with nothing running, then a clean start: RPOP gets
        # to fetch whatever is left.
        server.kill()
        server.start(ports.values())
        deadline = time.time() + 60
        while time.time() < deadline and mailbox(ports, "rsrc"):
            time.sleep(0.5)
        print(f"settled: RPOP emptied the source in {time.time() - deadline + 60:.1f} s", file=sys.stderr)
        problems, sizes = verify(ports, journal)
        leftover = len(mailbox(ports, "rsrc"))
        if leftover:
            problems.append(f"RPOP left {leftover} messages in the source mailbox")
        code = server.stop()
        if code != 0:
            problems.append(f"the server exited with {code} at SIGTERM")
        check = subprocess.run([os.path.abspath(args.server), "--config", config, "check", "--deep"],
                               capture_output=True, text=True)
        if check.returncode != 0:
            problems.append("server check --deep: " + check.stdout.strip().replace("\n", "; "))
        report = {
            "seconds": args.duration,
            "crashes": crashes,
            "operations": journal.ops,
            "acknowledged_messages": len(journal.acked),
            "mailboxes": sizes,
            "client_errors_while_down": journal.errors,
            "check": check.stdout.strip().splitlines()[-1] if check.stdout.strip() else check.stderr.strip(),
            "problems": problems,
        }
        print(json.dumps(report, indent=2, sort_keys=True))
        print(f"soak: {args.duration:.0f} s, {crashes} crashes, {sum(journal.ops.values())} operations, "
              f"{len(journal.acked)} messages acknowledged, {len(problems)} problems")
        failed = bool(problems)
    finally:
        stop.set()
        if server.proc and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        if args.keep or failed:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
