#!/usr/bin/env bash
# sidecache vs nginx proxy_cache vs Varnish, in front of one loopback origin;
# optionally sidecache with Redis as its store (issue 3).
#
#   bench/run.sh                      # or: make bench
#   DURATION=30s RUNS=5 bench/run.sh
#   PROXIES="sidecache sidecache-redis sidecache-l1 nginx" bench/run.sh
#
# Knobs (environment):
#   DURATION      wrk duration of one measurement         (default 10s)
#   RUNS          measurements per proxy and scenario; the median is reported (3)
#   THREADS       wrk threads                              (2)
#   CONNECTIONS   wrk connections                          (64)
#   SIDECACHE_BIN the binary to test     (default .build/release/sidecache)
#   PROXIES       which rows to run      (default "sidecache nginx varnish origin");
#                 also available: sidecache-redis (Redis only, L1 off) and
#                 sidecache-l1 (256MiB L1 in front of Redis, consistency strict),
#                 both the same binary against one redis-server this script starts
#   SCENARIOS     which scenarios        (default "hot keys1000 miss")
#   NGINX_CACHE   tmpfs (default when /dev/shm is a writable tmpfs) or disk: where
#                 nginx's proxy_cache files live. The other two caches are in RAM, and
#                 on this VM's disk nginx's miss path swings 10x with the disk's state.
#
# Everything (configs, logs, raw wrk output) goes to bench/out/run-<time>/;
# the tables go to bench/out/results.md. Every server is started by this script,
# tracked by its PID and stopped on exit. Only 127.0.0.1 is used. At most one
# sidecache row runs at a time: switching rows stops the previous instance.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
OUT="$BENCH/out"

DURATION="${DURATION:-10s}"
RUNS="${RUNS:-3}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
SIDECACHE_BIN="${SIDECACHE_BIN:-$ROOT/.build/release/sidecache}"
PROXIES="${PROXIES:-sidecache nginx varnish origin}"
SCENARIOS="${SCENARIOS:-hot keys1000 miss}"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

case "$RUNS" in '' | *[!0-9]* | 0) die "RUNS must be a positive integer (got '$RUNS')" ;; esac

# The sidecache rows: one binary, three store configurations.
SIDECACHE_ROWS="sidecache sidecache-redis sidecache-l1"
is_sidecache() { case "$1" in sidecache | sidecache-redis | sidecache-l1) return 0 ;; *) return 1 ;; esac; }
uses_redis() { case "$1" in sidecache-redis | sidecache-l1) return 0 ;; *) return 1 ;; esac; }

WANT_REDIS=""
for p in $PROXIES; do
    case "$p" in
        origin | nginx | varnish | sidecache) ;;
        sidecache-redis | sidecache-l1) WANT_REDIS=1 ;;
        *) die "unknown proxy '$p' in PROXIES (known: $SIDECACHE_ROWS nginx varnish origin)" ;;
    esac
done

# --- tools -------------------------------------------------------------------
"$ROOT/scripts/apt-deps.sh" nginx varnish wrk curl ${WANT_REDIS:+redis-server}
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
VARNISHD="$(command -v varnishd || echo /usr/sbin/varnishd)"
[ -x "$NGINX" ] || die "nginx not found"
[ -x "$VARNISHD" ] || die "varnishd not found"
command -v wrk >/dev/null || die "wrk not found"
if [ -n "$WANT_REDIS" ]; then
    REDIS_SERVER="$(command -v redis-server || echo /usr/bin/redis-server)"
    REDIS_CLI="$(command -v redis-cli || echo /usr/bin/redis-cli)"
    [ -x "$REDIS_SERVER" ] || die "redis-server not found"
    [ -x "$REDIS_CLI" ] || die "redis-cli not found"
fi

# --- run directory and cleanup ------------------------------------------------
mkdir -p "$OUT"
RUN_DIR="$(mktemp -d "$OUT/run-$(date +%Y%m%d-%H%M%S)-XXXX")"
RAW="$RUN_DIR/wrk"
mkdir -p "$RAW"
log "run directory: ${RUN_DIR#"$ROOT"/}"

