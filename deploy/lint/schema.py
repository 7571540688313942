"""deploy/proxy.schema.json, the schema editors validate proxy.json with: a valid draft
2020-12 schema that closes every object, accepts the kit's configs and the valid samples
in deploy/testdata, and rejects each invalid sample where the loader does (the path in
invalid-expected.json). That the loader itself accepts and rejects the same samples, and
knows the same keys, is checked by the Swift tests (DeployTestdataTests, SchemaKeysTests)."""

import functools
import os
import re

import jsonschema

from lint.kit import DEPLOY, ROOT, configmap_proxy_json, read_json, require

SCHEMA = os.path.join(DEPLOY, "proxy.schema.json")
TESTDATA = os.path.join(DEPLOY, "testdata")


@functools.lru_cache(maxsize=None)
def validator():
    return jsonschema.Draft202012Validator(read_json(SCHEMA))


def json_path(parts):
    """jsonschema's path as the loader writes it: routes[0].ttl."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else ("." if out else "") + p
    return out


def errors(instance):
    return sorted(validator().iter_errors(instance), key=lambda e: list(e.absolute_path))


def require_accepts(instance, what):
    found = errors(instance)
    require(not found, f"{what}: " + "; ".join(f"{json_path(e.absolute_path) or '/'}: {e.message}" for e in found[:5]))


def check_schema_valid():
    schema = read_json(SCHEMA)
    require(schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema", "the schema must declare draft 2020-12")
    jsonschema.Draft202012Validator.check_schema(schema)
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
    require(not loose, f"objects without additionalProperties: false (the loader refuses unknown keys): {loose}")
    return "draft 2020-12, every object closed"


def check_kit_configs():
    config = read_json(os.path.join(ROOT, "proxy.json"))
    require_accepts(config, "proxy.json")
    require(os.path.normpath(os.path.join(ROOT, config.get("$schema", ""))) == SCHEMA,
            f"proxy.json's $schema {config.get('$schema')!r} should point at deploy/proxy.schema.json")
    require_accepts(configmap_proxy_json()[2], "the ConfigMap's proxy.json")
    require_accepts(read_json(os.path.join(DEPLOY, "compose", "proxy.json")), "deploy/compose/proxy.json")
    return "proxy.json, the ConfigMap's and compose's"


def check_valid_samples():
    names = sorted(os.listdir(os.path.join(TESTDATA, "valid")))
    for name in names:
        require_accepts(read_json(os.path.join(TESTDATA, "valid", name)), name)
    return f"{len(names)} accepted"


def check_invalid_samples():
    expected = read_json(os.path.join(TESTDATA, "invalid-expected.json"))
    names = sorted(os.listdir(os.path.join(TESTDATA, "invalid")))
    require(set(names) == set(expected), f"invalid-expected.json and testdata/invalid differ: {sorted(set(names) ^ set(expected))}")
    for name in names:
        where = [json_path(e.absolute_path) for e in errors(read_json(os.path.join(TESTDATA, "invalid", name)))]
        require(where, f"{name}: the schema accepts it")
        require(any(covers(p, expected[name]) for p in where), f"{name}: the schema objects at {where}, not at {expected[name]!r}")
    return f"{len(names)} rejected where the loader rejects them"


def covers(path, expected):
    """The schema objects at `expected`, at an object holding it (unknown and missing keys
    are reported on their parent), or at a sibling (a rule between two keys, like
    admin.listen needing admin.token, may be reported on either)."""
    if path in ("", expected) or expected.startswith((path + ".", path + "[")):
        return True
    parent = re.sub(r"(\.[\w$]+|\[\d+\])$", "", expected)
    return parent != expected and re.fullmatch(re.escape(parent) + r"\.[\w$]+", path) is not None
