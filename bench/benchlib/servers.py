"""The servers of a bench run: each started from a file in bench/config/ rendered into
the run directory, tracked by its process, and stopped (SIGTERM, then SIGKILL after
5 s) when the run ends. Only 127.0.0.1 is used."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config")


def log(message):
    print(f"[bench] {message}", flush=True)


# The `claims` scenario's HMAC secret and a token for it (HS256, role admin, valid a day):
# the bench's own, made here with the standard library so the bench needs no JWT package.
JWT_SECRET = "bench-secret-for-the-claims-scenario-0123456789"


def bench_token(role="admin"):
    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": "bench", "role": role, "exp": int(time.time()) + 86400}).encode())
    mac = hmac.new(JWT_SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


BENCH_TOKEN = bench_token()


def render(template, dest, **values):
    """Copies bench/config/`template` to `dest` with every @NAME@ replaced by values[NAME]."""
    with open(os.path.join(CONFIG, template)) as f:
        text = f.read()
    text = re.sub(r"@([A-Z_]+)@", lambda m: str(values[m.group(1)]), text)
    with open(dest, "w") as f:
        f.write(text)
    return dest


def origin_body():
    """A 1 KiB JSON body with no ' (nginx quoting) and no $ (nginx variables)."""
    head = '{"id":1,"name":"benchmark item","tags":["alpha","beta","gamma"],"price":1999,"currency":"EUR","inStock":true,"description":"'
    return head + "x" * (1024 - len(head) - 2) + '"}'


def tool(name):
    """The path of a program (nginx and varnishd live in /usr/sbin, not always on PATH)."""
    return shutil.which(name) or os.path.join("/usr/sbin", name)


class Server:
    """One server: its name, port, run directory and log, the command that starts it,
    and how to tell it is ready (default: GET /api/items/1 answers 200)."""

    def __init__(self, name, port, directory):
        self.name, self.port, self.dir = name, port, directory
        self.argv, self.env = [], None
        self.ready = self.answers
        # Seconds start() waits for readiness (a server under valgrind needs far more).
        self.start_within = 15
        self.proc = None
        self.log_path = os.path.join(directory, f"{name}.log")
        os.makedirs(directory, exist_ok=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        """Starts it, appending to its log; waits (`start_within` s at most) until it is
        ready. False, with the reason logged, if it exits or is not ready by then."""
        with open(self.log_path, "a") as out:
            out.write(f"=== {time.strftime('%H:%M:%S', time.gmtime())} start: {' '.join(self.argv)}\n")
            out.flush()
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                         start_new_session=True)
        deadline = time.monotonic() + self.start_within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log(f"{self.name} exited during start-up ({self.proc.returncode}); see {self.log_path}")
                return False
            if self.ready():
                log(f"{self.name}: pid {self.proc.pid} on 127.0.0.1:{self.port}")
                return True
            time.sleep(0.1)
        log(f"{self.name} was not ready on 127.0.0.1:{self.port} within {self.start_within} s; see {self.log_path}")
        self.stop()
        return False

    def answers(self):
        status, _ = get(self.port, "/api/items/1", timeout=1)
        return status == 200

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log(f"{self.name} (pid {self.proc.pid}) ignored SIGTERM for 5 s; sending SIGKILL")
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def get(port, path, timeout=5, connection=None, headers=None):
    """(status, headers) of GET `path`; (None, {}) when it fails. Reuses `connection` if given."""
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    except (OSError, http.client.HTTPException):
        return None, {}
    finally:
        if connection is None:
            conn.close()


