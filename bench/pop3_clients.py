"""POP3 load for bench/pop3-bench.sh: the same clients against both servers.

    python3 pop3_clients.py load-smtp PORT CLIENTS MESSAGES SIZE
    python3 pop3_clients.py load-maildir ROOT CLIENTS MESSAGES SIZE
    python3 pop3_clients.py warm|count PORT CLIENTS [TLS CAFILE]
    python3 pop3_clients.py retr PORT CLIENTS MESSAGES WINDOW [TLS CAFILE]
    python3 pop3_clients.py dele PORT CLIENTS MESSAGES WINDOW [TLS CAFILE]

Account k (1-based) is "u<k>@bench.example", password "bench". The load
commands put the same MESSAGES messages of about SIZE octets into every
maildrop: over SMTP (one connection per account, every message in it), or
as files written straight into a Maildir (LF line ends, as Maildir keeps
them). The measuring commands start CLIENTS processes that connect at the
same moment (a barrier), log in with USER/PASS, then keep WINDOW commands in
flight on a raw socket (RFC 2449 PIPELINING; WINDOW=1 is lock-step) and
parse the replies themselves, so the Python cost per message is a few C
calls and the figures are the servers'. They print one Python literal.
"""

import multiprocessing
import os
import smtplib
import socket
import ssl
import sys
import time

DOMAIN = "bench.example"
PASSWORD = "bench"
TERMINATOR = b"\r\n.\r\n"


def address(k):
    return f"u{k}@{DOMAIN}"


def message(k, i, size):
    """Message i of account k, about `size` octets with CRLF line ends."""
    head = (f"From: Loader <loader@load.example>\r\nTo: {address(k)}\r\n"
            f"Subject: pop3 bench message {i}\r\nDate: Mon, 7 Feb 2022 21:52:25 +0000\r\n"
            f"Message-ID: <{k}.{i}@load.example>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\n")
    line = f"Line of message {i} for account {k}; the quick brown fox jumps over the lazy dog."
    line = (line + " " * 76)[:76] + "\r\n"
    body = []
    left = max(size - len(head), len(line))
    n = 0
    while left > 0:
        # Every tenth line starts with a dot, so dot-stuffing is exercised.
        body.append("." + line[1:] if n % 10 == 9 else line)
        left -= len(line)
        n += 1
    return (head + "".join(body)).encode()


# ---- loading -------------------------------------------------------------------

def _smtp_one(args):
    port, k, messages, size = args
    s = smtplib.SMTP("127.0.0.1", port, timeout=300)
    s.ehlo("loader.load.example")
    for i in range(1, messages + 1):
        s.sendmail("loader@load.example", [address(k)], message(k, i, size))
    s.quit()


def load_smtp(port, clients, messages, size):
    t = time.time()
    with multiprocessing.Pool(clients) as pool:
        pool.map(_smtp_one, [(port, k, messages, size) for k in range(1, clients + 1)])
    return time.time() - t


def _maildir_one(args):
    root, k, messages, size = args
    new = os.path.join(root, address(k), "Maildir", "cur")
    os.makedirs(new, exist_ok=True)
    for d in ("new", "tmp"):
        os.makedirs(os.path.join(root, address(k), "Maildir", d), exist_ok=True)
    base = int(time.time())
    for i in range(1, messages + 1):
        crlf = message(k, i, size)
        data = crlf.replace(b"\r\n", b"\n")
        # Increasing times keep the order; S= and W= (the sizes on disk and
        # with CRLF) are what Dovecot's own delivery writes into the name.
        name = f"{base + i}.M{i}P{k}.bench,S={len(data)},W={len(crlf)}:2,"
        with open(os.path.join(new, name), "wb") as f:
            f.write(data)


def load_maildir(root, clients, messages, size):
    t = time.time()
    with multiprocessing.Pool(clients) as pool:
        pool.map(_maildir_one, [(root, k, messages, size) for k in range(1, clients + 1)])
    return time.time() - t


