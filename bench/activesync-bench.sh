#!/usr/bin/env bash
# ActiveSync, side by side: the reference server and SOGo's ActiveSync module
# (Debian 12: sogo + sogo-activesync 5.8.0 with PostgreSQL 15, memcached,
# Dovecot 2.3 and nginx in front), both driven at EAS 14.1 (the highest
# version SOGo speaks) by pyactivesync and, for the parked Pings, raw
# HTTP/1.1 over TLS from one asyncio process (bench/activesync_clients.py).
# Run as root (SOGo's daemons are started by hand under their own users).
#
#   bash bench/activesync-bench.sh [MESSAGES] [DEVICES]
#
# Environment: VERSION (14.1) for both sides; BUILD=0 uses the last release
# build instead of building (the build waits on /tmp/axigen-build.lock);
# OURS_161=1 (default) adds an initial Sync at 16.1 on our side only;
# SOGO=0 skips SOGo; SOGO_FRONT=none
# drives sogod over plain HTTP instead of through nginx/TLS;
# SOGO_MIN_FREE_MIB (2048): the memory floor for parking Pings on SOGo;
# CARGO_TARGET_DIR ($HOME/.cache/axigen-release).
#
#  1. Initial Sync: MESSAGES (10000) messages are loaded into an Inbox with
#     IMAP APPEND over TLS (8 connections; on SOGo's side into Dovecot, which
#     SOGo reads over IMAP); one device then does Provision, FolderSync, Sync
#     key 0 and Sync with WindowSize 512 until no MoreAvailable: items/s and
#     round trips.
#  2. Parked Pings: DEVICES (2000) devices of another account (empty Inbox)
#     are each provisioned once (Provision, FolderSync, Sync key 0, one Sync)
#     from a process pool; then all send Ping (HeartbeatInterval 600, the
#     Inbox) and stay parked. Memory (RSS and PSS from /proc, summed over the
#     process trees: our server; SOGo's postgres, memcached, dovecot, sogod
#     and nginx) is read before and once every Ping is accepted by a server
#     process: bytes per parked Ping. Then one message is delivered (our
#     server: SMTP; SOGo: IMAP APPEND into Dovecot, as the stack has no MTA)
#     and the time until every Ping has answered is the fan-out latency.
#
# What SOGo needed, and how it is measured:
#  * Provision: SOGo 5.8 answers every Provision with Policy Status 2 ("no
#    policy for this client") and no PolicyKey, and never asks for one; the
#    earlier attempt stopped there because pyactivesync insists on a key.
#    The client now goes on without X-MS-PolicyKey after that one request
#    (1 round trip instead of 2), and the report shows SOGo's statuses.
#  * Dovecot reports HIGHESTMODSEQ only once a client has enabled CONDSTORE
#    on a mailbox, and SOGo's Sync returns nothing without it: the loader
#    does ENABLE CONDSTORE + SELECT INBOX once after loading each account.
#  * SOGo does not create its EAS state table sogo_cache_folder
#    (bench/sogo-stack.sh creates it); sogod gets its settings on its command
#    line, nothing in /etc is touched.
#  * One sogod worker per parked Ping, all pre-forked (WOWorkersCount). An
#    idle worker costs ~10 MB PSS (it opens a PostgreSQL backend when
#    forked), so DEVICES workers plus their Pings may not fit in memory:
#    sogod is restarted with 1 worker (the stack's idle floor), then with
#    100 (calibration), then with as many workers as MemAvailable allows
#    (at most DEVICES + 4; SOGO_MIN_FREE_MIB kept free, SOGO_PING_MIB (4)
#    per Ping on top of its worker), and that many of the provisioned
#    devices park. Reported: per parked Ping over the idle pool, the pool's
#    cost per idle worker, and both together, with the count parked. If
#    MemAvailable still falls under SOGO_MIN_FREE_MIB while parking, no more
#    Pings are opened.
#  * SOGo's Ping does not get notified: each held worker polls (IMAP and
#    PostgreSQL) every SOGoInternalSyncInterval (10 s, the default), so its
#    fan-out latency is bounded by that interval and by how fast the workers
#    get through their polls.
#
# The licence (Business, activesync seats) is made with the server's own
# `license keygen` / `license issue`; the domain, accounts and settings go
# through the admin API with curl. Builds the server in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=${1:-10000}
DEVICES=${2:-2000}
VERSION=${VERSION:-14.1}
OURS_161=${OURS_161:-1}
SOGO=${SOGO:-1}
SOGO_MIN_FREE_MIB=${SOGO_MIN_FREE_MIB:-2048}
PROCS=${PROCS:-16}
[ "$(id -u)" = 0 ] || { echo "run as root (SOGo's daemons run under their own users)" >&2; exit 1; }
WORK=$(mktemp -d /var/tmp/axigen-eas-bench.XXXXXX)
chmod 755 "$WORK"
SOGO_DIR="$WORK/sogo"
say() { echo "[$(date +%T)] $*" >&2; }
source bench/sogo-stack.sh
cleanup() {
    local status=$?
    [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null
    sogo_down >/dev/null 2>&1 || true
    if [ $status -ne 0 ]; then echo "failed: logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One socket per parked Ping in the client process and one in the server.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((DEVICES + 500)) ]; then
    echo "open file limit $(ulimit -n) too low for $DEVICES connections" >&2
    exit 1
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/axigen-release}"
if [ "${BUILD:-1}" = 1 ]; then
    say "building the server (release)"
    # Serialized with the other builds on this machine.
    flock /tmp/axigen-build.lock cargo build --release --example server >/dev/null
fi
SERVER="$CARGO_TARGET_DIR/release/examples/server"
CLIENTS="bench/activesync_clients.py"

. bench/ours-server.sh

# ---- the licence -------------------------------------------------------------
ours_license "activesync bench"

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
ours_start $API_PORT $EAS_PORT $SMTP_PORT $IMAPS_PORT
api POST /domains '{"name":"bench.example"}'
api PATCH /domains/bench.example/settings '{"activesync.enabled": true}'
api POST /domains/bench.example/accounts '{"local_part":"sync","password":"bench-sync"}'
api POST /domains/bench.example/accounts '{"local_part":"ping","password":"bench-ping"}'
URL="https://127.0.0.1:$EAS_PORT/Microsoft-Server-ActiveSync"

say "ours: loading $MESSAGES messages (IMAP APPEND, 8 connections)"
load=$(python3 "$CLIENTS" load "127.0.0.1:$IMAPS_PORT" sync@bench.example bench-sync "$MESSAGES" 8)
say "ours: initial Sync ($VERSION)"
initial=$(python3 "$CLIENTS" initial "$URL" sync@bench.example bench-sync initialphone "$VERSION" 512)
initial16=null
if [ "$OURS_161" = 1 ]; then
    say "ours: initial Sync (16.1)"
    initial16=$(python3 "$CLIENTS" initial "$URL" sync@bench.example bench-sync initialphone16 16.1 512)
fi
say "ours: provisioning $DEVICES devices ($PROCS processes)"
prov=$(python3 "$CLIENTS" provision "$URL" ping@bench.example bench-ping "$DEVICES" pingphone "$VERSION" \
    "$WORK/devices.json" "$PROCS")
say "ours: parking $DEVICES Pings"
park=$(python3 "$CLIENTS" park "$URL" ping@bench.example bench-ping "$WORK/devices.json" "$VERSION" "$SERVER_PID" \
    "smtp://127.0.0.1:$SMTP_PORT" ping@bench.example 600 2 0)
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=

# ---- SOGo ----------------------------------------------------------------------
sogo='{"skipped": true}'
if [ "$SOGO" = 1 ]; then
    SOGO_WORKERS=$((DEVICES + 4))  # the most: sized to memory before parking
    export SOGO_USERS="sync:bench-sync ping:bench-ping"
    export SOGO_PG_MAX_CONN=$((3 * SOGO_WORKERS + 100))
    export SOGO_DOVECOT_PROCS=$((SOGO_WORKERS + 200))
    export SOGO_DOVECOT_CLIENTS=$((2 * SOGO_WORKERS + 1000))
    export SOGO_NGINX_CONNECTIONS=$((2 * SOGO_WORKERS + 200))
    say "SOGo: starting PostgreSQL, memcached, Dovecot, sogod ($PROCS workers), nginx"
    sogo_up "$PROCS" >"$WORK/sogo-up.log" 2>&1 || { cat "$WORK/sogo-up.log" >&2; exit 1; }
    if [ "${SOGO_FRONT:-nginx}" = nginx ]; then
        SOGO_URL="https://127.0.0.1:$SOGO_HTTPS_PORT/SOGo/Microsoft-Server-ActiveSync"
        SOGO_TRANSPORT="TLS (nginx -> sogod, plain HTTP on loopback)"
    else
        SOGO_URL="http://127.0.0.1:$SOGO_HTTP_PORT/SOGo/Microsoft-Server-ActiveSync"
        SOGO_TRANSPORT="plain HTTP to sogod on loopback (no TLS)"
    fi
    say "SOGo: loading $MESSAGES messages (IMAP APPEND into Dovecot, 8 connections)"
    sogo_load=$(python3 "$CLIENTS" load "127.0.0.1:$SOGO_IMAPS_PORT" sync bench-sync "$MESSAGES" 8 "$SOGO_IMAP_PORT")
    python3 -c 'import sys; sys.path.insert(0, "bench"); import activesync_clients as a; a.prime_condstore(*sys.argv[1:])' \
        127.0.0.1 "$SOGO_IMAP_PORT" ping bench-ping
    say "SOGo: initial Sync ($VERSION)"
    sogo_initial=$(python3 "$CLIENTS" initial "$SOGO_URL" sync bench-sync initialphone "$VERSION" 512)
    say "SOGo: provisioning $DEVICES devices ($PROCS processes)"
    sogo_prov=$(python3 "$CLIENTS" provision "$SOGO_URL" ping bench-ping "$DEVICES" pingphone "$VERSION" \
        "$WORK/sogo-devices.json" "$PROCS")
    say "SOGo: sogod with 1 worker (the stack's idle floor)"
    sogo_restart 1
    sleep 5
    sogo_floor=$(python3 "$CLIENTS" memory "$(sogo_pids | tr ' ' ',')")
    # The pool: one worker per parked Ping, as many as fit. An idle worker
    # costs ~10 MB (it opens its PostgreSQL connection when forked), so 2000
    # of them plus their Pings do not fit in 24 GB: calibrate with 100
    # workers, then size the pool to what MemAvailable allows (keeping
    # SOGO_MIN_FREE_MIB, and SOGO_PING_MIB (4) per parked Ping on top of its
    # worker; measured ~2.5 MiB at 200 devices).
    say "SOGo: sogod with 100 workers (calibration)"
    sogo_restart 100
    for _ in $(seq 120); do [ "$(pgrep -c -P "$SOGO_SOGOD_PID" || true)" -ge 100 ] && break; sleep 0.5; done
    sleep 10
    sogo_cal=$(python3 "$CLIENTS" memory "$(sogo_pids | tr ' ' ',')")
    SOGO_WORKERS=$(python3 - "$sogo_floor" "$sogo_cal" "$DEVICES" "$SOGO_MIN_FREE_MIB" "${SOGO_PING_MIB:-4}" <<'PY'
import json, sys
floor, cal = json.loads(sys.argv[1]), json.loads(sys.argv[2])
devices, min_free, ping_mib = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
per_worker = (cal["pss"] - floor["pss"]) / 99 / 2**20
with open("/proc/meminfo") as f:
    avail = next(int(l.split()[1]) for l in f if l.startswith("MemAvailable:")) / 1024
budget = avail + (cal["pss"] - floor["pss"]) / 2**20 - min_free - 512
print(min(devices, max(int(budget / (per_worker + ping_mib)), 1)) + 4)
PY
)
    say "SOGo: sogod with $SOGO_WORKERS workers (one per parked Ping)"
    sogo_restart "$SOGO_WORKERS"
    for _ in $(seq 600); do
        [ "$(pgrep -c -P "$SOGO_SOGOD_PID" || true)" -ge "$SOGO_WORKERS" ] && break
        sleep 0.5
    done
    sogo_spawned=$(pgrep -c -P "$SOGO_SOGOD_PID" || true)
    sleep 10
    SOGO_PARK=$((SOGO_WORKERS - 4))
    [ "$SOGO_PARK" -le "$sogo_spawned" ] || SOGO_PARK=$sogo_spawned
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); json.dump(d[:int(sys.argv[2])], open(sys.argv[3], "w"))' \
        "$WORK/sogo-devices.json" "$SOGO_PARK" "$WORK/sogo-park.json"
    say "SOGo: parking $SOGO_PARK Pings ($sogo_spawned workers)"
    sogo_park=$(BENCH_HELD_PORT=$SOGO_HTTP_PORT python3 "$CLIENTS" park "$SOGO_URL" ping bench-ping \
        "$WORK/sogo-park.json" "$VERSION" "$(sogo_pids | tr ' ' ',')" \
        "imap://ping:bench-ping@127.0.0.1:$SOGO_IMAP_PORT" ping@bench.example 600 15 "$SOGO_MIN_FREE_MIB")
    sogo=$(python3 - "$sogo_load" "$sogo_initial" "$sogo_prov" "$sogo_park" "$sogo_floor" "$SOGO_WORKERS" \
        "$sogo_spawned" "$SOGO_TRANSPORT" "$sogo_cal" "$DEVICES" <<'PY'
import json, sys
load, initial, prov, park, floor = (json.loads(a) for a in sys.argv[1:6])
print(json.dumps({"load": load, "initial": initial, "prov": prov, "park": park, "floor": floor,
                  "workers": int(sys.argv[6]), "spawned": int(sys.argv[7]), "transport": sys.argv[8],
                  "cal": json.loads(sys.argv[9]), "devices": int(sys.argv[10])}))
PY
)
    say "SOGo: stopping the stack"
    sogo_down >/dev/null 2>&1
