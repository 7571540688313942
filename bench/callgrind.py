#!/usr/bin/env python3
"""Instructions per request of sidecache, counted by callgrind: the repeatable witness
beside bench/run.py's req/s, which drift ±30 % on a shared machine (issue 13).

    bench/callgrind.py                    # or: make callgrind
    SCENARIOS="hit pass" REQUESTS=5000 bench/callgrind.py

Knobs (environment): SIDECACHE_BIN (.build/release/sidecache), SCENARIOS (hit keys1000
pass fill redis-hit redis-keys1000 l1-hit l1-keys1000), REQUESTS (2000), WARM (200), PROXY (sidecache, or nginx: the bench's nginx
proxy_cache row as one process, `master_process off`, its cache on tmpfs; none of the Redis scenarios; or
nio-floor: bench/floor, SwiftNIO alone answering a hit's bytes, hit and keys1000 only),
CONNECTIONS (0: one request at a time; N: instead of REQUESTS, `wrk -t1 -cN` for
LOAD_SECONDS (8) with the matching bench scenario, to see whether the count per request
grows with the requests in flight).

Per scenario: the bench's origin (nginx, 1 KiB JSON), Redis for the `redis-` and `l1-` ones, and
sidecache under `valgrind --tool=callgrind` with bench/config/sidecache.json. The binary
runs from a copy without debug sections (`strip -g`, symbols kept): valgrind 3.19 cannot
read the DWARF 5 that Swift writes. WARM requests first, then callgrind's counters are
zeroed, REQUESTS requests go over one keep-alive connection (one at a time, as wrk
spells them: Host, no Accept-Encoding), and the counters are dumped. Every instruction
of every thread between the two, event loops and curl threads alike, divided by
REQUESTS, is the figure. The dump and callgrind_annotate's top functions stay in
bench/out/callgrind-<time>-XXXX/.

valgrind 3.19 hides the CPU's SHA extensions (CPUID leaf 7 reads sha_ni=0 under it, 1
without), so BoringSSL hashes keys with its AVX code here: about 4 900 of a memory
hit's instructions (12 %) are SHA-256 that the SHA-NI code does in a fraction of that
outside valgrind. Compare counts with counts, not with the CPU a real run spends.
"""

import glob
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ next to the sources
from benchlib.measure import wrk
from benchlib.servers import (floor_server, log, nginx_cache_dir, nginx_cache_dir_remove, nginx_server,
                              sidecache_server, start_backends)

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
OUT = os.path.join(BENCH, "out")

MEMORY = {"memory": "256MiB"}
REDIS_ONLY = {"memory": "0", "redis": "redis://127.0.0.1:@REDIS_PORT@"}
L1_STRICT = {"memory": "256MiB", "redis": "redis://127.0.0.1:@REDIS_PORT@", "consistency": "strict"}
# name: (store, path of request i, what it measures)
SCENARIOS = {
    "hit": (MEMORY, lambda i: "/api/items/1", "one hot key, a cache hit (sidecache: the memory store)"),
    "keys1000": (MEMORY, lambda i: f"/api/items/{1 + i % 1000}",
                 "1000 keys in turn, every one warmed first: a cache hit on an entry that is not the newest"),
    "pass": (MEMORY, lambda i: f"/api/pass/{i}", "a new path under /api/pass/ (no route): forwarded"),
    "fill": (MEMORY, lambda i: f"/api/items/{1000 + i}", "a new path on the cache route: fetched and stored"),
    "redis-hit": (REDIS_ONLY, lambda i: "/api/items/1", "one hot key, no L1: a Redis GET per request"),
    "redis-keys1000": (REDIS_ONLY, lambda i: f"/api/items/{1 + i % 1000}",
                       "1000 keys in turn, no L1: a Redis GET per request, each entry's plain form kept per thread"),
    "l1-hit": (L1_STRICT, lambda i: "/api/items/1",
               "one hot key from L1, `consistency: strict`: each hit's probe of Redis unshared"),
    "l1-keys1000": (L1_STRICT, lambda i: f"/api/items/{1 + i % 1000}",
                    "1000 keys in turn from L1, `consistency: strict`: each hit's probe of Redis unshared"),
}


def send(conn, path):
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.endheaders()
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"[callgrind] GET {path} answered {response.status}")


def callgrind_control(pid, flag):
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True)


def nginx_proxy(name, run_dir, ports):
    """The bench's nginx row in one process, so that valgrind follows every request."""
    shm = nginx_cache_dir(os.path.join(run_dir, f"nginx-{name}"), "tmpfs")
    server = nginx_server(f"nginx-{name}", ports[3], run_dir, "nginx.nginx.conf", 1, ORIGIN_PORT=ports[0])
    server.cache_shm = shm
    main = os.path.join(server.dir, "nginx-main.conf")
    with open(main) as f:
        text = f.read()
    with open(main, "w") as f:
        f.write(text.replace("master_process on;", "master_process off;"))
    return server


