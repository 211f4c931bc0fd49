# The project's entry points. See README.md.
#
#   make          build the module, the core, the helper and the unit tests
#   make deps     install the Debian packages the project needs (idempotent)
#   make test     deps + build + format check + unit tests + integration tests
#   make run      start redis, a helper and nginx on 127.0.0.1:$(PORT)
#   make bench    run the benchmarks in bench/
#   make format   rewrite sources with clang-format
#   make rooms    check that includes respect the rooms (docs/architecture.md)

SHELL := /bin/bash
NGX_SRC := /usr/share/nginx/src
BUILD ?= $(CURDIR)/build
MODULE := $(BUILD)/nginx/ngx_http_nixery_module.so
JOBS ?= $(shell nproc)
PORT ?= 8080
STATE ?= $(CURDIR)/var

# The bundled package set (nix/pkgs, docs/package-set.md) copies these
# Debian packages (and the libraries they pull in) into the Nix store.
BUNDLED_DEBIAN_PACKAGES := hello bash coreutils moreutils nano git htop \
	jq python3 python3-requests libjson-perl busybox-static \
	ca-certificates netbase ncurses-base
# Ceph's RADOS Gateway (radosgw, ceph-*) is a real S3 server for the bucket
# tests (t/lib/Nixery/Bucket.pm); iproute2 makes their network namespaces
# (t/lib/Nixery/Netns.pm); time measures peak memory (t/620). t/050 needs
# node and npm, which these machines have (it installs Debian's when they
# are missing).
DEBIAN_PACKAGES := nginx nginx-dev pkg-config libjansson-dev \
	libarchive-dev zlib1g-dev libssl-dev libdeflate-dev libzstd-dev \
	isal libgtest-dev libgmock-dev libbenchmark-dev \
	redis-server redis-tools libhiredis-dev nix-bin patchelf skopeo umoci \
	podman runc containerd busybox-static wrk clang-format clang-tidy \
	cmake g++ make perl libjson-pp-perl curl python3 pigz openssl valgrind \
	radosgw ceph-mon ceph-osd ceph-common libcurl4-openssl-dev libxml2-dev \
	iproute2 time \
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
	run bench clean pkgs popularity

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
	cmake -S . -B $(BUILD)/cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo

core: $(BUILD)/cmake/Makefile
	cmake --build $(BUILD)/cmake -j $(JOBS)

$(BUILD)/nginx/Makefile: config config.make $(wildcard src/ngx/*.c++)
	mkdir -p $(BUILD)/nginx
	cd $(NGX_SRC) && NIXERY_BUILD_DIR=$(BUILD) bash -c '. ./conf_flags; \
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

unit: all
	cd $(BUILD)/cmake && ctest --output-on-failure -j $(JOBS)

integration: all pkgs
	NIXERY_BUILD=$(BUILD) prove -r -j $(JOBS) t/

test: deps
	$(MAKE) all
	$(MAKE) format-check
	$(MAKE) rooms
	$(MAKE) unit
	$(MAKE) integration

# The whole system in the foreground (scripts/run.sh, docs/operations.md):
# redis-server, one nixery-helper and nginx on 127.0.0.1:$(PORT), all state
# under $(STATE). Ctrl-C or SIGTERM stops all three. The package source is
# the bundled set unless NIXERY_CHANNEL/NIXERY_PKGS_REPO/NIXERY_PKGS_PATH is
# set.
run: deps
	$(MAKE) all
	$(MAKE) pkgs
	ROOT=$(CURDIR) BUILD=$(BUILD) STATE=$(STATE) PORT=$(PORT) \
		exec scripts/run.sh

# Build the bundled package set; the out-links in $(BUILD)/pkgs are its GC
# roots. Fast when already built (Nix only checks the store).
pkgs:
	mkdir -p $(BUILD)/pkgs
	nix-build nix/pkgs \
		$(addprefix -A ,$(BUNDLED_PKGS)) -o $(BUILD)/pkgs/result \
		> $(BUILD)/pkgs/build.log 2>&1 || { tail -30 $(BUILD)/pkgs/build.log; exit 1; }

# Recompute the popularity of the bundled set (shipped in the repository).
popularity: all pkgs
	$(BUILD)/cmake/helper/nixery-popcount --pkgs-path nix/pkgs \
		--nix-dir nix --out nix/popularity.json

bench: all
	@for b in bench/*.sh; do [ -x "$$b" ] && NIXERY_BUILD=$(BUILD) "$$b"; done

clean:
	rm -rf $(BUILD)
