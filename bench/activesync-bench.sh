#!/usr/bin/env bash
# ActiveSync: the reference server driven by pyactivesync (and, for the
# parked Pings, raw HTTP/1.1 over TLS from one asyncio process:
# bench/activesync_clients.py).
#
#   bash bench/activesync-bench.sh [MESSAGES] [DEVICES]
#
#  1. Initial Sync: MESSAGES (10000) messages are loaded into an Inbox with
#     IMAP APPEND (8 connections); one device then does Provision (both
#     phases), FolderSync, Sync key 0 and Sync with WindowSize 512 until no
#     MoreAvailable: items/s and round trips.
#  2. Parked Pings: DEVICES (2000) devices of another account (empty Inbox;
#     seats count accounts, not devices) are each provisioned once
#     (Provision, FolderSync, Sync key 0, one Sync) from a process pool; then
#     all send Ping (HeartbeatInterval 600, the Inbox) and stay parked. The
#     server's RSS and PSS (/proc) are read before and once all are parked
#     (as many established connections to its port as devices): bytes per
#     parked Ping. Then one message is delivered over SMTP and the time until
#     every Ping has answered (status 2) is the fan-out latency.
#  3. SOGo is not compared (yet): Debian 12 has sogo and sogo-activesync
#     5.8.0, and a hand-made sogod (PostgreSQL, memcached, Dovecot) answered
#     EAS, but its Provision reply gave pyactivesync no PolicyKey, and the
#     rest (nginx for TLS, loading through Dovecot, one sogod worker per
#     parked Ping) did not fit the time box of this script's first version.
#
# The licence (Business, activesync seats) is made with the server's own
# `license keygen` / `license issue`; the domain, accounts and settings go
# through the admin API with curl. Builds the server in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=${1:-10000}
DEVICES=${2:-2000}
VERSION=${VERSION:-16.1}
PROCS=${PROCS:-16}
WORK=$(mktemp -d /var/tmp/axigen-eas-bench.XXXXXX)
cleanup() {
    local status=$?
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null
    if [ $status -ne 0 ]; then echo "failed: logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# One socket per parked Ping in the client process and one in the server.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((DEVICES + 500)) ]; then
    echo "open file limit $(ulimit -n) too low for $DEVICES connections" >&2
    exit 1
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/axigen-release}"
cargo build --release --example server >/dev/null
SERVER="$CARGO_TARGET_DIR/release/examples/server"
CLIENTS="bench/activesync_clients.py"

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# ---- the licence -------------------------------------------------------------
"$SERVER" license keygen --out "$WORK/vendor" >/dev/null
"$SERVER" license issue --signing-key "$WORK/vendor/vendor-signing.key" --edition business \
    --licensee "activesync bench" --seats activesync=10 --expires 30d --out "$WORK/license.json" >/dev/null

# ---- the reference server ----------------------------------------------------
API_PORT=13180
EAS_PORT=13443
SMTP_PORT=13125
IMAPS_PORT=13993
cat >"$WORK/server.toml" <<TOML
data_dir = "$WORK/data"
hostname = "bench.example"
[log]
level = "warn"
[license]
public_key = "$(tr -d '\n' <"$WORK/vendor/vendor-public.key")"
file = "$WORK/license.json"
[imap]
# The loader's connections all log in as the one account.
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
max_connections = $((DEVICES + 200))
max_connections_per_ip = $((DEVICES + 200))
[[listener]]
name = "smtp"
service = "smtp"
bind = "127.0.0.1:$SMTP_PORT"
[[listener]]
name = "imaps"
service = "imap"
bind = "127.0.0.1:$IMAPS_PORT"
tls = "implicit"
TOML
"$SERVER" --config "$WORK/server.toml" >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
for p in $API_PORT $EAS_PORT $SMTP_PORT $IMAPS_PORT; do wait_port $p || { cat "$WORK/server.log"; exit 1; }; done
for _ in $(seq 50); do grep -q "admin API credential" "$WORK/server.out" && break; sleep 0.1; done
ADMIN="admin:$(sed -n 's/.*admin API credential is user `admin`, password `\(.*\)`.*/\1/p' "$WORK/server.out")"
api() { # METHOD PATH [BODY]
    local code
    code=$(curl -s -o "$WORK/api.out" -w '%{http_code}' -X "$1" -u "$ADMIN" -H 'Content-Type: application/json' \
        ${3:+--data-binary "$3"} "http://127.0.0.1:$API_PORT/api/v1$2")
    [ "$code" -lt 300 ] || { echo "admin API $1 $2: $code $(cat "$WORK/api.out")" >&2; exit 1; }
}
api POST /domains '{"name":"bench.example"}'
api PATCH /domains/bench.example/settings '{"activesync.enabled": true}'
api POST /domains/bench.example/accounts '{"local_part":"sync","password":"bench-sync"}'
api POST /domains/bench.example/accounts '{"local_part":"ping","password":"bench-ping"}'
URL="https://127.0.0.1:$EAS_PORT/Microsoft-Server-ActiveSync"

