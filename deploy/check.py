#!/usr/bin/env python3
"""Checks of the deployment kit in deploy/ (run by `make test`).

No container engine or cluster is needed: this checks what can be checked without
one. The YAML parses; the Kubernetes and compose configs pass `sidecache check`;
probes, Service and Prometheus annotations agree with the config's ports; the JSON
Schema accepts every valid config and rejects the known-bad ones at the path the
loader names; the Dockerfile's runtime stage carries the runtime counterparts of
the build stage's -dev packages (and of what the binary links) and nothing to
compile with; Redis is run with a volatile-* maxmemory policy; the Grafana
dashboard queries only metric names and labels that DESIGN.md defines.

    python3 deploy/check.py                        # what make test runs
    python3 deploy/check.py --metrics-url http://127.0.0.1:9090/metrics
    python3 deploy/check.py --live                 # start sidecache, scrape its /metrics

The dashboard is compared with a real scrape when deploy/testdata/metrics.txt
exists, with --metrics-url, or with --live (which starts the debug binary with an
admin listener, sends a few requests through it and scrapes /metrics); otherwise
with DESIGN.md's metric list only, and it says so.

Needs PyYAML and jsonschema (python3 -m pip install pyyaml jsonschema).
Prints one line per check and a last line "N passed, M failed"; exits 1 on any failure.
"""

import argparse
import contextlib
import errno
import functools
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy")

try:
    import yaml
    import jsonschema
except ImportError as missing:  # fail loudly: a check that cannot run has not passed
    print(f"FAIL deploy/check.py needs PyYAML and jsonschema ({missing}); "
          "install them: python3 -m pip install pyyaml jsonschema", flush=True)
    print("0 passed, 1 failed")
    sys.exit(1)

# DESIGN.md, "Admin API": metric names, their labels and types. Cross-checked against
# DESIGN.md itself when it is found next to the repository (../shared/DESIGN.md).
DESIGN_METRICS = {
    "sidecache_requests_total": ("counter", {"route", "cache"}),
    "sidecache_bypass_total": ("counter", {"route", "reason"}),
    "sidecache_coalesced_total": ("counter", {"route"}),
    "sidecache_purges_total": ("counter", {"source"}),
    "sidecache_upstream_duration_seconds": ("histogram", {"route"}),
    "sidecache_upstream_errors_total": ("counter", {"route", "kind"}),
    "sidecache_store_errors_total": ("counter", {"store"}),
    "sidecache_l1_entries": ("gauge", set()),
    "sidecache_l1_bytes": ("gauge", set()),
    "sidecache_redis_up": ("gauge", set()),
}
# Labels Prometheus adds to every scraped series (and common Kubernetes relabels).
TARGET_LABELS = {"job", "instance", "pod", "namespace", "container", "node"}

# Build-stage -dev package -> runtime package (Debian bookworm). Confirmed against
# dpkg's Depends when the -dev packages are installed on this machine.
RUNTIME_OF = {"libhiredis-dev": "libhiredis0.14", "libcurl4-openssl-dev": "libcurl4"}
RUNTIME_PACKAGES = {"libhiredis0.14", "libcurl4", "ca-certificates"}
# In debian:bookworm-slim already (libc6, and libstdc++6/libgcc-s1 through apt).
BASE_IMAGE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1"}
ENTRYPOINT = ["sidecache", "run", "--config", "/etc/sidecache/proxy.json"]
ADMIN_TOKEN_ENV = "SIDECACHE_ADMIN_TOKEN"


class CheckFailed(Exception):
    pass


def require(condition, message):
    if not condition:
        raise CheckFailed(message)


def rel(path):
    return os.path.relpath(path, ROOT)


# ---------------------------------------------------------------- runner

RESULTS = {"passed": 0, "failed": 0}


def run_check(name, fn, *args):
    try:
        note = fn(*args)
    except CheckFailed as e:
        RESULTS["failed"] += 1
        print(f"FAIL {name}: {e}", flush=True)
    except Exception as e:  # a crash in a check is a failure of that check
        RESULTS["failed"] += 1
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
    else:
        RESULTS["passed"] += 1
        print(f"ok   {name}" + (f" ({note})" if note else ""), flush=True)


def note(message):
    print(f"note {message}", flush=True)


# ---------------------------------------------------------------- helpers

def read_json(path):
    with open(path) as f:
        return json.load(f)


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def k8s(kind, name=None):
    """The one manifest of `kind` (and `name`) under deploy/kubernetes."""
    found = []
    for path in sorted(yaml_files(os.path.join(DEPLOY, "kubernetes"))):
        for doc in load_yaml_docs(path):
            if doc.get("kind") == kind and (name is None or doc.get("metadata", {}).get("name") == name):
                found.append(doc)
    require(len(found) == 1, f"expected one {kind}{' ' + name if name else ''} in deploy/kubernetes, found {len(found)}")
    return found[0]


def yaml_files(top):
    for dirpath, _, files in os.walk(top):
        for f in files:
            if f.endswith((".yaml", ".yml")):
                yield os.path.join(dirpath, f)


def app_deployment():
    deployments = [d for p in yaml_files(os.path.join(DEPLOY, "kubernetes")) for d in load_yaml_docs(p)
                   if d.get("kind") == "Deployment"
                   and any(c.get("name") == "sidecache" for c in d["spec"]["template"]["spec"].get("initContainers", []))]
    require(len(deployments) == 1, f"expected one Deployment with a sidecache init container, found {len(deployments)}")
    return deployments[0]


def sidecar(deployment):
    return next(c for c in deployment["spec"]["template"]["spec"]["initContainers"] if c["name"] == "sidecache")


def configmap_proxy_json():
    """(ConfigMap, its proxy.json text, the parsed JSON)."""
    dep = app_deployment()
    volumes = dep["spec"]["template"]["spec"].get("volumes", [])
    mounts = {m["name"]: m for m in sidecar(dep).get("volumeMounts", [])}
    config_volumes = [v for v in volumes if "configMap" in v and mounts.get(v["name"], {}).get("mountPath") == "/etc/sidecache"]
    require(len(config_volumes) == 1, "the sidecache container must mount one ConfigMap volume at /etc/sidecache")
    cm = k8s("ConfigMap", config_volumes[0]["configMap"]["name"])
    text = cm.get("data", {}).get("proxy.json")
    require(text, f"ConfigMap {cm['metadata']['name']} has no data key proxy.json")
    try:
        return cm, text, json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckFailed(f"ConfigMap proxy.json is not valid JSON: {e}")


