#!/usr/bin/env bash
# Print N (default 1) distinct free TCP ports on 127.0.0.1, one per line.
# The ports are free when printed; another process could still take one before
# the caller binds it, so callers that can should retry on a bind failure.
set -euo pipefail

n="${1:-1}"

if command -v python3 >/dev/null 2>&1; then
    # Hold all sockets open at once so the kernel hands out distinct ports.
    exec python3 - "$n" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
for s in socks:
    s.close()
PY
fi

# Fallback without python3: random ports in a high range that nothing answers on.
picked=" "
count=0
tries=0
while [ "$count" -lt "$n" ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 1000 ]; then
        echo "error: no free port found on 127.0.0.1" >&2
        exit 1
    fi
    port=$((20000 + RANDOM % 30000))
    case "$picked" in *" $port "*) continue ;; esac
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        continue  # something is listening
    fi
    picked="$picked$port "
    echo "$port"
    count=$((count + 1))
done
