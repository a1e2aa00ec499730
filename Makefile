# vpcnet: the two commands that do everything on a fresh machine (as root) are
#   make demo   set up, build, run the demo on the simulated cluster
#   make test   set up, build, run every test
# See README.md.

SWIFT ?= swift
# One build folder for everything: builds on 2 cores are slow, never run two at once.
SWIFT_BUILD_FLAGS ?=

.PHONY: all setup build test test-unit test-peers test-generated demo bench bench-quick dist generate clean

all: build

setup:
	scripts/setup

build:
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

# Generated files must match what their generators produce from today's inputs.
test-generated: build
	scripts/gen-instance-limits --check
	scripts/gen-protos --check
	scripts/gen-deploy --check
	scripts/gen-architecture --check
	scripts/gen-setting-options $$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path) --check
	scripts/gen-config-reference $$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path) --check

# Reference clients (boto3, kubectl, grpcio, libcni through cnitool, ptp) against our binaries;
# they run the built executables. The daemon/CNI tests need root (they skip, saying so, otherwise).
test-peers: build
	BIN=$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path); CNITOOL=$$(scripts/build-cnitool); \
	  VPCNET_SIM=$$BIN/vpcnet-sim VPCNET_ENI_CONTROLLER=$$BIN/eni-controller VPCNET_DAEMON=$$BIN/vpcnet-daemon \
	  VPCNET_IPAM=$$BIN/vpcnet-ipam VPCNET_VPCNETCTL=$$BIN/vpcnetctl VPCNET_CNITOOL=$$CNITOOL python3 -m pytest -q -p no:cacheprovider Tests/peers

# Unit, property and integration tests (no root needed). Runs last so its summary closes the output.
test-unit:
	$(SWIFT) build --build-tests $(SWIFT_BUILD_FLAGS)
	$(SWIFT) test --skip-build $(SWIFT_BUILD_FLAGS)

test: setup build test-generated test-peers test-unit

# The whole system on this machine: a simulated VPC, EC2 and Kubernetes, vpcnet itself for real.
demo: setup build
	scripts/build-cnitool >/dev/null
	$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)/vpcnet-sim demo

# What users choose a CNI by, each figure beside its baseline or bound from the same run (the
# per-pod path against ptp + host-local, node ready time against the critical path, 1000 nodes
# joining against the EC2 API budget, footprints), with release builds as shipped; one table,
# and JSON + Markdown in bench/results/. Exits 1 when a target is missed. Root. BENCH_ARGS
# passes options (--only cni,ready,storm); `make bench-quick` checks the harness at tiny sizes.
BENCH_PRODUCTS = vpcnet-ipam vpcnet-daemon eni-controller vpcnet-sim
bench: setup
	scripts/build-cnitool >/dev/null
	for product in $(BENCH_PRODUCTS); do $(SWIFT) build -c release --static-swift-stdlib --product $$product; done
	# Stripped as scripts/build-dist ships them: a node copies 20 MB of plugins, not 48.
	REL=$$($(SWIFT) build -c release --static-swift-stdlib --show-bin-path); BIN=.build/bench-bin; rm -rf $$BIN; mkdir -p $$BIN; \
	  for product in $(BENCH_PRODUCTS); do install -m 0755 $$REL/$$product $$BIN/; done; strip --strip-unneeded $$BIN/*; BIN=$$PWD/$$BIN; \
	  VPCNET_DAEMON=$$BIN/vpcnet-daemon VPCNET_IPAM=$$BIN/vpcnet-ipam VPCNET_SIM=$$BIN/vpcnet-sim VPCNET_ENI_CONTROLLER=$$BIN/eni-controller \
	  VPCNET_CNITOOL=$$(scripts/build-cnitool) python3 Tests/bench/bench.py $(BENCH_ARGS)

bench-quick: setup build
	BIN=$$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path); \
	  VPCNET_DAEMON=$$BIN/vpcnet-daemon VPCNET_IPAM=$$BIN/vpcnet-ipam VPCNET_SIM=$$BIN/vpcnet-sim VPCNET_ENI_CONTROLLER=$$BIN/eni-controller \
	  VPCNET_CNITOOL=$$(scripts/build-cnitool) python3 Tests/bench/bench.py --quick --results $${TMPDIR:-/tmp} $(BENCH_ARGS)

# The shipped binaries (release, Swift runtime linked in; vpcnet-ipam fully static) in dist/, as
# the Containerfile's build stage makes them.
dist: setup
	scripts/build-dist dist

# Regenerate every generated file that is committed.
generate: build
	scripts/gen-instance-limits
	scripts/gen-protos
	scripts/gen-deploy
	scripts/gen-architecture
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)
	scripts/gen-setting-options $$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)
	scripts/gen-config-reference $$($(SWIFT) build $(SWIFT_BUILD_FLAGS) --show-bin-path)

clean:
	rm -rf .build
