"""What the checks share: the repository's paths, its YAML and JSON files, the
Kubernetes objects, the sidecache binary, and the failure a check raises."""

import functools
import json
import os
import re
import subprocess

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
ADMIN_TOKEN_ENV = "SIDECACHE_ADMIN_TOKEN"


class CheckFailed(Exception):
    pass


def require(condition, message):
    if not condition:
        raise CheckFailed(message)


def rel(path):
    return os.path.relpath(path, ROOT)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def yaml_files(top):
    for dirpath, _, files in os.walk(top):
        for f in sorted(files):
            if f.endswith((".yaml", ".yml")):
                yield os.path.join(dirpath, f)


@functools.lru_cache(maxsize=None)
def k8s_docs():
    return tuple(d for p in yaml_files(os.path.join(DEPLOY, "kubernetes")) for d in load_yaml_docs(p))


def k8s(kind, name=None):
    """The one object of `kind` (and `name`) under deploy/kubernetes."""
    found = [d for d in k8s_docs() if d.get("kind") == kind and name in (None, d.get("metadata", {}).get("name"))]
    require(len(found) == 1, f"expected one {kind}{' ' + name if name else ''} in deploy/kubernetes, found {len(found)}")
    return found[0]


def app_deployment():
    """The Deployment that runs sidecache as an init container (the native sidecar)."""
    found = [d for d in k8s_docs() if d.get("kind") == "Deployment"
             and any(c.get("name") == "sidecache" for c in d["spec"]["template"]["spec"].get("initContainers", []))]
    require(len(found) == 1, f"expected one Deployment with a sidecache init container, found {len(found)}")
    return found[0]


def sidecar(deployment):
    return next(c for c in deployment["spec"]["template"]["spec"]["initContainers"] if c["name"] == "sidecache")


def configmap_proxy_json():
    """(ConfigMap, its proxy.json text, the parsed JSON) of the volume mounted at /etc/sidecache."""
    dep = app_deployment()
    mounts = {m["name"]: m["mountPath"] for m in sidecar(dep).get("volumeMounts", [])}
    volumes = [v for v in dep["spec"]["template"]["spec"].get("volumes", [])
               if "configMap" in v and mounts.get(v["name"]) == "/etc/sidecache"]
    require(len(volumes) == 1, "the sidecache container must mount one ConfigMap volume at /etc/sidecache")
    cm = k8s("ConfigMap", volumes[0]["configMap"]["name"])
    text = cm.get("data", {}).get("proxy.json")
    require(text, f"ConfigMap {cm['metadata']['name']} has no data key proxy.json")
    try:
        return cm, text, json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckFailed(f"ConfigMap proxy.json is not valid JSON: {e}")


def port_of(address):
    """The port of `host:port` or `[v6]:port`."""
    m = re.fullmatch(r"(?:\[[^\]]+\]|[^:]+):(\d+)", address)
    require(m, f"{address!r} is not host:port")
    return int(m.group(1))


def host_of(address):
    m = re.fullmatch(r"(\[[^\]]+\]|[^:]+):\d+", address)
    require(m, f"{address!r} is not host:port")
    return m.group(1)


def resolve_port(port, container):
    """A probe or Service port (a number or a port name) as a number."""
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise CheckFailed(f"port name {port!r} is not a port of container {container['name']}")


def binary():
    return os.environ.get("SIDECACHE_BIN", os.path.join(ROOT, ".build", "debug", "sidecache"))


def sidecache_check(path):
    """(exit code, output) of `sidecache check --config path`, with the token the kit's
    configs reference set and no environment override of the file's keys."""
    require(os.access(binary(), os.X_OK), f"{rel(binary())} not found: build it first (swift build, or make test)")
    env = {k: v for k, v in os.environ.items() if k not in ("SIDECACHE_LISTEN", "SIDECACHE_UPSTREAM", "REDIS_URL")}
    env[ADMIN_TOKEN_ENV] = "lint-token-0123456789abcdef0123456789"   # 16+ characters: weak tokens are refused
    env["REDIS_PASSWORD"] = "lint-redis-password-0123456789"
    env["SIDECACHE_SIGNING_KEY"] = "lint-signing-key-0123456789abcdef0123"   # 32+ bytes
    r = subprocess.run([binary(), "check", "--config", path], env=env, capture_output=True, text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()
