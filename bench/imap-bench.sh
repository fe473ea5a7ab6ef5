#!/usr/bin/env bash
# IMAP: the reference server against Dovecot (Maildir, mail_fsync = always)
# on the same machine, driven by the same Python imaplib clients over
# STARTTLS (both use the reference server's development certificate).
#
#   bash bench/imap-bench.sh [MESSAGES] [CLIENTS] [ROUNDS]
#
# MESSAGES are loaded into each INBOX with IMAP APPEND (8 connections); then
#  - the large-mailbox timings: one client, SELECT INBOX, FETCH 1:* FLAGS,
#    FETCH 1:* ENVELOPE, SEARCH UNSEEN, SEARCH SUBJECT, SORT (REVERSE DATE),
#    SORT (SUBJECT), SORT (FROM), THREAD REFERENCES and THREAD ORDEREDSUBJECT
#    (half the messages answer another, dates not in arrival order; median
#    of 5, so Dovecot's sort and thread indexes are built and used), once
#    with imaplib and once over a raw TLS socket that only looks for the
#    tagged reply, so that the client's own parsing does not hide the
#    server's time;
#  - APPEND of one message from imaplib, which sends the literal and its
#    closing CRLF in two writes (median of 20): what migration tools pay
#    per message;
#  - the concurrent workload: CLIENTS processes, each ROUNDS times LOGIN,
#    SELECT Work (200 messages), FETCH 1:* FLAGS, FETCH 1:* ENVELOPE,
#    SEARCH UNSEEN, APPEND, UID STORE +FLAGS (\Deleted), UID EXPUNGE, LOGOUT.
#
# Both servers remember successful password checks for 15 minutes: ours by
# default ([auth] verified_cache_seconds), Dovecot with auth_cache_size and
# auth_cache_ttl set here (its default is no cache). AUTH_CACHE=0 turns the
# cache off in both, for the cost of an argon2 check at every LOGIN.
#
# Needs root (Dovecot runs as a system daemon with its own users) and
# Debian's dovecot-imapd, which the script installs if missing. It builds the
# server in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=${1:-20000}
CLIENTS=${2:-50}
ROUNDS=${3:-10}
AUTH_CACHE=${AUTH_CACHE:-1}
if [ "$AUTH_CACHE" = 1 ]; then OURS_CACHE=900; DOVECOT_CACHE="auth_cache_size = 10M"; else OURS_CACHE=0; DOVECOT_CACHE="auth_cache_size = 0"; fi
OURS_PORT=13143
DOVECOT_PORT=13144
WORK=$(mktemp -d /var/tmp/axigen-imap-bench.XXXXXX)
chmod 755 "$WORK"
trap '[ -n "${DOVECOT_PID:-}" ] && kill "$DOVECOT_PID" 2>/dev/null; [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

if ! command -v /usr/sbin/dovecot >/dev/null 2>&1 || [ ! -x /usr/lib/dovecot/imap ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
fi
# The package starts a system instance on the standard ports; ours is separate.
systemctl stop dovecot >/dev/null 2>&1 || service dovecot stop >/dev/null 2>&1 || true

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/axigen-release}"
cargo build --release --example server >/dev/null
SERVER="$CARGO_TARGET_DIR/release/examples/server"

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# ---- the reference server -------------------------------------------------
cat >"$WORK/server.toml" <<EOF
data_dir = "$WORK/ours"
hostname = "bench.example"
[log]
level = "warn"
[imap]
# Every client logs in as the one bench user (Dovecot: mail_max_userip_connections).
max_connections_per_account = 0
[auth]
verified_cache_seconds = $OURS_CACHE
[[listener]]
service = "imap"
bind = "127.0.0.1:$OURS_PORT"
tls = "starttls"
max_connections_per_ip = 1000
[[directory.domain]]
name = "bench.example"
[[directory.account]]
address = "bench@bench.example"
password = "bench"
EOF
"$SERVER" --config "$WORK/server.toml" >/dev/null 2>"$WORK/server.log" &
SERVER_PID=$!
wait_port $OURS_PORT || { cat "$WORK/server.log"; exit 1; }
CERT="$WORK/ours/dev-cert.pem"
KEY="$WORK/ours/dev-key.pem"

