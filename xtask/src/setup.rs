//! `cargo xtask setup`: installs everything a fresh Debian bookworm machine needs, idempotently.
//!
//! Where each piece comes from (and why) is in the toolchain notes: the kernel source and the
//! `rust-src` that matches rustc 1.95 come from trixie-backports, named per package and pinned
//! low so that nothing else on the host ever moves to trixie; QEMU for the plain guest comes
//! from bookworm-backports; bindgen from crates.io.

use crate::util::{have_program, output, path_with_cargo_bin, run, step};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// The Debian package carrying the kernel source tarball every test runs on.
pub const LINUX_SOURCE_PKG: &str = "linux-source-7.3";
/// The previous kernel series the module also builds, loads and passes traffic on.
pub const LINUX_PREVIOUS_PKG: &str = "linux-source-7.2";
/// The rustc the kernel's Rust must be built with; `rust-src` must match it exactly.
pub const RUSTC_SERIES: &str = "1.95";
/// The Debian `rust-src` whose `library/` matches rustc 1.95.0.
pub const RUST_SRC_PKG: &str = "rust-src=1.95.0+dfsg1-2~bpo13+1";
/// Where that package puts the `core` and `alloc` sources (`RUST_LIB_SRC` for kernel make).
pub const RUST_LIB_SRC: &str = "/usr/src/rustc-1.95.0/library";
/// libclang for bindgen.
pub const LIBCLANG_PATH: &str = "/usr/lib/llvm-19/lib";
/// Minimum bindgen the kernel accepts (scripts/min-tool-version.sh).
const BINDGEN_VERSION: &str = "0.73.2";

/// Host packages from bookworm itself.
const HOST_PKGS: &[&str] = &[
    "make",
    "gcc",
    "flex",
    "bison",
    "bc",
    "libelf-dev",
    "libssl-dev",
    "cpio",
    "kmod",
    "xz-utils",
    "busybox-static",
    "ethtool",
    "iperf3",
    "iputils-ping",
    "libclang-19-dev",
    "python3",
    "python3-yaml",
    "iproute2",
    "debootstrap",
];

/// The compilers of the debug guest kernel (`LLVM=-19`), from bookworm without recommends.
const DEBUG_KERNEL_PKGS: &[&str] = &["clang-19", "lld-19", "llvm-19"];

const SOURCES_FILE: &str = "/etc/apt/sources.list.d/compsc-vf.sources";
const PIN_FILE: &str = "/etc/apt/preferences.d/compsc-vf";

/// The extra apt sources: bookworm-backports (QEMU 10 for the guest) and trixie /
/// trixie-backports (kernel source and rust-src only).
const SOURCES: &str = "\
# Added by compsc_vf `cargo xtask setup`.
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

/// Pin trixie to 1: a trixie version is installed only when a package is named with
/// `/trixie-backports` or an exact version, never as a dependency or an upgrade. Without the pin
/// apt would pull trixie's libc6 and dpkg and leave the host half-upgraded.
const PIN: &str = "\
# Added by compsc_vf `cargo xtask setup`: never take trixie unless asked by name.
Package: *
Pin: release n=trixie
Pin-Priority: 1

Package: *
Pin: release n=trixie-backports
Pin-Priority: 1
";

