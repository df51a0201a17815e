# SPDX-License-Identifier: GPL-2.0
#
# Builds compsc_vf.ko against a Rust-enabled kernel build:
#     make KDIR=<kernel build dir>        (default: the guest kernel `cargo xtask kernel` builds)
#     make KDIR=... COMPSC_KUNIT=1 MO=<dir>  (the test variant with the KUnit suites)
# The kernel build must be a full one (it writes Module.symvers) made with CONFIG_RUST=y by
# the same rustc.

KDIR ?= $(CURDIR)/target/guest-kernel
RUST_LIB_SRC ?= /usr/src/rustc-1.95.0/library
export RUST_LIB_SRC

all: modules

check-kdir:
	@test -f "$(KDIR)/Makefile" || { echo "error: KDIR=$(KDIR) is not a kernel build directory; build one with 'cargo xtask kernel' or pass KDIR=<kernel build dir>" >&2; exit 1; }
	@grep -qx 'CONFIG_RUST=y' "$(KDIR)/.config" 2>/dev/null || { echo "error: the kernel in KDIR=$(KDIR) was built without CONFIG_RUST=y; use a Rust-enabled kernel build ('cargo xtask kernel' makes one)" >&2; exit 1; }
	@test -f "$(RUST_LIB_SRC)/core/src/lib.rs" || { echo "error: rust-src is missing (RUST_LIB_SRC=$(RUST_LIB_SRC)); install it with 'cargo xtask setup'" >&2; exit 1; }
	@want=$$(sed -n 's/^CONFIG_RUSTC_VERSION=//p' "$(KDIR)/.config"); \
	 have=$$(rustc --version 2>/dev/null | awk '{ split($$2, v, "."); print v[1] * 100000 + v[2] * 100 + v[3] }'); \
	 test -n "$$have" || { echo "error: rustc not found on PATH; install the Rust toolchain (rustup) and run 'cargo xtask setup'" >&2; exit 1; }; \
	 test "$$want" = "$$have" || { echo "error: rustc $$(rustc --version | cut -d' ' -f2) does not match the rustc that built the kernel in KDIR (CONFIG_RUSTC_VERSION=$$want); use that rustc or rebuild the kernel with 'cargo xtask kernel'" >&2; exit 1; }
	@test -f "$(KDIR)/Module.symvers" || { echo "error: $(KDIR)/Module.symvers is missing: run a full 'make' in the kernel build (not only bzImage), or 'cargo xtask kernel'" >&2; exit 1; }

modules clean: check-kdir
	$(MAKE) -C "$(KDIR)" M="$(CURDIR)" $@

rust-analyzer: check-kdir
	$(MAKE) -C "$(KDIR)" M="$(CURDIR)" rust-analyzer

.PHONY: all check-kdir modules clean rust-analyzer