fi
say "done"
SOGO_VERSION=$(dpkg-query -W -f '${Version}' sogo-activesync 2>/dev/null || echo unknown)

python3 - "$load" "$initial" "$initial16" "$prov" "$park" "$sogo" "$SOGO_VERSION" <<'PY'
import json, sys
load, initial, initial16, prov, park, sogo = (json.loads(a) for a in sys.argv[1:7])
MiB = 2**20
W = 40


def row(label, ours, theirs=""):
    print(f"   {label:<34} {ours:<{W}} {theirs}")


def ms(x):
    return f"{x * 1000:.0f} ms"


def init_rows(i, ld, how):
    yield "loaded by", f"{how}, {ld['connections']} conns, {ld['seconds']:.1f} s"
    yield "Provision", i["policy"].split(":")[0]
    yield "items synced", str(i["items"])
    yield f"Sync rounds (WindowSize {i['window']})", str(i["sync_rounds"])
    yield "round trips (Provision..last Sync)", str(i["round_trips"])
    yield "Provision / FolderSync / Sync 0", f"{ms(i['provision_s'])} / {ms(i['foldersync_s'])} / {ms(i['sync0_s'])}"
    yield "Syncs / total", f"{i['sync_s']:.2f} s / {i['total_s']:.2f} s"
    yield "items/s (the Syncs)", f"{i['items'] / i['sync_s']:,.0f}"
    yield "items/s (Provision to last Sync)", f"{i['items'] / i['total_s']:,.0f}"