# ---- the protocol ----------------------------------------------------------------

class Conn:
    """A POP3 connection that reads replies out of one growing buffer."""

    def __init__(self, port, tls, cafile):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=300)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.create_default_context(cafile=cafile)
            ctx.check_hostname = False
            self.sock = ctx.wrap_socket(self.sock)
        self.buf = bytearray()
        self.pos = 0
        self.octets = 0

    def fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def compact(self):
        """Drops the replies already read (only between replies, when no
        offsets into the buffer are held)."""
        if self.pos > (1 << 20):
            del self.buf[:self.pos]
            self.pos = 0

    def line(self):
        """One status line; raises on -ERR."""
        self.compact()
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                break
            self.fill()
        line = bytes(self.buf[self.pos:end])
        self.pos = end + 2
        if not line.startswith(b"+OK"):
            raise RuntimeError(f"server said {line!r}")
        return line

    def multiline(self):
        """A +OK reply with content up to the final ".": its length."""
        self.compact()
        start = self.pos
        scan = start
        while True:
            # A status line without a dot-terminated body would hang; check it.
            if len(self.buf) - start >= 3 and self.buf[start:start + 3] != b"+OK":
                end = self.buf.find(b"\r\n", start)
                raise RuntimeError(f"server said {bytes(self.buf[start:end if end >= 0 else start + 80])!r}")
            end = self.buf.find(TERMINATOR, scan)
            if end >= 0:
                break
            scan = max(start, len(self.buf) - 4)
            self.fill()
        self.pos = end + len(TERMINATOR)
        return self.pos - start

    def send(self, data):
        self.sock.sendall(data)


def login(port, tls, cafile):
    """Connects and logs in: (conn, seconds to the greeting, seconds from
    connecting to the first byte of the +OK to PASS)."""
    t = time.time()
    c = Conn(port, tls, cafile)
    c.line()
    greeting = time.time() - t
    c.send(f"USER {c_user}\r\n".encode())
    c.line()
    c.send(f"PASS {PASSWORD}\r\n".encode())
    while len(c.buf) == c.pos:
        c.fill()
    first_byte = time.time() - t
    c.line()
    return c, greeting, first_byte


c_user = None  # set per process


def pipelined(c, commands, window, read_reply):
    """Sends the commands keeping `window` in flight; returns total octets."""
    sent = done = octets = 0
    n = len(commands)
    while done < n:
        if sent < n and sent - done < window:
            upto = min(n, done + window)
            c.send(b"".join(commands[sent:upto]))
            sent = upto
        octets += read_reply(c)
        done += 1
    return octets


def _worker(args):
    global c_user
    mode, port, k, messages, window, tls, cafile, barrier = args
    c_user = address(k)
    barrier.wait()
    t0 = time.time()
    c, greeting, first_byte = login(port, tls, cafile)
    c.send(b"STAT\r\n")
    stat = c.line().split()
    count = int(stat[1])
    if count != messages:
        raise RuntimeError(f"{c_user}: {count} messages, expected {messages}")
    # Every client logged in before any retrieves: the transfer is timed
    # apart from the logins (whose cost is the password hash's, the same
    # argon2 parameters in both servers, and is reported on its own).
    barrier.wait()
    t1 = time.time()
    if mode == "retr":
        octets = pipelined(c, [f"RETR {i}\r\n".encode() for i in range(1, count + 1)], window, Conn.multiline)
    else:
        pipelined(c, [f"DELE {i}\r\n".encode() for i in range(1, count + 1)], window, lambda c: (c.line(), 0)[1])
        octets = 0
    t2 = time.time()
    c.send(b"QUIT\r\n")
    c.line()
    t3 = time.time()
    c.sock.close()
    return {"start": t0, "end": t3, "t1": t1, "t2": t2, "greeting": greeting, "login": first_byte,
            "commands": t2 - t1, "quit": t3 - t2, "octets": octets, "messages": count}