def port_of(address):
    """Port of `host:port` / `[v6]:port`."""
    m = re.fullmatch(r"(?:\[[^\]]+\]|[^:]+):(\d+)", address)
    require(m, f"{address!r} is not host:port")
    return int(m.group(1))


def host_of(address):
    m = re.fullmatch(r"(\[[^\]]+\]|[^:]+):\d+", address)
    require(m, f"{address!r} is not host:port")
    return m.group(1)


def resolve_port(port, container):
    """A probe/Service port (number or port name) as a number."""
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise CheckFailed(f"port name {port!r} is not a port of container {container['name']}")


def binary():
    return os.environ.get("SIDECACHE_BIN", os.path.join(ROOT, ".build", "debug", "sidecache"))


def image_env():
    """ENV of the Dockerfile's runtime stage."""
    _, stages = dockerfile_stages(os.path.join(DEPLOY, "Dockerfile"))
    env = {}
    for instr, rest in stages[-1]["instructions"]:
        if instr == "ENV":
            for m in re.finditer(r'(\w+)=("[^"]*"|\S*)', rest):
                env[m.group(1)] = m.group(2).strip('"')
    return env


def effective_listen(config, container_env):
    """The proxy's listen address in the container: SIDECACHE_LISTEN (the container's,
    else the image's) overrides the file's "listen" unless empty."""
    env = {**image_env(), **container_env}
    return env.get("SIDECACHE_LISTEN") or config.get("listen", "0.0.0.0:8080")


def check_env():
    """A predictable environment for `sidecache check`: no overrides from the caller's."""
    env = {k: v for k, v in os.environ.items() if k not in ("SIDECACHE_LISTEN", "SIDECACHE_UPSTREAM", "REDIS_URL")}
    env[ADMIN_TOKEN_ENV] = "x" * 32   # off loopback the proxy refuses tokens under 16 characters
    return env


def run_binary(args, env, timeout=60, **kwargs):
    """Runs the sidecache binary; waits (up to 2 minutes) while it is missing or being
    rewritten by a concurrent build."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return subprocess.run([binary()] + args, env=env, capture_output=True, text=True, timeout=timeout, **kwargs)
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ETXTBSY) or time.monotonic() > deadline:
                if e.errno == errno.ENOENT:
                    raise CheckFailed(f"{rel(binary())} not found: build it first (swift build, or make test)")
                raise
            time.sleep(2)


def sidecache_check(path):
    r = run_binary(["check", "--config", path], check_env())
    return r.returncode, (r.stdout + r.stderr).strip()


def loader_problem_paths(output, path):
    """The JSON paths of the problems `sidecache check` printed for `path`."""
    text = output.split(f"{path}: ", 1)[-1]
    lines = text.splitlines()
    if len(lines) > 1 and re.match(r"\d+ problems$", lines[0]):
        lines = [l.strip() for l in lines[1:]]
    paths = []
    for line in lines:
        m = re.match(r"^([A-Za-z_$][\w$]*(?:\[\d+\]|\.[\w$]+)*): ", line)
        paths.append(m.group(1) if m else "")
    return paths


def json_path(parts):
    """jsonschema's path deque -> the loader's notation (routes[0].ttl)."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dockerfile_instructions(path):
    """[(INSTRUCTION, arguments)] with continuation lines joined and comments dropped."""
    out, current = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.strip().startswith("#"):
                continue  # comments (also between continuation lines)
            if line.endswith("\\"):
                current += line[:-1] + " "
                continue
            current += line
            if current.strip():
                word, _, rest = current.strip().partition(" ")
                out.append((word.upper(), rest.strip()))
            current = ""
    return out


def dockerfile_stages(path):
    """(global ARG defaults, [{'from', 'name', 'instructions'}])."""
    args, stages = {}, []
    for instr, rest in dockerfile_instructions(path):
        if instr == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif instr == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), ""), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append({"from": image, "name": name, "instructions": []})
        else:
            require(stages, f"{instr} before FROM")
            stages[-1]["instructions"].append((instr, rest))
    return args, stages


def apt_installs(stage):
    packages = []
    for instr, rest in stage["instructions"]:
        if instr != "RUN":
            continue
        for m in re.finditer(r"apt-get\s+install\s+([^&;|]*)", rest):
            packages += [w for w in m.group(1).split() if not w.startswith("-")]
    return packages


def redis_args_from_k8s():
    dep = k8s("Deployment", "sidecache-redis")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    args = c.get("command", [])[1:] + c.get("args", [])
    require(all(isinstance(a, str) for a in args), f"redis.yaml: every command/args item must be a string (quote \"\" and \"no\"): {args}")
    return args, c


def redis_args_from_compose():
    compose = load_yaml_docs(os.path.join(DEPLOY, "compose.yaml"))[0]
    command = compose["services"]["redis"]["command"]
    require(isinstance(command, list) and command[0] == "redis-server", "compose redis command must be a list starting with redis-server")
    require(all(isinstance(a, str) for a in command), f"compose.yaml: every redis command item must be a string: {command}")
    return command[1:]


def redis_option(args, name):
    for i, a in enumerate(args):
        if a == f"--{name}" and i + 1 < len(args):
            return args[i + 1]
    return None


