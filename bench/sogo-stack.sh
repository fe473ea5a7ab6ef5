# SOGo's ActiveSync stack, started by hand for bench/activesync-bench.sh
# (sourced, not run). Debian 12 packages: sogo + sogo-activesync 5.8.0,
# postgresql-15, memcached, dovecot-imapd. Nothing here touches the system
# services or /etc: every daemon gets its own directory under $SOGO_DIR and
# its own loopback port, and sogo_down stops exactly the processes that
# sogo_up started.
#
#   SOGO_DIR=... SOGO_USERS="sync:pw ping:pw" sogo_up WORKERS
#   sogo_restart WORKERS     # sogod only, with another WOWorkersCount
#   sogo_pids                # postmaster, memcached, dovecot, sogod parent, nginx
#   sogo_down
#
# The pieces:
#  * PostgreSQL 15: initdb in $SOGO_DIR/pg (trust on loopback), database
#    `sogo` with the user source table sogo_users (c_uid, c_name, c_password
#    plain, c_cn, mail); SOGo creates its own tables (profiles, folder info,
#    sessions, the EAS cache) on first use.
#  * memcached on its own port.
#  * Dovecot with its own dovecot.conf: IMAP on plain loopback (sogod's
#    connections) and IMAPS (the loader, like our side's IMAPS loader);
#    passwd-file with the same users and passwords; Maildir under
#    $SOGO_DIR/mail owned by the `mail` user.
#  * sogod as user `sogo`, every setting on its command line (GNUstep's
#    argument domain overrides /etc/sogo/sogo.conf; GNUstep reads user
#    defaults from the passwd home, not $HOME, so a private defaults file
#    is not an option), listening on plain HTTP (WOPort).
#  * nginx in front (TLS on $SOGO_HTTPS_PORT, the same self-signed
#    certificate as Dovecot), proxying /SOGo/ to sogod as SOGo's own nginx
#    example does: one upstream connection per request, long read timeout for
#    Ping. SOGO_FRONT=none leaves it out (plain HTTP to sogod).

SOGO_PG_PORT=${SOGO_PG_PORT:-13432}
SOGO_MC_PORT=${SOGO_MC_PORT:-13211}
SOGO_IMAP_PORT=${SOGO_IMAP_PORT:-13144}
SOGO_IMAPS_PORT=${SOGO_IMAPS_PORT:-13994}
SOGO_HTTP_PORT=${SOGO_HTTP_PORT:-13200}
SOGO_HTTPS_PORT=${SOGO_HTTPS_PORT:-13445}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

