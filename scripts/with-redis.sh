#!/usr/bin/env bash
# Run a command with a private, throwaway redis-server on a free loopback port.
#   scripts/with-redis.sh swift test --filter Purge
# Exports to the command:
#   SIDECACHE_TEST_REDIS_URL=redis://127.0.0.1:PORT
#   SIDECACHE_TEST_REDIS_SERVER=/path/to/redis-server (tests may start their own)
# The redis is stopped by its PID when the command ends (or on Ctrl-C), and the
# command's exit status is this script's exit status.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
redis_server="$(command -v redis-server || true)"
redis_cli="$(command -v redis-cli || true)"
if [ -z "$redis_server" ] || [ -z "$redis_cli" ]; then
    echo "error: redis-server/redis-cli not found (make test-deps installs them)" >&2
    exit 1
fi

workdir="$(mktemp -d "${TMPDIR:-/tmp}/sidecache-redis.XXXXXX")"
redis_pid=""

stop_redis() {
    if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
        kill -TERM "$redis_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$redis_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    redis_pid=""
}
cmd_pid=""
cleanup() {
    stop_redis
    rm -rf "$workdir"
}
# On INT/TERM pass the signal on to the command, let it finish, then clean up.
on_signal() {
    if [ -n "$cmd_pid" ]; then
        kill "-$1" "$cmd_pid" 2>/dev/null || true
        wait "$cmd_pid" 2>/dev/null || true
    fi
    exit "$2"
}
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

# Start redis; if the chosen port was taken in the meantime, try another one.
port=""
for attempt in 1 2 3; do
    port="$("$here/free-ports.sh" 1)"
    "$redis_server" --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --daemonize no --dir "$workdir" --logfile "$workdir/redis.log" &
    redis_pid=$!
    ready=0
    for _ in $(seq 1 100); do    # ~10 s
        if ! kill -0 "$redis_pid" 2>/dev/null; then
            break
        fi
        if [ "$("$redis_cli" -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" = "PONG" ]; then
            ready=1
            break
        fi
        sleep 0.1
    done
    if [ "$ready" -eq 1 ]; then
        break
    fi
    echo "warning: redis-server did not come up on 127.0.0.1:$port (attempt $attempt)" >&2
    tail -n 20 "$workdir/redis.log" >&2 2>/dev/null || true
    stop_redis
done
if [ -z "$redis_pid" ]; then
    echo "error: could not start redis-server" >&2
    exit 1
fi
echo "with-redis: redis-server pid $redis_pid on 127.0.0.1:$port" >&2

export SIDECACHE_TEST_REDIS_URL="redis://127.0.0.1:$port"
export SIDECACHE_TEST_REDIS_SERVER="$redis_server"

# In the background (stdin kept) so a signal to this script is handled at once.
"$@" <&0 &
cmd_pid=$!
status=0
wait "$cmd_pid" || status=$?
cmd_pid=""
exit "$status"
