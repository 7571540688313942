#!/usr/bin/env python3
"""CPU per request of two (or more) sidecache builds, measured in alternating rounds
against one origin: the before-and-after witness for a step that callgrind cannot judge
alone (callgrind counts no kernel work, and counts a `rep stos` byte as an instruction).

    BINARIES="/tmp/before/sidecache .build/release/sidecache" SCENARIO=miss bench/cpu.py
    BINARIES="nginx .build/release/sidecache" SCENARIO=pass bench/cpu.py

`nginx` in BINARIES measures the bench's nginx row instead (bench/config/nginx.nginx.conf,
its cache on tmpfs; the time of its master and workers together), in the same rounds.

Knobs (environment): BINARIES (required: two or more builds), SCENARIO (a name of
bench/scenarios.json: hot, keys1000, miss, pass...), STORE (memory; redis: the bench's
sidecache-redis row; l1: its sidecache-l1 row), ROUNDS (3), DURATION (5s), CONNECTIONS (64 for hits, 32 otherwise,
as bench/run.py), ACCESS_LOG (text or json: every server with its access log on,
written to a file). Each round starts every binary in turn on a fresh store, warms it as
the scenario says, runs `wrk -t2` and reads the proxy's user + system time from
/proc/<pid>/stat before and after: CPU µs per request = that time over the requests (and the system part of it alone)
wrk completed. The same from /proc/<pid>/task/*/stat by thread name (event loops, curl
threads; nginx's processes) shows where a forwarded request's CPU goes. Prints each round and the medians; keeps wrk's output in
bench/out/cpu-<time>-XXXX/.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ next to the sources
from benchlib import measure
from benchlib.servers import log, nginx_cache_dir, nginx_cache_dir_remove, nginx_server, sidecache_server, start_backends

BENCH = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(BENCH, "out")
STORES = {"memory": {"memory": "256MiB"}, "redis": {"memory": "0", "redis": "redis://127.0.0.1:@REDIS_PORT@"},
          "l1": {"memory": "256MiB", "redis": "redis://127.0.0.1:@REDIS_PORT@", "consistency": "strict"}}
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """(utime, stime) of `pids` together (fields 14 and 15 of /proc/<pid>/stat, after the name)."""
    user = system = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        user, system = user + int(fields[11]), system + int(fields[12])
    return user / CLOCK_TICK, system / CLOCK_TICK


def cpu_by_thread(pids):
    """{thread name without its number: (utime, stime)} over the threads of `pids` alive now:
    NIO-ELT (the event loops), curl-lane (the curl threads), nginx (its processes)."""
    groups = {}
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    name = f.read().strip().rstrip("0123456789#-")
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue   # the thread ended meanwhile
            user, system = groups.get(name, (0, 0))
            groups[name] = (user + int(fields[11]), system + int(fields[12]))
    return groups


def process_and_children(pid):
    """`pid` and its children (nginx's workers)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid] + [int(c) for c in children]


def proxy(binary, name, ports, run_dir, store, redis, access_log=""):
    """The server measured as `binary`: a sidecache build, or the bench's nginx row.
    `access_log` ("text" or "json"): with its access log on, written to a file in its
    directory (sidecache's `log.access` in that `log.format`; nginx's `access_log`)."""
    if binary == "nginx":
        shm = nginx_cache_dir(os.path.join(run_dir, name), "tmpfs")
        server = nginx_server(name, ports[3], run_dir, "nginx.nginx.conf", 2, ORIGIN_PORT=ports[0])
        server.cache_shm = shm
        if access_log:
            http = os.path.join(server.dir, "nginx-http.conf")
            with open(http) as f:
                text = f.read().replace("access_log off;", f"access_log {server.dir}/access.log;")
            with open(http, "w") as f:
                f.write(text)
        return server
    server = sidecache_server(name, ports[3], ports[4], run_dir, binary, store, ports[0], redis)
    if access_log:
        conf = server.argv[-1]   # its stderr, with the access lines, goes to its log file
        with open(conf) as f:
            config = json.load(f)
        config["log"] = {"access": True, "format": access_log}
        with open(conf, "w") as f:
            json.dump(config, f)
    return server


def main():
    binaries = os.environ.get("BINARIES", "").split()
    if len(binaries) < 2:
        sys.exit("[cpu] BINARIES must name two or more sidecache builds")
    scenario_name = os.environ.get("SCENARIO", "hot")
    with open(os.path.join(BENCH, "scenarios.json")) as f:
        scenario = json.load(f)[scenario_name]
    store = STORES[os.environ.get("STORE", "memory")]
    rounds = int(os.environ.get("ROUNDS", "3"))
    duration = os.environ.get("DURATION", "5s")
    hits = "warm" in scenario
    connections = os.environ.get("CONNECTIONS", "64" if hits else "32")
    os.makedirs(OUT, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix=f"cpu-{time.strftime('%Y%m%d-%H%M%S')}-", dir=OUT)
    log(f"run directory: {os.path.relpath(run_dir)}")
    ports = [int(p) for p in os.popen(os.path.join(os.path.dirname(BENCH), "scripts", "free-ports.sh") + " 5").read().split()]
    started = []
    samples = {b: [] for b in binaries}
    by_thread = {b: {} for b in binaries}
    try:
        redis = start_backends(run_dir, ports, "redis" in store, started, "cpu")
        for round_number in range(1, rounds + 1):
            for i, binary in enumerate(binaries):
                if redis:
                    redis.flushall()
                name = f"{'nginx' if binary == 'nginx' else 'sidecache'}-{i}-{round_number}"
                server = proxy(binary, name, ports, run_dir, store, redis, os.environ.get("ACCESS_LOG", ""))
                if not server.start():
                    sys.exit(f"[cpu] {binary} did not start; see {server.log_path}")
                try:
                    measure.warm(server.port, scenario)
                    pids = process_and_children(server.proc.pid)
                    before, threads_before = cpu_seconds(pids), cpu_by_thread(pids)
                    out = os.path.join(run_dir, f"wrk-{i}-{round_number}.txt")
                    result = measure.wrk(server.url, scenario, ["-t2", f"-c{connections}", f"-d{duration}", "--latency"],
                                         out, f"{round_number}{i}{time.time_ns() % 1_000_000}")
                    after, threads_after = cpu_seconds(pids), cpu_by_thread(pids)
                    user, system = after[0] - before[0], after[1] - before[1]
                finally:
                    server.stop()
                    if binary == "nginx":
                        nginx_cache_dir_remove(server.dir, server.cache_shm)
                seconds = float(duration.rstrip("s"))
                requests = (result.rps or 0) * seconds
                if not requests or result.errors:
                    sys.exit(f"[cpu] {binary}: {result.errors} errors, {result.rps} req/s (see {out})")
                samples[binary].append(((user + system) / requests * 1e6, result.rps, system / requests * 1e6))
                for name, (u, k) in threads_after.items():
                    u0, k0 = threads_before.get(name, (0, 0))
                    by_thread[binary].setdefault(name, []).append((
                        (u - u0 + k - k0) / CLOCK_TICK / requests * 1e6, (k - k0) / CLOCK_TICK / requests * 1e6))
                log(f"round {round_number} {binary}: {samples[binary][-1][0]:.1f} µs/req "
                    f"({samples[binary][-1][2]:.1f} in the kernel), {result.rps:.0f} req/s")
    finally:
        for server in reversed(started):
            server.stop()
    print(f"\n| {scenario_name}, {rounds} rounds | CPU µs per request | median | of it in the kernel | req/s median |")
    print("|---|---|---:|---:|---:|")
    for binary in binaries:
        cpu = [s[0] for s in samples[binary]]
        rps = [s[1] for s in samples[binary]]
        kernel = [s[2] for s in samples[binary]]
        print(f"| `{binary}` | {', '.join(f'{c:.1f}' for c in cpu)} | {statistics.median(cpu):.1f} "
              f"| {statistics.median(kernel):.1f} | {statistics.median(rps):.0f} |")
    print("\n| threads | CPU µs per request, median | of it in the kernel |\n|---|---:|---:|")
    for binary in binaries:
        for name, rows in sorted(by_thread[binary].items()):
            busy = statistics.median(r[0] for r in rows)
            if busy >= 0.05:
                print(f"| `{binary}` {name} | {busy:.1f} | {statistics.median(r[1] for r in rows):.1f} |")


if __name__ == "__main__":
    main()