def park_rows(p, pr, mem_extra=None):
    yield "devices provisioned", (f"{pr['devices']} ({pr['requests']} requests, {pr['seconds']:.1f} s, "
                                  f"{pr['requests'] / pr['seconds']:,.0f}/s)")
    yield "Pings parked", (f"{p['parked']} of {p['devices']}" + (" (memory floor reached)" if p["memory_floor_hit"] else ""))
    yield "sent and accepted in", f"{p['open_seconds']:.1f} s (+{p['settle']:.0f} s settle)"
    yield "early answers (before delivery)", json.dumps(p["early_answers"]) if p["early_answers"] else "none"
    for k in ("rss", "pss"):
        yield f"{k.upper()} before / parked", f"{p['before'][k] / MiB:,.1f} / {p['after'][k] / MiB:,.1f} MiB"
    for k in ("rss", "pss"):
        v = p["per_ping_" + k]
        yield f"{k.upper()} per parked Ping", f"{v:,.0f} B ({v / 1024:,.1f} KiB)"
    if mem_extra:
        yield from mem_extra
    yield "delivery", f"{p['delivery'].upper()}, {ms(p['delivery_seconds'])}"
    yield "answers (HTTP/Ping status)", json.dumps(p["answers"])
    if p["first_after_accept"] is not None:
        yield "fan-out first / median", (f"{ms(p['first_after_accept'] + p['delivery_seconds'])} / "
                                         f"{ms(p['median_after_accept'] + p['delivery_seconds'])}")
        yield f"fan-out all answered", ms(p["last_after_delivery_start"])
    else:
        yield "fan-out", "no answer within the heartbeat"


