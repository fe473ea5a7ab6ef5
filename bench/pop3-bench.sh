#!/usr/bin/env bash
# POP3 retrieval: the reference server against Dovecot's POP3 (Maildir,
# mail_fsync = always) on the same machine, driven by the same Python
# clients (bench/pop3_clients.py).
#
#   bash bench/pop3-bench.sh [MESSAGES_PER_MAILDROP] [CLIENTS] [SIZE]
#
# Every one of CLIENTS accounts gets a maildrop of MESSAGES messages of about
# SIZE octets, the same messages on both servers: over SMTP into ours (one
# connection per account carrying all its messages), as Maildir files
# written directly for Dovecot (with S= and W= sizes in the names, as its
# own delivery writes them). Both then get one untimed login per maildrop
# (STAT, LIST), so Dovecot's indexes exist before anything is timed.
#  - RETR phase: the CLIENTS connect at once (a barrier), USER/PASS, STAT,
#    wait until every client is logged in (a second barrier), then RETR
#    every message with WINDOW (default 32) commands in flight (PIPELINING;
#    WINDOW=1 is lock-step), QUIT without DELE. Best of RUNS (default 3),
#    alternating servers. Retrieval messages/s over the time from the
#    second barrier to the last RETR reply (the goal's figure: logins cost
#    the password hash, the same in both, and are reported apart); the
#    session rows over the wall time from the first connect to the last
#    QUIT reply.
#  - DELE phase: the same, but DELE every message then QUIT: the QUIT reply
#    comes after the UPDATE state has removed them (timed separately).
#
# Transport: plaintext on loopback with USER/PASS allowed in both
# (ours: [pop3] allow_plaintext_auth; Dovecot: disable_plaintext_auth = no).
# TLS=1 uses implicit TLS (pop3s) on both instead, with the reference
# server's development certificate.
#
# AUTH_CACHE=0 turns the password caches off in both (ours:
# [auth] verified_cache_seconds = 0; Dovecot: auth_cache_size = 0): every
# login then pays the full argon2 check in both.
#
# Dovecot's login processes run in its high-performance mode (service_count
# = 0, process_min_avail = nproc). Logins: the same argon2id hash parameters in both and both remember a
# verified password for 15 minutes (as in bench/imap-bench.sh); Dovecot's
# pop3_no_flag_updates = yes, since ours does not set \Seen on RETR either.
#
# Needs root (Dovecot runs as a system daemon with its own users) and
# Debian's dovecot-pop3d, which the script installs if missing. It builds the
# server in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=${1:-1000}
CLIENTS=${2:-20}
SIZE=${3:-4096}
WINDOW=${WINDOW:-32}
RUNS=${RUNS:-3}
TLS=${TLS:-0}
OURS_PORT=13110
OURS_SMTP=13125
DOVECOT_PORT=13111
BENCH_DIR=$(pwd)/bench
WORK=$(mktemp -d /var/tmp/axigen-pop3-bench.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    [ -n "${DOVECOT_PID:-}" ] && kill "$DOVECOT_PID" 2>/dev/null && wait "$DOVECOT_PID" 2>/dev/null
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ ! -x /usr/sbin/dovecot ] || [ ! -x /usr/lib/dovecot/pop3 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-pop3d >/dev/null
fi
# The package starts a system instance on the standard ports; ours is separate.
systemctl stop dovecot >/dev/null 2>&1 || service dovecot stop >/dev/null 2>&1 || true

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/axigen-release}"
flock -o /tmp/axigen-build.lock cargo build --release --example server >/dev/null
SERVER="$CARGO_TARGET_DIR/release/examples/server"

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
clients() { python3 "$BENCH_DIR/pop3_clients.py" "$@"; }

# ---- the reference server -------------------------------------------------
if [ "$TLS" = 1 ]; then OURS_TLS="implicit"; else OURS_TLS="none"; fi
if [ "${AUTH_CACHE:-1}" = 1 ]; then
    OURS_CACHE=900 DOVECOT_CACHE="auth_cache_size = 10M"
else
    OURS_CACHE=0 DOVECOT_CACHE="auth_cache_size = 0"
fi
{
    cat <<EOF
data_dir = "$WORK/ours"
hostname = "bench.example"
[log]
level = "warn"
[delivery]
enabled = false
[pop3]
allow_plaintext_auth = true
[auth]
verified_cache_seconds = $OURS_CACHE
[[listener]]
service = "smtp"
bind = "127.0.0.1:$OURS_SMTP"
max_connections_per_ip = 1000
[[listener]]
service = "pop3"
bind = "127.0.0.1:$OURS_PORT"
tls = "$OURS_TLS"
max_connections_per_ip = 1000
[[directory.domain]]
name = "bench.example"
EOF
    for k in $(seq "$CLIENTS"); do
        printf '[[directory.account]]\naddress = "u%s@bench.example"\npassword = "bench"\n' "$k"
    done
} >"$WORK/server.toml"
"$SERVER" --config "$WORK/server.toml" >/dev/null 2>"$WORK/server.log" &
SERVER_PID=$!
wait_port $OURS_PORT || { cat "$WORK/server.log"; exit 1; }
wait_port $OURS_SMTP || { cat "$WORK/server.log"; exit 1; }
CERT="$WORK/ours/dev-cert.pem"
KEY="$WORK/ours/dev-key.pem"