declare -A PID=()       # name -> pid of every server this script started
declare -A PORT=()      # name -> port on 127.0.0.1

stop_one() {
    local name="$1" pid="${PID[$1]:-}"
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) ignored SIGTERM for 5 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
    unset "PID[$name]"
}
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local name
    for name in $SIDECACHE_ROWS varnish nginx redis origin; do
        stop_one "$name"
    done
    # The caches are big and worthless after the run; keep configs, logs, raw output.
    rm -rf "$RUN_DIR/nginx/cache" "$RUN_DIR/varnish/work"
    [ -z "$NGINX_CACHE_SHM" ] || rm -rf "$NGINX_CACHE_SHM"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${NGINX_CACHE:-}" ]; then
    if [ "$(stat -f -c %T /dev/shm 2>/dev/null || true)" = tmpfs ] && [ -w /dev/shm ]; then
        NGINX_CACHE=tmpfs
    else
        NGINX_CACHE=disk
    fi
fi
case "$NGINX_CACHE" in tmpfs | disk) ;; *) die "NGINX_CACHE must be tmpfs or disk" ;; esac
# The command that reproduces this run.
INVOCATION="DURATION=$DURATION RUNS=$RUNS NGINX_CACHE=$NGINX_CACHE"
[ "$THREADS" = 2 ] || INVOCATION="$INVOCATION THREADS=$THREADS"
[ "$CONNECTIONS" = 64 ] || INVOCATION="$INVOCATION CONNECTIONS=$CONNECTIONS"
[ "$PROXIES" = "sidecache nginx varnish origin" ] || INVOCATION="$INVOCATION PROXIES='$PROXIES'"
[ "$SCENARIOS" = "hot keys1000 miss" ] || INVOCATION="$INVOCATION SCENARIOS='$SCENARIOS'"
INVOCATION="$INVOCATION bench/run.sh"

# --- ports ----------------------------------------------------------------------
mapfile -t ports < <("$ROOT/scripts/free-ports.sh" 7)
PORT[origin]="${ports[0]}"
PORT[nginx]="${ports[1]}"
PORT[varnish]="${ports[2]}"
PORT[sidecache]="${ports[3]}"
PORT[sidecache-redis]="${ports[4]}"
PORT[sidecache-l1]="${ports[5]}"
PORT[redis]="${ports[6]}"

url_of() { printf 'http://127.0.0.1:%s' "${PORT[$1]}"; }

# Wait until GET /api/items/1 answers 200 (bounded); fail if the process died.
wait_ready() {
    local name="$1" logfile="$2" i code
    for i in $(seq 1 150); do     # ~15 s
        if ! kill -0 "${PID[$name]}" 2>/dev/null; then
            log "$name exited during start-up; last lines of $logfile:"
            tail -n 30 "$logfile" >&2 2>/dev/null || true
            return 1
        fi
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$(url_of "$name")/api/items/1" 2>/dev/null || true)"
        if [ "$code" = "200" ]; then
            return 0
        fi
        sleep 0.1
    done
    log "$name did not answer 200 on $(url_of "$name")/api/items/1 within 15 s; last lines of $logfile:"
    tail -n 30 "$logfile" >&2 2>/dev/null || true
    return 1
}