def cpu_seconds(root):
    """CPU time (user + system) of process `root` and every descendant,
    with the children they have reaped: what a server spent, however many
    processes it uses."""
    ticks = os.sysconf("SC_CLK_TCK")
    kids, fields = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(rest[1]), []).append(int(entry))
        fields[int(entry)] = rest
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        rest = fields.get(pid)
        if rest:
            # utime, stime, cutime, cstime (fields 14 to 17 of stat).
            total += sum(int(x) for x in rest[11:15])
        todo.extend(kids.get(pid, []))
    return total / ticks


def measure(mode, port, clients, messages, window, tls, cafile):
    ctx = multiprocessing.get_context("fork")
    # The workers, and this process to read the server's CPU time once every
    # client is logged in and again once every one has quit.
    barrier = ctx.Manager().Barrier(clients + 1)
    server = int(os.environ.get("SERVER_PID", "0"))
    with ctx.Pool(clients) as pool:
        pending = pool.map_async(_worker, [(mode, port, k, messages, window, tls, cafile, barrier)
                                           for k in range(1, clients + 1)], chunksize=1)
        barrier.wait()  # connected
        barrier.wait()  # logged in
        cpu_before = cpu_seconds(server) if server else 0.0
        results = pending.get()
    # Per-connection processes are reaped (their CPU time moves to the parent).
    time.sleep(0.5)
    cpu = cpu_seconds(server) - cpu_before if server else None
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    mean = lambda key: sum(r[key] for r in results) / len(results)
    return {
        "wall": wall,
        # From the moment every client is logged in (a barrier) to the last
        # one's last reply: the transfer without logins and QUITs.
        "span": max(r["t2"] for r in results) - min(r["t1"] for r in results),
        "messages": sum(r["messages"] for r in results),
        "octets": sum(r["octets"] for r in results),
        "greeting_mean": mean("greeting"), "greeting_max": max(r["greeting"] for r in results),
        "login_mean": mean("login"), "login_max": max(r["login"] for r in results),
        "commands_mean": mean("commands"), "quit_mean": mean("quit"),
        "quit_max": max(r["quit"] for r in results),
        # The server's CPU seconds from the moment every client was logged
        # in to the last QUIT: its own cost, which a slow client cannot hide.
        "server_cpu": cpu,
    }


def warm(port, clients, tls, cafile):
    """One login, STAT, LIST and QUIT per maildrop, so both servers have
    built their indexes before anything is timed."""
    global c_user
    for k in range(1, clients + 1):
        c_user = address(k)
        c, _, _ = login(port, tls, cafile)
        c.send(b"STAT\r\nLIST\r\nQUIT\r\n")
        c.line()
        c.multiline()
        c.line()
        c.sock.close()


def count(port, clients, tls, cafile):
    """The number of messages left in all the maildrops together."""
    global c_user
    total = 0
    for k in range(1, clients + 1):
        c_user = address(k)
        c, _, _ = login(port, tls, cafile)
        c.send(b"STAT\r\n")
        total += int(c.line().split()[1])
        c.send(b"QUIT\r\n")
        c.line()
        c.sock.close()
    return total


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "load-smtp":
        print(repr(load_smtp(int(a[0]), int(a[1]), int(a[2]), int(a[3]))))
    elif cmd == "load-maildir":
        print(repr(load_maildir(a[0], int(a[1]), int(a[2]), int(a[3]))))
    elif cmd in ("warm", "count"):
        tls = len(a) > 2 and a[2] == "1"
        r = (warm if cmd == "warm" else count)(int(a[0]), int(a[1]), tls, a[3] if tls else None)
        if r is not None:
            print(r)
    elif cmd in ("retr", "dele"):
        tls = len(a) > 4 and a[4] == "1"
        print(repr(measure(cmd, int(a[0]), int(a[1]), int(a[2]), int(a[3]), tls, a[5] if tls else None)))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