@contextlib.contextmanager
def redis_server(args):
    """A redis-server on a free loopback port with `args`; yields its port."""
    server = shutil.which("redis-server")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="sidecache-deploy-check-")
    proc = subprocess.Popen([server] + args + ["--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--daemonize", "no"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise CheckFailed(f"redis-server refused the arguments {args}: {proc.stdout.read().strip()[-400:]}")
            try:
                if redis_command(port, "PING") == "PONG":
                    break
            except OSError:
                pass
            require(time.monotonic() < deadline, "redis-server did not answer PING within 10 s")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def redis_command(port, *words):
    """One RESP command; the reply as a string or a list of strings."""
    payload = f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(payload.encode())
        reader = s.makefile("rb")

        def read():
            line = reader.readline().decode().rstrip("\r\n")
            kind, rest = line[:1], line[1:]
            if kind in "+-:":
                return rest
            if kind == "$":
                n = int(rest)
                return None if n < 0 else reader.read(n + 2)[:-2].decode()
            if kind == "*":
                return [read() for _ in range(int(rest))]
            raise CheckFailed(f"unexpected Redis reply {line!r}")
        return read()


# ---------------------------------------------------------------- PromQL (enough for the dashboard)

PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                   "and", "or", "unless", "offset", "inf", "nan", "atan2"}


def promql_metrics(expr):
    """{metric: set(labels in its matchers)}, and the grouping labels of `expr`."""
    no_strings = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    used = {}
    for m in re.finditer(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}", no_strings):
        labels = set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", m.group(2)))
        used.setdefault(m.group(1), set()).update(labels)
    stripped = re.sub(r"\{[^}]*\}", " ", no_strings)
    stripped = re.sub(r"\[[^\]]*\]", " ", stripped)
    grouping = set()
    for m in re.finditer(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", stripped):
        grouping.update(l.strip() for l in m.group(2).split(",") if l.strip())
    stripped = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped)
    for m in re.finditer(r"(?<![\w:.$])[A-Za-z_:][\w:]*", stripped):
        name, after = m.group(0), stripped[m.end():].lstrip()
        if after.startswith("("):
            continue  # a function
        if name.lower() not in PROMQL_KEYWORDS:
            used.setdefault(name, set())
    return used, grouping


def design_family(name):
    """The DESIGN metric `name` belongs to (histograms: also _bucket/_sum/_count)."""
    if name in DESIGN_METRICS:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and DESIGN_METRICS.get(base, ("",))[0] == "histogram":
            return base
    return None


def dashboard_queries():
    """[(where, expr)] of every query in the dashboard, panels and variables."""
    with open(os.path.join(DEPLOY, "grafana", "sidecache.json")) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((f"panel {p.get('title')!r}", t["expr"]))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query" and q:
            m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q)
            require(m, f"variable {v['name']}: only label_values(metric, label) queries are understood, found {q!r}")
            out.append((f"variable {v['name']!r}", f"sum by ({m.group(2)}) ({m.group(1)})"))
    return dash, out