echo "loading $MESSAGES messages (IMAP APPEND, 8 connections)" >&2
load=$(python3 "$CLIENTS" load "127.0.0.1:$IMAPS_PORT" sync@bench.example bench-sync "$MESSAGES" 8)
echo "initial Sync" >&2
initial=$(python3 "$CLIENTS" initial "$URL" sync@bench.example bench-sync initialphone "$VERSION" 512)
echo "provisioning $DEVICES devices ($PROCS processes)" >&2
prov=$(python3 "$CLIENTS" provision "$URL" ping@bench.example bench-ping "$DEVICES" pingphone "$VERSION" \
    "$WORK/devices.json" "$PROCS")
echo "parking $DEVICES Pings" >&2
park=$(python3 "$CLIENTS" park "$URL" ping@bench.example bench-ping "$WORK/devices.json" "$VERSION" "$SERVER_PID" \
    "127.0.0.1:$SMTP_PORT" ping@bench.example 600)

# ---- SOGo ----------------------------------------------------------------------
SOGO_NOTE="SOGo comparison not included: sogo-activesync 5.8.0 (Debian 12) answered EAS, but its Provision reply gave pyactivesync no PolicyKey and the full SOGo setup is not scripted yet"

python3 - "$load" "$initial" "$prov" "$park" "$SOGO_NOTE" <<'PY'
import json, sys
load, initial, prov, park = (json.loads(a) for a in sys.argv[1:5])
MiB = 2**20
print(f"ActiveSync {initial['version']}, reference server (release build), pyactivesync / raw asyncio clients")
print(f"1. Initial Sync of a {load['messages']}-message Inbox (loaded by IMAP APPEND, {load['connections']} connections, "
      f"in {load['seconds']:.1f} s)")
print(f"   items synced:                     {initial['items']}")
print(f"   Sync rounds (WindowSize {initial['window']}):        {initial['sync_rounds']}")
print(f"   round trips (2 Provision + FolderSync + Sync key 0 + Syncs): {initial['round_trips']}")
print(f"   Provision {initial['provision_s']*1000:.0f} ms, FolderSync {initial['foldersync_s']*1000:.0f} ms, "
      f"Sync key 0 {initial['sync0_s']*1000:.0f} ms, Syncs {initial['sync_s']:.2f} s, total {initial['total_s']:.2f} s")
print(f"   items/s (the Syncs):              {initial['items'] / initial['sync_s']:,.0f}")
print(f"   items/s (Provision to last Sync): {initial['items'] / initial['total_s']:,.0f}")
print(f"2. {park['devices']} parked Pings (HeartbeatInterval {park['heartbeat']}, one account, distinct DeviceIds)")
print(f"   provisioning {prov['devices']} devices ({prov['requests']} requests): {prov['seconds']:.1f} s "
      f"({prov['requests'] / prov['seconds']:,.0f} requests/s)")
print(f"   all {park['devices']} Pings sent and parked in {park['open_seconds']:.1f} s "
      f"({park['established']} established connections)")
for k in ("rss", "pss"):
    print(f"   {k.upper()}: {park['before'][k] / MiB:,.1f} MiB before, {park['parked'][k] / MiB:,.1f} MiB parked: "
          f"{park['per_ping_' + k]:,.0f} bytes ({park['per_ping_' + k] / 1024:,.1f} KiB) per parked Ping")
print(f"   one delivery (SMTP, {park['smtp_seconds']*1000:.0f} ms): answers {park['answers']} (HTTP code/Ping status)")
print(f"   fan-out from the start of the SMTP transaction: first {(park['first_after_accept'] + park['smtp_seconds'])*1000:.0f} ms, "
      f"median {(park['median_after_accept'] + park['smtp_seconds'])*1000:.0f} ms, all {park['devices']} answered in "
      f"{park['last_after_smtp_start']*1000:.0f} ms ({park['last_after_accept']*1000:+.0f} ms after the 250 reply reached the client)")
print(f"3. {sys.argv[5]}")
PY
