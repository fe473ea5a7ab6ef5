#!/usr/bin/env bash
# Memory per idle IMAP connection: the reference server against Dovecot on
# the same machine. N concurrent clients (bench/imap_idle_clients.py, one
# Python asyncio process) each STARTTLS, LOGIN, SELECT INBOX (empty) and
# IDLE; the server's memory is read before and with all N idling, and again
# after every client sent DONE and LOGOUT, for ROUNDS rounds (growth from
# round to round after the clients are gone would be a leak).
#
#   bash bench/imap-idle-mem.sh [N] [ROUNDS]
#
# MEM_LIMIT_MIB (default 8192): a server that passes it gets no more clients
# in that round; the figures are then per client actually open.
#
# Memory is RSS (/proc/PID/status) and PSS (/proc/PID/smaps_rollup, which
# shares each page among the processes mapping it). The reference server is
# one process; for Dovecot every process under the master is summed: per
# connection an imap process and, with TLS, the imap-login process that
# proxies it (Dovecot's default, high-security login mode), plus master,
# auth, config, log, anvil. Summed RSS counts shared libraries once per
# process, so for Dovecot PSS is the fair figure.
#
# Needs root (Dovecot runs with its own users) and Debian's dovecot-imapd,
# which the script installs if missing. It builds the server in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-2000}
ROUNDS=${2:-3}
OURS_PORT=13145
DOVECOT_PORT=13146
WORK=$(mktemp -d /var/tmp/axigen-idle-mem.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    local status=$?
    [ -n "${DOVECOT_PID:-}" ] && kill "$DOVECOT_PID" 2>/dev/null
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null
    if [ $status -ne 0 ]; then
        echo "failed: logs kept in $WORK (server.log, dovecot/dovecot.log)" >&2
    else
        rm -rf "$WORK"
    fi
    [ -n "${INOTIFY_WAS:-}" ] && echo "$INOTIFY_WAS" >/proc/sys/fs/inotify/max_user_instances
}
trap cleanup EXIT

# Each client holds a socket in the Python process and one in the server;
# Dovecot's master checks the limit against its client limits.
FILES=$((N * 4 + 2000))
ulimit -n "$FILES" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((N + 200)) ]; then
    echo "open file limit $(ulimit -n) too low for $N connections" >&2
    exit 1
fi

# Each idling Dovecot imap process watches the mailbox with its own inotify
# instance, all as the one bench user (128 by default); raised for the run.
INOTIFY_WAS=$(cat /proc/sys/fs/inotify/max_user_instances)
if [ "$INOTIFY_WAS" -lt $((N + 256)) ]; then
    echo $((N + 256)) >/proc/sys/fs/inotify/max_user_instances
else
    INOTIFY_WAS=""
fi

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
# Every client logs in as the one bench account.
[imap]
max_connections_per_account = 0
[[listener]]
service = "imap"
bind = "127.0.0.1:$OURS_PORT"
tls = "starttls"
max_connections = $((N + 100))
max_connections_per_ip = $((N + 100))
[[directory.domain]]
name = "bench.example"
[[directory.account]]
address = "bench@bench.example"
password = "bench"
EOF
start_ours() { # [VAR=VALUE...]: environment for the server
    env "$@" "$SERVER" --config "$WORK/server.toml" >/dev/null 2>>"$WORK/server.log" &
    SERVER_PID=$!
    wait_port $OURS_PORT || { cat "$WORK/server.log"; exit 1; }
}
stop_ours() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }
start_ours
CERT="$WORK/ours/dev-cert.pem"
KEY="$WORK/ours/dev-key.pem"

# ---- Dovecot ---------------------------------------------------------------
id bench >/dev/null 2>&1 || useradd -m bench
mkdir -p "$WORK/dovecot/run" "$WORK/dovecot/state" "$WORK/dovecot/home"
chown bench:bench "$WORK/dovecot/home"
# The same password hashing as the reference server (argon2id, m=19 MiB,
# t=2, p=1), as in bench/imap-bench.sh; PLAIN if the argon2 tool is missing.
command -v argon2 >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq argon2 >/dev/null 2>&1 || true
if command -v argon2 >/dev/null 2>&1; then
    HASH="{ARGON2ID}$(echo -n bench | argon2 "$(head -c 12 /dev/urandom | base64 | tr -d '+/=')" -id -k 19456 -t 2 -p 1 -e)"
