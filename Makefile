# The project's entry points. See README.md.
#
#   make          build the module, the core, the helper and the unit tests
#   make deps     install the Debian packages the project needs (idempotent)
#   make test     deps + build + format check + unit tests + integration tests
#                 + the sanitized run (make sanitize)
#   make sanitize build with ASan and UBSan into $(BUILD)/asan, run its unit
#                 tests and the module's integration tests (docs/testing.md)
#   make run      start redis, a helper and nginx on 127.0.0.1:$(PORT)
#   make bench    run the benchmarks in bench/
#   make format   rewrite sources with clang-format
#   make rooms    check that includes respect the rooms (docs/architecture.md)
#   make fuzz     run the fuzzers long (FUZZ_SECONDS each, docs/testing.md)
#   make deb      build the Debian packages into $(BUILD)/deb (debian/)

SHELL := /bin/bash
NGX_SRC := /usr/share/nginx/src
# SANITIZE=1 builds everything (core, helper, unit tests, module) with
# AddressSanitizer and UndefinedBehaviorSanitizer, into its own tree.
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= $(CURDIR)/build/asan
else
BUILD ?= $(CURDIR)/build
endif
MODULE := $(BUILD)/nginx/ngx_http_nixery_module.so
JOBS ?= $(shell nproc)
PORT ?= 8080
# The helper's Prometheus metrics under `make run` (default: PORT + 1).
METRICS_PORT ?=
STATE ?= $(CURDIR)/var

# The bundled package set (nix/pkgs, docs/package-set.md) copies these
# Debian packages (and the libraries they pull in) into the Nix store.
BUNDLED_DEBIAN_PACKAGES := hello bash coreutils moreutils nano git htop \
	jq python3 python3-requests libjson-perl busybox-static \
	ca-certificates netbase ncurses-base
# Ceph's RADOS Gateway (radosgw, ceph-*) is a real S3 server for the bucket
# tests (t/lib/Nixery/Bucket.pm); iproute2 makes their network namespaces
# (t/lib/Nixery/Netns.pm); time measures peak memory (t/620); prometheus
# (with promtool) scrapes `make run` in t/650; chromium loads the build
# page headless (t/495). clang and libclang-rt-14-dev (libFuzzer's runtime)
# build the fuzzers (fuzz/). t/050 needs node and npm, which these machines
# have (it installs Debian's when they are missing). docker.io (a private
# dockerd) and docker-registry (CNCF distribution, a mirror) pull image
# indexes in t/525.
DEBIAN_PACKAGES := nginx nginx-dev pkg-config libjansson-dev \
	libarchive-dev zlib1g-dev libssl-dev libdeflate-dev libzstd-dev \
	isal libgtest-dev libgmock-dev libbenchmark-dev \
	redis-server redis-tools libhiredis-dev nix-bin patchelf skopeo umoci \
	podman runc containerd busybox-static wrk clang-format clang-tidy \
	cmake g++ make perl libjson-pp-perl curl python3 pigz openssl valgrind \
	radosgw ceph-mon ceph-osd ceph-common libcurl4-openssl-dev libxml2-dev \
	iproute2 time qemu-user-static prometheus chromium docker.io \
	docker-registry libsqlite3-dev \
	clang libclang-rt-14-dev \
	debhelper dpkg-dev lintian \
	$(BUNDLED_DEBIAN_PACKAGES)

BUNDLED_PKGS := hello bash bashInteractive coreutils moreutils nano git htop \
	curl jq python3 python3Packages.requests perl perlPackages.JSON busybox \
	cacert iana-etc

# Nix offline (no substituters: there is no network), single-user as root
# (no sandbox, no build users).
define NIX_OFFLINE_CONFIG
sandbox = false
build-users-group =
substituters =
endef
export NIX_CONFIG ?= $(NIX_OFFLINE_CONFIG)

FORMAT_SOURCES = $(shell git ls-files -co --exclude-standard \
	'*.c++' '*.h' | grep -v '^build/')

.PHONY: all deps core module test unit integration format format-check rooms \
	run bench clean pkgs popularity fuzz-build fuzz-check fuzz fuzz-merge deb \
	sanitize arm64-debs

# The integration tests `make sanitize` runs against the sanitized module
# and helper: the tests of the module's behaviour, not the client and
# end-to-end ones (docs/testing.md says which covers what). The bucket tests
# first: they are the longest.
SANITIZE_TESTS := t/070-bucket-redirect.t t/071-bucket-proxy.t \
	t/010-routes.t t/015-rewrite.t t/020-http-features.t \
	t/025-index-cache.t t/040-hostile.t t/072-bucket-conf.t \
	t/400-queue-build.t t/410-queue-redis-down.t \
	t/420-queue-helper-crash.t t/430-queue-timeout-disconnect.t \
	t/440-queue-multi.t t/460-queue-redis-auth.t t/470-queue-reload.t \
	t/480-queue-status.t t/490-queue-bad-result.t t/106-tags-list-redis.t