have_sogo = not sogo.get("skipped")
print(f"ActiveSync {initial['version']} on both servers; pyactivesync (Provision, FolderSync, Sync) and raw asyncio "
      f"HTTP/1.1 clients (Ping)")
row("", "reference server (release build)", f"SOGo {sys.argv[7]} (sogo-activesync)" if have_sogo else "SOGo: skipped (SOGO=0)")
row("transport", "TLS (its own listener)", sogo["transport"] if have_sogo else "")
print(f"1. Initial Sync of a {load['messages']}-message Inbox")
ours = list(init_rows(initial, load, "IMAP APPEND (IMAPS)"))
theirs = list(init_rows(sogo["initial"], sogo["load"], "IMAP APPEND to Dovecot (IMAPS)")) if have_sogo else []
for k, (label, v) in enumerate(ours):
    row(label, v, theirs[k][1] if theirs else "")
if have_sogo:
    row("SOGo's Provision reply", "", sogo["initial"]["policy"].split(": ", 1)[-1])
if initial16:
    print(f"   (ours at 16.1: {initial16['items']} items in {initial16['sync_rounds']} rounds, "
          f"{initial16['items'] / initial16['sync_s']:,.0f} items/s over the Syncs, "
          f"{initial16['items'] / initial16['total_s']:,.0f} items/s Provision to last Sync)")