# --- origin: nginx with a fixed ~1 KiB JSON answer ----------------------------------
# A 1 KiB JSON body with no ' (config quoting) and no $ (nginx variables).
make_body() {
    local head='{"id":1,"name":"benchmark item","tags":["alpha","beta","gamma"],"price":1999,"currency":"EUR","inStock":true,"description":"'
    local tail='"}'
    local fill=$((1024 - ${#head} - ${#tail}))
    printf '%s' "$head"
    head -c "$fill" /dev/zero | tr '\0' 'x'
    printf '%s' "$tail"
}
BODY="$(make_body)"

# Common nginx main-context lines: own pid/error log/temp paths, foreground.
nginx_common() {
    local dir="$1" workers="$2"
    if [ "$(id -u)" -eq 0 ]; then
        # Workers would otherwise run as nobody and could not enter the 0700 run dir.
        echo "user root;"
    fi
    cat <<EOF
daemon off;
master_process on;
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
EOF
}
nginx_http_common() {
    local dir="$1"
    cat <<EOF
    access_log off;
    client_body_temp_path $dir/tmp/client_body;
    proxy_temp_path       $dir/tmp/proxy;
    fastcgi_temp_path     $dir/tmp/fastcgi;
    uwsgi_temp_path       $dir/tmp/uwsgi;
    scgi_temp_path        $dir/tmp/scgi;
    # nginx closes a client connection after 1000 requests by default; the other
    # proxies do not, so lift it for a like-for-like comparison.
    keepalive_requests 100000000;
    keepalive_timeout 75s;
EOF
}

start_nginx() {
    local name="$1" dir="$2"
    mkdir -p "$dir/tmp"
    "$NGINX" -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
        || die "$name: nginx -t rejected $dir/nginx.conf (see $dir/error.log)"
    "$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
    PID[$name]=$!
    wait_ready "$name" "$dir/error.log" || die "$name did not start"
    log "$name: pid ${PID[$name]} on $(url_of "$name")"
}

start_origin() {
    local dir="$RUN_DIR/origin"
    mkdir -p "$dir"
    {
        nginx_common "$dir" 1
        cat <<EOF
http {
$(nginx_http_common "$dir")
    server {
        listen 127.0.0.1:${PORT[origin]} backlog=4096;
        location /api/items/ {
            default_type application/json;
            add_header Cache-Control "max-age=300" always;
            return 200 '$BODY';
        }
        location / { return 404; }
    }
}
EOF
    } >"$dir/nginx.conf"
    start_nginx origin "$dir"
}

NGINX_CACHE_SHM=""
start_nginx_cache() {
    local dir="$RUN_DIR/nginx"
    mkdir -p "$dir"
    if [ "$NGINX_CACHE" = tmpfs ]; then
        # Still reached as $dir/cache; the files live in RAM.
        NGINX_CACHE_SHM="$(mktemp -d /dev/shm/sidecache-bench-nginx.XXXXXX)"
        ln -s "$NGINX_CACHE_SHM" "$dir/cache"
    else
        mkdir -p "$dir/cache"
    fi
    {
        nginx_common "$dir" 2
        cat <<EOF
http {
$(nginx_http_common "$dir")
    proxy_cache_path $dir/cache levels=1:2 keys_zone=items:64m max_size=256m
                     inactive=10m use_temp_path=off;
    upstream origin {
        server 127.0.0.1:${PORT[origin]};
        keepalive 64;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:${PORT[nginx]} backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache items;
            proxy_cache_valid 200 300s;
            proxy_cache_key \$scheme\$host\$request_uri;
            proxy_cache_lock on;
            add_header X-Cache \$upstream_cache_status;
        }
    }
}
EOF
    } >"$dir/nginx.conf"
    start_nginx nginx "$dir"
}

start_varnish() {
    local dir="$RUN_DIR/varnish"
    mkdir -p "$dir/work"
    local jail=()
    if [ "$(id -u)" -eq 0 ]; then
        # The default unix jail drops to the varnish user, which cannot enter the
        # 0700 run dir; run unjailed instead (loopback-only benchmark).
        jail=(-j none)
    fi
    # -F: manager in the foreground (its PID is $!); -T none: no CLI port.
    "$VARNISHD" -F "${jail[@]}" -a "127.0.0.1:${PORT[varnish]}" -T none \
        -b "127.0.0.1:${PORT[origin]}" -s malloc,256m -n "$dir/work" \
        -p default_ttl=300 >"$dir/varnishd.log" 2>&1 &
    PID[varnish]=$!
    wait_ready varnish "$dir/varnishd.log" || die "varnish did not start"
    log "varnish: pid ${PID[varnish]} on $(url_of varnish)"
}

# --- Redis: one redis-server shared by the Redis rows, flushed before each warm-up --
# The rows' own flags plus a 256 MiB cap like the other stores; volatile-lru as
# DESIGN.md asks (entries carry a TTL, purge state does not and must never go).
redis_cli() { "$REDIS_CLI" -h 127.0.0.1 -p "${PORT[redis]}" "$@"; }
start_redis() {
    local dir="$RUN_DIR/redis" i
    mkdir -p "$dir"
    "$REDIS_SERVER" --bind 127.0.0.1 --port "${PORT[redis]}" --save '' --appendonly no \
        --dir "$dir" --daemonize no --logfile '' \
        --maxmemory 256mb --maxmemory-policy volatile-lru >"$dir/redis.log" 2>&1 &
    PID[redis]=$!
    for i in $(seq 1 100); do     # ~10 s
        kill -0 "${PID[redis]}" 2>/dev/null || { tail -n 20 "$dir/redis.log" >&2; die "redis-server exited during start-up"; }
        [ "$(redis_cli ping 2>/dev/null || true)" = PONG ] && break
        sleep 0.1
    done
    [ "$(redis_cli ping 2>/dev/null || true)" = PONG ] || die "redis-server did not answer PING on port ${PORT[redis]}"
    log "redis: pid ${PID[redis]} on 127.0.0.1:${PORT[redis]}"
}
redis_flush() {
    [ "$(redis_cli FLUSHALL 2>/dev/null || true)" = OK ] || log "  redis FLUSHALL failed"
}
redis_keys() { redis_cli DBSIZE 2>/dev/null || echo "?"; }

# --- sidecache rows: at most one instance runs at a time ------------------------------
sidecache_store() {
    local redis="redis://127.0.0.1:${PORT[redis]}"
    case "$1" in
        sidecache) echo '{ "memory": "256MiB" }' ;;
        sidecache-redis) echo "{ \"memory\": \"0\", \"redis\": \"$redis\" }" ;;
        sidecache-l1) echo "{ \"memory\": \"256MiB\", \"redis\": \"$redis\", \"consistency\": \"strict\" }" ;;
    esac
}