_sogo_wait_port() { for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
_sogo_psql() { runuser -u postgres -- "$PG_BIN/psql" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SOGO_PG_PORT" "$@"; }

# sogod's settings go on its command line (GNUstep's argument domain, which
# takes precedence over /etc/sogo/sogo.conf and the sogo user's defaults).
_sogo_args() { # WORKERS
    local pg="postgresql://sogo@127.0.0.1:$SOGO_PG_PORT/sogo"
    SOGO_ARGS=(
        -WOPort "127.0.0.1:$SOGO_HTTP_PORT"
        -WOWorkersCount "$1"
        -WOListenQueueSize 4096
        -WOWatchDogRequestTimeout 30
        -WOLogFile "$SOGO_DIR/sogo/sogo.log"
        -WOPidFile "$SOGO_DIR/sogo/sogo.pid"
        -SxVMemLimit 1024
        -SOGoProfileURL "$pg/sogo_user_profile"
        -OCSFolderInfoURL "$pg/sogo_folder_info"
        -OCSSessionsFolderURL "$pg/sogo_sessions_folder"
        -OCSCacheFolderURL "$pg/sogo_cache_folder"
        -OCSEMailAlarmsFolderURL "$pg/sogo_alarms_folder"
        -SOGoUserSources "({type = sql; id = benchusers; viewURL = \"$pg/sogo_users\"; canAuthenticate = YES; isAddressBook = NO; userPasswordAlgorithm = plain;})"
        -SOGoIMAPServer "imap://127.0.0.1:$SOGO_IMAP_PORT"
        -SOGoMailDomain bench.example
        -SOGoMemcachedHost "127.0.0.1:$SOGO_MC_PORT"
        -SOGoMailingMechanism smtp
        -SOGoSMTPServer "smtp://127.0.0.1:1"
        -SOGoSieveScriptsEnabled NO
        -SOGoVacationEnabled NO
        -SOGoForwardEnabled NO
        -SOGoTimeZone UTC
        -SOGoMaximumPingInterval "${SOGO_PING_MAX:-900}"
        -SOGoInternalSyncInterval "${SOGO_SYNC_INTERVAL:-10}"
        -SOGoMaximumSyncInterval 30
        -SOGoEASDebugEnabled "${SOGO_EAS_DEBUG:-NO}"
    )
}

_sogo_start_sogod() { # WORKERS
    _sogo_args "$1"
    mkdir -p "$SOGO_DIR/sogo"
    chown sogo:sogo "$SOGO_DIR/sogo"
    rm -f "$SOGO_DIR/sogo/sogo.pid"
    # setpriv, not runuser: PAM (pam_limits) would put the open-file limit
    # back to 1024, and the watchdog holds descriptors for every worker.
    setpriv --reuid=sogo --regid=sogo --init-groups env -i PATH=/usr/bin:/bin \
        /usr/sbin/sogod "${SOGO_ARGS[@]}" >"$SOGO_DIR/sogo/sogod.out" 2>&1
    for _ in $(seq 100); do [ -s "$SOGO_DIR/sogo/sogo.pid" ] && break; sleep 0.1; done
    SOGO_SOGOD_PID=$(cat "$SOGO_DIR/sogo/sogo.pid")
    _sogo_wait_port "$SOGO_HTTP_PORT" || { tail -20 "$SOGO_DIR/sogo/sogo.log" >&2; return 1; }
}

sogo_up() { # WORKERS
    local workers=$1 u name pw
    mkdir -p "$SOGO_DIR"
    chmod 755 "$SOGO_DIR"

    # PostgreSQL
    mkdir -p "$SOGO_DIR/pg" "$SOGO_DIR/pgrun"
    chown postgres:postgres "$SOGO_DIR/pg" "$SOGO_DIR/pgrun"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$SOGO_DIR/pg" -A trust -E UTF8 --locale=C.UTF-8 >"$SOGO_DIR/initdb.log"
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$SOGO_DIR/pg" -l "$SOGO_DIR/pgrun/pg.log" -w start \
        -o "-p $SOGO_PG_PORT -k $SOGO_DIR/pgrun -c listen_addresses=127.0.0.1 -c max_connections=${SOGO_PG_MAX_CONN:-500} -c shared_buffers=128MB -c fsync=off -c synchronous_commit=off" >/dev/null
    SOGO_PG_PID=$(head -1 "$SOGO_DIR/pg/postmaster.pid")
    _sogo_psql -d postgres -c "CREATE ROLE sogo LOGIN" -c "CREATE DATABASE sogo OWNER sogo"
    {
        echo "CREATE TABLE sogo_users (c_uid varchar(128) PRIMARY KEY, c_name varchar(128) NOT NULL,"
        echo "  c_password varchar(128) NOT NULL, c_cn varchar(128), mail varchar(128));"
        # The EAS state (per device and folder); sogod does not create it.
        echo "CREATE TABLE sogo_cache_folder (c_uid varchar(255), c_path varchar(255) PRIMARY KEY,"
        echo "  c_parent_path varchar(255), c_type smallint NOT NULL, c_creationdate integer NOT NULL,"
        echo "  c_lastmodified integer NOT NULL, c_version integer NOT NULL DEFAULT 0,"
        echo "  c_deleted smallint NOT NULL DEFAULT 0, c_content text);"
        for u in $SOGO_USERS; do
            name=${u%%:*}; pw=${u#*:}
            echo "INSERT INTO sogo_users VALUES ('$name', '$name', '$pw', 'Bench $name', '$name@bench.example');"
        done
    } | _sogo_psql -U sogo -d sogo

    # memcached
    mkdir -p "$SOGO_DIR/memcached"
    chown memcache "$SOGO_DIR/memcached"
    memcached -d -u memcache -l 127.0.0.1 -p "$SOGO_MC_PORT" -U 0 -m 64 -c 8192 -P "$SOGO_DIR/memcached/pid"
    _sogo_wait_port "$SOGO_MC_PORT"
    for _ in $(seq 50); do [ -s "$SOGO_DIR/memcached/pid" ] && break; sleep 0.1; done
    SOGO_MC_PID=$(cat "$SOGO_DIR/memcached/pid")

    # Dovecot
    mkdir -p "$SOGO_DIR/dovecot/run" "$SOGO_DIR/mail"
    chown mail:mail "$SOGO_DIR/mail"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=dovecot.bench.example \
        -keyout "$SOGO_DIR/dovecot/key.pem" -out "$SOGO_DIR/dovecot/cert.pem" 2>/dev/null
    : >"$SOGO_DIR/dovecot/passwd"
    for u in $SOGO_USERS; do echo "${u%%:*}:{PLAIN}${u#*:}::::::" >>"$SOGO_DIR/dovecot/passwd"; done
    cat >"$SOGO_DIR/dovecot/dovecot.conf" <<CONF
base_dir = $SOGO_DIR/dovecot/run
instance_name = bench-sogo
protocols = imap
listen = 127.0.0.1
log_path = $SOGO_DIR/dovecot/dovecot.log
ssl = yes
ssl_cert = <$SOGO_DIR/dovecot/cert.pem
ssl_key = <$SOGO_DIR/dovecot/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 8
mail_uid = mail
mail_gid = mail
mail_location = maildir:$SOGO_DIR/mail/%u
default_process_limit = ${SOGO_DOVECOT_PROCS:-1000}
default_client_limit = ${SOGO_DOVECOT_CLIENTS:-5000}
default_vsz_limit = 1G
passdb {
  driver = passwd-file
  args = scheme=PLAIN $SOGO_DIR/dovecot/passwd
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$SOGO_DIR/mail/%u
}
protocol imap {
  mail_max_userip_connections = ${SOGO_DOVECOT_PROCS:-1000}
}
# service imap has its own process_limit (1024), not default_process_limit;
# every held sogod worker logs in on each of its polls.
service imap {
  process_limit = ${SOGO_DOVECOT_PROCS:-1000}
}
service imap-login {
  process_limit = ${SOGO_DOVECOT_PROCS:-1000}
  inet_listener imap {
    address = 127.0.0.1
    port = $SOGO_IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $SOGO_IMAPS_PORT
    ssl = yes
  }
}
service stats {
  inet_listener http {
    port = 0
  }
}
CONF
    dovecot -c "$SOGO_DIR/dovecot/dovecot.conf"
    _sogo_wait_port "$SOGO_IMAP_PORT" && _sogo_wait_port "$SOGO_IMAPS_PORT"
    SOGO_DOVECOT_PID=$(cat "$SOGO_DIR/dovecot/run/master.pid")

    _sogo_start_sogod "$workers"

    # nginx
    if [ "${SOGO_FRONT:-nginx}" = nginx ]; then
        mkdir -p "$SOGO_DIR/nginx"
        cat >"$SOGO_DIR/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $(( ${SOGO_NGINX_CONNECTIONS:-4096} * 2 + 100 ));
pid $SOGO_DIR/nginx/nginx.pid;
error_log $SOGO_DIR/nginx/error.log warn;
events { worker_connections ${SOGO_NGINX_CONNECTIONS:-4096}; }
http {
    access_log off;
    client_body_temp_path $SOGO_DIR/nginx/body;
    proxy_temp_path $SOGO_DIR/nginx/proxy;
    fastcgi_temp_path $SOGO_DIR/nginx/fastcgi;
    uwsgi_temp_path $SOGO_DIR/nginx/uwsgi;
    scgi_temp_path $SOGO_DIR/nginx/scgi;
    server {
        listen 127.0.0.1:$SOGO_HTTPS_PORT ssl;
        ssl_certificate $SOGO_DIR/dovecot/cert.pem;
        ssl_certificate_key $SOGO_DIR/dovecot/key.pem;
        keepalive_timeout 1000s;
        location /SOGo/ {
            proxy_pass http://127.0.0.1:$SOGO_HTTP_PORT;
            proxy_set_header Host \$host;
            proxy_set_header x-webobjects-server-protocol HTTP/1.0;
            proxy_set_header x-webobjects-remote-host 127.0.0.1;
            proxy_set_header x-webobjects-server-name \$server_name;
            proxy_set_header x-webobjects-server-url https://127.0.0.1:$SOGO_HTTPS_PORT;
            proxy_read_timeout 1000s;
            proxy_connect_timeout 60s;
            client_max_body_size 50m;
        }
    }
}
CONF
        nginx -c "$SOGO_DIR/nginx/nginx.conf"
        _sogo_wait_port "$SOGO_HTTPS_PORT"
        SOGO_NGINX_PID=$(cat "$SOGO_DIR/nginx/nginx.pid")
    fi
}

sogo_pids() { echo "${SOGO_PG_PID:-} ${SOGO_MC_PID:-} ${SOGO_DOVECOT_PID:-} ${SOGO_SOGOD_PID:-} ${SOGO_NGINX_PID:-}"; }

_sogo_stop_sogod() {
    [ -n "${SOGO_SOGOD_PID:-}" ] || return 0
    # The parent takes its workers down on SIGTERM; wait for all of them.
    local kids
    kids=$(pgrep -P "$SOGO_SOGOD_PID" || true)
    kill "$SOGO_SOGOD_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SOGO_SOGOD_PID" 2>/dev/null || break; sleep 0.1; done
    for k in $kids; do kill -9 "$k" 2>/dev/null || true; done
    kill -9 "$SOGO_SOGOD_PID" 2>/dev/null || true
    SOGO_SOGOD_PID=
}

sogo_restart() { # WORKERS
    _sogo_stop_sogod
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$SOGO_HTTP_PORT") 2>/dev/null || break; sleep 0.2; done
    _sogo_start_sogod "$1"
}

sogo_down() {
    if [ -n "${SOGO_NGINX_PID:-}" ]; then
        kill "$SOGO_NGINX_PID" 2>/dev/null || true
        SOGO_NGINX_PID=
    fi
    _sogo_stop_sogod
    if [ -n "${SOGO_DOVECOT_PID:-}" ]; then
        kill "$SOGO_DOVECOT_PID" 2>/dev/null || true
        SOGO_DOVECOT_PID=
    fi
    if [ -n "${SOGO_MC_PID:-}" ]; then
        kill "$SOGO_MC_PID" 2>/dev/null || true
        SOGO_MC_PID=
    fi
    if [ -n "${SOGO_PG_PID:-}" ]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$SOGO_DIR/pg" -m immediate -w stop >/dev/null 2>&1 ||
            kill "$SOGO_PG_PID" 2>/dev/null || true
        SOGO_PG_PID=
    fi
}
