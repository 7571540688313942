"""The report: per scenario, each row's median req/s and p99 over the runs, ratios to
nginx (and, with Redis rows, to the sidecache row and issue 13's targets), errors; and
each sidecache row's memory against issue 13's target."""

import os
import re
import statistics

MIB = 1 << 20
UNIT = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def number(v, digits):
    return "n/a" if v is None else f"{v:.{digits}f}"


def scenario_table(name, about, rows, results, rps_ratio_rows, targets, hits=True):
    """Markdown for one scenario. results[row] is the list of that row's Results; the
    Redis targets are on hits only (`hits`: a scenario warmed first)."""
    rps = {r: median([x.rps for x in results[r]]) for r in rows}
    p99 = {r: median([x.p99 for x in results[r]]) for r in rows}
    with_sc = bool(rps_ratio_rows)
    out = [f"## {name} — {about}", "",
           "| proxy | req/s | p99 ms | req/s ÷ nginx | p99 ÷ nginx |" + (" req/s ÷ sidecache |" if with_sc else "") + " errors |",
           "|---|---:|---:|---:|---:|" + ("---:|" if with_sc else "") + "---:|"]
    for r in rows:
        label = "origin (direct, reference)" if r == "origin" else r
        vs_sc = (f" {ratio(rps[r], rps['sidecache'])} |" if r.startswith("sidecache") else " |") if with_sc else ""
        out.append(f"| {label} | {number(rps[r], 0)} | {number(p99[r], 2)} | {ratio(rps[r], rps.get('nginx'))} |"
                   f" {ratio(p99[r], p99.get('nginx'))} |{vs_sc} {sum(x.errors for x in results[r])} |")
    if with_sc:
        out.append("")
        for r in rps_ratio_rows:
            q, t = ratio(rps[r], rps["sidecache"]), targets[r]
            if t is None:
                verdict = "no target"
            elif not hits:
                verdict = "no target: not hits"
            elif q == "n/a":
                verdict = f"target ≥ {t}: n/a"
            else:
                verdict = f"target ≥ {t}: " + ("met" if rps[r] / rps["sidecache"] >= t else "**not met**")
            out.append(f"- {r} req/s ÷ sidecache req/s: **{q}** ({verdict})")
        # The other Redis forms (TLS, cluster) against plain single Redis, as issue 12 asks.
        for r in rps_ratio_rows:
            if r != "sidecache-redis" and "sidecache-redis" in rps_ratio_rows:
                out.append(f"- {r} req/s ÷ sidecache-redis req/s: **{ratio(rps[r], rps['sidecache-redis'])}**")
    if len(next(iter(results.values()), [])) > 1:
        out.append("")
        for r in rows:
            out.append(f"- {r} req/s per run: " + " / ".join(number(x.rps, 0) for x in results[r]))
    return out


def header(when, versions, invocation, wrk_flags, runs, nginx_cache, abouts, want_redis, machine, probes, notes,
           want_cluster=False):
    """The report's opening: what ran, how, on what, and the cache check of every row."""
    cores = os.cpu_count()
    lines = ["# sidecache benchmark", "",
             f"{when} · nproc {cores} · {versions} · `{invocation}` → `wrk {' '.join(wrk_flags)} [-s SCRIPT] URL`,"
             f" median of {runs} run(s).", "",
             f"wrk runs on the same {cores} cores as the proxy under test, so absolute numbers are",
             "low and noisy (±30% run to run on this VM); compare the ratios within one run.",
             "Origin: nginx, 1 worker, fixed 1 KiB JSON, `Cache-Control: max-age=300`.",
             f"nginx: proxy_cache on {nginx_cache}, 2 workers, keepalive 64 to the origin. Varnish: malloc 256m, default VCL."]
    lines += [f"{row}: {about}" for row, about in abouts]
    if want_redis:
        lines += ["Redis: one local redis-server (bench/config/redis.conf: no persistence, maxmemory 256mb volatile-lru),",
                  "FLUSHALL before each Redis row's warm-up. Only one sidecache instance runs at a time (switching rows restarts it)."]
    if want_cluster:
        lines += ["Redis Cluster: three local redis-servers, all masters, no replicas (bench/config/redis-cluster.conf: no",
                  "persistence, maxmemory 86mb volatile-lru each), made one cluster by `redis-cli --cluster create`; FLUSHALL on",
                  "every master before each warm-up of its row, its key count the sum of the masters' DBSIZE."]
        if not want_redis:
            lines.append("Only one sidecache instance runs at a time (switching rows restarts it).")
    lines.append(f"Machine: {machine}.")
    if probes:
        lines += ["", "Cache check, a repeat of /api/items/1 after warming:"] + [f"- {row}: {line}" for row, line in probes]
    if notes:
        lines += [""] + [f"- **{n}**" for n in notes]
    return lines


def store_memory(store):
    """store.memory in bytes (DESIGN's default 256MiB when the row leaves it out)."""
    found = re.fullmatch(r"(\d+)\s*([KMG]i?B|B)?", str(store.get("memory", "256MiB")).strip())
    return int(found.group(1)) * UNIT[found.group(2) or ""] if found else None


def memory_table(memories, stores):
    """Markdown: each sidecache row's peak RSS after each scenario, against issue 13's
    target of store.memory + 64 MiB under the fill scenario (`miss`)."""
    out = ["## Memory — sidecache rows, after each scenario", "",
           "Issue 13's target: peak RSS ≤ `store.memory` + 64 MiB under the fill scenario (`miss`). Peak RSS is the",
           "process's VmHWM since it started (an instance kept across scenarios carries its peak along); *held* is what",
           "its memory store holds by its own account (`sidecache_l1_bytes` on its admin `/metrics`); the difference is",
           "everything else the process keeps.", "",
           "| proxy | after | peak RSS MiB | held MiB | peak RSS − held MiB | `store.memory` + 64 MiB | within |",
           "|---|---|---:|---:|---:|---:|---|"]
    for scenario, rows in memories.items():
        for row, m in rows.items():
            budget = store_memory(stores[row])
            limit = budget + 64 * MIB if budget is not None else None
            within = "n/a" if m.peak is None or limit is None else ("yes" if m.peak <= limit else "**no**")
            rest = m.peak - m.held if m.peak is not None and m.held is not None else None
            out.append(f"| {row} | {scenario} | {number(m.peak and m.peak / MIB, 1)} | {number(m.held and m.held / MIB, 1)} |"
                       f" {number(rest and rest / MIB, 1)} | {number(limit and limit / MIB, 0)} | {within} |")
    return out