NOTES=()                # lines for the report (rows skipped, restarts that failed)
SC_RUNNING=""           # the sidecache row whose instance is running now
declare -A SC_WARMED=() # sidecache row -> scenario its running instance was warmed for

stop_sidecache() {
    [ -n "$SC_RUNNING" ] || return 0
    stop_one "$SC_RUNNING"
    SC_RUNNING=""
}

# Start sidecache row $1, after stopping whichever sidecache row runs now. Redis
# rows start against a flushed Redis.
start_sidecache() {
    local name="$1" dir="$RUN_DIR/$1"
    mkdir -p "$dir"
    if [ ! -x "$SIDECACHE_BIN" ]; then
        NOTES+=("$name skipped: $SIDECACHE_BIN not found (run \`make release\` first).")
        log "${NOTES[-1]}"
        return 1
    fi
    stop_sidecache
    cat >"$dir/proxy.json" <<EOF
{
  "listen": "127.0.0.1:${PORT[$name]}",
  "upstream": "http://127.0.0.1:${PORT[origin]}",
  "store": $(sidecache_store "$name"),
  "routes": [
    { "name": "items", "match": "GET /api/items/{id}", "ttl": "5m" }
  ]
}
EOF
    uses_redis "$name" && redis_flush
    echo "=== $(date -u '+%H:%M:%S') start" >>"$dir/sidecache.log"
    # Keep the environment from redirecting it (DESIGN.md overrides).
    env -u SIDECACHE_LISTEN -u SIDECACHE_UPSTREAM -u REDIS_URL \
        "$SIDECACHE_BIN" run --config "$dir/proxy.json" >>"$dir/sidecache.log" 2>&1 &
    PID[$name]=$!
    SC_RUNNING="$name"
    SC_WARMED[$name]=""
    if ! wait_ready "$name" "$dir/sidecache.log"; then
        stop_sidecache
        NOTES+=("$name: it did not start (see ${dir#"$ROOT"/}/sidecache.log).")
        log "${NOTES[-1]}"
        return 1
    fi
    log "$name: pid ${PID[$name]} on $(url_of "$name")"
}

