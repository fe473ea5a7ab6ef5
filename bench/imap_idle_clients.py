#!/usr/bin/env python3
"""Idle IMAP clients for bench/imap-idle-mem.sh: N concurrent connections
to one server, each STARTTLS, LOGIN, SELECT INBOX, IDLE; the memory of the
server (a process and all its descendants: RSS from /proc/PID/status, PSS
from /proc/PID/smaps_rollup when the kernel has it) is read before, with
all N idling, and after every client has sent DONE and LOGOUT, for several
rounds, so that growth across rounds shows.

usage: imap_idle_clients.py PORT SERVER_PID USER PASSWORD N [ROUNDS] [LOGIN_CONCURRENCY]

MEM_LIMIT_MIB (default 8192) guards the machine: once the server uses
that much, no more clients are opened and the round goes on with those open
(the count is in the output).

HOLD_FILE (bench/connections-10k.sh): once the first round's clients idle,
their figures are written to HOLD_FILE.ready and the clients stay idling
until HOLD_FILE exists, so that other load can be measured beside them.

Prints one JSON object on stdout; progress goes to stderr.
"""

import asyncio
import json
import os
import resource
import ssl
import sys
import time

port, server_pid, user, password, n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 3
login_concurrency = int(sys.argv[7]) if len(sys.argv) > 7 else 16
# A guard for the machine: no more clients once the server uses this much.
mem_limit = int(os.environ.get("MEM_LIMIT_MIB", "8192")) * 2**20

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
if hard < n + 100:
    sys.exit(f"open file limit {hard} is too low for {n} connections (ulimit -n)")

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---- the server's memory -------------------------------------------------------
def children_map():
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree(pid):
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def kib(path, field):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def memory():
    """(processes, RSS bytes, PSS bytes or None) of the server's process tree."""
    rss, pss, procs = 0, 0, 0
    have_pss = os.path.exists(f"/proc/{server_pid}/smaps_rollup")
    for p in tree(server_pid):
        r = kib(f"/proc/{p}/status", "VmRSS")
        if r is None:
            continue  # gone meanwhile
        procs += 1
        rss += r * 1024
        if have_pss:
            pss += (kib(f"/proc/{p}/smaps_rollup", "Pss") or 0) * 1024
    return {"processes": procs, "rss": rss, "pss": pss if have_pss else None}


# ---- one client --------------------------------------------------------------
class Client:
    def __init__(self):
        self.reader = None
        self.writer = None

    async def tagged(self, tag):
        """Reads to the tagged reply of `tag`; returns it."""
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError(f"connection closed waiting for {tag}")
            if line.startswith(tag.encode() + b" "):
                if not line.startswith(tag.encode() + b" OK"):
                    raise RuntimeError(line.decode(errors="replace").strip())
                return line

    async def command(self, tag, text):
        self.writer.write(f"{tag} {text}\r\n".encode())
        await self.writer.drain()
        return await self.tagged(tag)

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        greeting = await self.reader.readline()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError(f"greeting: {greeting!r}")
        await self.command("a1", "STARTTLS")
        await self.writer.start_tls(ctx)
        await self.command("a2", f"LOGIN {quote(user)} {quote(password)}")
        await self.command("a3", "SELECT INBOX")
        self.writer.write(b"a4 IDLE\r\n")
        await self.writer.drain()
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("closed before IDLE continuation")
            if line.startswith(b"+"):
                return
            if line.startswith(b"a4 "):
                raise RuntimeError(f"IDLE refused: {line!r}")

    async def close(self):
        self.writer.write(b"DONE\r\n")
        await self.writer.drain()
        await self.tagged("a4")
        self.writer.write(b"a5 LOGOUT\r\n")
        await self.writer.drain()
        await self.tagged("a5")
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


async def open_all(count):
    """Opens `count` idling clients, or fewer if the server's memory (PSS,
    else RSS) passes MEM_LIMIT_MIB first; returns the open ones."""
    gate = asyncio.Semaphore(login_concurrency)
    clients = [Client() for _ in range(count)]
    opened = []
    over = False

    async def one(c):
        async with gate:
            if over:
                return
            await c.open()
            opened.append(c)

    async def watch():
        nonlocal over
        while True:
            m = memory()
            used = m["pss"] if m["pss"] is not None else m["rss"]
            if used > mem_limit:
                log(f"server memory {used / 2**20:.0f} MiB passed the limit of {mem_limit / 2**20:.0f} MiB "
                    f"with {len(opened)} clients open: opening no more")
                over = True
                return
            await asyncio.sleep(0.5)

    t = time.time()
    watcher = asyncio.create_task(watch())
    await asyncio.gather(*(one(c) for c in clients))
    watcher.cancel()
    return opened, time.time() - t


async def close_all(clients):
    gate = asyncio.Semaphore(256)

    async def one(c):
        async with gate:
            await c.close()

    await asyncio.gather(*(one(c) for c in clients))


async def settle(baseline_procs, timeout=60):
    """Waits for the process count to come back (Dovecot's per-connection
    processes exit after LOGOUT), then a little more."""
    deadline = time.time() + timeout
    while memory()["processes"] > baseline_procs and time.time() < deadline:
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)


async def main():
    # A small warm-up at the same login concurrency: thread pools, allocator
    # arenas, TLS and password-hashing buffers exist before the baseline is
    # read. Small, because the memory freed when its clients leave stays
    # resident and is reused by the next ones (the first round's N clients
    # then cost less than N): the figure per connection is the first round's.
    warm = min(n, 2 * login_concurrency)
    log(f"warm-up: {warm} connections")
    clients, _ = await open_all(warm)
    await close_all(clients)
    # The process count after the warm-up: once it stops changing.
    last, stable_since = None, time.time()
    while time.time() - stable_since < 3:
        count = memory()["processes"]
        if count != last:
            last, stable_since = count, time.time()
        await asyncio.sleep(0.5)
    baseline_procs = last
    before = memory()
    log(f"before: {before}")
    out = {"n": n, "before": before, "rounds": []}
    for r in range(rounds):
        clients, setup = await open_all(n)
        await asyncio.sleep(3)
        idle = memory()
        log(f"round {r + 1}: {len(clients)} idling after {setup:.1f} s: {idle}")
        hold = os.environ.get("HOLD_FILE")
        if hold and r == 0:
            with open(hold + ".ready", "w") as f:
                json.dump({"n": n, "opened": len(clients), "setup_seconds": setup, "before": before, "idle": idle}, f)
            while not os.path.exists(hold):
                await asyncio.sleep(0.5)
        await close_all(clients)
        await settle(baseline_procs)
        after = memory()
        log(f"round {r + 1}: after DONE + LOGOUT: {after}")
        out["rounds"].append({"opened": len(clients), "setup_seconds": setup, "idle": idle, "after": after})
    print(json.dumps(out))


asyncio.run(main())
