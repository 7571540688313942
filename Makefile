# sidecache — build, test and benchmark entry points (GNU make).
#
#   make deps        install the C libraries (libhiredis-dev, libcurl4-openssl-dev)
#   make build       debug build              make release   release build
#   make run         release build, then serve with $(CONFIG)
#   make check       validate $(CONFIG) and print the route table
#   make test        the release build `make run` serves, checked against $(CONFIG); then
#                    all tests against a throwaway redis-server (FILTER=Purge to filter),
#                    then the deploy lint (deploy/check.py)
#   make bench       release build, then bench/run.py (DURATION=10s RUNS=3)
#   make callgrind   release build, then bench/callgrind.py: instructions per request
#   make clean
#
# `swift build` prints "warning: prohibited flag(s): -D_FILE_OFFSET_BITS=64"
# (from hiredis.pc); it is harmless.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
# Targets call each other's steps in order; never run them side by side.
.NOTPARALLEL:

SWIFT      ?= swift
# Release builds drop Swift's runtime exclusivity checks in every module, SwiftNIO's
# included: `swift_beginAccess` and its access set showed on the hit path's profile
# (BENCHMARKS.md, issue 13). Debug builds, and so every test run, keep them. They are
# also built with cross-module optimization: small functions of other modules
# (SwiftNIO's HTTPHeaders and HTTPRequestHead accessors, the proxy's own modules'
# getters) are inlined where a request calls them, 2-3 % of a hit's instructions. And
# without type-layout lowering: by default the compiler destroys and copies a large
# struct (an Optional of a request head, a Redis batch) by fetching its type's metadata
# and calling the runtime's value witness; lowered per type instead, they are a few
# releases inline, 1-2 % of every request's instructions (BENCHMARKS.md). The
# Dockerfile builds the image with the same flags.
RELEASE_FLAGS := -Xswiftc -enforce-exclusivity=unchecked -Xswiftc -cross-module-optimization \
                 -Xswiftc -Xfrontend -Xswiftc -disable-type-layout
CONFIG     ?= proxy.json
FILTER     ?=
TEST_FLAGS ?=

DEPS      := libhiredis-dev libcurl4-openssl-dev zlib1g-dev
# The deploy lint runs on Debian's python3 (not whatever python3 is first on PATH), so
# its modules come from Debian packages.
TEST_DEPS := $(DEPS) redis-server python3 python3-yaml python3-jsonschema chromium

DEBUG_BIN   := .build/debug/sidecache
RELEASE_BIN := .build/release/sidecache

.PHONY: deps test-deps build release run check test bench callgrind clean

deps:
	scripts/apt-deps.sh $(DEPS)

test-deps:
	scripts/apt-deps.sh $(TEST_DEPS)

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release $(RELEASE_FLAGS)

run: deps release
	$(RELEASE_BIN) run --config $(CONFIG)

check: deps build
	$(DEBUG_BIN) check --config $(CONFIG)

# The release build first: it is what `make run` serves, and it compiles each module
# whole, where a name one file takes from another file's import (MSG_DONTWAIT through
# CCurl) is not found. Debug builds found it; `make run` failed while the tests passed.
test: test-deps
	$(SWIFT) build -c release $(RELEASE_FLAGS)
	$(RELEASE_BIN) check --config $(CONFIG) >/dev/null
	$(SWIFT) build --build-tests
	scripts/with-redis.sh $(SWIFT) test $(if $(FILTER),--filter '$(FILTER)') $(TEST_FLAGS)
	/usr/bin/python3 deploy/check.py

bench: deps release
	scripts/apt-deps.sh python3
	/usr/bin/python3 bench/run.py

callgrind: deps release
	scripts/apt-deps.sh python3
	/usr/bin/python3 bench/callgrind.py

clean:
	$(SWIFT) package clean
	rm -rf bench/out