# Make sidecache row $1 the running one, warmed for scenario $2. The instance is
# (re)started when another sidecache row ran since, and for Redis rows before
# every warm-up (a fresh instance against a flushed Redis, so rows never share
# entries); otherwise the running instance is only re-warmed per scenario.
prepare_sidecache() {
    local name="$1" scenario="$2"
    if [ "$SC_RUNNING" = "$name" ] && [ "${SC_WARMED[$name]:-}" = "$scenario" ]; then
        return 0
    fi
    if [ "$SC_RUNNING" != "$name" ] || uses_redis "$name"; then
        start_sidecache "$name" || return 1
    fi
    warm "$scenario" "$name"
    SC_WARMED[$name]="$scenario"
}

# --- wrk scripts -----------------------------------------------------------------
cat >"$RUN_DIR/keys1000.lua" <<'EOF'
-- Uniformly random among /api/items/1..1000; requests are pre-formatted.
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  math.randomseed(os.time() + 7919 * (tid or 0))
  reqs = {}
  for i = 1, 1000 do
    reqs[i] = wrk.format("GET", "/api/items/" .. i)
  end
end
function request()
  return reqs[math.random(1000)]
end
EOF
cat >"$RUN_DIR/miss.lua" <<'EOF'
-- Every request a path never asked before: run nonce (argument) + thread + counter.
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  nonce = tonumber(args[1]) or 0
  n = 0
end
function request()
  n = n + 1
  return wrk.format("GET", string.format("/api/items/%d%03d%010d", nonce, tid, n))
end
EOF

# --- measuring ---------------------------------------------------------------------
WRK_BASE=(wrk "-t$THREADS" "-c$CONNECTIONS" "-d$DURATION" --latency)

# Seconds/ms/us from wrk -> ms.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (match(v, /^[0-9.]+/)) { n = substr(v, 1, RLENGTH); u = substr(v, RLENGTH + 1) } else { print "nan"; exit }
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
        if (f < 0) print "nan"; else printf "%.3f\n", n * f
    }'
}

# Median of the numbers given as arguments ("nan" ignored).
median() {
    printf '%s\n' "$@" | awk '$1 != "nan" && $1 != ""' | sort -g | awk '
        { a[NR] = $1 }
        END {
            if (NR == 0) { print "nan"; exit }
            if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2
        }'
}

declare -A RPS=() P99=() ERRS=()   # "<scenario>/<proxy>/<run>" -> value
MISS_NONCE=100

# One wrk run; stores req/s, p99 (ms) and error count.
measure() {
    local scenario="$1" proxy="$2" run="$3" out="$RAW/$1-$2-$3.txt"
    local args=("${WRK_BASE[@]}")
    case "$scenario" in
        hot) args+=("$(url_of "$proxy")/api/items/1") ;;
        keys1000) args+=(-s "$RUN_DIR/keys1000.lua" "$(url_of "$proxy")/") ;;
        miss)
            MISS_NONCE=$((MISS_NONCE + 1))
            args+=(-s "$RUN_DIR/miss.lua" "$(url_of "$proxy")/" -- "$MISS_NONCE")
            ;;
    esac
    echo "# ${args[*]}" >"$out"
    if ! "${args[@]}" >>"$out" 2>&1; then
        log "wrk failed for $scenario/$proxy run $run (see ${out#"$ROOT"/})"
    fi
    local rps p99raw p99 non2xx sockerr
    rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
    p99raw="$(awk '$1 == "99%" { print $2 }' "$out")"
    p99="$(to_ms "${p99raw:-x}")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")"
    sockerr="$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")"
    RPS["$scenario/$proxy/$run"]="${rps:-nan}"
    P99["$scenario/$proxy/$run"]="$p99"
    ERRS["$scenario/$proxy/$run"]=$(( ${non2xx:-0} + ${sockerr:-0} ))
    log "  $scenario  $(printf '%-15s' "$proxy") run $run: ${rps:-?} req/s, p99 ${p99} ms, errors ${ERRS["$scenario/$proxy/$run"]}"
}
# A measurement that could not be made (its sidecache row did not restart).
measure_failed() {
    RPS["$1/$2/$3"]=nan
    P99["$1/$2/$3"]=nan
    ERRS["$1/$2/$3"]=0
    NOTES+=("$2: $1 run $3 not measured, the instance did not restart (see ${RUN_DIR#"$ROOT"/}/$2/sidecache.log).")
    log "${NOTES[-1]}"
}