ASAN_BUILD := $(if $(filter 1,$(SANITIZE)),$(BUILD),$(BUILD)/asan)

all: module

# One dpkg-query for all packages: a second `make run` is up in seconds.
deps:
	@installed=" $$(dpkg-query -W -f='$${db:Status-Status}:$${Package} ' \
		$(DEBIAN_PACKAGES) 2>/dev/null) "; \
	missing=$$(for p in $(DEBIAN_PACKAGES); do \
		case "$$installed" in *" installed:$$p "*) ;; *) echo $$p ;; esac; \
		done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -q -o DPkg::Lock::Timeout=600 && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			-o DPkg::Lock::Timeout=600 $$missing; \
	fi

$(BUILD)/cmake/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD)/cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DNIXERY_SANITIZE=$(if $(filter 1,$(SANITIZE)),ON,OFF)

core: $(BUILD)/cmake/Makefile
	cmake --build $(BUILD)/cmake -j $(JOBS)

$(BUILD)/nginx/Makefile: config config.make $(wildcard src/ngx/*.c++)
	mkdir -p $(BUILD)/nginx
	cd $(NGX_SRC) && NIXERY_BUILD_DIR=$(BUILD) NIXERY_SANITIZE=$(SANITIZE) \
		bash -c '. ./conf_flags; \
		./configure "$${NGX_CONF_FLAGS[@]}" \
		--add-dynamic-module=$(CURDIR) --builddir=$(BUILD)/nginx' \
		> $(BUILD)/nginx/configure.log 2>&1 || \
		{ tail -30 $(BUILD)/nginx/configure.log; exit 1; }

module: core $(BUILD)/nginx/Makefile
	$(MAKE) -s -f $(BUILD)/nginx/Makefile -C $(NGX_SRC) modules

format:
	clang-format -i $(FORMAT_SOURCES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SOURCES)

rooms:
	scripts/check-rooms.sh

# Some unit tests evaluate the bundled set for aarch64, which needs the
# arm64 .debs (below).
unit: all arm64-debs
	cd $(BUILD)/cmake && ctest --output-on-failure -j $(JOBS)

integration: all pkgs
	NIXERY_BUILD=$(BUILD) prove -r -j $(JOBS) t/

test: deps
	$(MAKE) all
	$(MAKE) format-check
	$(MAKE) rooms
	$(MAKE) unit
	$(MAKE) fuzz-check
	$(MAKE) integration
	$(MAKE) sanitize

# The sanitized build's unit tests, then SANITIZE_TESTS against its module
# (preloaded into Debian's nginx) and helper; the harness fails a test
# that leaves a sanitizer report (t/lib/Nixery/Test.pm, docs/testing.md).
sanitize:
	$(MAKE) SANITIZE=1 BUILD=$(ASAN_BUILD) unit
	NIXERY_BUILD=$(ASAN_BUILD) prove -j $(JOBS) $(SANITIZE_TESTS)

# The libFuzzer targets (fuzz/, docs/testing.md): built with clang under
# ASan and UBSan into $(BUILD)/fuzz, apart from the g++ build. fuzz-check
# (in `make test`) runs each on its committed corpus for FUZZ_CHECK_SECONDS;
# `make fuzz` runs them FUZZ_SECONDS each, FUZZ_JOBS at once, keeping what
# they find in $(BUILD)/fuzz/corpus; `make fuzz-merge` minimises that into
# fuzz/corpus. FUZZ_TARGETS="route resp" picks targets.
FUZZ_CHECK_SECONDS ?= 4
FUZZ_SECONDS ?= 600
FUZZ_JOBS ?= 1

$(BUILD)/fuzz/Makefile: fuzz/CMakeLists.txt
	cmake -S fuzz -B $(BUILD)/fuzz -DCMAKE_CXX_COMPILER=clang++ > /dev/null

fuzz-build: $(BUILD)/fuzz/Makefile
	cmake --build $(BUILD)/fuzz -j $(JOBS)

fuzz-check: fuzz-build
	BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_CHECK_SECONDS) FUZZ_JOBS=$(JOBS) \
		fuzz/run.sh check

fuzz: fuzz-build
	BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) \
		nice fuzz/run.sh long

fuzz-merge: fuzz-build
	BUILD=$(BUILD) fuzz/run.sh merge

# The whole system in the foreground (scripts/run.sh, docs/operations.md):
# redis-server, one nixery-helper and nginx on 127.0.0.1:$(PORT), all state
# under $(STATE). Ctrl-C or SIGTERM stops all three. The package source is
# the bundled set unless NIXERY_CHANNEL/NIXERY_PKGS_REPO/NIXERY_PKGS_PATH is
# set.
run: deps
	$(MAKE) all
	$(MAKE) pkgs
	ROOT=$(CURDIR) BUILD=$(BUILD) STATE=$(STATE) PORT=$(PORT) \
		METRICS_PORT=$(METRICS_PORT) exec scripts/run.sh

# Build the bundled package set for x86_64-linux and aarch64-linux; the
# out-links in $(BUILD)/pkgs (result*, aarch64*) are its GC roots. Fast
# when already built (Nix only checks the store). The arm64 .debs are
# downloaded first (nix/pkgs/fetch-debs.sh, again when dpkg or apt changed
# or the set did), and qemu-aarch64 is registered with binfmt_misc
# (scripts/binfmt-arm64.sh) so that arm64 images run here.
ARM64_DEBS := nix/pkgs/debs/arm64/.fetched
$(ARM64_DEBS): nix/pkgs/fetch-debs.sh nix/pkgs/debs.nix nix/pkgs/default.nix \
		nix/pkgs/platforms.nix $(wildcard /var/lib/dpkg/status /var/lib/apt/lists)
	mkdir -p $(BUILD)/pkgs
	nix/pkgs/fetch-debs.sh arm64 > $(BUILD)/pkgs/fetch-debs.log 2>&1 || \
		{ tail -30 $(BUILD)/pkgs/fetch-debs.log; exit 1; }
	touch $@

arm64-debs: $(ARM64_DEBS)

pkgs: $(ARM64_DEBS)
	mkdir -p $(BUILD)/pkgs
	scripts/binfmt-arm64.sh > /dev/null || \
		echo "make pkgs: arm64 programs will not run on this machine"
	nix-build nix/pkgs \
		$(addprefix -A ,$(BUNDLED_PKGS)) -o $(BUILD)/pkgs/result \
		> $(BUILD)/pkgs/build.log 2>&1 || { tail -30 $(BUILD)/pkgs/build.log; exit 1; }
	nix-build nix/pkgs --argstr system aarch64-linux \
		$(addprefix -A ,$(BUNDLED_PKGS)) -o $(BUILD)/pkgs/aarch64 \
		>> $(BUILD)/pkgs/build.log 2>&1 || { tail -30 $(BUILD)/pkgs/build.log; exit 1; }

# Recompute the popularity of the bundled set (shipped in the repository).
popularity: all pkgs
	$(BUILD)/cmake/helper/nixery-popcount --pkgs-path nix/pkgs \
		--nix-dir nix --out nix/popularity.json

# The Debian packages (debian/; docs/operations.md, "Debian packages"):
# libnginx-mod-http-nixery and nixery-helper, built by dpkg-buildpackage
# from a fresh copy of the sources in $(BUILD)/deb/src (it writes beside
# the source tree, so never beside the checkout), then checked by lintian
# (errors fail). The objects (debian/build) are kept in $(BUILD)/deb/obj
# between builds, so that a second build compiles only what changed. The
# .debs, build.log and lintian.log land in $(BUILD)/deb. No -dbgsym
# packages unless DEB_BUILD_OPTIONS says otherwise (they take minutes).
DEB := $(BUILD)/deb
DEB_BUILD_OPTIONS ?= noautodbgsym
deb:
	rm -rf $(DEB)/src $(DEB)/*.deb $(DEB)/*.buildinfo $(DEB)/*.changes
	mkdir -p $(DEB)/src $(DEB)/obj
	git ls-files -z -co --exclude-standard | \
		tar --null -T - --ignore-failed-read -cf - | tar -xf - -C $(DEB)/src
	mv $(DEB)/obj $(DEB)/src/debian/build
	cd $(DEB)/src && DEB_BUILD_OPTIONS="$(DEB_BUILD_OPTIONS)" \
		dpkg-buildpackage -b -nc -uc -us -j$(JOBS) > $(DEB)/build.log 2>&1; \
		rc=$$?; mv debian/build $(DEB)/obj; \
		[ $$rc = 0 ] || { tail -30 $(DEB)/build.log; exit 1; }
	lintian --fail-on error --info $(DEB)/*.changes > $(DEB)/lintian.log 2>&1 || \
		{ cat $(DEB)/lintian.log; exit 1; }
	@grep -E '^[EWI]:' $(DEB)/lintian.log || true
	@echo "lintian: no errors, $$(grep -c '^W:' $(DEB)/lintian.log) warnings"
	@ls $(DEB)/*.deb

bench: all
	@for b in bench/*.sh; do [ -x "$$b" ] && NIXERY_BUILD=$(BUILD) "$$b"; done

clean:
	rm -rf $(BUILD)
