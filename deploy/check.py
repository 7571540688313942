#!/usr/bin/python3
"""Static lint of the deploy kit in deploy/ (run by `make test`).

Checks what can be checked without a container engine or a cluster: the YAML parses;
the Kubernetes and compose configs pass `sidecache check` (the built binary,
.build/debug/sidecache or $SIDECACHE_BIN); the sidecar, Service, probes and Prometheus
annotations agree with the config's ports; Redis keeps purge state; the JSON Schema
agrees with the samples in deploy/testdata; the Dockerfile's runtime stage carries what
the binary links and nothing to compile with; the README's Deploy section names it all.
The metric names of the Grafana dashboard and the README, and the loader's side of the
samples and config keys, are checked by the Swift tests.

    /usr/bin/python3 deploy/check.py

Needs Debian's python3-yaml and python3-jsonschema (`make test-deps` installs them).
Prints one line per check and a last line "N passed, M failed"; exits 1 on any failure.
"""

import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the repository

try:
    from lint import compose, dockerfile, kubernetes, schema
    from lint.kit import DEPLOY, ROOT, CheckFailed, load_yaml_docs, rel, require, yaml_files
except ImportError as missing:  # a check that cannot run has not passed
    print(f"FAIL deploy/check.py: {missing}; install python3-yaml and python3-jsonschema (make test-deps)")
    print("0 passed, 1 failed")
    sys.exit(1)


def check_yaml_parses(path):
    docs = load_yaml_docs(path)
    require(docs, "no YAML document")
    if rel(path).startswith(os.path.join("deploy", "kubernetes")):
        for d in docs:
            require(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"),
                    "every Kubernetes document needs apiVersion, kind and metadata.name")
    return f"{len(docs)} document(s)"


def check_readme_deploy_section():
    with open(os.path.join(ROOT, "README.md")) as f:
        m = re.search(r"^## Deploy\b.*?(?=^## |\Z)", f.read(), re.M | re.S)
    require(m, "README.md has no '## Deploy' section")
    for needle in ("deploy/kubernetes", "deploy/compose.yaml", "deploy/Dockerfile", "volatile-", "tunnel"):
        require(needle in m.group(0), f"the Deploy section does not mention {needle}")
    return "mentions the sidecar, compose, the image and the Redis guidance"


CHECKS = [
    ("kubernetes: ConfigMap proxy.json passes sidecache check", kubernetes.check_configmap_config),
    ("kubernetes: native sidecar, Secret token, Service and upstream wiring", kubernetes.check_sidecar_wiring),
    ("kubernetes: probes and Prometheus annotations on the admin port", kubernetes.check_probes_and_annotations),
    ("redis: maxmemory, volatile-* policy, no persistence (kubernetes and compose)", kubernetes.check_redis_settings),
    ("compose: deploy/compose/proxy.json passes sidecache check", compose.check_compose_config),
    ("compose: services, build, mounts and ports", compose.check_compose),
    ("schema: valid draft 2020-12, additionalProperties: false", schema.check_schema_valid),
    ("schema: accepts the kit's configs", schema.check_kit_configs),
    ("schema: accepts deploy/testdata/valid", schema.check_valid_samples),
    ("schema: rejects deploy/testdata/invalid at the expected paths", schema.check_invalid_samples),
    ("dockerfile: stages and runtime counterparts of the build packages", dockerfile.check_stages),
    ("dockerfile: runtime user, ports, entrypoint and files", dockerfile.check_runtime_stage),
    ("dockerfile: build context and .dockerignore", dockerfile.check_build_context),
    ("dockerfile: the binary's C libraries come from the runtime packages", dockerfile.check_binary_libraries),
    ("readme: Deploy section", check_readme_deploy_section),
]


def main():
    checks = [(f"yaml parses: {rel(p)}", lambda p=p: check_yaml_parses(p)) for p in yaml_files(DEPLOY)] + CHECKS
    failed = 0
    for name, check in checks:
        try:
            note = check()
        except CheckFailed as e:
            failed += 1
            print(f"FAIL {name}: {e}", flush=True)
        except Exception as e:  # a crash in a check is a failure of that check
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
        else:
            print(f"ok   {name}" + (f" ({note})" if note else ""), flush=True)
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