# Record how the proxy answered a repeat of /api/items/1 (did it cache at all?);
# for the Redis rows also how many keys Redis holds (0: Redis is not used).
declare -A PROBE=()
cache_probe() {
    local proxy="$1" headers keys
    headers="$(curl -s -D - -o /dev/null --max-time 2 "$(url_of "$proxy")/api/items/1" | tr -d '\r' \
        | grep -iE '^(x-cache|cache-status|age|x-varnish):' \
        | awk '{ printf "%s%s", (NR > 1 ? "; " : ""), $0 }' || true)"
    PROBE[$proxy]="\`${headers:-(no cache headers)}\`"
    if is_sidecache "$proxy" && [[ "${headers,,}" != *"x-cache: hit"* ]]; then
        PROBE[$proxy]="${PROBE[$proxy]} **not a cache hit**"
    fi
    if uses_redis "$proxy"; then
        keys="$(redis_keys)"
        PROBE[$proxy]="${PROBE[$proxy]}, Redis keys: $keys"
        [ "$keys" != 0 ] || PROBE[$proxy]="${PROBE[$proxy]} **(Redis not used)**"
    fi
    log "  $proxy repeat of /api/items/1: ${PROBE[$proxy]}"
}

warm() {
    local scenario="$1" proxy="$2" codes bad
    case "$scenario" in
        hot)
            curl -s -o /dev/null --max-time 5 "$(url_of "$proxy")/api/items/1" || true
            [ "$proxy" = origin ] || cache_probe "$proxy"
            ;;
        keys1000)
            # One curl, one keep-alive connection, 1000 URLs (curl globbing).
            codes="$(curl -s --max-time 60 -w '%{stderr}%{http_code}\n' \
                "$(url_of "$proxy")/api/items/[1-1000]" 2>&1 >/dev/null || true)"
            bad="$(printf '%s\n' "$codes" | grep -cv '^200$' || true)"
            [ "$bad" -eq 0 ] || log "  warming $proxy: $bad of 1000 answers were not 200"
            ;;
        miss) ;;
    esac
    # Without the hot scenario, still show once that the row caches.
    if [ "$scenario" != hot ] && [ "$proxy" != origin ] && [ -z "${PROBE[$proxy]:-}" ]; then
        curl -s -o /dev/null --max-time 5 "$(url_of "$proxy")/api/items/1" || true
        cache_probe "$proxy"
    fi
}

# --- start everything -----------------------------------------------------------------
rows=()
start_origin
[ -z "$WANT_REDIS" ] || start_redis
for p in $PROXIES; do
    case "$p" in
        origin) rows+=(origin) ;;
        nginx) start_nginx_cache && rows+=(nginx) ;;
        varnish) start_varnish && rows+=(varnish) ;;
        # Each sidecache row is started once here to see that it starts; the next
        # one stops it. The last one started stays up (the only one, by default).
        sidecache | sidecache-redis | sidecache-l1) if start_sidecache "$p"; then rows+=("$p"); fi ;;
    esac
done

