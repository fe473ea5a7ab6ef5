#!/usr/bin/env bash
# CalDAV: the reference server against Radicale (Debian's `radicale`) on
# the same machine, driven by the same Python client (bench/dav_clients.py)
# over plain HTTP on loopback.
#
#   bash bench/dav-bench.sh [EVENTS]
#
# Each server gets EVENTS events PUT one at a time (a tenth of them weekly
# series), then EVENTS/10 more from 8 connections at once, then: a
# calendar-query over one month with calendar-data, a sync-collection after
# one change, and a PROPFIND Depth 1 of the collection (medians of 5), and
# the server's peak and current memory (VmHWM, VmRSS) at the end.
#
# Radicale is set up as its documentation recommends: the filesystem
# storage with its item cache (on by default) and fsync on (its default),
# htpasswd users with plain passwords (the cheapest check it has; it
# keeps no login cache), owner-only rights. Ours: the RocksDB store with
# every acknowledged write synced, its default login cache.
#
# Needs root to install radicale if missing. Builds the server in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${1:-10000}
OURS_PORT=13180
RADICALE_PORT=13181
WORK=$(mktemp -d /var/tmp/axigen-dav-bench.XXXXXX)
trap '[ -n "${RADICALE_PID:-}" ] && kill "$RADICALE_PID" 2>/dev/null; [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

if ! [ -x /usr/bin/radicale ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq radicale >/dev/null
fi
systemctl stop radicale >/dev/null 2>&1 || true

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/axigen-release}"
cargo build --release --example server >/dev/null
SERVER="$CARGO_TARGET_DIR/release/examples/server"

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
mem() { awk '/^VmHWM|^VmRSS/ {printf "%s=%d ", $1, $2/1024}' "/proc/$1/status"; }

# ---- the reference server -------------------------------------------------
cat >"$WORK/server.toml" <<EOF
data_dir = "$WORK/ours"
hostname = "bench.example"
[log]
level = "warn"
[dav]
allow_plaintext = true
[[listener]]
service = "http"
bind = "127.0.0.1:$OURS_PORT"
[[directory.domain]]
name = "bench.example"
[[directory.account]]
address = "bench@bench.example"
password = "bench"
EOF
"$SERVER" --config "$WORK/server.toml" >/dev/null 2>"$WORK/server.log" &
SERVER_PID=$!
wait_port $OURS_PORT
OURS_JSON=$(python3 bench/dav_clients.py 127.0.0.1 $OURS_PORT bench@bench.example bench \
    /dav/calendars/bench@bench.example/Calendar/ "$EVENTS")
OURS_MEM=$(mem $SERVER_PID)
kill $SERVER_PID; wait $SERVER_PID 2>/dev/null || true; SERVER_PID=

# ---- Radicale -----------------------------------------------------------------
echo "bench:bench" >"$WORK/users"
cat >"$WORK/radicale.conf" <<EOF
[server]
hosts = 127.0.0.1:$RADICALE_PORT
[auth]
type = htpasswd
htpasswd_filename = $WORK/users
htpasswd_encryption = plain
[rights]
type = owner_only
[storage]
filesystem_folder = $WORK/radicale
[logging]
level = warning
EOF
/usr/bin/radicale --config "$WORK/radicale.conf" >"$WORK/radicale.log" 2>&1 &
RADICALE_PID=$!
wait_port $RADICALE_PORT
curl -s -o /dev/null -u bench:bench -X MKCALENDAR "http://127.0.0.1:$RADICALE_PORT/bench/calendar/"
RADICALE_JSON=$(python3 bench/dav_clients.py 127.0.0.1 $RADICALE_PORT bench bench /bench/calendar/ "$EVENTS")
RADICALE_MEM=$(mem $RADICALE_PID)
RADICALE_VERSION=$(/usr/bin/python3 -c "import radicale; print(radicale.VERSION)" 2>/dev/null || echo "?")

python3 - "$OURS_JSON" "$RADICALE_JSON" "$OURS_MEM" "$RADICALE_MEM" "$EVENTS" "$RADICALE_VERSION" <<'EOF'
import json, sys
ours, rad = json.loads(sys.argv[1]), json.loads(sys.argv[2])
om = dict(kv.split("=") for kv in sys.argv[3].split())
rm = dict(kv.split("=") for kv in sys.argv[4].split())
events = int(sys.argv[5])
print(f"CalDAV, {events} events (a tenth weekly series); Radicale {sys.argv[6]}; lower is better")
print(f"{'operation':44} {'ours':>10} {'Radicale':>10} {'ratio':>7}")
rows = [
    (f"PUT {events} events, one connection (s)", "put_total_s"),
    (f"PUT {events // 10} events, 8 connections (s)", "put_parallel_s"),
    ("calendar-query, one month (ms)", "query_month_ms"),
    ("sync-collection after one change (ms)", "sync_change_ms"),
    ("PROPFIND Depth 1 of the collection (ms)", "propfind_ms"),
]
for label, key in rows:
    o, r = ours[key], rad[key]
    print(f"{label:44} {o:>10} {r:>10} {r / o if o else float('inf'):>6.1f}x")
for label, key in [("peak memory, VmHWM (MiB)", "VmHWM:"), ("memory at the end, VmRSS (MiB)", "VmRSS:")]:
    o, r = int(om[key]), int(rm[key])
    print(f"{label:44} {o:>10} {r:>10} {r / o if o else float('inf'):>6.1f}x")
print(f"matches of the month query: ours {ours['query_matches']}, Radicale {rad['query_matches']}; "
      f"members listed: ours {ours['propfind_members']}, Radicale {rad['propfind_members']}")
EOF
