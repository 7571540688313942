#!/usr/bin/env python3
"""sidecache vs nginx proxy_cache vs Varnish in front of one loopback origin, each
loaded in turn with wrk; optionally sidecache with Redis as its store (issue 3).

    bench/run.py                      # or: make bench
    DURATION=30s RUNS=5 bench/run.py
    PROXIES="sidecache sidecache-redis sidecache-l1 nginx" bench/run.py

Knobs (environment): DURATION (10s), RUNS (3), THREADS (2), CONNECTIONS (64),
SIDECACHE_BIN (.build/release/sidecache), PROXIES (sidecache nginx varnish origin; the
rows are in bench/rows.json), SCENARIOS (hot keys1000 miss pass; bench/scenarios.json),
NGINX_CACHE (tmpfs when /dev/shm is a writable tmpfs, else disk).

How it runs: start every row's server from its file in bench/config/; per scenario,
warm the rows, then RUNS rounds in which every row is measured once (interleaved, so
drift on the VM hits all rows alike); report medians. The sidecache rows share one
binary and run one at a time (`SidecacheRows`). Everything a run writes goes to
bench/out/run-<time>-XXXX/; the tables also to bench/out/results.md.
"""

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ next to the sources
from benchlib import measure, report
from benchlib.servers import (RedisCluster, floor_server, log, nginx_cache_dir, nginx_cache_dir_remove, nginx_server,
                              origin_body, redis_server, sidecache_server, tool, varnish_server)

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
OUT = os.path.join(BENCH, "out")
DEFAULTS = {"DURATION": "10s", "RUNS": "3", "THREADS": "2", "CONNECTIONS": "64",
            "PROXIES": "sidecache nginx varnish origin", "SCENARIOS": "hot keys1000 miss pass"}


def load(name):
    with open(os.path.join(BENCH, name)) as f:
        return json.load(f)


def free_ports(n):
    """n distinct ports free on 127.0.0.1."""
    out = subprocess.run([os.path.join(ROOT, "scripts", "free-ports.sh"), str(n)], capture_output=True, text=True, check=True)
    return [int(p) for p in out.stdout.split()]


def cluster_ports(n, taken):
    """n distinct ports free on 127.0.0.1 for Redis Cluster nodes: each port's cluster bus
    port (port + 10000, so the port is at most 55535) is free too, and neither is in
    `taken`. Every socket is held until all are chosen, so no port is handed out twice."""
    held, ports = [], []
    try:
        for _ in range(50 * n):
            if len(ports) == n:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            held.append(s)
            port = s.getsockname()[1]
            if port > 55535 or port in taken or port + 10000 in taken:
                continue
            bus = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                bus.close()
                continue
            held.append(bus)
            ports.append(port)
    finally:
        for s in held:
            s.close()
    if len(ports) < n:
        sys.exit(f"[bench] found only {len(ports)} of {n} free port pairs (p, p+10000) for the Redis Cluster")
    return ports


def cluster_store(store):
    """Whether a row's store is a Redis Cluster (`redis+cluster://`), not the one redis-server."""
    return store.get("redis", "").startswith("redis+cluster://")


def nginx_cache_place():
    shm = os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)
    fs = subprocess.run(["stat", "-f", "-c", "%T", "/dev/shm"], capture_output=True, text=True).stdout.strip() if shm else ""
    return os.environ.get("NGINX_CACHE") or ("tmpfs" if fs == "tmpfs" else "disk")


class SidecacheRows:
    """The sidecache rows: one binary, one instance at a time. Making a row current stops
    the one running; a row is restarted when another ran since, and a Redis row before
    every warm-up (a fresh instance against a flushed Redis, so rows never share
    entries); otherwise the running instance is only re-warmed per scenario. A Redis row
    uses the one redis-server, or the Redis Cluster when its URL is `redis+cluster://`."""

    def __init__(self, servers, redis, cluster, notes):
        self.servers, self.redis, self.cluster, self.notes = servers, redis, cluster, notes
        self.running, self.warmed = None, None

    def uses_redis(self, name):
        return "redis" in self.servers[name].store

    def redis_of(self, name):
        """The Redis a row's store uses (None for a row without Redis)."""
        if not self.uses_redis(name):
            return None
        return self.cluster if cluster_store(self.servers[name].store) else self.redis

    def start(self, name):
        self.stop()
        redis = self.redis_of(name)
        if redis and not redis.flushall():
            log(f"  {redis.name} FLUSHALL failed")
        if not self.servers[name].start():
            self.notes.append(f"{name}: it did not start (see {os.path.relpath(self.servers[name].log_path, ROOT)}).")
            return False
        self.running, self.warmed = name, None
        return True

    def prepare(self, name, scenario_name, scenario, probes):
        if self.running == name and self.warmed == scenario_name:
            return True
        if (self.running != name or self.uses_redis(name)) and not self.start(name):
            return False
        warm(self.servers[name], scenario_name, scenario, probes, self.redis_of(name))
        self.warmed = scenario_name
        return True

    def stop(self):
        if self.running:
            self.servers[self.running].stop()
            self.running = None


