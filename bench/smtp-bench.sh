#!/usr/bin/env bash
# SMTP receiving throughput: messages per second accepted AND durably stored
# in a local mailbox, with many concurrent connections, for the reference
# server and for Postfix (local(8) delivery into a Maildir, which fsyncs
# each message) on the same machine, with the same load generator
# (Postfix's smtp-source).
#
#   bash bench/smtp-bench.sh [MESSAGES] [SESSIONS] [SIZE]
#
# Needs root (Postfix runs as a system service) and Debian's postfix
# package, which also provides smtp-source; the script installs it if
# missing. It builds the server in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=${1:-5000}
SESSIONS=${2:-50}
SIZE=${3:-4096}
OURS_PORT=13025
POSTFIX_PORT=12525
WORK=$(mktemp -d /var/tmp/axigen-smtp-bench.XXXXXX)
trap 'postfix stop >/dev/null 2>&1 || true; [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

if ! command -v smtp-source >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/axigen-release}"
cargo build --release --example server >/dev/null
SERVER="$CARGO_TARGET_DIR/release/examples/server"

elapsed() { python3 -c "import time,sys; print(f'{time.time()-float(sys.argv[1]):.3f}')" "$1"; }
now() { python3 -c 'import time; print(time.time())'; }

# ---- the reference server -------------------------------------------------
cat >"$WORK/server.toml" <<EOF
data_dir = "$WORK/ours"
hostname = "bench.example"
[log]
level = "warn"
[smtp]
max_recipients = 1000
[[listener]]
service = "smtp"
bind = "127.0.0.1:$OURS_PORT"
max_connections_per_ip = 1000
[[directory.domain]]
name = "bench.example"
[[directory.account]]
address = "bench@bench.example"
password = "bench"
EOF
"$SERVER" --config "$WORK/server.toml" >/dev/null 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$OURS_PORT) 2>/dev/null && break; sleep 0.1; done

start=$(now)
smtp-source -c -m "$MESSAGES" -s "$SESSIONS" -l "$SIZE" -f sender@load.example -t bench@bench.example \
    127.0.0.1:$OURS_PORT >/dev/null
ours_secs=$(elapsed "$start")
kill "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=
stored=$("$SERVER" --config "$WORK/server.toml" check | sed -n 's/^checked [0-9]* accounts, [0-9]* folders, \([0-9]*\) messages.*/\1/p')

# ---- Postfix -----------------------------------------------------------------
id bench >/dev/null 2>&1 || useradd -m bench
rm -rf /home/bench/Maildir
postfix stop >/dev/null 2>&1 || true
postconf -e "myhostname = postfix.bench.example" "mydestination = bench.example" \
    "inet_interfaces = loopback-only" "home_mailbox = Maildir/" "smtpd_recipient_restrictions = permit" \
    "default_process_limit = 200" "smtpd_client_connection_count_limit = 0" \
    "smtpd_client_connection_rate_limit = 0" "smtpd_client_message_rate_limit = 0" \
    "in_flow_delay = 0" "message_size_limit = 52428800" "local_destination_concurrency_limit = 20"
postconf -M "$POSTFIX_PORT/inet=$POSTFIX_PORT inet n - n - - smtpd"
postfix start >/dev/null 2>&1
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$POSTFIX_PORT) 2>/dev/null && break; sleep 0.1; done

start=$(now)
smtp-source -c -m "$MESSAGES" -s "$SESSIONS" -l "$SIZE" -f sender@load.example -t bench@bench.example \
    127.0.0.1:$POSTFIX_PORT >/dev/null
# Postfix acknowledges when queued; the message is in the mailbox later.
while [ "$(find /home/bench/Maildir/new -type f 2>/dev/null | wc -l)" -lt "$MESSAGES" ]; do sleep 0.05; done
postfix_secs=$(elapsed "$start")
postfix stop >/dev/null 2>&1 || true
postconf -MX "$POSTFIX_PORT/inet" || true

python3 - "$MESSAGES" "$ours_secs" "$postfix_secs" "$stored" "$SESSIONS" "$SIZE" <<'EOF'
import sys
n, ours, postfix, stored, sessions, size = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
print(f"{n} messages of {size} bytes over {sessions} concurrent sessions, into a durable local mailbox")
print(f"{'server':<12}{'seconds':>10}{'msgs/s':>10}")
print(f"{'axigen-rs':<12}{ours:>10.2f}{n/ours:>10.0f}   (stored: {stored})")
print(f"{'postfix':<12}{postfix:>10.2f}{n/postfix:>10.0f}")
print(f"ratio axigen-rs / postfix: {postfix/ours:.2f}x")
EOF