# ---- Dovecot ---------------------------------------------------------------
id bench >/dev/null 2>&1 || useradd -m bench
mkdir -p "$WORK/dovecot/run" "$WORK/dovecot/state" "$WORK/dovecot/home"
chown bench:bench "$WORK/dovecot/home"
# The same password hashing as the reference server (argon2id, m=19 MiB,
# t=2, p=1: axigen-core/src/password.rs), so LOGIN costs compare. Dovecot's
# `doveadm pw` only makes m=64 MiB, t=3, so the hash comes from the argon2
# tool; PLAIN (and a note) if that is missing.
command -v argon2 >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq argon2 >/dev/null 2>&1 || true
if command -v argon2 >/dev/null 2>&1; then
    HASH="{ARGON2ID}$(echo -n bench | argon2 "$(head -c 12 /dev/urandom | base64 | tr -d '+/=')" -id -k 19456 -t 2 -p 1 -e)"
else
    echo "note: argon2 tool missing; Dovecot checks a PLAIN password (cheaper LOGIN)" >&2
    HASH="{PLAIN}bench"
fi
echo "bench@bench.example:$HASH" >"$WORK/dovecot/passwd"
DH=""
[ -f /usr/share/dovecot/dh.pem ] && DH="ssl_dh = </usr/share/dovecot/dh.pem"
cat >"$WORK/dovecot/dovecot.conf" <<EOF
protocols = imap
listen = 127.0.0.1
base_dir = $WORK/dovecot/run
state_dir = $WORK/dovecot/state
log_path = $WORK/dovecot/dovecot.log
ssl = yes
ssl_cert = <$CERT
ssl_key = <$KEY
$DH
disable_plaintext_auth = yes
auth_mechanisms = plain
$DOVECOT_CACHE
auth_cache_ttl = 15 min
passdb {
  driver = passwd-file
  args = username_format=%u $WORK/dovecot/passwd
}
userdb {
  driver = static
  args = uid=bench gid=bench home=$WORK/dovecot/home/%u
}
mail_location = maildir:~/Maildir
mail_fsync = always
namespace inbox {
  inbox = yes
  separator = /
}
default_process_limit = 1000
# Every client logs in as the one bench user from 127.0.0.1.
protocol imap {
  mail_max_userip_connections = 1000
}
default_client_limit = 4000
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DOVECOT_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
/usr/sbin/dovecot -F -c "$WORK/dovecot/dovecot.conf" &
DOVECOT_PID=$!
wait_port $DOVECOT_PORT || { cat "$WORK/dovecot/dovecot.log"; exit 1; }

# ---- the workload ------------------------------------------------------------
cat >"$WORK/bench.py" <<'EOF'
import imaplib, multiprocessing, re, ssl, sys, time

CERT = sys.argv[1]
USER, PASSWORD = "bench@bench.example", "bench"

def connect(port):
    m = imaplib.IMAP4("127.0.0.1", port)
    ctx = ssl.create_default_context(cafile=CERT)
    ctx.check_hostname = False
    m.starttls(ssl_context=ctx)
    m.login(USER, PASSWORD)
    return m

def message(i, folder):
    body = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 30 + "\r\n") * 2
    # Dates spread over a month, not in arrival order; every odd message
    # answers message i // 2, so REFERENCES builds trees of replies.
    day, second = 1 + (i * 7919) % 28, (i * 104729) % 86400
    date = f"{day} Feb 2022 {second // 3600:02}:{second // 60 % 60:02}:{second % 60:02} +0000"
    refs = f"References: <{i // 2}.{folder}@load.example>\r\n" if i % 2 else ""
    subject = f"Re: {folder} message {i // 2}" if i % 2 else f"{folder} message {i}"
    return (f"From: Sender {i} <sender{i}@load.example>\r\nTo: bench@bench.example\r\n"
            f"Subject: {subject}\r\nDate: {date}\r\n{refs}"
            f"Message-ID: <{i}.{folder}@load.example>\r\n\r\n{body}").encode()

def load(args):
    port, folder, start, count = args
    m = connect(port)
    for i in range(start, start + count):
        flags = "(\\Seen)" if i % 3 else None
        typ, _ = m.append(folder, flags, None, message(i, folder))
        assert typ == "OK"
    m.logout()

