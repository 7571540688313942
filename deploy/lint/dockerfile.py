"""deploy/Dockerfile: a Swift build stage and a slim runtime stage that installs the
runtime counterparts of the build stage's -dev packages (what the binary links) and
nothing to compile with, runs as a non-root user, and exposes the proxy and admin ports."""

import json
import os
import re
import shutil
import subprocess

from lint.kit import DEPLOY, ROOT, require, port_of, binary

DOCKERFILE = os.path.join(DEPLOY, "Dockerfile")
# Build-stage -dev package -> runtime package (Debian bookworm); confirmed against
# dpkg's Depends when the -dev packages are installed here.
RUNTIME_OF = {"libhiredis-dev": "libhiredis0.14", "libcurl4-openssl-dev": "libcurl4", "zlib1g-dev": "zlib1g"}
RUNTIME_PACKAGES = {"libhiredis0.14", "libcurl4", "ca-certificates"}
# In debian:bookworm-slim already.
BASE_IMAGE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1", "zlib1g"}
ENTRYPOINT = ["sidecache", "run", "--config", "/etc/sidecache/proxy.json"]
COMPILERS = re.compile(r"(-dev$|^gcc|^g\+\+|^clang|^cpp$|^build-essential$|^binutils|^make$|^cmake$|^swift)")


def instructions():
    """[(INSTRUCTION, arguments)], continuation lines joined, comments dropped."""
    out, current = [], ""
    with open(DOCKERFILE) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.strip().startswith("#"):
                continue
            if line.endswith("\\"):
                current += line[:-1] + " "
                continue
            current += line
            if current.strip():
                word, _, rest = current.strip().partition(" ")
                out.append((word.upper(), rest.strip()))
            current = ""
    return out


def stages():
    """[{'from', 'instructions'}], with global ARG defaults substituted in FROM."""
    args, out = {}, []
    for instr, rest in instructions():
        if instr == "ARG" and not out:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif instr == "FROM":
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), ""), rest.split()[0])
            out.append({"from": image, "instructions": []})
        else:
            require(out, f"{instr} before FROM")
            out[-1]["instructions"].append((instr, rest))
    return out


def of(stage, instr):
    return [rest for i, rest in stage["instructions"] if i == instr]


def apt_installs(stage):
    return [w for run in of(stage, "RUN") for m in re.finditer(r"apt-get\s+install\s+([^&;|]*)", run)
            for w in m.group(1).split() if not w.startswith("-")]


def effective_listen(config, container_env):
    """The proxy's listen address in a container: SIDECACHE_LISTEN (the container's,
    else the image's ENV) overrides the file's "listen" unless it is empty."""
    image_env = {}
    for rest in of(stages()[-1], "ENV"):
        for m in re.finditer(r'(\w+)=("[^"]*"|\S*)', rest):
            image_env[m.group(1)] = m.group(2).strip('"')
    env = {**image_env, **container_env}
    return env.get("SIDECACHE_LISTEN") or config.get("listen", "0.0.0.0:8080")


def confirmed_by_dpkg():
    """Checks RUNTIME_OF against the installed -dev packages' Depends; False when none is installed."""
    confirmed = False
    for dev, runtime in RUNTIME_OF.items():
        r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", dev], capture_output=True, text=True)
        if r.returncode == 0:
            deps = [d.strip().split()[0] for d in r.stdout.split(",") if d.strip()]
            require(runtime in deps, f"{dev} depends on {deps} here, not on {runtime}")
            confirmed = True
    return confirmed


def check_stages():
    all_stages = stages()
    require(len(all_stages) >= 2, "the Dockerfile must be multi-stage")
    build, runtime = all_stages[0], all_stages[-1]
    require(re.fullmatch(r"swift:6\.\d+-bookworm", build["from"]), f"build stage FROM {build['from']!r}: use swift:6.x-bookworm")
    require(runtime["from"] == "debian:bookworm-slim", f"runtime stage FROM {runtime['from']!r}: use debian:bookworm-slim")
    require(re.search(r"swift build -c release --static-swift-stdlib --product sidecache -Xswiftc -enforce-exclusivity=unchecked"
                      r"\s+-Xswiftc -cross-module-optimization -Xswiftc -Xfrontend -Xswiftc -disable-type-layout",
                      " ".join(of(build, "RUN"))),
            "build stage must run: swift build -c release --static-swift-stdlib --product sidecache"
            " -Xswiftc -enforce-exclusivity=unchecked -Xswiftc -cross-module-optimization"
            " -Xswiftc -Xfrontend -Xswiftc -disable-type-layout"
            " (the image is built as `make release` builds)")
    build_pkgs, runtime_pkgs = apt_installs(build), apt_installs(runtime)
    for dev in build_pkgs:
        if dev.endswith("-dev"):
            require(dev in RUNTIME_OF, f"build package {dev} has no known runtime counterpart: add it to RUNTIME_OF")
    require(set(RUNTIME_OF) <= set(build_pkgs), f"build stage installs {build_pkgs}, needs {sorted(RUNTIME_OF)}")
    require(set(runtime_pkgs) == RUNTIME_PACKAGES, f"runtime stage installs {sorted(runtime_pkgs)}, want exactly {sorted(RUNTIME_PACKAGES)}")
    require(not [p for p in runtime_pkgs if COMPILERS.search(p)], "runtime stage installs compiler or -dev packages")
    confirmed = shutil.which("dpkg-query") and confirmed_by_dpkg()
    return ", ".join(f"{d}->{r}" for d, r in RUNTIME_OF.items()) + (" (confirmed by dpkg)" if confirmed else "")


