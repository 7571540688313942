"""deploy/kubernetes and the Redis settings: sidecache as a native sidecar of the
app's pod, its config from a ConfigMap that `sidecache check` accepts, its token from
a Secret, the Service on the proxy port, probes and Prometheus annotations on the
admin port, Redis with a volatile-* maxmemory policy."""

import os
import re
import tempfile

from lint.dockerfile import effective_listen
from lint.kit import (ADMIN_TOKEN_ENV, DEPLOY, app_deployment, configmap_proxy_json, host_of, k8s, k8s_docs,
                      load_yaml_docs, port_of, require, resolve_port, sidecache_check, sidecar)


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


def check_sidecar_wiring():
    dep = app_deployment()
    spec, sc = dep["spec"]["template"]["spec"], sidecar(dep)
    require(sc.get("restartPolicy") == "Always", "the sidecache init container needs restartPolicy: Always (native sidecar)")
    require(spec.get("containers"), "the Deployment needs the application container")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    require(all(labels.get(k) == v for k, v in dep["spec"]["selector"]["matchLabels"].items()),
            "the Deployment's selector does not match its pod labels")
    for c in [sc] + spec["containers"]:
        res = c.get("resources", {})
        require(res.get("requests") and res.get("limits"), f"container {c['name']} needs resources.requests and resources.limits")
    env = {e["name"]: e for e in sc.get("env", [])}
    ref = env.get(ADMIN_TOKEN_ENV, {}).get("valueFrom", {}).get("secretKeyRef")
    require(ref, f"the sidecache container needs {ADMIN_TOKEN_ENV} from a Secret (valueFrom.secretKeyRef)")
    secret = k8s("Secret", ref["name"])
    require(ref["key"] in {**secret.get("data", {}), **secret.get("stringData", {})}, f"Secret {ref['name']} has no key {ref['key']}")
    _, _, config = configmap_proxy_json()
    m = re.fullmatch(r"http://(127\.0\.0\.1|localhost|\[::1\]):(\d+)(/.*)?", config["upstream"])
    require(m, f"upstream {config['upstream']!r} should be the app on localhost")
    app_ports = {p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
    require(int(m.group(2)) in app_ports, f"upstream port {m.group(2)} is not a port of the app container(s) {sorted(app_ports)}")
    services = [d for d in k8s_docs() if d.get("kind") == "Service" and d["spec"].get("selector")
                and all(labels.get(k) == v for k, v in d["spec"]["selector"].items())]
    require(len(services) == 1, f"expected one Service selecting the Deployment's pods, found {len(services)}")
    plain_env = {e["name"]: e.get("value", "") for e in sc.get("env", []) if "valueFrom" not in e}
    listen_port = port_of(effective_listen(config, plain_env))
    require(listen_port == port_of(config.get("listen", "0.0.0.0:8080")),
            f"the proxy listens on {listen_port} in the container (SIDECACHE_LISTEN), not on the ConfigMap's {config.get('listen')}")
    targets = {resolve_port(p.get("targetPort", p["port"]), sc) for p in services[0]["spec"]["ports"]}
    require(targets == {listen_port}, f"Service {services[0]['metadata']['name']} targets {sorted(targets)}, the proxy listens on {listen_port}")
    require(listen_port in {p["containerPort"] for p in sc.get("ports", [])}, f"the sidecache container does not declare port {listen_port}")
    return f"Service -> {listen_port}, upstream -> app:{m.group(2)}, token from Secret {ref['name']}"


def check_probes_and_annotations():
    dep = app_deployment()
    sc = sidecar(dep)
    _, _, config = configmap_proxy_json()
    admin_port = port_of(config["admin"].get("listen", "127.0.0.1:9090"))
    for probe, path in {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}.items():
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


def redis_option(args, name):
    for i, a in enumerate(args[:-1]):
        if a == f"--{name}":
            return args[i + 1]
    return None


def check_redis_settings():
    """Both Redis deployments cap memory and evict only keys with a TTL (entries), never
    the purge counters, and keep no persistence; the ConfigMap points at the Service."""
    c = k8s("Deployment", "sidecache-redis")["spec"]["template"]["spec"]["containers"][0]
    compose = load_yaml_docs(os.path.join(DEPLOY, "compose.yaml"))[0]["services"]["redis"]["command"]
    require(isinstance(compose, list) and compose[0] == "redis-server", "compose redis command must be a list starting with redis-server")
    for where, args in (("redis.yaml", c.get("command", [])[1:] + c.get("args", [])), ("compose.yaml", compose[1:])):
        require(all(isinstance(a, str) for a in args), f"{where}: every redis-server argument must be a string (quote \"\" and \"no\"): {args}")
        policy = redis_option(args, "maxmemory-policy")
        require(policy and (policy.startswith("volatile-") or policy == "noeviction"),
                f"{where}: maxmemory-policy {policy!r}: use volatile-* (never allkeys-*)")
        require(redis_option(args, "maxmemory"), f"{where}: set a maxmemory")
        require(redis_option(args, "save") == "" and redis_option(args, "appendonly") in (None, "no"),
                f"{where}: persistence should be off (--save \"\")")
    svc = k8s("Service", "sidecache-redis")
    _, _, config = configmap_proxy_json()
    m = re.fullmatch(r"redis://(?:[^@]*@)?([^:/]+):(\d+)(?:/\d*)?", config.get("store", {}).get("redis", ""))
    require(m, "the ConfigMap's store.redis should be a redis:// URL of the Redis Service")
    require(m.group(1).split(".")[0] == svc["metadata"]["name"], f"store.redis host {m.group(1)} is not Service {svc['metadata']['name']}")
    require(int(m.group(2)) in {p["port"] for p in svc["spec"]["ports"]}, f"store.redis port {m.group(2)} is not a port of the Redis Service")
    # `command` replaces the image's entrypoint, which turns protected mode off: without
    # a password Redis 7 refuses every client off its own host (and with protected mode
    # off, every pod of the cluster could read and write the cache).
    password = redis_option(c.get("command", [])[1:] + c.get("args", []), "requirepass")
    require(password and password.startswith("$("), "redis.yaml: --requirepass from the Secret (an env var, $(REDIS_PASSWORD))")
    redis_env = {e["name"]: e for e in c.get("env", [])}
    require(redis_env.get(password[2:-1], {}).get("valueFrom", {}).get("secretKeyRef"),
            f"redis.yaml: {password[2:-1]} must come from a Secret")
    require("${REDIS_PASSWORD}@" in config["store"]["redis"], "the ConfigMap's store.redis must carry ${REDIS_PASSWORD}")
    require("${SIDECACHE_SIGNING_KEY}" in config["store"].get("signingKey", ""), "the ConfigMap's store.signingKey must reference ${SIDECACHE_SIGNING_KEY}")
    sidecar_env = {e["name"]: e for e in sidecar(app_deployment()).get("env", [])}
    for name in ("REDIS_PASSWORD", "SIDECACHE_SIGNING_KEY"):
        require(sidecar_env.get(name, {}).get("valueFrom", {}).get("secretKeyRef"), f"the sidecache container needs {name} from a Secret")
    return "volatile-* policy, maxmemory, no persistence, a password; store.redis is the Service"