# ---- Dovecot ---------------------------------------------------------------
id bench >/dev/null 2>&1 || useradd -m bench
mkdir -p "$WORK/dovecot/run" "$WORK/dovecot/state" "$WORK/dovecot/home"
# The same password hashing as the reference server (argon2id, m=19 MiB,
# t=2, p=1), as in bench/imap-bench.sh; PLAIN (and a note) without the tool.
# Dovecot's auth cache keeps the hash, not the verdict, so it runs argon2 at
# every login; PLAIN_HASH=1 gives it a {PLAIN} password to leave that out.
command -v argon2 >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq argon2 >/dev/null 2>&1 || true
if [ "${PLAIN_HASH:-0}" = 1 ]; then
    HASH="{PLAIN}bench"
elif command -v argon2 >/dev/null 2>&1; then
    HASH="{ARGON2ID}$(echo -n bench | argon2 "$(head -c 12 /dev/urandom | base64 | tr -d '+/=')" -id -k 19456 -t 2 -p 1 -e)"
else
    echo "note: argon2 tool missing; Dovecot checks a PLAIN password (cheaper login)" >&2
    HASH="{PLAIN}bench"
fi
for k in $(seq "$CLIENTS"); do echo "u$k@bench.example:$HASH"; done >"$WORK/dovecot/passwd"
if [ "$TLS" = 1 ]; then
    DH=""
    [ -f /usr/share/dovecot/dh.pem ] && DH="ssl_dh = </usr/share/dovecot/dh.pem"
    DOVECOT_SSL="ssl = required
ssl_cert = <$CERT
ssl_key = <$KEY
$DH"
    LISTENERS="inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $DOVECOT_PORT
    ssl = yes
  }"
else
    DOVECOT_SSL="ssl = no"
    LISTENERS="inet_listener pop3 {
    address = 127.0.0.1
    port = $DOVECOT_PORT
  }
  inet_listener pop3s {
    port = 0
  }"
fi
cat >"$WORK/dovecot/dovecot.conf" <<EOF
protocols = pop3
listen = 127.0.0.1
base_dir = $WORK/dovecot/run
state_dir = $WORK/dovecot/state
log_path = $WORK/dovecot/dovecot.log
$DOVECOT_SSL
disable_plaintext_auth = no
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
pop3_uidl_format = %08Xu%08Xv
pop3_no_flag_updates = yes
default_process_limit = 1000
default_client_limit = 4000
# Dovecot's documented high-performance login mode: login processes that
# serve many connections and are started in advance.
service pop3-login {
  $LISTENERS
  service_count = 0
  process_min_avail = $(nproc)
}
EOF

# ---- loading -------------------------------------------------------------------
ours_load=$(clients load-smtp $OURS_SMTP "$CLIENTS" "$MESSAGES" "$SIZE")
dovecot_load=$(clients load-maildir "$WORK/dovecot/home" "$CLIENTS" "$MESSAGES" "$SIZE")
chown -R bench:bench "$WORK/dovecot/home"

/usr/sbin/dovecot -F -c "$WORK/dovecot/dovecot.conf" &
DOVECOT_PID=$!
wait_port $DOVECOT_PORT || { cat "$WORK/dovecot/dovecot.log"; exit 1; }

TLSARGS=()
[ "$TLS" = 1 ] && TLSARGS=(1 "$CERT")
clients warm $OURS_PORT "$CLIENTS" "${TLSARGS[@]}"
clients warm $DOVECOT_PORT "$CLIENTS" "${TLSARGS[@]}"

# ---- measuring -------------------------------------------------------------------
[ "$TLS" = 1 ] || TLSARGS=(0 none)
ours_retr=()
dovecot_retr=()
for _ in $(seq "$RUNS"); do
    ours_retr+=("$(SERVER_PID=$SERVER_PID clients retr $OURS_PORT "$CLIENTS" "$MESSAGES" "$WINDOW" "${TLSARGS[@]}")")
    dovecot_retr+=("$(SERVER_PID=$DOVECOT_PID clients retr $DOVECOT_PORT "$CLIENTS" "$MESSAGES" "$WINDOW" "${TLSARGS[@]}")")
done
ours_dele=$(clients dele $OURS_PORT "$CLIENTS" "$MESSAGES" "$WINDOW" "${TLSARGS[@]}")
dovecot_dele=$(clients dele $DOVECOT_PORT "$CLIENTS" "$MESSAGES" "$WINDOW" "${TLSARGS[@]}")
[ "$TLS" = 1 ] || TLSARGS=()
ours_left=$(clients count $OURS_PORT "$CLIENTS" "${TLSARGS[@]}")
dovecot_left=$(clients count $DOVECOT_PORT "$CLIENTS" "${TLSARGS[@]}")

