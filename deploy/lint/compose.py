"""deploy/compose.yaml: an example API, Redis and sidecache built from deploy/Dockerfile,
with deploy/compose/proxy.json (which `sidecache check` accepts) mounted, its proxy port
published, and its upstream and Redis pointing at the compose services."""

import os
import re

from lint.dockerfile import effective_listen
from lint.kit import ADMIN_TOKEN_ENV, DEPLOY, ROOT, host_of, load_yaml_docs, port_of, read_json, rel, require, sidecache_check

PROXY_JSON = os.path.join(DEPLOY, "compose", "proxy.json")


def check_compose_config():
    code, out = sidecache_check(PROXY_JSON)
    require(code == 0, f"sidecache check rejected {rel(PROXY_JSON)}: {out}")
    return "sidecache check: exit 0"


def check_compose():
    services = load_yaml_docs(os.path.join(DEPLOY, "compose.yaml"))[0].get("services", {})
    require({"api", "redis", "sidecache"} <= set(services), f"compose needs services api, redis, sidecache; has {sorted(services)}")
    sc = services["sidecache"]
    build = sc.get("build", {})
    context = os.path.normpath(os.path.join(DEPLOY, build.get("context", ".")))
    require(context == ROOT, f"sidecache build context should be the repository root, is {build.get('context')!r}")
    require(os.path.normpath(os.path.join(context, build.get("dockerfile", "Dockerfile"))) == os.path.join(DEPLOY, "Dockerfile"),
            "sidecache build.dockerfile should be deploy/Dockerfile")
    for name, service in services.items():
        for v in service.get("volumes", []):
            source = v.split(":")[0] if isinstance(v, str) else v.get("source")
            require(not source.startswith(".") or os.path.exists(os.path.join(DEPLOY, source)),
                    f"service {name}: volume source {source} does not exist")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in sc.get("volumes", []) if isinstance(v, str)}
    require(os.path.normpath(mounts.get("/etc/sidecache/proxy.json", "")) == os.path.join("compose", "proxy.json"),
            "sidecache must mount ./compose/proxy.json at /etc/sidecache/proxy.json")
    config = read_json(PROXY_JSON)
    env = sc.get("environment", {})
    env = env if isinstance(env, dict) else dict(e.split("=", 1) for e in env)
    listen = effective_listen(config, {k: str(v) for k, v in env.items()})
    require(listen == config["listen"], f"in the container the proxy listens on {listen} (SIDECACHE_LISTEN), not on compose/proxy.json's {config['listen']}")
    published = {str(p).rsplit(":", 1)[-1] for p in sc.get("ports", [])}
    require(str(port_of(listen)) in published, f"compose does not publish the proxy port {port_of(listen)}")
    m = re.fullmatch(r"https?://([^:/]+)(?::\d+)?.*", config["upstream"])
    require(m and m.group(1) in services, f"compose proxy.json upstream {config['upstream']!r} is not a compose service")
    r = re.fullmatch(r"redis://([^:/]+):\d+.*", config.get("store", {}).get("redis", ""))
    require(r and r.group(1) == "redis", "compose proxy.json store.redis should point at the redis service")
    if "admin" in config and host_of(config["admin"].get("listen", "127.0.0.1:9090")) != "127.0.0.1":
        require(str(port_of(config["admin"]["listen"])) in published, "compose does not publish the admin port")
        require(ADMIN_TOKEN_ENV in env, f"compose sidecache needs {ADMIN_TOKEN_ENV} (admin listener not on loopback)")
        token = str(env[ADMIN_TOKEN_ENV])
        require(re.fullmatch(r"\$\{" + ADMIN_TOKEN_ENV + r":\?[^}]*\}", token),
                f"compose {ADMIN_TOKEN_ENV} must be ${{{ADMIN_TOKEN_ENV}:?...}}: no default token, compose refuses to start without one (got {token!r})")
    return "api, redis, sidecache; ports and mounts agree with compose/proxy.json"