def warm(server, scenario_name, scenario, probes, redis=None):
    """Warms `server` for the scenario; records its cache check after `hot`, or after its
    first warm-up when the run has no `hot`."""
    measure.warm(server.port, scenario)
    if server.name != "origin" and (scenario_name == "hot" or server.name not in probes):
        keys = redis.dbsize if redis else None
        probes[server.name] = measure.cache_check(server.port, server.name.startswith("sidecache"), keys)
        log(f"  {server.name} repeat of /api/items/1: {probes[server.name]}")


def versions(want_redis):
    def word(argv, index, prefix=""):
        """Word `index` of the first line `argv` prints (what the tools put their version in)."""
        r = subprocess.run(argv, capture_output=True, text=True)
        words = (r.stdout + r.stderr).split()
        return words[index].removeprefix(prefix).strip("()") if len(words) > index else "?"
    parts = [f"nginx {word([tool('nginx'), '-v'], 2, 'nginx/')}", f"Varnish {word([tool('varnishd'), '-V'], 1, '(varnish-')}",
             f"wrk {word(['wrk', '-v'], 1)}"]
    if want_redis:
        parts.append(f"Redis {word([tool('redis-server'), '--version'], 2, 'v=')}")
    return ", ".join(parts)


def settings():
    """The knobs, checked, with the rows and scenarios they name."""
    knobs = {k: os.environ.get(k) or v for k, v in DEFAULTS.items()}
    rows_def, scenarios_def = load("rows.json"), load("scenarios.json")
    if not (knobs["RUNS"].isdigit() and int(knobs["RUNS"]) > 0):
        sys.exit(f"[bench] RUNS must be a positive integer (got '{knobs['RUNS']}')")
    for p in knobs["PROXIES"].split():
        if p not in rows_def:
            sys.exit(f"[bench] unknown proxy '{p}' in PROXIES (known: {' '.join(rows_def)})")
    for s in knobs["SCENARIOS"].split():
        if s not in scenarios_def:
            sys.exit(f"[bench] unknown scenario '{s}' (known: {' '.join(scenarios_def)})")
    return knobs, rows_def, scenarios_def


