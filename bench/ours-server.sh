# Sourced by the bench scripts that run the reference server with a licence
# and set it up through its admin API (activesync-bench.sh,
# connections-10k.sh). Set WORK (a scratch directory) and SERVER (the
# server binary) first.

# Waits until something listens on loopback port $1 (up to 10 s).
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# A vendor key pair in $WORK/vendor and a business licence with 10
# ActiveSync seats for licensee $1 in $WORK/license.json; the config's
# [license] section names them.
ours_license() {
    "$SERVER" license keygen --out "$WORK/vendor" >/dev/null
    "$SERVER" license issue --signing-key "$WORK/vendor/vendor-signing.key" --edition business \
        --licensee "$1" --seats activesync=10 --expires 30d --out "$WORK/license.json" >/dev/null
}

# Starts the server on $WORK/server.toml and waits for its ports, the admin
# API's first ($1); sets SERVER_PID and the admin credential that api() uses.
ours_start() {
    "$SERVER" --config "$WORK/server.toml" >"$WORK/server.out" 2>"$WORK/server.log" &
    SERVER_PID=$!
    for p in "$@"; do wait_port "$p" || { cat "$WORK/server.log"; exit 1; }; done
    for _ in $(seq 50); do grep -q "admin API credential" "$WORK/server.out" && break; sleep 0.1; done
    OURS_ADMIN="admin:$(sed -n 's/.*admin API credential is user `admin`, password `\(.*\)`.*/\1/p' "$WORK/server.out")"
    OURS_API_PORT=$1
}

# One admin API call (METHOD PATH [JSON BODY]); the script stops on an error.
api() {
    local code
    code=$(curl -s -o "$WORK/api.out" -w '%{http_code}' -X "$1" -u "$OURS_ADMIN" -H 'Content-Type: application/json' \
        ${3:+--data-binary "$3"} "http://127.0.0.1:$OURS_API_PORT/api/v1$2")
    [ "$code" -lt 300 ] || { echo "admin API $1 $2: $code $(cat "$WORK/api.out")" >&2; exit 1; }
}
