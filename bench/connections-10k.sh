#!/usr/bin/env bash
# Connection scale: N idle IMAP connections and P parked ActiveSync Pings on
# the reference server at once (default 10000 each), on this machine.
#
#   bash bench/connections-10k.sh [N] [P]
#
# The server holds a socket per connection: it needs N + P + ~200 open
# files. Where the hard limit is lower and cannot be raised (a container
# without CAP_SYS_RESOURCE), the script says so; run it with numbers that
# fit (e.g. 9900 9900 under a limit of 20000).
#
#  1. N IMAP clients (bench/imap_idle_clients.py, one asyncio process) each
#     STARTTLS, LOGIN, SELECT INBOX and IDLE, and stay idling.
#  2. Beside them, P provisioned ActiveSync devices of another account each
#     park a Ping (HeartbeatInterval 600) over HTTPS (bench/activesync_clients.py
#     park: raw asyncio HTTP/1.1 over TLS).
#  3. One message is delivered over SMTP to the Pings' account: the time from
#     its 250 until the last Ping has answered is the fan-out latency (goal:
#     every Ping within 2 s).
# Memory is the server's RSS and PSS (/proc): per idle IMAP connection over
# the server before them, per parked Ping over the server with the IMAP
# connections already open. The server raises its own open-file limit at
# start (its log says what it got); the clients' limit is raised here.
#
# Needs root for the file limits. Builds the server in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-10000}
P=${2:-$N}
PROCS=${PROCS:-16}
VERSION=${VERSION:-14.1}
WORK=$(mktemp -d /var/tmp/axigen-conn10k.XXXXXX)
say() { echo "[$(date +%T)] $*" >&2; }
cleanup() {
    local status=$?
    [ -n "${IDLE_PID:-}" ] && kill "$IDLE_PID" 2>/dev/null && wait "$IDLE_PID" 2>/dev/null
    # The server flushes its store as it stops: wait before removing it.
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    if [ $status -ne 0 ]; then echo "failed: logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Each connection is a socket in a client process and one in the server,
# which holds both kinds: root may raise the hard limit (up to
# fs.nr_open), the server then raises its soft limit to it by itself.
ulimit -Hn $((N + P + 10000)) 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((N + P + 150)) ]; then
    echo "open file limit $(ulimit -n) too low for $N + $P connections in one server (and it cannot be raised here)" >&2
    exit 1
fi
# Loopback has ~28k ephemeral ports by default; 2N client ports are needed.
sysctl -qw net.ipv4.ip_local_port_range="1024 65000" 2>/dev/null || true

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/axigen-release}"
if [ "${BUILD:-1}" = 1 ]; then
    say "building the server (release)"
    flock /tmp/axigen-build.lock cargo build --release --example server >/dev/null
fi
SERVER="$CARGO_TARGET_DIR/release/examples/server"
. bench/ours-server.sh

ours_license "connection bench"

API_PORT=13280
EAS_PORT=13543
SMTP_PORT=13225
IMAP_PORT=13243
LIMIT=$((N + P + 500))
cat >"$WORK/server.toml" <<TOML
data_dir = "$WORK/data"
hostname = "bench.example"
[log]
level = "info"
[license]
public_key = "$(tr -d '\n' <"$WORK/vendor/vendor-public.key")"
file = "$WORK/license.json"
[imap]
max_connections_per_account = 0
[[listener]]
name = "http"
service = "http"
bind = "127.0.0.1:$API_PORT"
[[listener]]
name = "https"
service = "http"
bind = "127.0.0.1:$EAS_PORT"
tls = "implicit"
max_connections = $LIMIT
max_connections_per_ip = $LIMIT
[[listener]]
name = "smtp"
service = "smtp"
bind = "127.0.0.1:$SMTP_PORT"
[[listener]]
name = "imap"
service = "imap"
bind = "127.0.0.1:$IMAP_PORT"
tls = "starttls"
max_connections = $LIMIT
max_connections_per_ip = $LIMIT
TOML
ours_start $API_PORT $EAS_PORT $SMTP_PORT $IMAP_PORT
api POST /domains '{"name":"bench.example"}'
api PATCH /domains/bench.example/settings '{"activesync.enabled": true}'
api POST /domains/bench.example/accounts '{"local_part":"idle","password":"bench-idle"}'
api POST /domains/bench.example/accounts '{"local_part":"ping","password":"bench-ping"}'
URL="https://127.0.0.1:$EAS_PORT/Microsoft-Server-ActiveSync"
# The log line is coloured; its colour codes are removed first.
FILES=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/server.log" | sed -n 's/.*"open_files":\([0-9]*\).*/\1/p; s/.*open-file limit.* open_files=\([0-9]*\).*/\1/p' | head -1)

say "provisioning $P devices ($PROCS processes)"
python3 bench/activesync_clients.py provision "$URL" ping@bench.example bench-ping "$P" pingphone "$VERSION" \
    "$WORK/devices.json" "$PROCS" >"$WORK/provision.json"

say "opening $N idle IMAP connections"
HOLD_FILE="$WORK/release" python3 bench/imap_idle_clients.py "$IMAP_PORT" "$SERVER_PID" idle@bench.example \
    bench-idle "$N" 1 32 >"$WORK/idle.json" 2>"$WORK/idle.log" &
IDLE_PID=$!
while [ ! -f "$WORK/release.ready" ]; do
    kill -0 "$IDLE_PID" 2>/dev/null || { cat "$WORK/idle.log"; exit 1; }
    sleep 1
done

say "parking $P Pings beside them, then one delivery"
python3 bench/activesync_clients.py park "$URL" ping@bench.example bench-ping "$WORK/devices.json" "$VERSION" \
    "$SERVER_PID" "smtp://127.0.0.1:$SMTP_PORT" ping@bench.example 600 2 0 >"$WORK/park.json" 2>"$WORK/park.log"
touch "$WORK/release"
wait "$IDLE_PID"
IDLE_PID=

python3 - "$WORK/release.ready" "$WORK/park.json" "$N" "${FILES:-?}" "$P" <<'EOF'
import json, sys
idle, park, n, files, p = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
mib = 2**20
before, with_idle = idle["before"], idle["idle"]
opened = idle["opened"]
print(f"{n} idle IMAP connections and {p} parked ActiveSync Pings at once (server open-file limit: {files})")
print(f"  server before the clients       {before['rss'] / mib:8.1f} MiB RSS {before['pss'] / mib:8.1f} MiB PSS")
print(f"  with {opened} IMAP idling        {with_idle['rss'] / mib:8.1f} MiB RSS {with_idle['pss'] / mib:8.1f} MiB PSS "
      f"(opened in {idle['setup_seconds']:.1f} s)")
print(f"  per idle IMAP connection        {(with_idle['rss'] - before['rss']) / opened / 1024:8.1f} KiB RSS "
      f"{(with_idle['pss'] - before['pss']) / opened / 1024:8.1f} KiB PSS")
after = park["after"]
print(f"  with {park['parked']} Pings parked too  {after['rss'] / mib:8.1f} MiB RSS {after['pss'] / mib:8.1f} MiB PSS "
      f"(sent in {park['open_seconds']:.1f} s, {park['held']} connections held)")
print(f"  per parked Ping                 {park['per_ping_rss'] / 1024:8.1f} KiB RSS {park['per_ping_pss'] / 1024:8.1f} KiB PSS")
print(f"  one delivery: answers {park['answers']}")
print(f"  fan-out after the 250: first {park['first_after_accept']:.3f} s, median {park['median_after_accept']:.3f} s, "
      f"last {park['last_after_accept']:.3f} s (goal: every Ping within 2 s)")
EOF