def measure(proxy, name, binary, run_dir, ports, requests, warm):
    store, path, about = SCENARIOS[name]
    started = []
    server = None
    try:
        redis = start_backends(run_dir, ports, "redis" in store, started, "callgrind")
        if proxy == "nginx":
            server = nginx_proxy(name, run_dir, ports)
        elif proxy == "nio-floor":
            server = floor_server(ports[3], run_dir)
            server.argv[0] = stripped_copy(server.argv[0], run_dir, "nio-floor.bin")
        else:
            server = sidecache_server(f"sidecache-{name}", ports[3], ports[4], run_dir, binary, store, ports[0], redis)
        out = os.path.join(server.dir, "callgrind.out")
        server.argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + server.argv
        server.start_within = 120
        started.append(server)
        if not server.start():
            sys.exit(f"[callgrind] {proxy} did not start under valgrind; see {server.log_path}")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        for i in range(max(warm, WARM_AT_LEAST.get(name, 0))):
            send(conn, path(i))
        callgrind_control(server.proc.pid, "--zero")
        connections = int(os.environ.get("CONNECTIONS") or 0)
        if connections:
            requests = under_load(server, name, connections, run_dir)
        else:
            first = max(warm, WARM_AT_LEAST.get(name, 0))
            for i in range(first, first + requests):
                send(conn, path(i))
        callgrind_control(server.proc.pid, "--dump")
        conn.close()
        dumps = sorted(glob.glob(out + ".*"), key=os.path.getmtime)
        if not dumps:
            sys.exit(f"[callgrind] no dump in {server.dir}")
        total = totals(dumps[-1])
        top = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", dumps[-1]],
                             capture_output=True, text=True).stdout
        with open(os.path.join(run_dir, f"{name}.annotate.txt"), "w") as f:
            f.write(top)
        return {"proxy": proxy, "scenario": name, "about": about, "requests": requests, "instructions": total,
                "per_request": round(total / requests)}
    finally:
        for started_server in reversed(started):
            started_server.stop()
        if server is not None and getattr(server, "cache_shm", None):
            nginx_cache_dir_remove(server.dir, server.cache_shm)


# what bench/floor's one answer stands for: a memory hit
FLOOR_SCENARIOS = ("hit", "keys1000")

# scenarios whose requests are all plain hits only once this many have been sent (keys1000:
# a fill, then a first hit that keeps the decoded form of each gzip entry)
WARM_AT_LEAST = {"keys1000": 2000, "redis-keys1000": 2000, "l1-keys1000": 2000}

# callgrind scenario: the bench scenario (bench/scenarios.json) wrk runs for it under load
LOAD_SCENARIOS = {"hit": "hot", "keys1000": "keys1000", "pass": "pass", "fill": "miss", "redis-hit": "hot", "redis-keys1000": "keys1000", "l1-hit": "hot",
                  "l1-keys1000": "keys1000"}


def under_load(server, name, connections, run_dir):
    """Runs wrk against `server` for the scenario; returns the requests it completed."""
    with open(os.path.join(BENCH, "scenarios.json")) as f:
        scenario = json.load(f)[LOAD_SCENARIOS[name]]
    seconds = int(os.environ.get("LOAD_SECONDS") or 8)
    out = os.path.join(run_dir, f"wrk-{name}.txt")
    wrk(server.url, scenario, ["-t1", f"-c{connections}", f"-d{seconds}s"], out, str(time.time_ns()))
    with open(out) as f:
        done = re.search(r"^\s*(\d+) requests in", f.read(), re.M)
    if not done or int(done.group(1)) == 0:
        sys.exit(f"[callgrind] wrk completed no requests (see {out})")
    return int(done.group(1))


def totals(dump):
    with open(dump) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    sys.exit(f"[callgrind] no totals in {dump}")


def stripped_copy(binary, run_dir, name="sidecache"):
    copy = os.path.join(run_dir, name)
    shutil.copy(binary, copy)
    subprocess.run(["strip", "--strip-debug", copy], check=True)
    return copy


def main():
    proxy = os.environ.get("PROXY") or "sidecache"
    if proxy not in ("sidecache", "nginx", "nio-floor"):
        sys.exit(f"[callgrind] PROXY is sidecache, nginx or nio-floor (got '{proxy}')")
    known = [n for n in SCENARIOS if proxy == "sidecache" or proxy == "nginx" and "redis" not in SCENARIOS[n][0]
             or n in FLOOR_SCENARIOS]
    names = (os.environ.get("SCENARIOS") or " ".join(known)).split()
    for n in names:
        if n not in known:
            sys.exit(f"[callgrind] unknown scenario '{n}' for {proxy} (known: {' '.join(known)})")
    requests, warm = int(os.environ.get("REQUESTS") or 2000), int(os.environ.get("WARM") or 200)
    subprocess.run([os.path.join(ROOT, "scripts", "apt-deps.sh"), "nginx", "valgrind"]
                   + (["redis-server", "openssl"] if any("redis" in SCENARIOS[n][0] for n in names) else [])
                   + (["wrk"] if os.environ.get("CONNECTIONS") else []), check=True)
    binary = os.environ.get("SIDECACHE_BIN") or os.path.join(ROOT, ".build", "release", "sidecache")
    os.makedirs(OUT, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix=time.strftime("callgrind-%Y%m%d-%H%M%S-"), dir=OUT)
    log(f"run directory: {os.path.relpath(run_dir, ROOT)}")
    copy = stripped_copy(binary, run_dir) if proxy == "sidecache" else None
    ports = [int(p) for p in subprocess.run([os.path.join(ROOT, "scripts", "free-ports.sh"), "5"],
                                            capture_output=True, text=True, check=True).stdout.split()]
    results = [measure(proxy, n, copy, run_dir, ports, requests, warm) for n in names]
    with open(os.path.join(run_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"\n| {proxy}: scenario | instructions per request | what |\n|---|---:|---|")
    for r in results:
        count = f"{r['per_request']:,}".replace(",", "\u202f")
        print(f"| {r['scenario']} | {count} | {r['about']} ({r['requests']} requests) |")


if __name__ == "__main__":
    main()