print(f"2. {park['devices']} parked Pings (HeartbeatInterval {park['heartbeat']}, one account, distinct DeviceIds)")
ours = list(park_rows(park, prov, [("idle worker pool", "none (one process)"), ("PSS per idle worker", "-"),
                                    ("PSS per Ping incl. its worker", "= per parked Ping"),
                                    ("RSS per Ping incl. its worker", "= per parked Ping")]))
theirs = []
if have_sogo:
    sp, fl = dict(sogo["park"], devices=sogo["devices"]), sogo["floor"]
    pool = {k: (sp["before"][k] - fl[k]) / max(sogo["spawned"] - 1, 1) for k in ("rss", "pss")}
    total = {k: (sp["after"][k] - fl[k]) / max(sp["parked"], 1) for k in ("rss", "pss")}
    theirs = list(park_rows(sp, sogo["prov"], [
        ("idle worker pool", f"{sogo['spawned']} sogod workers (1 worker: {fl['pss'] / MiB:,.1f} MiB PSS)"),
        ("PSS per idle worker", f"{pool['pss']:,.0f} B ({pool['pss'] / 1024:,.1f} KiB)"),
        ("PSS per Ping incl. its worker", f"{total['pss']:,.0f} B ({total['pss'] / 1024:,.1f} KiB)"),
        ("RSS per Ping incl. its worker", f"{total['rss']:,.0f} B ({total['rss'] / 1024:,.1f} KiB)")]))
for k, (label, v) in enumerate(ours):
    row(label, v, theirs[k][1] if theirs else "")
print("3. Notes")
print("   - Both at EAS 14.1 (SOGo's highest). SOGo's Provision: Policy Status 2, no PolicyKey; its devices go on "
      "without X-MS-PolicyKey (SOGo does not enforce policies).")
if have_sogo:
    print(f"   - SOGo: {sogo['transport']}; its stack's memory is postgres + memcached + dovecot + sogod + nginx.")
    print("   - SOGo's Ping holds one sogod worker per device and polls IMAP/PostgreSQL every "
          "SOGoInternalSyncInterval (10 s); there is no push, so its fan-out is poll-bound.")
    sp = sogo["park"]
    if sp["parked"] < sogo["devices"]:
        cal = (sogo["cal"]["pss"] - sogo["floor"]["pss"]) / 99
        print(f"   - SOGo parked {sp['parked']} of {sogo['devices']} Pings, the most that fit this machine's memory: "
              f"an idle sogod worker (with the PostgreSQL backend it opens when forked) took {cal / MiB:,.1f} MiB PSS "
              f"in the 100-worker calibration, so the pool was sized to {sogo['workers']} workers for MemAvailable "
              f"less {sp['min_free_mib']} MiB" + ("; opening also stopped at that floor." if sp["memory_floor_hit"] else "."))
PY