# --- run: per scenario, RUNS rounds, each round every proxy once (interleaved so
# drift on the VM hits all rows alike) --------------------------------------------------
for scenario in $SCENARIOS; do
    case "$scenario" in hot | keys1000 | miss) ;; *) die "unknown scenario '$scenario'" ;; esac
    log "scenario $scenario"
    # sidecache rows are warmed when they are made the running one, just before
    # their measurement (prepare_sidecache); with one sidecache row that is once
    # per scenario, as for the other proxies.
    for p in "${rows[@]}"; do is_sidecache "$p" || warm "$scenario" "$p"; done
    for run in $(seq 1 "$RUNS"); do
        for p in "${rows[@]}"; do
            if is_sidecache "$p" && ! prepare_sidecache "$p" "$scenario"; then
                measure_failed "$scenario" "$p" "$run"
                continue
            fi
            measure "$scenario" "$p" "$run"
        done
    done
done
stop_sidecache

# --- report ---------------------------------------------------------------------------
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}
fmt_rps() { awk -v v="$1" 'BEGIN { if (v == "nan") print "n/a"; else printf "%.0f\n", v }'; }
fmt_ms() { awk -v v="$1" 'BEGIN { if (v == "nan") print "n/a"; else printf "%.2f\n", v }'; }

describe() {
    case "$1" in
        hot) echo "one key, /api/items/1, warmed first: every request a cache hit" ;;
        keys1000) echo "uniform over /api/items/1..1000, all warmed first: every request a cache hit" ;;
        miss) echo "a new path every request: every request goes to the origin (and is stored)" ;;
    esac
}

versions() {
    local n v w
    n="$("$NGINX" -v 2>&1 | sed 's/^nginx version: //' || true)"
    v="$("$VARNISHD" -V 2>&1 | head -n 1 | sed 's/^varnishd (\(.*\))$/\1/' || true)"
    w="$(wrk -v 2>&1 | head -n 1 | awk '{ print "wrk " $2 }' || true)"
    printf '%s, %s, %s' "$n" "$v" "$w"
    if [ -n "$WANT_REDIS" ]; then
        printf ', %s' "$("$REDIS_SERVER" --version 2>/dev/null | awk '{ sub(/^v=/, "", $3); print "Redis " $3 }' || true)"
    fi
}

has_row() {
    local p
    for p in "${rows[@]}"; do [ "$p" = "$1" ] && return 0; done
    return 1
}
# Issue 3's targets for the Redis rows against the memory-only row, on hits.
target_of() {
    case "$1" in
        sidecache-redis) echo 0.5 ;;
        sidecache-l1) echo 0.8 ;;
    esac
}
REDIS_RATIOS=""
if has_row sidecache && { has_row sidecache-redis || has_row sidecache-l1; }; then
    REDIS_RATIOS=1
fi