def fill(port, folder, n, conns=8):
    m = connect(port)
    if folder != "INBOX":
        m.create(folder)
    m.logout()
    per = (n + conns - 1) // conns
    jobs = [(port, folder, s, min(per, n - s)) for s in range(0, n, per)]
    t = time.time()
    with multiprocessing.Pool(len(jobs)) as pool:
        pool.map(load, jobs)
    return time.time() - t

def timed(f, runs=5):
    """Median time of `runs` calls, and the last result."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = f()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2], r

class Raw:
    """A raw IMAP connection over TLS: sends a command and reads bytes until
    its tagged reply, parsing nothing else."""
    def __init__(self, port):
        import socket
        s = socket.create_connection(("127.0.0.1", port))
        s.recv(4096)
        s.sendall(b"s STARTTLS\r\n")
        s.recv(4096)
        ctx = ssl.create_default_context(cafile=CERT)
        ctx.check_hostname = False
        self.s = ctx.wrap_socket(s)
        self.n = 0
        self.run(f'LOGIN "{USER}" "{PASSWORD}"')
    def run(self, command):
        self.n += 1
        tag = f"r{self.n}".encode()
        self.s.sendall(tag + b" " + command.encode() + b"\r\n")
        buf, end = b"\r\n", b"\r\n" + tag + b" "
        while True:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            buf = buf[-256:] + chunk
            i = buf.find(end)
            if i >= 0 and buf.find(b"\r\n", i + 2) >= 0:
                break
        line = buf[i + 2:buf.find(b"\r\n", i + 2)]
        assert line.startswith(tag + b" OK"), line[:200]
        return line

# SORT and THREAD as webmails ask for them (RFC 5256).
SORTS = [("SORT (REVERSE DATE)", "(REVERSE DATE)"), ("SORT (SUBJECT)", "(SUBJECT)"), ("SORT (FROM)", "(FROM)")]
THREADS = [("THREAD REFERENCES", "REFERENCES"), ("THREAD ORDEREDSUBJECT", "ORDEREDSUBJECT")]

def large(port, n):
    m = connect(port)
    out = {}
    out["SELECT INBOX"], r = timed(lambda: m.select("INBOX"))
    assert int(r[1][0]) == n, r
    out["FETCH 1:* FLAGS"], r = timed(lambda: m.fetch("1:*", "(FLAGS)"))
    assert r[0] == "OK" and len(r[1]) == n, len(r[1])
    out["FETCH 1:* ENVELOPE"], r = timed(lambda: m.fetch("1:*", "(ENVELOPE)"))
    assert r[0] == "OK" and len(r[1]) == n
    out["SEARCH UNSEEN"], r = timed(lambda: m.search(None, "UNSEEN"))
    assert len(r[1][0].split()) == (n + 2) // 3, len(r[1][0].split())
    out["SEARCH SUBJECT"], r = timed(lambda: m.search(None, "SUBJECT", '"message 42"'))
    assert r[0] == "OK"
    for name, criteria in SORTS:
        out[name], r = timed(lambda: m.sort(criteria, "UTF-8", "ALL"))
        assert r[0] == "OK" and len(r[1][0].split()) == n, (name, r[0])
    for name, algorithm in THREADS:
        out[name], r = timed(lambda: m.thread(algorithm, "UTF-8", "ALL"))
        assert r[0] == "OK" and r[1][0].startswith(b"("), (name, r[1][0][:80])
    m.logout()
    raw = Raw(port)
    for name, command in [("SELECT INBOX", "SELECT INBOX"), ("FETCH 1:* FLAGS", "FETCH 1:* (FLAGS)"),
                          ("FETCH 1:* ENVELOPE", "FETCH 1:* (ENVELOPE)"), ("SEARCH UNSEEN", "SEARCH UNSEEN"),
                          ("SEARCH SUBJECT", 'SEARCH SUBJECT "message 42"')] + \
                         [(name, f"SORT {c} UTF-8 ALL") for name, c in SORTS] + \
                         [(name, f"THREAD {a} UTF-8 ALL") for name, a in THREADS]:
        out["raw " + name], _ = timed(lambda: raw.run(command), 11)
    # One message at a time, as a migration tool appends.
    m = connect(port)
    m.select("Work")
    k = iter(range(10**6))
    out["APPEND one message"], r = timed(lambda: m.append("Work", None, None, message(2_000_000 + next(k), "Work")), 20)
    assert r[0] == "OK", r
    m.logout()
    return out

OPS = ["LOGIN", "SELECT", "FETCH FLAGS", "FETCH ENVELOPE", "SEARCH", "APPEND", "STORE", "EXPUNGE", "LOGOUT"]

def client(args):
    port, rounds, k = args
    times = {op: 0.0 for op in OPS}
    for r in range(rounds):
        t = time.time(); m = connect(port); times["LOGIN"] += time.time() - t
        t = time.time(); typ, _ = m.select("Work"); times["SELECT"] += time.time() - t
        assert typ == "OK"
        t = time.time(); m.fetch("1:*", "(FLAGS)"); times["FETCH FLAGS"] += time.time() - t
        t = time.time(); m.fetch("1:*", "(ENVELOPE)"); times["FETCH ENVELOPE"] += time.time() - t
        t = time.time(); m.search(None, "UNSEEN"); times["SEARCH"] += time.time() - t
        t = time.time(); typ, data = m.append("Work", None, None, message(1_000_000 + k * 1000 + r, "Work"))
        times["APPEND"] += time.time() - t
        uid = re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1).decode()
        t = time.time(); typ, _ = m.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)"); times["STORE"] += time.time() - t
        assert typ == "OK"
        t = time.time(); typ, _ = m.uid("EXPUNGE", uid); times["EXPUNGE"] += time.time() - t
        assert typ == "OK"
        t = time.time(); m.logout(); times["LOGOUT"] += time.time() - t
    return times

def concurrent(port, clients, rounds):
    t = time.time()
    with multiprocessing.Pool(clients) as pool:
        results = pool.map(client, [(port, rounds, k) for k in range(clients)])
    wall = time.time() - t
    total = {op: sum(r[op] for r in results) / (clients * rounds) for op in OPS}
    return wall, total

def main():
    port, n, clients, rounds = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    out = {"load": fill(port, "INBOX", n)}
    fill(port, "Work", 200)
    out["large"] = large(port, n)
    out["wall"], out["ops"] = concurrent(port, clients, rounds)
    print(repr(out))

main()
EOF

run() { python3 "$WORK/bench.py" "$CERT" "$1" "$MESSAGES" "$CLIENTS" "$ROUNDS"; }
ours=$(run $OURS_PORT)
dovecot=$(run $DOVECOT_PORT)

python3 - "$MESSAGES" "$CLIENTS" "$ROUNDS" "$ours" "$dovecot" "$AUTH_CACHE" <<'EOF'
import ast, sys
n, clients, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ours, dove = ast.literal_eval(sys.argv[4]), ast.literal_eval(sys.argv[5])
print(f"IMAP over STARTTLS, Python imaplib clients; Dovecot: Maildir, mail_fsync = always; password cache: {'on in both' if sys.argv[6] == '1' else 'off in both'}")
print(f"{'':<34}{'axigen-rs':>12}{'dovecot':>12}{'dovecot/ours':>14}")
def row(name, a, b, scale=1, unit="s"):
    a, b = a * scale, b * scale
    print(f"{name:<34}{a:>10.3f}{unit:<2}{b:>10.3f}{unit:<2}{b / a if a else float('nan'):>13.2f}x")
row(f"load {n} messages (APPEND, 8 conns)", ours["load"], dove["load"])
print(f"large mailbox ({n} messages), median of 5 (raw: median of 11 over a socket, no client parsing):")
for k in ours["large"]:
    row("  " + k, ours["large"][k], dove["large"][k], 1000, "ms")
print(f"{clients} concurrent clients x {rounds} rounds (folder of 200):")
row("  wall time", ours["wall"], dove["wall"])
total = clients * rounds
print(f"  {'rounds/s':<32}{total / ours['wall']:>12.1f}{total / dove['wall']:>12.1f}{(total / ours['wall']) / (total / dove['wall']):>13.2f}x (ours/dovecot)")
print("  mean latency per command (ms):")
for op in ours["ops"]:
    a, b = ours["ops"][op] * 1000, dove["ops"][op] * 1000
    print(f"    {op:<30}{a:>11.2f} {b:>11.2f} {b / a if a else float('nan'):>13.2f}x")
print("(ratios > 1: the reference server is faster)")
EOF