else
    echo "note: argon2 tool missing; Dovecot checks a PLAIN password" >&2
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
passdb {
  driver = passwd-file
  args = username_format=%u $WORK/dovecot/passwd
}
userdb {
  driver = static
  args = uid=bench gid=bench home=$WORK/dovecot/home/%u
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
# One imap process per connection, and (TLS, high-security login mode) one
# imap-login process proxying it: both limits above N (the imap service has
# its own built-in process_limit of 1024). Every client logs in as the one
# bench user from 127.0.0.1.
default_process_limit = $((N + 100))
default_client_limit = $((N * 3 + 1000))
protocol imap {
  mail_max_userip_connections = $((N + 100))
}
service imap {
  process_limit = $((N + 100))
}
service imap-login {
  process_limit = $((N + 100))
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

# ---- the clients -------------------------------------------------------------
CLIENTS="$(dirname "$0")/imap_idle_clients.py"
echo "reference server: $N idle connections, $ROUNDS rounds" >&2
ours=$(python3 "$CLIENTS" $OURS_PORT $SERVER_PID bench@bench.example bench "$N" "$ROUNDS")
stop_ours
# Again with glibc's mmap threshold fixed at its default (128 KiB): each
# LOGIN's argon2 buffer (19 MiB, axigen-core/src/password.rs) is then mapped
# and unmapped instead of being kept in the blocking threads' malloc arenas
# once glibc has raised the threshold, so what remains is the connections'.
echo "reference server, MALLOC_MMAP_THRESHOLD_=131072: $N idle connections, $ROUNDS rounds" >&2
start_ours MALLOC_MMAP_THRESHOLD_=131072
ours_mmap=$(python3 "$CLIENTS" $OURS_PORT $SERVER_PID bench@bench.example bench "$N" "$ROUNDS")
stop_ours
echo "Dovecot: $N idle connections, $ROUNDS rounds" >&2
dovecot=$(python3 "$CLIENTS" $DOVECOT_PORT $DOVECOT_PID bench@bench.example bench "$N" "$ROUNDS")

python3 - "$ours" "$ours_mmap" "$dovecot" "$(/usr/sbin/dovecot --version | cut -d' ' -f1)" <<'EOF'
import json, sys
ours, mmap, dove, version = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
runs = [("axigen-rs", ours), ("axigen-rs*", mmap), ("dovecot", dove)]
n = ours["n"]
MiB = 1024 * 1024
def per_conn(r, key):
    # The first round: later ones reuse pages the allocator kept from it.
    if r["before"][key] is None:
        return None
    return (r["rounds"][0]["idle"][key] - r["before"][key]) / r["rounds"][0]["opened"]
def fmt(v, unit=1024, suffix="KiB"):
    return "n/a" if v is None else f"{v / unit:,.1f} {suffix}"
def row(name, values):
    print(f"{name:<40}" + "".join(f"{v:>16}" for v in values))
print(f"Memory per idle IMAP connection: {n} clients, STARTTLS + LOGIN + SELECT INBOX (empty) + IDLE")
print(f"axigen-rs*: the same binary with MALLOC_MMAP_THRESHOLD_=131072 (glibc); "
      f"dovecot {version}: every process under the master (imap + imap-login per connection)")
row("", [name for name, _ in runs])
for key in ["rss", "pss"]:
    row(f"{key.upper()} per idle connection", [fmt(per_conn(r, key)) for _, r in runs])
for key in ["rss", "pss"]:
    if ours["before"][key] is None:
        continue
    row(f"{key.upper()} before (after a warm-up)", [fmt(r["before"][key], MiB, "MiB") for _, r in runs])
    for i in range(len(ours["rounds"])):
        row(f"  round {i + 1}: clients idling", [fmt(r["rounds"][i]["idle"][key], MiB, "MiB") for _, r in runs])
        row(f"  round {i + 1}: after DONE + LOGOUT", [fmt(r["rounds"][i]["after"][key], MiB, "MiB") for _, r in runs])
row("clients idling (round 1)", [str(r["rounds"][0]["opened"]) for _, r in runs])
row("processes with all idling", [str(r["rounds"][0]["idle"]["processes"]) for _, r in runs])
row("seconds to open all (round 1)", [f"{r['rounds'][0]['setup_seconds']:.1f}" for _, r in runs])
# After the clients leave, memory should come back near the baseline and
# not climb from round to round. Allocators keep freed pages and now and
# then add an arena or a heap (steps of a few MiB), so the verdict allows
# 10% of what N clients took; more rounds make a leak stand out more.
for name, r in runs:
    key = "pss" if r["before"]["pss"] is not None else "rss"
    afters = [x["after"][key] for x in r["rounds"]]
    growth = afters[-1] - afters[0]
    sessions = sum(x["opened"] for x in r["rounds"][1:])
    idle_delta = r["rounds"][0]["idle"][key] - r["before"][key]
    verdict = "stable" if growth <= max(0.10 * idle_delta, 2 * MiB) else "GROWS"
    per_session = f", {growth / sessions:+,.0f} B per later session" if sessions else ""
    print(f"{name}: {key.upper()} after the clients left, rounds 1 -> {len(afters)}: "
          f"{afters[0] / MiB:,.1f} -> {afters[-1] / MiB:,.1f} MiB ({growth / MiB:+,.1f} MiB{per_session}; "
          f"kept after round 1: {(afters[0] - r['before'][key]) / MiB:+,.1f} MiB): {verdict}")
for name, r in runs[:2]:
    goal = per_conn(r, "pss") or per_conn(r, "rss")
    print(f"{name}: goal under 64 KiB per idle connection: {'met' if goal < 64 * 1024 else 'NOT met'} ({goal / 1024:,.1f} KiB)")
EOF