def check_runtime_stage():
    runtime = stages()[-1]
    users = of(runtime, "USER")
    require(users and users[-1].split(":")[0] not in ("root", "0"), "the runtime stage needs a non-root USER")
    exposed = {p.split("/")[0] for r in of(runtime, "EXPOSE") for p in r.split()}
    require({"8080", "9090"} <= exposed, f"EXPOSE {sorted(exposed)}, need 8080 and 9090")
    entry = of(runtime, "ENTRYPOINT")
    require(entry and json.loads(entry[-1]) == ENTRYPOINT, f"ENTRYPOINT must be {json.dumps(ENTRYPOINT)}")
    copies = of(runtime, "COPY")
    require(any(c.startswith("--from=") and c.split()[-1] == "/usr/local/bin/sidecache" for c in copies),
            "runtime stage must copy the binary to /usr/local/bin/sidecache")
    require(["proxy.json", "/etc/sidecache/proxy.json"] in [c.split() for c in copies],
            "runtime stage must copy proxy.json to /etc/sidecache/proxy.json")
    for r in of(runtime, "ENV"):
        if r.startswith("SIDECACHE_LISTEN="):
            require(port_of(r.split("=", 1)[1].strip()) == 8080, f"ENV {r}: the proxy port should be 8080, as exposed")
    return "non-root, 8080 and 9090, entrypoint, binary and proxy.json in place"


def check_build_context():
    """Every COPY source exists and is not excluded by .dockerignore, which keeps builds out."""
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        ignored = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    for must in (".build*", "bench/out", ".git", "Package.resolved"):
        require(must in ignored, f".dockerignore should exclude {must}")
    for stage in stages():
        for copy in of(stage, "COPY"):
            if copy.startswith("--from"):
                continue
            for src in copy.split()[:-1]:
                require(os.path.exists(os.path.join(ROOT, src)), f"COPY source {src} is not in the repository")
                require(not any(re.fullmatch(re.escape(g).replace(r"\*", ".*"), src) for g in ignored),
                        f"COPY source {src} is excluded by .dockerignore")
    return ".dockerignore keeps builds and bench output out"


def check_binary_libraries():
    """The C libraries the built binary links come from the runtime stage's packages or
    the base image (Swift's own are linked statically by --static-swift-stdlib)."""
    if not all(shutil.which(t) for t in ("readelf", "dpkg", "ldconfig")):
        return "skipped: readelf, dpkg or ldconfig not found"
    require(os.path.isfile(binary()), f"{binary()} not found: build it first")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                        subprocess.run(["readelf", "-d", binary()], capture_output=True, text=True).stdout)
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    found = {}
    for lib in needed:
        if lib.startswith(("libswift", "libFoundation", "lib_Foundation", "libdispatch", "libBlocksRuntime")):
            continue
        m = re.search(rf"^\s*{re.escape(lib)} \([^)]*\) => (\S+)$", cache, re.M)
        if not m:
            continue  # the dynamic loader itself
        path = m.group(1)
        candidates = (path, os.path.realpath(path), path[4:] if path.startswith("/usr") else "/usr" + path)
        owners = [subprocess.run(["dpkg", "-S", c], capture_output=True, text=True) for c in candidates]
        package = next((o.stdout.split(":")[0].strip() for o in owners if o.returncode == 0), None)
        require(package, f"{lib} ({path}) belongs to no Debian package here")
        require(package in RUNTIME_PACKAGES | BASE_IMAGE_PACKAGES,
                f"the binary links {lib} from {package}, which the runtime stage does not install")
        found[lib] = package
    require(found.get("libhiredis.so.0.14") == "libhiredis0.14" and found.get("libcurl.so.4") == "libcurl4",
            f"expected libhiredis.so.0.14 and libcurl.so.4 among the binary's libraries, found {found}")
    return ", ".join(f"{lib}<-{p}" for lib, p in sorted(found.items()))
