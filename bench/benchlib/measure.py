"""One measurement (a wrk run and what its output says), warming a row before it, the
cache check (how a row answers a repeat of /api/items/1) and a sidecache row's memory."""

import http.client
import os
import re
import subprocess

from benchlib.servers import BENCH_TOKEN, CONFIG, get, log

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


class Result:
    """req/s, p99 in ms (None when wrk gave none) and errors: non-2xx/3xx plus socket errors."""

    def __init__(self, rps=None, p99=None, errors=0):
        self.rps, self.p99, self.errors = rps, p99, errors


def wrk(url, scenario, wrk_flags, out_path, nonce):
    """Runs wrk for `scenario` against `url`, keeps its output in `out_path`."""
    argv = ["wrk", *wrk_flags, *[arg for h in request_headers(scenario).items() for arg in ("-H", f"{h[0]}: {h[1]}")]]
    if "script" in scenario:
        argv += ["-s", os.path.join(CONFIG, scenario["script"]), url + "/", "--", str(nonce), *scenario.get("scriptArgs", [])]
    else:
        argv.append(url + scenario["path"])
    r = subprocess.run(argv, capture_output=True, text=True)
    with open(out_path, "w") as f:
        f.write(f"# {' '.join(argv)}\n{r.stdout}{r.stderr}")
    if r.returncode != 0:
        log(f"wrk failed (see {out_path})")
    return parse(r.stdout)


def parse(text):
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    return Result(float(rps.group(1)) if rps else None,
                  float(p99.group(1)) * UNITS_MS[p99.group(2)] if p99 else None, errors)


def request_headers(scenario):
    """What every request of the scenario carries: its `headers`, and the bench's token
    when it says `bearer`."""
    headers = dict(scenario.get("headers", {}))
    if scenario.get("bearer"):
        headers["Authorization"] = f"Bearer {BENCH_TOKEN}"
    return headers


def warm(port, scenario):
    """GETs the scenario's warm range once, on one keep-alive connection."""
    first, last = scenario.get("warm", (1, 0))
    path = scenario.get("warmPath", "/api/items/{i}")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    bad = sum(get(port, path.format(i=i), connection=conn, headers=request_headers(scenario))[0] != 200
              for i in range(first, last + 1))
    conn.close()
    if bad:
        log(f"  warming 127.0.0.1:{port}: {bad} of {last - first + 1} answers were not 200")


def cache_check(port, sidecache, redis_keys=None):
    """How a repeat of /api/items/1 was answered, for the report; flags a sidecache row
    that did not answer from its cache, and a Redis row whose Redis holds no keys."""
    get(port, "/api/items/1")
    _, headers = get(port, "/api/items/1")
    shown = "; ".join(f"{k}: {headers[k.lower()]}" for k in ("X-Cache", "Cache-Status", "Age", "X-Varnish")
                      if k.lower() in headers)
    line = f"`{shown or '(no cache headers)'}`"
    if sidecache and headers.get("x-cache", "").lower() != "hit":
        line += " **not a cache hit**"
    if redis_keys is not None:
        keys = redis_keys()
        line += f", Redis keys: {keys}" + (" **(Redis not used)**" if keys == "0" else "")
    return line


class Memory:
    """A sidecache row's process after a scenario: its peak resident set since it started
    (VmHWM, bytes) and what its memory store holds by its own account (the
    `sidecache_l1_bytes` gauge on its admin /metrics); None where not readable."""

    def __init__(self, peak=None, held=None):
        self.peak, self.held = peak, held


def memory(server):
    peak = held = None
    try:
        with open(f"/proc/{server.proc.pid}/status") as f:
            found = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
        peak = int(found.group(1)) * 1024 if found else None
    except (OSError, AttributeError):
        pass
    conn = http.client.HTTPConnection("127.0.0.1", server.admin_port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        found = re.search(r"^sidecache_l1_bytes(?:\{[^}]*\})? (\S+)$", conn.getresponse().read().decode(), re.M)
        held = float(found.group(1)) if found else None
    except (OSError, http.client.HTTPException, ValueError):
        pass
    finally:
        conn.close()
    return Memory(peak, held)
