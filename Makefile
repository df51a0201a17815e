# SPDX-License-Identifier: GPL-2.0
#
# Builds compsc_vf.ko against a Rust-enabled kernel build:
#     make KDIR=<kernel build dir>        (default: the guest kernel `cargo xtask kernel` builds)
#     make KDIR=... COMPSC_KUNIT=1 MO=<dir>  (the test variant with the KUnit suites)
#     make KDIR=... install               (modules_install into updates/, then depmod;
#                                          INSTALL_MOD_PATH=<dir> stages it elsewhere)
# The kernel build must be a full one (it writes Module.symvers) made with CONFIG_RUST=y by
# the same rustc.

KDIR ?= $(CURDIR)/target/guest-kernel
RUST_LIB_SRC ?= /usr/src/rustc-1.95.0/library
export RUST_LIB_SRC
# The rustc the kernel was built with (Kbuild uses the same variable).
RUSTC ?= rustc

# The tools Kbuild uses for the module build, with the kernel Makefile's defaults and overrides
# (CROSS_COMPILE=, LLVM=, or CC=, LD=, PAHOLE= on the command line), and the kernel source whose
# scripts turn their versions into what the kernel's .config records.
ifneq ($(LLVM),)
compsc_cc = $(filter %/,$(LLVM))clang$(filter -%,$(LLVM))
compsc_ld = $(filter %/,$(LLVM))ld.lld$(filter -%,$(LLVM))
else
compsc_cc = $(CROSS_COMPILE)gcc
compsc_ld = $(CROSS_COMPILE)ld
endif
ifeq ($(origin CC),command line)
compsc_cc = $(CC)
endif
ifeq ($(origin LD),command line)
compsc_ld = $(LD)
endif
compsc_pahole = $(if $(filter command line,$(origin PAHOLE)),$(PAHOLE),pahole)
compsc_scripts = $(if $(wildcard $(KDIR)/source/scripts/.),$(KDIR)/source,$(KDIR))/scripts

all: modules

