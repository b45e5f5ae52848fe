# Thin wrapper over cmake so a newcomer needs no cmake flags.
BUILD ?= build
JOBS ?= $(shell nproc)
DEB_PACKAGES = build-essential cmake pkg-config clang-format \
  libseccomp-dev libcap-dev libcgroup-dev nlohmann-json3-dev libcli11-dev \
  libtomlplusplus-dev libfmt-dev libpugixml-dev libgtest-dev libgmock-dev \
  python3 python3-pytest python3-pytest-xdist python3-pytest-timeout \
  python3-pytest-cov python3-coverage python3-pytest-django python3-django \
  python3-pytest-random-order python3-pytest-rerunfailures python3-pytest-asyncio \
  python3-pytest-mock python3-pytest-benchmark python3-pytest-subtests python3-hypothesis \
  python3-pytest-localserver python3-pytest-lazy-fixture \
  iproute2 util-linux procps bubblewrap hyperfine \
  qemu-system-x86 linux-image-amd64 busybox-static cpio kmod e2fsprogs mmdebstrap \
  libpython3.11-testsuite git clang-14 libclang-rt-14-dev chromium fonts-dejavu-core \
  postgresql redis-server redis-tools python3-psycopg2 python3-redis passt

.PHONY: all configure build binary test test-cgroup2 image test-image deps demo demo-services bench bench-forward fuzz format format-check clean

all: build

# ccache, when installed, makes rebuilds in several checkouts cheap.
CCACHE := $(shell command -v ccache 2>/dev/null)

configure:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  $(if $(CCACHE),-DCMAKE_CXX_COMPILER_LAUNCHER=$(CCACHE)) >/dev/null

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# Just the binary and its data files (no test binaries): what the demo and bench need.
binary: configure
	cmake --build $(BUILD) -j $(JOBS) --target bulkhead

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# A qemu VM (TCG) booting Debian's kernel on a pure cgroup v2 hierarchy runs the sandbox,
# fault and degraded-mode tests as root and as a delegated user (tests/vm/, docs/portability.md).
test-cgroup2: build
	tests/vm/run-vm.sh $(BUILD)

# A minimal Debian root with python3 and pytest for `--image dir:PATH` (images/README.md).
IMAGE ?= $(BUILD)/images/debian-bookworm
image:
	test -d $(IMAGE) || images/build-debian.sh $(IMAGE)

test-image: build image
	cd $(BUILD) && BULKHEAD=$(abspath $(BUILD))/bin/bulkhead BULKHEAD_IMAGE=$(abspath $(IMAGE)) \
	  BULKHEAD_SOURCE_DIR=$(CURDIR) PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest -v \
	  -p no:cacheprovider -p no:randomly -p no:random_order $(CURDIR)/tests/images/test_image.py

deps:
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEB_PACKAGES)

demo: binary
	examples/collisions/demo.sh $(BUILD)/bin/bulkhead

# Needs PostgreSQL and Redis installed (make deps); starts and stops its own servers.
demo-services: binary
	examples/services/demo.sh $(BUILD)/bin/bulkhead

bench: binary
	cmake --build $(BUILD) -j $(JOBS) --target sandbox_batch
	bench/sandbox_start $(BUILD)/bin/bulkhead
	$(BUILD)/bin/sandbox_batch $(BUILD)/share/bulkhead/profiles
	bench/run_compare $(BUILD)/bin/bulkhead
	bench/host_session $(BUILD)/bin/bulkhead

# libFuzzer targets (fuzz/, docs/fuzzing.md), built with clang and sanitizers in their own tree,
# each run FUZZ_SECONDS after replaying its seed corpus.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 40

fuzz:
	cmake -S fuzz -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++-14 \
	  $(if $(CCACHE),-DCMAKE_CXX_COMPILER_LAUNCHER=$(CCACHE)) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Forward cost against direct connections and pasta (starts its own PostgreSQL and Redis).
bench-forward: binary
	bench/forward_compare $(BUILD)/bin/bulkhead

FORMATTED = sandbox/*.cc sandbox/*.h sandbox/capi/*.cc src/*/*.cc src/*/*.h src/*/*/*.cc src/*/*/*.h tests/unit/*.cc tests/helpers/*.cc fuzz/*.cc

format:
	clang-format -i $(FORMATTED)

# Fails (naming the files) when any C++ file differs from clang-format's output.
format-check:
	clang-format --dry-run --Werror $(FORMATTED)

clean:
	rm -rf $(BUILD)
