#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# DKMS's MAKE for compsc_vf: builds against the kernel build or headers tree in $1 with the
# rustc that kernel was built with (from CONFIG_RUSTC_VERSION_TEXT) and LLVM=1 only for a
# clang-built kernel, or says in one line what is missing.
set -eu
kdir=$1
cfg=$kdir/.config
if [ ! -f "$cfg" ]; then
	echo "error: $kdir has no .config: not a kernel build or headers tree" >&2
	exit 1
fi
want=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="rustc \([0-9][0-9.]*\).*/\1/p' "$cfg")
if [ -z "$want" ]; then
	echo "error: the kernel in $kdir was built without Rust support (no CONFIG_RUSTC_VERSION_TEXT in its .config)" >&2
	exit 1
fi
# Distribution packages name versioned compilers rustc-1.95; rustup has toolchains by version.
rustc=""
for c in "rustc-$want" "rustc-${want%.*}" rustc; do
	p=$(command -v "$c" 2>/dev/null) || continue
	if "$p" --version 2>/dev/null | grep -q "^rustc $want "; then
		rustc=$p
		break
	fi
done
if [ -z "$rustc" ] && command -v rustup >/dev/null 2>&1; then
	rustc=$(rustup which --toolchain "$want" rustc 2>/dev/null) || rustc=""
fi
if [ -z "$rustc" ]; then
	echo "error: the kernel in $kdir was built by rustc $want, which is not installed: install it ('rustup toolchain install $want', or your distribution's rustc-${want%.*} package)" >&2
	exit 1
fi
src=/usr/src/rustc-$want/library
[ -d "$src" ] || src=$("$rustc" --print sysroot)/lib/rustlib/src/rust/library
llvm=""
if grep -qx 'CONFIG_CC_IS_CLANG=y' "$cfg"; then
	llvm="LLVM=1"
fi
exec make KDIR="$kdir" RUSTC="$rustc" RUST_LIB_SRC="$src" $llvm