def parse_scrape(text):
    """(families {name: type}, samples {name: set(label names)})."""
    families, samples = {}, {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                families[parts[2]] = parts[3]
        elif line and not line.startswith("#"):
            m = re.match(r"([A-Za-z_:][\w:]*)(\{[^}]*\})?\s", line)
            if m:
                labels = set(re.findall(r"([A-Za-z_]\w*)\s*=", m.group(2) or ""))
                samples.setdefault(m.group(1), set()).update(labels)
    return families, samples


def compare_with_scrape(text, source):
    families, samples = parse_scrape(text)
    require(families or samples, f"{source} has no metrics")
    _, queries = dashboard_queries()
    missing, bad_labels = [], []
    for where, expr in queries:
        used, grouping = promql_metrics(expr)
        for name, labels in used.items():
            family = name
            if name not in families and name not in samples:
                for suffix in ("_bucket", "_sum", "_count"):
                    if name.endswith(suffix) and families.get(name[: -len(suffix)]) in ("histogram", "summary"):
                        family = name[: -len(suffix)]
                if family == name:
                    missing.append(f"{name} ({where})")
                    continue
            have = samples.get(name, set())
            if have:
                for label in (labels | (grouping & DESIGN_METRICS.get(design_family(name) or "", ("", set()))[1])) - TARGET_LABELS - {"le"}:
                    if label not in have:
                        bad_labels.append(f"{name}{{{label}}} ({where})")
    require(not missing, f"not in {source}: " + ", ".join(sorted(set(missing))))
    require(not bad_labels, f"labels not seen in {source}: " + ", ".join(sorted(set(bad_labels))))
    absent = [m for m in DESIGN_METRICS if m not in families and m not in samples]
    if absent:
        note(f"DESIGN metrics not in {source} (not used by the dashboard's check): {', '.join(absent)}")
    return f"every dashboard metric is in {source}"


# ---------------------------------------------------------------- live scrape (--live)

class _Origin(http.server.BaseHTTPRequestHandler):
    """The upstream of the live scrape: paths with "slow" answer after 0.5 s (so
    concurrent misses coalesce), paths with "timeout" after 2.5 s (past the 1 s
    upstreamTimeout: an upstream error)."""

    def _answer(self):
        if "timeout" in self.path:
            time.sleep(2.5)
        elif "slow" in self.path:
            time.sleep(0.5)
        body = json.dumps({"path": self.path, "method": self.command}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the proxy gave up on a "timeout" path first: that is the point

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer

    def log_message(self, *args):
        pass


def http_get(url, method="GET", timeout=3, headers=None):
    req = urllib.request.Request(url, method=method, data=b"{}" if method in ("PUT", "POST") else None, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read().decode(errors="replace")


def live_scrape():
    """Starts the debug binary with the ConfigMap's routes, an admin listener on
    loopback and (when redis-server is here) a Redis, sends requests through it that
    produce every metric (hits, misses, a bypass, coalesced misses, an upstream
    timeout, a Redis pause, a purge), and returns its /metrics text."""
    _, _, cm = configmap_proxy_json()
    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    proxy_port, admin_port = free_port(), free_port()
    config = {"listen": f"127.0.0.1:{proxy_port}", "upstream": f"http://127.0.0.1:{origin.server_address[1]}",
              "defaults": {"upstreamTimeout": "1s"},
              "routes": cm.get("routes", []), "purge": cm.get("purge", []),
              "admin": {"listen": f"127.0.0.1:{admin_port}"}}
    redis_port = None
    with contextlib.ExitStack() as stack:
        stack.callback(origin.shutdown)
        if shutil.which("redis-server"):
            args, _ = redis_args_from_k8s()
            redis_port = stack.enter_context(redis_server(args))
            config["store"] = {"redis": f"redis://127.0.0.1:{redis_port}/0"}
        else:
            note("redis-server not found: the live scrape runs without Redis")
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="sidecache-live-"))
        path = os.path.join(tmp, "proxy.json")
        with open(path, "w") as f:
            json.dump(config, f)
        env = check_env()
        env.pop(ADMIN_TOKEN_ENV)
        run_binary(["version"], env)   # waits for the binary if a build is rewriting it
        proc = subprocess.Popen([binary(), "run", "--config", path], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        stack.callback(stop)
        admin = f"http://127.0.0.1:{admin_port}"
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise CheckFailed(f"sidecache exited ({proc.returncode}): {proc.stdout.read()[-600:]}")
            try:
                if http_get(admin + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            require(time.monotonic() < deadline, f"no answer from {admin}/healthz within 15 s (is the admin API in this build?)")
            time.sleep(0.1)
        proxy = f"http://127.0.0.1:{proxy_port}"

        def send(method, target, headers=None, expect_error=False):
            try:
                http_get(proxy + target, method, headers=headers, timeout=10)
            except OSError as e:
                if not expect_error:
                    note(f"live scrape: {method} {target} through the proxy failed: {e}")
        send("GET", "/api/users/1")                                      # miss
        send("GET", "/api/users/1")                                      # hit
        send("GET", "/api/users?page=1")
        send("GET", "/api/users/1", {"Authorization": "Bearer x"})        # bypass: authorization
        waiters = [threading.Thread(target=send, args=("GET", "/api/users/slow-1")) for _ in range(3)]
        for w in waiters:
            w.start()
        for w in waiters:                                                # coalesced
            w.join()
        send("GET", "/api/users/timeout-1", expect_error=True)           # upstream error: timeout
        if redis_port:
            redis_command(redis_port, "CLIENT", "PAUSE", "1000")         # store error: Redis timeout
            send("GET", "/api/users/2")
            time.sleep(1.1)
        send("PUT", "/api/users/1")                                      # purge: mutation
        send("GET", "/not-cached")                                       # no route
        status, text = http_get(admin + "/metrics")
        require(status == 200, f"GET /metrics answered {status}")
        return text


# ---------------------------------------------------------------- the checks

def check_yaml_parses(path):
    docs = load_yaml_docs(path)
    require(docs, "no YAML document")
    if rel(path).startswith(os.path.join("deploy", "kubernetes")):
        for d in docs:
            require(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"),
                    "every Kubernetes document needs apiVersion, kind and metadata.name")
    return f"{len(docs)} document(s)"


def check_design_metric_list():
    candidates = [os.environ.get("SIDECACHE_DESIGN", ""), os.path.join(ROOT, "..", "shared", "DESIGN.md"),
                  os.path.join(ROOT, "DESIGN.md")]
    design = next((p for p in candidates if p and os.path.isfile(p)), None)
    if design is None:
        note("DESIGN.md not found next to the repository: the built-in metric list was not cross-checked")
        return "built-in list only"
    text = open(design).read()
    section = text[text.find("Metric names"):]
    section = section[: section.find("\n## ")]
    found = {}
    for m in re.finditer(r"`(sidecache_\w+)(?:\{([\w,\s]*)\})?`(\s*\(histogram\))?", section):
        found[m.group(1)] = ("histogram" if m.group(3) else None,
                             {l.strip() for l in (m.group(2) or "").split(",") if l.strip()})
    require(set(found) == set(DESIGN_METRICS),
            f"DESIGN.md's metric names changed: {sorted(set(found) ^ set(DESIGN_METRICS))}; update DESIGN_METRICS and the dashboard")
    for name, (kind, labels) in found.items():
        require(labels == DESIGN_METRICS[name][1], f"{name}: DESIGN.md labels {sorted(labels)}, check.py has {sorted(DESIGN_METRICS[name][1])}")
        require((kind == "histogram") == (DESIGN_METRICS[name][0] == "histogram"), f"{name}: histogram or not differs from DESIGN.md")
    return f"{len(found)} metrics, as in {rel(design)}"


def check_configmap_config():
    cm, text, config = configmap_proxy_json()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "proxy.json")
        with open(path, "w") as f:
            f.write(text)
        code, out = sidecache_check(path)
    require(code == 0, f"sidecache check rejected ConfigMap {cm['metadata']['name']}'s proxy.json: {out}")
    admin = config.get("admin")
    require(admin, "the ConfigMap's proxy.json needs an admin section (probes and /metrics)")
    require(host_of(admin.get("listen", "127.0.0.1:9090")) == "0.0.0.0", "admin must listen on 0.0.0.0 so the kubelet can probe it")
    require(f"${{{ADMIN_TOKEN_ENV}}}" in admin.get("token", ""), f"admin.token must reference ${{{ADMIN_TOKEN_ENV}}}")
    return "sidecache check: exit 0"


def check_compose_config():
    path = os.path.join(DEPLOY, "compose", "proxy.json")
    code, out = sidecache_check(path)
    require(code == 0, f"sidecache check rejected {rel(path)}: {out}")
    return "sidecache check: exit 0"


def check_sidecar_wiring():
    dep = app_deployment()
    spec = dep["spec"]["template"]["spec"]
    sc = sidecar(dep)
    require(sc.get("restartPolicy") == "Always", "the sidecache init container needs restartPolicy: Always (native sidecar)")
    require(spec.get("containers"), "the Deployment needs the application container")
    selector = dep["spec"]["selector"]["matchLabels"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    require(all(labels.get(k) == v for k, v in selector.items()), "the Deployment's selector does not match its pod labels")
    for c in [sc] + spec["containers"]:
        res = c.get("resources", {})
        require(res.get("requests") and res.get("limits"), f"container {c['name']} needs resources.requests and resources.limits")
    # The admin token comes from the Secret.
    env = {e["name"]: e for e in sc.get("env", [])}
    require(ADMIN_TOKEN_ENV in env, f"the sidecache container needs env {ADMIN_TOKEN_ENV}")
    ref = env[ADMIN_TOKEN_ENV].get("valueFrom", {}).get("secretKeyRef")
    require(ref, f"{ADMIN_TOKEN_ENV} must come from a Secret (valueFrom.secretKeyRef)")
    secret = k8s("Secret", ref["name"])
    require(ref["key"] in {**secret.get("data", {}), **secret.get("stringData", {})}, f"Secret {ref['name']} has no key {ref['key']}")
    # Upstream is the app in the same pod.
    _, _, config = configmap_proxy_json()
    m = re.fullmatch(r"http://(127\.0\.0\.1|localhost|\[::1\]):(\d+)(/.*)?", config["upstream"])
    require(m, f"upstream {config['upstream']!r} should be the app on localhost")
    app_ports = {p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
    require(int(m.group(2)) in app_ports, f"upstream port {m.group(2)} is not a port of the app container(s) {sorted(app_ports)}")
    # The Service targets the proxy port.
    services = [d for p in yaml_files(os.path.join(DEPLOY, "kubernetes")) for d in load_yaml_docs(p)
                if d.get("kind") == "Service" and d["spec"].get("selector")
                and all(labels.get(k) == v for k, v in d["spec"]["selector"].items())]
    require(len(services) == 1, f"expected one Service selecting the Deployment's pods, found {len(services)}")
    svc = services[0]
    container_env = {e["name"]: e.get("value", "") for e in sc.get("env", []) if "valueFrom" not in e}
    listen_port = port_of(effective_listen(config, container_env))
    require(listen_port == port_of(config.get("listen", "0.0.0.0:8080")),
            f"the proxy listens on {listen_port} in the container (SIDECACHE_LISTEN), not on the ConfigMap's {config.get('listen')}")
    targets = {resolve_port(p.get("targetPort", p["port"]), sc) for p in svc["spec"]["ports"]}
    require(targets == {listen_port}, f"Service {svc['metadata']['name']} targets {sorted(targets)}, the proxy listens on {listen_port}")
    require(listen_port in {p["containerPort"] for p in sc.get("ports", [])},
            f"the sidecache container does not declare the proxy port {listen_port}")
    return f"Service -> {listen_port}, upstream -> app:{m.group(2)}, token from Secret {ref['name']}"


def check_probes_and_annotations():
    dep = app_deployment()
    sc = sidecar(dep)
    _, _, config = configmap_proxy_json()
    admin_port = port_of(config["admin"].get("listen", "127.0.0.1:9090"))
    want = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in want.items():
        p = sc.get(probe, {}).get("httpGet")
        require(p, f"the sidecache container needs an httpGet {probe}")
        require(p.get("path") == path, f"{probe} path is {p.get('path')!r}, want {path}")
        require(resolve_port(p["port"], sc) == admin_port, f"{probe} port {p['port']} is not the admin port {admin_port}")
    if "startupProbe" in sc:
        p = sc["startupProbe"].get("httpGet", {})
        require(p.get("path") in ("/healthz", "/readyz") and resolve_port(p["port"], sc) == admin_port,
                "startupProbe must probe /healthz or /readyz on the admin port")
    require(admin_port in {p["containerPort"] for p in sc.get("ports", [])}, f"the sidecache container does not declare port {admin_port}")
    ann = dep["spec"]["template"]["metadata"].get("annotations", {})
    require(ann.get("prometheus.io/scrape") == "true", "pod annotation prometheus.io/scrape must be \"true\"")
    require(str(ann.get("prometheus.io/port")) == str(admin_port), f"prometheus.io/port is {ann.get('prometheus.io/port')!r}, the admin port is {admin_port}")
    require(ann.get("prometheus.io/path") == "/metrics", "prometheus.io/path must be /metrics")
    return f"admin port {admin_port}: /healthz, /readyz, /metrics"


def check_redis_manifests():
    args, container = redis_args_from_k8s()
    compose_args = redis_args_from_compose()
    for where, a in (("redis.yaml", args), ("compose.yaml", compose_args)):
        policy = redis_option(a, "maxmemory-policy")
        require(policy and (policy.startswith("volatile-") or policy == "noeviction"),
                f"{where}: maxmemory-policy {policy!r}: use volatile-* (never allkeys-*)")
        require(redis_option(a, "maxmemory"), f"{where}: set a maxmemory")
    svc = k8s("Service", "sidecache-redis")
    _, _, config = configmap_proxy_json()
    m = re.fullmatch(r"redis://(?:[^@]*@)?([^:/]+):(\d+)(?:/\d*)?", config.get("store", {}).get("redis", ""))
    require(m, "the ConfigMap's store.redis should be a redis:// URL of the Redis Service")
    require(m.group(1).split(".")[0] == svc["metadata"]["name"], f"store.redis host {m.group(1)} is not Service {svc['metadata']['name']}")
    require(int(m.group(2)) in {p["port"] for p in svc["spec"]["ports"]}, f"store.redis port {m.group(2)} is not a port of the Redis Service")
    if not shutil.which("redis-server"):
        note("redis-server not found: the Redis arguments were not tried on a real server")
        return "static only"
    for where, a in (("redis.yaml", args), ("compose.yaml", compose_args)):
        with redis_server(a) as port:
            got = redis_command(port, "CONFIG", "GET", "maxmemory-policy")
            require(got == ["maxmemory-policy", redis_option(a, "maxmemory-policy")], f"{where}: redis-server reports {got}")
            save = redis_command(port, "CONFIG", "GET", "save")
            require(save == ["save", ""], f"{where}: persistence should be off (save \"\"), redis-server reports {save}")
    return "redis-server accepted both argument lists: volatile-lru, no persistence"


def check_compose():
    compose = load_yaml_docs(os.path.join(DEPLOY, "compose.yaml"))[0]
    services = compose.get("services", {})
    require({"api", "redis", "sidecache"} <= set(services), f"compose needs services api, redis, sidecache; has {sorted(services)}")
    sc = services["sidecache"]
    build = sc.get("build", {})
    context = os.path.normpath(os.path.join(DEPLOY, build.get("context", ".")))
    require(context == ROOT, f"sidecache build context should be the repository root, is {build.get('context')!r}")
    require(os.path.isfile(os.path.join(context, build.get("dockerfile", "Dockerfile"))) and
            os.path.normpath(os.path.join(context, build["dockerfile"])) == os.path.join(DEPLOY, "Dockerfile"),
            "sidecache build.dockerfile should be deploy/Dockerfile")
    for name, service in services.items():
        for v in service.get("volumes", []):
            source = v.split(":")[0] if isinstance(v, str) else v.get("source")
            if source.startswith("."):
                require(os.path.exists(os.path.join(DEPLOY, source)), f"service {name}: volume source {source} does not exist")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in sc.get("volumes", []) if isinstance(v, str)}
    require(os.path.normpath(mounts.get("/etc/sidecache/proxy.json", "")) == os.path.join("compose", "proxy.json"),
            "sidecache must mount ./compose/proxy.json at /etc/sidecache/proxy.json")
    with open(os.path.join(DEPLOY, "compose", "proxy.json")) as f:
        config = json.load(f)
    env = sc.get("environment", {})
    env = env if isinstance(env, dict) else dict(e.split("=", 1) for e in env)
    listen = effective_listen(config, {k: str(v) for k, v in env.items()})
    require(listen == config["listen"], f"in the container the proxy listens on {listen} (SIDECACHE_LISTEN), not on compose/proxy.json's {config['listen']}")
    published = {str(p).rsplit(":", 1)[-1] for p in sc.get("ports", [])}
    require(str(port_of(listen)) in published, f"compose does not publish the proxy port {port_of(listen)}")
    m = re.fullmatch(r"https?://([^:/]+)(?::(\d+))?.*", config["upstream"])
    require(m and m.group(1) in services, f"compose proxy.json upstream {config['upstream']!r} is not a compose service")
    r = re.fullmatch(r"redis://([^:/]+):\d+.*", config.get("store", {}).get("redis", ""))
    require(r and r.group(1) == "redis", "compose proxy.json store.redis should point at the redis service")
    if "admin" in config and host_of(config["admin"].get("listen", "127.0.0.1:9090")) != "127.0.0.1":
        admin_port = str(port_of(config["admin"]["listen"]))
        require(admin_port in published, f"compose does not publish the admin port {admin_port}")
        require(ADMIN_TOKEN_ENV in env, f"compose sidecache needs {ADMIN_TOKEN_ENV} (admin listener not on loopback)")
    return "api, redis, sidecache; ports and mounts agree with compose/proxy.json"


def check_schema_valid():
    with open(os.path.join(DEPLOY, "proxy.schema.json")) as f:
        schema = json.load(f)
    require(schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema", "the schema must declare draft 2020-12")
    jsonschema.Draft202012Validator.check_schema(schema)
    # additionalProperties: false on every object with properties (the loader rejects unknown keys).
    loose = []

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") is not False:
                loose.append(where or "/")
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")
    walk(schema, "")
    require(not loose, f"objects without additionalProperties: false: {loose}")
    return "Draft202012Validator.check_schema"


@functools.lru_cache(maxsize=None)
def validator():
    with open(os.path.join(DEPLOY, "proxy.schema.json")) as f:
        return jsonschema.Draft202012Validator(json.load(f))


def schema_errors(instance):
    return sorted(validator().iter_errors(instance), key=lambda e: list(e.absolute_path))


def check_schema_accepts(name, instance):
    errors = schema_errors(instance)
    require(not errors, "; ".join(f"{json_path(e.absolute_path) or '/'}: {e.message}" for e in errors[:5]))


def check_repo_proxy_json():
    with open(os.path.join(ROOT, "proxy.json")) as f:
        config = json.load(f)
    check_schema_accepts("proxy.json", config)
    ref = config.get("$schema")
    require(ref, "proxy.json should reference the schema with \"$schema\"")
    require(os.path.normpath(os.path.join(ROOT, ref)) == os.path.join(DEPLOY, "proxy.schema.json"),
            f"proxy.json's $schema {ref!r} does not point at deploy/proxy.schema.json")
    return "schema accepts it; $schema points at deploy/proxy.schema.json"


def check_valid_sample(path):
    with open(path) as f:
        config = json.load(f)
    check_schema_accepts(path, config)
    code, out = sidecache_check(path)
    require(code == 0, f"the schema accepts it but sidecache check does not: {out}")
    return "schema and sidecache check accept it"


def check_invalid_sample(path, expected):
    with open(path) as f:
        config = json.load(f)
    errors = schema_errors(config)
    require(errors, "the schema accepts it")
    code, out = sidecache_check(path)
    require(code != 0, "the schema rejects it but sidecache check accepts it")
    paths = loader_problem_paths(out, path)
    require(expected in paths, f"sidecache check reports {paths}, expected a problem at {expected!r}")
    # The schema must object at the same place, at the object holding it (unknown and
    # missing keys are reported on their parent), or at a sibling key (a rule between
    # two keys, like admin.listen needing admin.token, may be reported on either).
    where = [json_path(e.absolute_path) for e in errors]
    parent = re.sub(r"(\.[\w$]+|\[\d+\])$", "", expected) if re.search(r"(\.[\w$]+|\[\d+\])$", expected) else ""

    def covers(p):
        if p == expected or p == "" or expected.startswith(p + ".") or expected.startswith(p + "["):
            return True
        return bool(parent) and re.fullmatch(re.escape(parent) + r"\.[\w$]+", p) is not None
    require(any(covers(p) for p in where), f"the schema objects at {where}, not at {expected!r}")
    return f"rejected at {expected or '/'}"


def check_dockerfile():
    path = os.path.join(DEPLOY, "Dockerfile")
    args, stages = dockerfile_stages(path)
    require(len(stages) >= 2, "the Dockerfile must be multi-stage")
    build, runtime = stages[0], stages[-1]
    require(re.fullmatch(r"swift:6\.\d+-bookworm", build["from"]), f"build stage FROM {build['from']!r}: use swift:6.x-bookworm")
    require(runtime["from"] == "debian:bookworm-slim", f"runtime stage FROM {runtime['from']!r}: use debian:bookworm-slim")
    build_runs = " ".join(r for i, r in build["instructions"] if i == "RUN")
    require(re.search(r"swift build -c release --static-swift-stdlib --product sidecache", build_runs),
            "build stage must run: swift build -c release --static-swift-stdlib --product sidecache")
    # Runtime counterparts of the build packages.
    build_pkgs, runtime_pkgs = apt_installs(build), apt_installs(runtime)
    require(set(RUNTIME_OF) <= set(build_pkgs), f"build stage installs {build_pkgs}, needs {sorted(RUNTIME_OF)}")
    counterpart = dict(RUNTIME_OF)
    confirmed = False
    if shutil.which("dpkg-query"):
        for dev in RUNTIME_OF:
            r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", dev], capture_output=True, text=True)
            if r.returncode == 0:
                deps = [d.strip().split()[0] for d in r.stdout.split(",") if d.strip()]
                libs = [d for d in deps if d.startswith("lib") and not d.endswith("-dev")]
                require(RUNTIME_OF[dev] in libs, f"{dev} depends on {deps} here, not on {RUNTIME_OF[dev]}")
                confirmed = True
    for dev in build_pkgs:
        if dev.endswith("-dev"):
            require(dev in counterpart, f"build package {dev} has no known runtime counterpart: add it to RUNTIME_OF")
            require(counterpart[dev] in runtime_pkgs, f"runtime stage lacks {counterpart[dev]} (runtime of {dev})")
    require(set(runtime_pkgs) == RUNTIME_PACKAGES, f"runtime stage installs {sorted(runtime_pkgs)}, want exactly {sorted(RUNTIME_PACKAGES)}")
    compilers = re.compile(r"(-dev$|^gcc|^g\+\+|^clang|^cpp$|^build-essential$|^binutils|^make$|^cmake$|^swift|^libc6-dev$)")
    require(not [p for p in runtime_pkgs if compilers.search(p)], "runtime stage installs compiler or -dev packages")
    require(not any(i == "COPY" and "--from" not in r and r.split()[0] in ("Sources", ".", "Package.swift")
                    for i, r in runtime["instructions"]), "runtime stage copies sources")
    # User, ports, entrypoint, files.
    users = [r for i, r in runtime["instructions"] if i == "USER"]
    require(users, "runtime stage needs a USER")
    user = users[-1].split(":")[0]
    require(user not in ("root", "0"), f"runtime USER {users[-1]} is root")
    exposed = {p.split("/")[0] for i, r in runtime["instructions"] if i == "EXPOSE" for p in r.split()}
    require({"8080", "9090"} <= exposed, f"EXPOSE {sorted(exposed)}, need 8080 and 9090")
    entry = [r for i, r in runtime["instructions"] if i == "ENTRYPOINT"]
    require(entry and json.loads(entry[-1]) == ENTRYPOINT, f"ENTRYPOINT must be {json.dumps(ENTRYPOINT)}")
    copies = [r for i, r in runtime["instructions"] if i == "COPY"]
    require(any(c.startswith("--from=") and c.split()[-1] == "/usr/local/bin/sidecache" for c in copies),
            "runtime stage must copy the binary to /usr/local/bin/sidecache")
    require(any(c.split() == ["proxy.json", "/etc/sidecache/proxy.json"] for c in copies), "runtime stage must copy proxy.json to /etc/sidecache/proxy.json")
    env_listen = [r for i, r in runtime["instructions"] if i == "ENV" and r.startswith("SIDECACHE_LISTEN")]
    for r in env_listen:
        require(port_of(r.split("=", 1)[1].strip()) == 8080, f"ENV {r}: the proxy port should be 8080, as exposed")
    # Every COPY source exists in the build context and is not excluded by .dockerignore.
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        ignored = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    for must in (".build*", "bench/out", ".git", "Package.resolved"):
        require(must in ignored, f".dockerignore should exclude {must}")
    for stage in stages:
        for i, r in stage["instructions"]:
            if i == "COPY" and not r.startswith("--from"):
                for src in r.split()[:-1]:
                    require(os.path.exists(os.path.join(ROOT, src)), f"COPY source {src} is not in the repository")
                    require(not any(re.fullmatch(re.escape(g).replace(r"\*", ".*"), src) for g in ignored),
                            f"COPY source {src} is excluded by .dockerignore")
    return "runtime " + ", ".join(f"{d}->{counterpart[d]}" for d in RUNTIME_OF) + (" (confirmed by dpkg)" if confirmed else "")


def check_binary_libraries():
    """The shared libraries the binary links (besides Swift's own, static in the
    release build) come from the runtime packages or the base image."""
    if not (shutil.which("readelf") and shutil.which("dpkg") and shutil.which("ldconfig")):
        note("readelf/dpkg/ldconfig not found: the binary's libraries were not mapped to packages")
        return "skipped the mapping"
    run_binary(["version"], check_env())   # waits while a build rewrites it
    r = subprocess.run(["readelf", "-d", binary()], capture_output=True, text=True)
    require(r.returncode == 0, f"readelf failed: {r.stderr.strip()}")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    allowed = RUNTIME_PACKAGES | BASE_IMAGE_PACKAGES
    found = {}
    for lib in needed:
        if lib.startswith(("libswift", "libFoundation", "lib_Foundation", "libdispatch", "libBlocksRuntime")):
            continue  # the Swift runtime: linked statically by --static-swift-stdlib
        m = re.search(rf"^\s*{re.escape(lib)} \([^)]*\) => (\S+)$", cache, re.M)
        if not m:
            continue  # the dynamic loader itself
        package = None
        for candidate in (m.group(1), os.path.realpath(m.group(1)), "/usr" + m.group(1) if not m.group(1).startswith("/usr") else m.group(1)[4:]):
            d = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if d.returncode == 0:
                package = d.stdout.split(":")[0].strip()
                break
        require(package, f"{lib} ({m.group(1)}) belongs to no Debian package here")
        found[lib] = package
        require(package in allowed, f"the binary links {lib} from {package}, which the runtime stage does not install")
    require(found.get("libhiredis.so.0.14") == "libhiredis0.14" and found.get("libcurl.so.4") == "libcurl4",
            f"expected libhiredis.so.0.14 and libcurl.so.4 among the binary's libraries, found {found}")
    return ", ".join(f"{l}<-{p}" for l, p in sorted(found.items()))


def check_dashboard_names():
    dash, queries = dashboard_queries()
    require(queries, "the dashboard has no queries")
    unknown, bad_labels, used_families = [], [], set()
    for where, expr in queries:
        used, grouping = promql_metrics(expr)
        labels_here = set(TARGET_LABELS)
        for name, labels in used.items():
            family = design_family(name)
            if family is None:
                unknown.append(f"{name} ({where})")
                continue
            used_families.add(family)
            known = DESIGN_METRICS[family][1] | TARGET_LABELS | ({"le"} if name.endswith("_bucket") else set())
            labels_here |= known
            bad_labels += [f"{name}{{{l}}} ({where})" for l in labels - known]
        bad_labels += [f"by ({l}) ({where})" for l in grouping - labels_here]
    require(not unknown, "not DESIGN metric names: " + ", ".join(unknown))
    require(not bad_labels, "labels DESIGN does not give these metrics: " + ", ".join(bad_labels))
    exprs = " ".join(e for _, e in queries)
    for wanted, what in [(r'sum by \(route\) \(rate\(sidecache_requests_total\{[^}]*cache="hit"', "hit rate per route"),
                         (r"sum by \(cache\) \(rate\(sidecache_requests_total", "requests by cache status"),
                         (r"histogram_quantile\([^,]+, sum by \([^)]*le[^)]*\) \(rate\(sidecache_upstream_duration_seconds_bucket", "upstream latency percentiles"),
                         (r"sum by \(reason\) \(rate\(sidecache_bypass_total", "bypass reasons"),
                         (r"sum by \(source\) \(rate\(sidecache_purges_total", "purges by source"),
                         (r"sidecache_l1_bytes", "L1 bytes"), (r"sidecache_redis_up", "Redis up")]:
        require(re.search(wanted, exprs), f"the dashboard lacks a {what} query")
    ids = [p["id"] for p in dash["panels"]]
    require(len(ids) == len(set(ids)), "panel ids must be unique")
    return f"{len(queries)} queries over {len(used_families)} DESIGN metrics"


def check_live_metrics(source, text):
    return compare_with_scrape(text, source)


def check_readme_deploy_section():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## Deploy\b.*?(?=^## |\Z)", text, re.M | re.S)
    require(m, "README.md has no '## Deploy' section")
    section = m.group(0)
    for needle in ("deploy/kubernetes", "deploy/compose.yaml", "deploy/Dockerfile", "volatile-", "tunnel"):
        require(needle in section, f"the Deploy section does not mention {needle}")
    return "mentions the sidecar, compose, the image and the Redis guidance"


# ---------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metrics-url", help="compare the dashboard with this /metrics endpoint")
    parser.add_argument("--live", action="store_true", help="start the debug binary with an admin listener and compare the dashboard with its /metrics")
    opts = parser.parse_args()

    for path in sorted(yaml_files(DEPLOY)):
        run_check(f"yaml parses: {rel(path)}", check_yaml_parses, path)

    run_check("kubernetes: ConfigMap proxy.json passes sidecache check", check_configmap_config)
    run_check("kubernetes: native sidecar, Secret token, Service and upstream wiring", check_sidecar_wiring)
    run_check("kubernetes: probes and Prometheus annotations on the admin port", check_probes_and_annotations)
    run_check("redis: volatile-* maxmemory policy (kubernetes and compose)", check_redis_manifests)
    run_check("compose: deploy/compose/proxy.json passes sidecache check", check_compose_config)
    run_check("compose: services, build, mounts and ports", check_compose)

    run_check("schema: valid draft 2020-12, additionalProperties: false", check_schema_valid)
    run_check("schema: accepts proxy.json", check_repo_proxy_json)
    run_check("schema: accepts the ConfigMap's proxy.json", lambda: check_schema_accepts("configmap", configmap_proxy_json()[2]))
    run_check("schema: accepts deploy/compose/proxy.json",
              lambda: check_schema_accepts("compose", read_json(os.path.join(DEPLOY, "compose", "proxy.json"))))
    valid_dir, invalid_dir = os.path.join(DEPLOY, "testdata", "valid"), os.path.join(DEPLOY, "testdata", "invalid")
    for name in sorted(os.listdir(valid_dir)):
        run_check(f"schema accepts: testdata/valid/{name}", check_valid_sample, os.path.join(valid_dir, name))
    with open(os.path.join(DEPLOY, "testdata", "invalid-expected.json")) as f:
        expected = json.load(f)
    invalid = sorted(os.listdir(invalid_dir))
    run_check("schema: every invalid sample has an expected problem path",
              lambda: require(set(invalid) == set(expected), f"invalid-expected.json and testdata/invalid differ: {sorted(set(invalid) ^ set(expected))}"))
    for name in invalid:
        run_check(f"schema rejects: testdata/invalid/{name}", check_invalid_sample, os.path.join(invalid_dir, name), expected.get(name, "?"))

    run_check("dockerfile: stages, runtime counterparts, no compilers, user, ports, entrypoint", check_dockerfile)
    run_check("dockerfile: the binary's C libraries come from the runtime packages", check_binary_libraries)

    run_check("grafana: DESIGN.md metric list matches check.py's", check_design_metric_list)
    run_check("grafana: dashboard queries use DESIGN metric names and labels only", check_dashboard_names)
    scrape_file = os.path.join(DEPLOY, "testdata", "metrics.txt")
    if opts.metrics_url:
        run_check(f"grafana: dashboard metrics exported by {opts.metrics_url}",
                  lambda: check_live_metrics(opts.metrics_url, http_get(opts.metrics_url, timeout=10)[1]))
    if opts.live:
        run_check("grafana: dashboard metrics exported by a live sidecache (/metrics)",
                  lambda: check_live_metrics("the live /metrics scrape", live_scrape()))
    if os.path.isfile(scrape_file):
        run_check("grafana: dashboard metrics in deploy/testdata/metrics.txt",
                  lambda: check_live_metrics(rel(scrape_file), open(scrape_file).read()))
    if not (opts.metrics_url or opts.live or os.path.isfile(scrape_file)):
        note("live /metrics comparison skipped: no deploy/testdata/metrics.txt, --metrics-url or --live; "
             "the dashboard was checked against DESIGN.md's metric names only")

    run_check("readme: Deploy section", check_readme_deploy_section)

    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