/// `cargo xtask setup --check`: says what setup would do, changing nothing. Fails when
/// anything is missing, so it doubles as a quick "is this machine ready?".
pub fn check() -> Result<()> {
    let missing_pkgs = |pkgs: &[&str]| -> Option<String> {
        let m: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
        (!m.is_empty()).then(|| format!("apt-get install {}", m.join(" ")))
    };
    let linux = format!("{LINUX_SOURCE_PKG}/trixie-backports");
    let previous = format!("{LINUX_PREVIOUS_PKG}/trixie-backports");
    let items: Vec<(&str, Option<String>)> = vec![
        ("rustc 1.95", check_rustc().err().map(|e| format!("{e:#}"))),
        (
            "apt sources",
            (!apt_sources_configured())
                .then(|| format!("write {SOURCES_FILE} and {PIN_FILE}, apt-get update")),
        ),
        ("host packages", missing_pkgs(HOST_PKGS)),
        ("QEMU for the guest", missing_pkgs(&["qemu-system-x86"])),
        ("dkms (for the package check)", missing_pkgs(&["dkms"])),
        (
            "clang 19 (for the debug guest kernel)",
            missing_pkgs(DEBUG_KERNEL_PKGS),
        ),
        (
            "kernel source and rust-src",
            missing_pkgs(&[linux.as_str(), previous.as_str(), RUST_SRC_PKG]),
        ),
        (
            "bindgen",
            bindgen_version()
                .is_none()
                .then(|| format!("cargo install bindgen-cli --locked --version {BINDGEN_VERSION}")),
        ),
        (
            "cargo-fuzz",
            (!crate::fuzz::cargo_fuzz_present())
                .then(|| "cargo install cargo-fuzz --locked".to_owned()),
        ),
        (
            "QEMU 11.1 chroot",
            (!crate::model::trixie_qemu_ready()).then(|| {
                "debootstrap trixie, install qemu-system-x86 from trixie-backports in it".to_owned()
            }),
        ),
    ];
    let mut todo = 0;
    for (what, missing) in &items {
        match missing {
            None => eprintln!("ok       {what}"),
            Some(action) => {
                todo += 1;
                eprintln!("missing  {what}: would {action}");
            }
        }
    }
    if todo > 0 {
        bail!("{todo} setup step(s) to do: run `cargo xtask setup`");
    }
    Ok(())
}

/// Runs every setup step; each is a no-op when its result is already present.
pub fn setup() -> Result<()> {
    step("check rustc", check_rustc)?;
    step(
        "apt sources (bookworm-backports, trixie pinned to 1)",
        apt_sources,
    )?;
    step("host packages from bookworm", || {
        apt_install(HOST_PKGS, &[], "apt-get install -y <packages>")
    })?;
    // dkms without its recommends (which would pull the host's kernel headers): the
    // package check builds against the guest kernel only.
    step("dkms (bookworm, no recommends)", || {
        apt_install(
            &["dkms"],
            &["--no-install-recommends"],
            "apt-get install --no-install-recommends dkms",
        )
    })?;
    // The debug guest kernel is built with clang: the kernel allows KASAN with Rust only then.
    // clang 19 is the LLVM of the libclang bindgen already uses. The XDP check's programs
    // are built with it too (the BPF target).
    step(
        "clang, lld and llvm 19 for the debug guest kernel and the XDP programs (bookworm)",
        || {
            apt_install(
                DEBUG_KERNEL_PKGS,
                &["--no-install-recommends"],
                "apt-get install --no-install-recommends clang-19 lld-19 llvm-19",
            )
        },
    )?;
    step("QEMU for the guest (bookworm-backports)", || {
        apt_install(
            &["qemu-system-x86"],
            &["-t", "bookworm-backports", "--no-install-recommends"],
            "apt-get install -t bookworm-backports --no-install-recommends qemu-system-x86",
        )
    })?;
    step(
        "kernel source and rust-src (trixie-backports, by name)",
        || {
            let linux = format!("{LINUX_SOURCE_PKG}/trixie-backports");
            let previous = format!("{LINUX_PREVIOUS_PKG}/trixie-backports");
            apt_install(
                &[linux.as_str(), previous.as_str(), RUST_SRC_PKG],
                &["--no-install-recommends"],
                "apt-get install linux-source-7.3/trixie-backports linux-source-7.2/trixie-backports rust-src=1.95.0+dfsg1-2~bpo13+1",
            )?;
            if !Path::new(RUST_LIB_SRC).join("core/src/lib.rs").is_file() {
                bail!("{RUST_LIB_SRC}/core/src/lib.rs is missing after installing rust-src");
            }
            Ok(())
        },
    )?;
    step("bindgen", install_bindgen)?;
    step("cargo-fuzz", crate::fuzz::install_cargo_fuzz)?;
    step(
        "QEMU 11.1 with vfio-user-pci (trixie chroot)",
        crate::model::setup_trixie_qemu,
    )?;
    eprintln!("setup complete");
    Ok(())
}