REPORT="$RUN_DIR/results.md"
{
    echo "# sidecache benchmark"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC') · nproc $(nproc) · $(versions) · \`$INVOCATION\` → \`${WRK_BASE[*]} [-s SCRIPT] URL\`, median of $RUNS run(s)."
    echo
    echo "wrk runs on the same $(nproc) cores as the proxy under test, so absolute numbers are"
    echo "low and noisy (±30% run to run on this VM); compare the ratios within one run."
    echo "Origin: nginx, 1 worker, fixed 1 KiB JSON, \`Cache-Control: max-age=300\`."
    echo "nginx: proxy_cache on $NGINX_CACHE, 2 workers, keepalive 64 to the origin. Varnish: malloc 256m, default VCL."
    for p in "${rows[@]}"; do
        case "$p" in
            sidecache) echo "sidecache: release build, memory store 256MiB." ;;
            sidecache-redis) echo "sidecache-redis: same binary, \`store.memory: \"0\"\` (no L1), every lookup and fill in Redis." ;;
            sidecache-l1) echo "sidecache-l1: same binary, 256MiB L1 in front of Redis, \`consistency: strict\` (each L1 hit confirmed against Redis)." ;;
        esac
    done
    if [ -n "$WANT_REDIS" ]; then
        echo "Redis: one local redis-server (\`--save '' --appendonly no\`, maxmemory 256mb volatile-lru), FLUSHALL before each"
        echo "Redis row's warm-up. Only one sidecache instance runs at a time (switching rows restarts it)."
    fi
    echo "Machine: $(uname -sr), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown CPU)."
    if [ "${#PROBE[@]}" -gt 0 ]; then
        echo
        echo "Cache check, a repeat of /api/items/1 after warming:"
        for p in "${rows[@]}"; do
            [ -z "${PROBE[$p]:-}" ] || echo "- $p: ${PROBE[$p]}"
        done
    fi
    if [ "${#NOTES[@]}" -gt 0 ]; then
        echo
        for n in "${NOTES[@]}"; do echo "- **$n**"; done
    fi
    for scenario in $SCENARIOS; do
        echo
        echo "## $scenario — $(describe "$scenario")"
        echo
        if [ -n "$REDIS_RATIOS" ]; then
            echo "| proxy | req/s | p99 ms | req/s ÷ nginx | p99 ÷ nginx | req/s ÷ sidecache | errors |"
            echo "|---|---:|---:|---:|---:|---:|---:|"
        else
            echo "| proxy | req/s | p99 ms | req/s ÷ nginx | p99 ÷ nginx | errors |"
            echo "|---|---:|---:|---:|---:|---:|"
        fi
        declare -A med_rps=() med_p99=() errs=()
        for p in "${rows[@]}"; do
            r=(); l=(); e=0
            for run in $(seq 1 "$RUNS"); do
                r+=("${RPS["$scenario/$p/$run"]}")
                l+=("${P99["$scenario/$p/$run"]}")
                e=$((e + ${ERRS["$scenario/$p/$run"]}))
            done
            med_rps[$p]="$(median "${r[@]}")"
            med_p99[$p]="$(median "${l[@]}")"
            errs[$p]=$e
        done
        for p in "${rows[@]}"; do
            label="$p"
            [ "$p" = origin ] && label="origin (direct, reference)"
            vs_sc=""
            if [ -n "$REDIS_RATIOS" ]; then
                if is_sidecache "$p"; then
                    vs_sc=" $(ratio "${med_rps[$p]}" "${med_rps[sidecache]}") |"
                else
                    vs_sc=" |"
                fi
            fi
            echo "| $label | $(fmt_rps "${med_rps[$p]}") | $(fmt_ms "${med_p99[$p]}") |" \
                "$(ratio "${med_rps[$p]}" "${med_rps[nginx]:-nan}") |" \
                "$(ratio "${med_p99[$p]}" "${med_p99[nginx]:-nan}") |$vs_sc ${errs[$p]} |"
        done
        if [ -n "$REDIS_RATIOS" ]; then
            echo
            for p in sidecache-redis sidecache-l1; do
                has_row "$p" || continue
                q="$(ratio "${med_rps[$p]}" "${med_rps[sidecache]}")"
                t="$(target_of "$p")"
                case "$scenario" in
                    miss) verdict="no target on misses" ;;
                    *)
                        if [ "$q" = n/a ]; then
                            verdict="target ≥ $t: n/a"
                        elif awk -v a="${med_rps[$p]}" -v b="${med_rps[sidecache]}" -v t="$t" \
                            'BEGIN { exit !(a / b >= t) }'; then
                            verdict="target ≥ $t: met"
                        else
                            verdict="target ≥ $t: **not met**"
                        fi
                        ;;
                esac
                echo "- $p req/s ÷ sidecache req/s: **$q** ($verdict)"
            done
        fi
        if [ "$RUNS" -gt 1 ]; then
            echo
            for p in "${rows[@]}"; do
                per=()
                for run in $(seq 1 "$RUNS"); do per+=("$(fmt_rps "${RPS["$scenario/$p/$run"]}")"); done
                echo "- $p req/s per run: $(printf '%s / ' "${per[@]}" | sed 's| / $||')"
            done
        fi
        unset med_rps med_p99 errs
    done
    echo
    echo "errors = non-2xx/3xx answers + socket errors, summed over the runs."
    echo "Raw wrk output: \`${RAW#"$ROOT"/}/\`."
} >"$REPORT"

cp "$REPORT" "$OUT/results.md"
echo
cat "$REPORT"
log "written: ${OUT#"$ROOT"/}/results.md"