def main():
    knobs, rows_def, scenarios_def = settings()
    proxies, scenario_names, runs = knobs["PROXIES"].split(), knobs["SCENARIOS"].split(), int(knobs["RUNS"])
    redis_stores = [rows_def[p]["store"] for p in proxies if "redis" in rows_def[p].get("store", {})]
    want_redis = any(not cluster_store(s) for s in redis_stores)  # the one redis-server
    want_cluster = any(cluster_store(s) for s in redis_stores)  # the three-master Redis Cluster
    subprocess.run([os.path.join(ROOT, "scripts", "apt-deps.sh"), "nginx", "varnish", "wrk"]
                   + (["redis-server", "openssl"] if redis_stores else []), check=True)
    binary = os.environ.get("SIDECACHE_BIN") or os.path.join(ROOT, ".build", "release", "sidecache")
    nginx_cache = nginx_cache_place()
    os.makedirs(OUT, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix=time.strftime("run-%Y%m%d-%H%M%S-"), dir=OUT)
    os.makedirs(os.path.join(run_dir, "wrk"))
    log(f"run directory: {os.path.relpath(run_dir, ROOT)}")
    admin_ports = [f"{r}-admin" for r in rows_def if rows_def[r]["kind"] == "sidecache"]
    port = dict(zip(["redis", "redis-tls"] + list(rows_def) + admin_ports, free_ports(2 + len(rows_def) + len(admin_ports))))
    redis_cluster_ports = cluster_ports(3, set(port.values())) if want_cluster else []
    started, notes, probes, cache_shm = [], [], {}, None

    def start(server):
        started.append(server)
        if not server.start():
            sys.exit(f"[bench] {server.name} did not start")
        return server

    try:
        # Start every server. The origin and Redis serve all rows.
        start(nginx_server("origin", port["origin"], run_dir, "origin.nginx.conf", 1, BODY=origin_body()))
        redis = start(redis_server(port["redis"], port["redis-tls"], run_dir)) if want_redis else None
        cluster = start(RedisCluster(redis_cluster_ports, run_dir)) if want_cluster else None
        sidecaches = {}
        for p in proxies:
            kind = rows_def[p]["kind"]
            if kind == "nginx":
                cache_shm = nginx_cache_dir(os.path.join(run_dir, "nginx"), nginx_cache)
                start(nginx_server("nginx", port["nginx"], run_dir, "nginx.nginx.conf", 2, ORIGIN_PORT=port["origin"]))
            elif kind == "varnish":
                start(varnish_server(port["varnish"], run_dir, port["origin"]))
            elif kind == "floor":
                start(floor_server(port[p], run_dir))
            elif kind == "sidecache" and not os.access(binary, os.X_OK):
                notes.append(f"{p} skipped: {binary} not found (run `make release` first).")
            elif kind == "sidecache":
                sidecaches[p] = sidecache_server(p, port[p], port[f"{p}-admin"], run_dir, binary, rows_def[p]["store"], port["origin"], redis,
                                                 cluster)
                started.append(sidecaches[p])
        sc = SidecacheRows(sidecaches, redis, cluster, notes)
        # Each sidecache row is started once to see that it starts; the next one stops
        # it. The last one started stays up (the only one, by default).
        rows = [p for p in proxies if rows_def[p]["kind"] != "sidecache" or (p in sidecaches and sc.start(p))]
        for note in notes:
            log(note)

        # Measure: per scenario, RUNS rounds, each round every row once.
        wrk_flags = [f"-t{knobs['THREADS']}", f"-c{knobs['CONNECTIONS']}", f"-d{knobs['DURATION']}", "--latency"]
        servers = {s.name: s for s in started}
        results, memories, nonce = {}, {}, 100
        for name in scenario_names:
            scenario = scenarios_def[name]
            log(f"scenario {name}")
            for p in rows:
                if p not in sidecaches:  # sidecache rows are warmed when made current
                    warm(servers[p], name, scenario, probes)
            results[name] = {p: [] for p in rows}
            for run in range(1, runs + 1):
                for p in rows:
                    if p in sidecaches and not sc.prepare(p, name, scenario, probes):
                        notes.append(f"{p}: {name} run {run} not measured, the instance did not restart.")
                        results[name][p].append(measure.Result())
                        continue
                    nonce += 1
                    r = measure.wrk(servers[p].url, scenario, wrk_flags, os.path.join(run_dir, "wrk", f"{name}-{p}-{run}.txt"), nonce)
                    results[name][p].append(r)
                    log(f"  {name}  {p:<15} run {run}: {report.number(r.rps, 0)} req/s, p99 {report.number(r.p99, 3)} ms, errors {r.errors}")
                    if p in sidecaches and run == runs:
                        memories.setdefault(name, {})[p] = measure.memory(servers[p])
        sc.stop()

        # Report.
        invocation = " ".join([f"DURATION={knobs['DURATION']} RUNS={runs} NGINX_CACHE={nginx_cache}"]
                              + [f"{k}='{knobs[k]}'" for k in ("THREADS", "CONNECTIONS", "PROXIES", "SCENARIOS") if knobs[k] != DEFAULTS[k]]
                              + ["bench/run.py"])
        cpu = next((line.split(": ", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown CPU")
        lines = report.header(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), versions(bool(redis_stores)), invocation,
                              wrk_flags, runs, nginx_cache, [(p, rows_def[p]["about"]) for p in rows if "about" in rows_def[p]],
                              want_redis, f"{platform.system()} {platform.release()}, {cpu}",
                              [(p, probes[p]) for p in rows if p in probes], notes, want_cluster)
        redis_rows = [p for p in rows if p in sidecaches and sc.uses_redis(p)] if "sidecache" in rows else []
        targets = {p: rows_def[p].get("target") for p in rows}
        for name in scenario_names:
            lines += [""] + report.scenario_table(name, scenarios_def[name]["about"], rows, results[name], redis_rows, targets,
                                                   hits="warm" in scenarios_def[name])
        if memories:
            lines += [""] + report.memory_table(memories, {p: rows_def[p]["store"] for p in sidecaches})
        lines += ["", "errors = non-2xx/3xx answers + socket errors, summed over the runs.",
                  f"Raw wrk output: `{os.path.relpath(run_dir, ROOT)}/wrk/`."]
        text = "\n".join(lines) + "\n"
        for path in (os.path.join(run_dir, "results.md"), os.path.join(OUT, "results.md")):
            with open(path, "w") as f:
                f.write(text)
        print("\n" + text)
        log(f"written: {os.path.relpath(os.path.join(OUT, 'results.md'), ROOT)}")
    finally:
        for server in reversed(started):
            server.stop()
        # The caches are big and worthless after the run; configs, logs and wrk output stay.
        shutil.rmtree(os.path.join(run_dir, "varnish", "work"), ignore_errors=True)
        nginx_cache_dir_remove(os.path.join(run_dir, "nginx"), cache_shm)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