/// The kernel's Rust must be built by the rustc whose `library/` we install; a different rustc
/// would need a different `rust-src`, which this machine cannot fetch.
pub fn check_rustc() -> Result<()> {
    let v = output(Command::new("rustc").arg("--version"))
        .context("rustc not found: install the Rust toolchain with rustup")?;
    let want = format!("rustc {RUSTC_SERIES}.");
    if !v.starts_with(&want) {
        bail!(
            "found `{}`, but the kernel build needs rustc {RUSTC_SERIES}.x to match {RUST_SRC_PKG}: \
             run `rustup default {RUSTC_SERIES}.0`",
            v.trim()
        );
    }
    Ok(())
}

fn need_root() -> Result<()> {
    let uid = output(Command::new("id").arg("-u"))?;
    if uid.trim() != "0" {
        bail!("installing packages needs root: run `sudo -E cargo xtask setup`");
    }
    Ok(())
}

/// Whether our apt sources and pin are in place with exactly the text this version writes.
fn apt_sources_configured() -> bool {
    let have = |path: &str, text: &str| std::fs::read_to_string(path).is_ok_and(|t| t == text);
    have(SOURCES_FILE, SOURCES) && have(PIN_FILE, PIN)
}

fn apt_sources() -> Result<()> {
    if apt_sources_configured() {
        eprintln!("    already configured");
        return Ok(());
    }
    need_root()?;
    std::fs::write(PIN_FILE, PIN).with_context(|| format!("write {PIN_FILE}"))?;
    std::fs::write(SOURCES_FILE, SOURCES).with_context(|| format!("write {SOURCES_FILE}"))?;
    apt_update()
}

fn apt_update() -> Result<()> {
    run(Command::new("apt-get").args(["update", "-q"]))
        .context("apt-get update failed: check the network and the files under /etc/apt")
}

/// Whether dpkg reports `pkg` (a plain name, `name/release` or `name=version`) installed.
fn installed(pkg: &str) -> bool {
    let (name, version) = match pkg.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (pkg.split('/').next().unwrap_or(pkg), None),
    };
    let Ok(out) = output(Command::new("dpkg-query").args(["-W", "-f=${Status}|${Version}", name]))
    else {
        return false;
    };
    let Some((status, have)) = out.split_once('|') else {
        return false;
    };
    status.ends_with(" installed") && version.is_none_or(|v| v == have)
}

fn apt_install(pkgs: &[&str], opts: &[&str], hint: &str) -> Result<()> {
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        eprintln!("    already installed: {}", pkgs.join(" "));
        return Ok(());
    }
    need_root()?;
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-q"])
        .args(opts)
        .args(&missing);
    if run(&mut cmd).is_err() {
        // Package lists may be stale: refresh once and retry before giving up.
        apt_update()?;
        run(&mut cmd).with_context(|| {
            format!(
                "could not install {}; try by hand: {hint}",
                missing.join(" ")
            )
        })?;
    }
    Ok(())
}

/// The installed bindgen's version (`0.73.2`), looked up with cargo's bin directory on `PATH`.
pub fn bindgen_version() -> Option<String> {
    let out = output(
        Command::new("bindgen")
            .arg("--version")
            .env("PATH", path_with_cargo_bin()),
    )
    .ok()?;
    out.split_whitespace().nth(1).map(str::to_owned)
}

fn install_bindgen() -> Result<()> {
    if let Some(v) = bindgen_version() {
        eprintln!("    bindgen {v} present");
        return Ok(());
    }
    if !have_program("cargo") {
        bail!("cargo not found on PATH");
    }
    run(Command::new("cargo").args([
        "install",
        "bindgen-cli",
        "--locked",
        "--version",
        BINDGEN_VERSION,
    ]))
    .context("cargo install bindgen-cli failed; try `cargo install bindgen-cli --locked`")
}