def nginx_server(name, port, run_dir, template, workers, **values):
    """An nginx (origin or cache row) with its own prefix, pid file, logs and temp paths."""
    server = Server(name, port, os.path.join(run_dir, name))
    os.makedirs(os.path.join(server.dir, "tmp"), exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    for shared in ("nginx-main.conf", "nginx-http.conf"):
        render(shared, os.path.join(server.dir, shared), USER=user, WORKERS=workers, DIR=server.dir)
    conf = render(template, os.path.join(server.dir, "nginx.conf"), DIR=server.dir, PORT=port, **values)
    server.argv = [tool("nginx"), "-p", server.dir, "-e", os.path.join(server.dir, "error.log"), "-c", conf]
    subprocess.run(server.argv + ["-t", "-q"], check=True)
    return server


def nginx_cache_dir(server_dir, place):
    """nginx's cache directory: on tmpfs (returned, to be removed after the run; nginx
    still reaches it as `server_dir`/cache) or, for place "disk", in the run directory."""
    os.makedirs(server_dir, exist_ok=True)
    if place == "disk":
        os.makedirs(os.path.join(server_dir, "cache"), exist_ok=True)
        return None
    shm = tempfile.mkdtemp(prefix="sidecache-bench-nginx.", dir="/dev/shm")
    os.symlink(shm, os.path.join(server_dir, "cache"))
    return shm


def nginx_cache_dir_remove(server_dir, shm):
    """Removes what `nginx_cache_dir` made (`shm`: what it returned)."""
    cache = os.path.join(server_dir, "cache")
    if os.path.islink(cache):
        os.unlink(cache)
    shutil.rmtree(shm or cache, ignore_errors=True)


def varnish_server(port, run_dir, origin_port):
    server = Server("varnish", port, os.path.join(run_dir, "varnish"))
    vcl = render("varnish.vcl", os.path.join(server.dir, "default.vcl"), ORIGIN_PORT=origin_port)
    # -F: the manager in the foreground; -T none: no CLI port; -j none as root: the
    # default jail's user could not enter the 0700 run directory.
    jail = ["-j", "none"] if os.geteuid() == 0 else []
    server.argv = [tool("varnishd"), "-F", *jail, "-a", f"127.0.0.1:{port}", "-T", "none", "-f", vcl,
                   "-s", "malloc,256m", "-n", os.path.join(server.dir, "work"), "-p", "default_ttl=300"]
    return server


FLOOR = os.path.join(os.path.dirname(CONFIG), "floor")
FLOOR_BIN = os.path.join(FLOOR, ".build-floor", "release", "nio-floor")


def floor_server(port, run_dir):
    """bench/floor's NIO server, answering every request with a hit's lines and the
    origin's body; built first (release, the flags of `make release`; a few minutes the
    first time, a no-op when nothing changed)."""
    log("building bench/floor (release)")
    subprocess.run(["swift", "build", "-c", "release", "-Xswiftc", "-enforce-exclusivity=unchecked",
                    "-Xswiftc", "-cross-module-optimization", "-Xswiftc", "-Xfrontend", "-Xswiftc", "-disable-type-layout",
                    "--package-path", FLOOR,
                    "--scratch-path", os.path.join(FLOOR, ".build-floor")], check=True)
    server = Server("nio-floor", port, os.path.join(run_dir, "nio-floor"))
    body = os.path.join(server.dir, "body.json")
    with open(body, "w") as f:
        f.write(origin_body())
    server.argv = [FLOOR_BIN, str(port), body]
    return server


def redis_server(port, tls_port, run_dir):
    """The one redis-server of the Redis rows, plain on `port` and TLS on `tls_port`."""
    server = Server("redis", port, os.path.join(run_dir, "redis"))
    os.makedirs(server.dir, exist_ok=True)
    make_certificates(server.dir)
    server.tls_port, server.ca = tls_port, os.path.join(server.dir, "ca.pem")
    conf = render("redis.conf", os.path.join(server.dir, "redis.conf"), PORT=port, TLS_PORT=tls_port, DIR=server.dir)
    server.argv = [tool("redis-server"), conf]
    server.ready = lambda: redis_cli(port, "PING") == "PONG"
    server.flushall = lambda: redis_cli(port, "FLUSHALL") == "OK"
    server.dbsize = lambda: redis_cli(port, "DBSIZE")
    return server


class RedisCluster:
    """The Redis Cluster of the sidecache-redis-cluster row: a redis-server per port in
    `ports` (bench/config/redis-cluster.conf, each with its own directory under
    redis-cluster/ in the run directory), all masters, joined by `redis-cli --cluster
    create` into one cluster that splits the 16384 slots between them. Started, flushed,
    counted and stopped like the one redis-server of the other Redis rows."""

    def __init__(self, ports, run_dir):
        self.name, self.ports, self.port = "redis-cluster", ports, ports[0]
        self.dir = os.path.join(run_dir, "redis-cluster")
        self.log_path = os.path.join(self.dir, "create.log")
        self.nodes = [self.node(p) for p in ports]

    def node(self, port):
        server = Server(f"redis-cluster-{port}", port, os.path.join(self.dir, str(port)))
        conf = render("redis-cluster.conf", os.path.join(server.dir, "redis.conf"), PORT=port, DIR=server.dir)
        server.argv = [tool("redis-server"), conf]
        server.ready = lambda: redis_cli(port, "PING") == "PONG"
        return server

    def start(self):
        """Starts the nodes, creates the cluster (redis-cli's output goes to create.log)
        and waits (30 s at most) until every node says `cluster_state:ok` and knows the
        others. False, with the reason logged, if any of it fails."""
        if not all(node.start() for node in self.nodes):
            return False
        argv = [tool("redis-cli"), "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                "--cluster-replicas", "0", "--cluster-yes"]
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            log(f"{self.name}: `redis-cli --cluster create` still running after 60 s")
            return False
        with open(self.log_path, "w") as f:
            f.write(f"# {' '.join(argv)}\n{r.stdout}{r.stderr}")
        if r.returncode != 0:
            log(f"{self.name}: `redis-cli --cluster create` exited {r.returncode}; see {self.log_path}")
            return False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            infos = [self.info(p) for p in self.ports]
            if all(i.get("cluster_state") == "ok" and i.get("cluster_known_nodes") == str(len(self.ports)) for i in infos):
                log(f"{self.name}: {len(self.ports)} masters on 127.0.0.1:{','.join(map(str, self.ports))}")
                return True
            time.sleep(0.1)
        log(f"{self.name}: not every node said cluster_state:ok within 30 s; see {self.log_path}")
        return False

    @staticmethod
    def info(port):
        """CLUSTER INFO of the node on `port` as a dict ({} when it does not answer)."""
        lines = redis_cli(port, "CLUSTER", "INFO").splitlines()
        return dict(line.strip().split(":", 1) for line in lines if ":" in line)

    def flushall(self):
        """FLUSHALL on every master (each empties only its own slots)."""
        return all([redis_cli(p, "FLUSHALL") == "OK" for p in self.ports])

    def dbsize(self):
        """The keys of all masters together, as text like redis-cli's DBSIZE ("?" if one did not answer)."""
        sizes = [redis_cli(p, "DBSIZE") for p in self.ports]
        return str(sum(map(int, sizes))) if all(n.isdigit() for n in sizes) else "?"

    def stop(self):
        for node in reversed(self.nodes):
            node.stop()


def make_certificates(directory):
    """A CA and a server certificate for 127.0.0.1 (P-256), made with the openssl tool."""
    def openssl(*args):
        subprocess.run([tool("openssl"), *args], cwd=directory, check=True, capture_output=True)
    with open(os.path.join(directory, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "2", "-subj", "/CN=sidecache bench CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext")


def redis_cli(port, *words):
    r = subprocess.run([tool("redis-cli"), "-h", "127.0.0.1", "-p", str(port), *words], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "?"


def start_backends(run_dir, ports, with_redis, started, tool_name):
    """The bench origin on ports[0] and, `with_redis`, redis-server on ports[1] (TLS on
    ports[2]), each appended to `started` before it starts (the caller stops them in
    reverse order). Exits naming `tool_name` when one does not start. Returns the
    redis-server or None."""
    origin = nginx_server("origin", ports[0], run_dir, "origin.nginx.conf", 1, BODY=origin_body())
    started.append(origin)
    if not origin.start():
        sys.exit(f"[{tool_name}] the origin did not start")
    if not with_redis:
        return None
    redis = redis_server(ports[1], ports[2], run_dir)
    started.append(redis)
    if not redis.start():
        sys.exit(f"[{tool_name}] redis-server did not start")
    return redis


def sidecache_server(name, port, admin_port, run_dir, binary, store, origin_port, redis, cluster=None):
    """A sidecache row: bench/config/sidecache.json with the row's store section and an
    admin listener on `admin_port` (its /metrics tells what the memory store holds)."""
    server = Server(name, port, os.path.join(run_dir, name))
    server.store, server.admin_port = store, admin_port
    store_json = json.dumps(store)
    if redis:
        store_json = (store_json.replace("@REDIS_PORT@", str(redis.port)).replace("@REDIS_TLS_PORT@", str(redis.tls_port))
                      .replace("@REDIS_CA@", redis.ca))
    if cluster:
        for i, p in enumerate(cluster.ports, 1):
            store_json = store_json.replace(f"@REDIS_CLUSTER_PORT{i}@", str(p))
    conf = render("sidecache.json", os.path.join(server.dir, "proxy.json"),
                  PORT=port, ADMIN_PORT=admin_port, ORIGIN_PORT=origin_port, STORE=store_json, JWT_SECRET=JWT_SECRET)
    server.argv = [binary, "run", "--config", conf]
    # The environment must not redirect it (SIDECACHE_LISTEN and the like override the file).
    server.env = {k: v for k, v in os.environ.items() if k not in ("SIDECACHE_LISTEN", "SIDECACHE_UPSTREAM", "REDIS_URL")}
    return server