# check-kdir refuses a kernel the module cannot build against, with one line saying why. It
# warns once per tool, naming it and both versions, when a tool's version differs from the one
# the kernel's .config records: Kbuild warns about the compiler and pahole on every module
# build, and the kernel's tool-dependent options were decided by the old ld and as.
check-kdir:
	@test -f "$(KDIR)/Makefile" || { echo "error: KDIR=$(KDIR) is not a kernel build directory; build one with 'cargo xtask kernel' or pass KDIR=<kernel build dir>" >&2; exit 1; }
	@grep -qx 'CONFIG_RUST=y' "$(KDIR)/.config" 2>/dev/null || { echo "error: the kernel in KDIR=$(KDIR) was built without CONFIG_RUST=y; use a Rust-enabled kernel build ('cargo xtask kernel' makes one)" >&2; exit 1; }
	@v=$$(sed -n 's/^# Linux\/[^ ]* \([0-9.]*\).*/\1/p' "$(KDIR)/.config" | head -n 1); \
	 case "$$v" in 7.[2-9]*|7.[1-9][0-9]*|[89].*) ;; "") ;; *) echo "error: the kernel in KDIR=$(KDIR) is $$v; compsc_vf needs Linux 7.2 or later (the Rust PCI, DMA and IRQ abstractions it uses)" >&2; exit 1;; esac
	@for f in rust/libkernel.rmeta rust/libmacros.so; do test -e "$(KDIR)/$$f" || { echo "error: $(KDIR) has no $$f: a headers tree without the kernel's Rust metadata cannot build Rust modules; install the headers package that ships it (Ubuntu: linux-lib-rust-\$$(uname -r)) or build the kernel from its source with CONFIG_RUST=y" >&2; exit 1; }; done
	@test -f "$(RUST_LIB_SRC)/core/src/lib.rs" || { echo "error: rust-src is missing (RUST_LIB_SRC=$(RUST_LIB_SRC)); install it with 'cargo xtask setup'" >&2; exit 1; }
	@want=$$(sed -n 's/^CONFIG_RUSTC_VERSION=//p' "$(KDIR)/.config"); \
	 have=$$($(RUSTC) --version 2>/dev/null | awk '{ split($$2, v, "."); print v[1] * 100000 + v[2] * 100 + v[3] }'); \
	 test -n "$$have" || { echo "error: rustc not found on PATH; install the Rust toolchain (rustup) and run 'cargo xtask setup'" >&2; exit 1; }; \
	 test "$$want" = "$$have" || { echo "error: rustc $$($(RUSTC) --version | cut -d' ' -f2) does not match the rustc that built the kernel in KDIR (CONFIG_RUSTC_VERSION=$$want); use that rustc or rebuild the kernel with 'cargo xtask kernel'" >&2; exit 1; }
	@test -f "$(KDIR)/Module.symvers" || { echo "error: $(KDIR)/Module.symvers is missing: run a full 'make' in the kernel build (not only bzImage), or 'cargo xtask kernel'" >&2; exit 1; }
	@cfg() { sed -n "s/^CONFIG_$$1=//p" "$(KDIR)/.config" | sed 's/^"\(.*\)"$$/\1/; s/\\\(.\)/\1/g'; }; \
	 q() { case "$$1" in *" "*|"") echo "\"$$1\"";; *) echo "$$1";; esac; }; \
	 differ() { test -z "$$3" || test "$$3" = "$$4" || echo "warning: $$1 differs from the one that built the kernel in KDIR=$(KDIR): CONFIG_$$2 records $$(q "$$3"), this $$1 gives $$(q "$$4"); rebuild the kernel with this $$1 ('cargo xtask kernel' for the guest kernel) or use the one it was built with" >&2; }; \
	 s="$(compsc_scripts)"; \
	 test -n "$(DEBIAN_KERNEL_NO_CC_VERSION_CHECK)" || \
	   differ "$(compsc_cc)" CC_VERSION_TEXT "$$(cfg CC_VERSION_TEXT)" "$$(LC_ALL=C $(compsc_cc) --version 2>/dev/null | head -n 1 | tr -d '#')"; \
	 test ! -f "$$s/pahole-version.sh" || \
	   differ "$(compsc_pahole)" PAHOLE_VERSION "$$(cfg PAHOLE_VERSION)" "$$(sh "$$s/pahole-version.sh" $(compsc_pahole) 2>/dev/null)"; \
	 if test -f "$$s/ld-version.sh" && set -- $$(sh "$$s/ld-version.sh" $(compsc_ld) 2>/dev/null) && test $$# = 2; then \
	   case $$1 in \
	   BFD) differ "$(compsc_ld)" LD_VERSION "$$(cfg LD_VERSION)" "$$2";; \
	   LLD) differ "$(compsc_ld)" LLD_VERSION "$$(cfg LLD_VERSION)" "$$2";; \
	   esac; \
	 fi; \
	 if test "$$(cfg AS_IS_GNU)$$(cfg CC_IS_GCC)" = yy && test -f "$$s/as-version.sh" && \
	    set -- $$(sh "$$s/as-version.sh" $(compsc_cc) 2>/dev/null) && test "$$1" = GNU; then \
	   differ as AS_VERSION "$$(cfg AS_VERSION)" "$$2"; \
	 fi; \
	 exit 0

modules clean: check-kdir
	$(MAKE) -C "$(KDIR)" M="$(CURDIR)" $@

# Out-of-tree modules go to the kernel's updates/ directory; Kbuild's modules_install runs
# depmod itself. compsc_vf and the in-tree ixgbevf claim the same ids: see the README's
# "Install" for making compsc_vf the one that binds.
install: modules
	$(MAKE) -C "$(KDIR)" M="$(CURDIR)" INSTALL_MOD_DIR=updates modules_install

rust-analyzer: check-kdir
	$(MAKE) -C "$(KDIR)" M="$(CURDIR)" rust-analyzer

.PHONY: all check-kdir modules clean install rust-analyzer