python3 - "$MESSAGES" "$CLIENTS" "$SIZE" "$WINDOW" "$TLS" "$ours_load" "$dovecot_load" \
    "$ours_dele" "$dovecot_dele" "$ours_left" "$dovecot_left" "$RUNS" "${HASH%%\}*}}" \
    "${ours_retr[@]}" "${dovecot_retr[@]}" <<'EOF'
import ast, os, sys
a = sys.argv[1:]
n, clients, size, window, tls = int(a[0]), int(a[1]), int(a[2]), int(a[3]), a[4] == "1"
ours_load, dove_load = float(a[5]), float(a[6])
ours_dele, dove_dele = ast.literal_eval(a[7]), ast.literal_eval(a[8])
ours_left, dove_left, runs = int(a[9]), int(a[10]), int(a[11])
dove_hash = a[12]
retr = [ast.literal_eval(x) for x in a[13:]]
ours = min(retr[:runs], key=lambda r: r["span"])
dove = min(retr[runs:], key=lambda r: r["span"])
total = clients * n
for r in (ours, dove):
    assert r["messages"] == total, r

transport = "implicit TLS (pop3s) on both" if tls else "plaintext on loopback, USER/PASS allowed on both"
print(f"POP3: {clients} concurrent clients, each RETR of a {n}-message maildrop (~{size} octets/message)")
print(f"transport: {transport}; {window} commands in flight (PIPELINING); RETR phase best of {runs}")
print(f"load: ours via SMTP (1 connection/account), Dovecot as Maildir files written directly (untimed for the ratio)")
print(f"Dovecot: Maildir, mail_fsync = always, pop3_uidl_format = %08Xu%08Xv, pop3_no_flag_updates = yes, password {dove_hash}")
print("password caches: " + ("on in both (15 min)" if os.environ.get("AUTH_CACHE", "1") == "1" else "off in both"))
print(f"{'':<40}{'axigen-rs':>14}{'dovecot':>14}{'ours/dovecot':>14}")

def row(name, x, y, fmt, higher_better):
    ratio = (x / y if higher_better else y / x) if x and y else float("nan")
    print(f"{name:<40}{fmt.format(x):>14}{fmt.format(y):>14}{ratio:>13.2f}x")

def plain(name, x, y, fmt):
    print(f"{name:<40}{fmt.format(x):>14}{fmt.format(y):>14}")

plain(f"load {total} messages (s)", ours_load, dove_load, "{:.2f}")
print(f"RETR phase ({total} messages):")
row("  retrieval messages/s (all logged in)", total / ours["span"], total / dove["span"], "{:.0f}", True)
row("  retrieval MB/s (octets on the wire)", ours["octets"] / ours["span"] / 1e6, dove["octets"] / dove["span"] / 1e6, "{:.1f}", True)
row("  server CPU per message (us), all processes", ours["server_cpu"] / total * 1e6, dove["server_cpu"] / total * 1e6, "{:.1f}", False)
row("  session wall time, logins included (s)", ours["wall"], dove["wall"], "{:.3f}", False)
row("  session messages/s, logins included", total / ours["wall"], total / dove["wall"], "{:.0f}", True)
row("  greeting, mean (ms)", ours["greeting_mean"] * 1e3, dove["greeting_mean"] * 1e3, "{:.2f}", False)
row("  login to first byte of +OK, mean (ms)", ours["login_mean"] * 1e3, dove["login_mean"] * 1e3, "{:.2f}", False)
row("  login to first byte of +OK, max (ms)", ours["login_max"] * 1e3, dove["login_max"] * 1e3, "{:.2f}", False)
row("  QUIT without DELE, mean (ms)", ours["quit_mean"] * 1e3, dove["quit_mean"] * 1e3, "{:.2f}", False)
print(f"DELE phase (DELE all {total}, then QUIT = UPDATE):")
row("  wall time (s)", ours_dele["wall"], dove_dele["wall"], "{:.3f}", False)
row("  messages deleted/s", total / ours_dele["wall"], total / dove_dele["wall"], "{:.0f}", True)
row("  DELE commands per client, mean (ms)", ours_dele["commands_mean"] * 1e3, dove_dele["commands_mean"] * 1e3, "{:.1f}", False)
row("  QUIT (UPDATE), mean (ms)", ours_dele["quit_mean"] * 1e3, dove_dele["quit_mean"] * 1e3, "{:.1f}", False)
row("  QUIT (UPDATE), max (ms)", ours_dele["quit_max"] * 1e3, dove_dele["quit_max"] * 1e3, "{:.1f}", False)
plain("  messages left afterwards", ours_left, dove_left, "{}")
print("(ratios > 1: the reference server is faster; goal: retrieval messages/s >= 2x)")
EOF
