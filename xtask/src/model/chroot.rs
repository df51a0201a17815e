//! QEMU 11.1 with the vfio-user client, from a minbase trixie chroot (a `cargo xtask setup`
//! step, idempotent and cached).
//!
//! QEMU from the chroot runs on the host through the chroot's own dynamic loader and
//! libraries, so no mounts are needed and host paths (kernel, initramfs, sockets) work as is.
//! `-t trixie-backports` is used inside the chroot only; the host's apt never sees trixie
//! except through the pinned, per-package sources of `setup.rs`.

use crate::util::{cache_dir, display, have_program, output, run, step, target_dir};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bump to rebuild the chroot on every machine.
const CHROOT_VERSION: &str = "1";

/// The Debian package whose QEMU has `vfio-user-pci`.
const QEMU_PKG: &str = "qemu-system-x86";

/// Stamp written when the chroot is complete.
const STAMP: &str = ".compsc-vfio-user-qemu";
/// Stamp written when debootstrap finished: an interrupted debootstrap leaves a tree that
/// already has `apt-get` but is not configured, and must not be built on.
const BOOTSTRAPPED: &str = ".compsc-debootstrap-complete";

/// Where the trixie chroot lives (shared by checkouts on this machine).
fn chroot_dir() -> PathBuf {
    cache_dir().join(format!("trixie-qemu-v{CHROOT_VERSION}"))
}

/// The Debian mirror the host already uses (so nothing here names one).
fn host_mirror() -> Result<String> {
    let mut texts = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "sources" || e == "list") {
                texts.push(std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    texts.push(std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default());
    for t in &texts {
        for line in t.lines() {
            let line = line.trim();
            let uri = if let Some(rest) = line.strip_prefix("URIs:") {
                rest.split_whitespace().next()
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest.split_whitespace().find(|w| w.contains("://"))
            } else {
                None
            };
            if let Some(u) = uri {
                let u = u.trim_end_matches('/');
                if u.ends_with("/debian") {
                    return Ok(u.to_owned());
                }
            }
        }
    }
    bail!("no Debian mirror (a URI ending in /debian) found in the host's apt sources")
}

/// The dynamic loader inside the chroot (a real file, not the absolute /lib64 symlink).
fn chroot_loader(root: &Path) -> PathBuf {
    root.join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
}

/// The command that runs the chroot's QEMU on the host: program and leading arguments, for
/// [`GuestRun::qemu`].
pub(super) fn qemu_command() -> Result<Vec<OsString>> {
    let root = chroot_dir();
    if !root.join(STAMP).is_file() {
        bail!(
            "QEMU with vfio-user is not set up ({} missing): run `cargo xtask setup`",
            root.join(STAMP).display()
        );
    }
    let libs = format!(
        "{}:{}",
        root.join("usr/lib/x86_64-linux-gnu").display(),
        root.join("lib/x86_64-linux-gnu").display()
    );
    let mut c: Vec<OsString> = vec![
        "env".into(),
        format!(
            "QEMU_MODULE_DIR={}",
            root.join("usr/lib/x86_64-linux-gnu/qemu").display()
        )
        .into(),
        chroot_loader(&root).into(),
        "--library-path".into(),
        libs.into(),
        root.join("usr/bin/qemu-system-x86_64").into(),
    ];
    c.push("-L".into());
    c.push(root.join("usr/share/qemu").into());
    c.push("-L".into());
    c.push(root.join("usr/share/seabios").into());
    Ok(c)
}

fn qemu_lists_vfio_user() -> Result<String> {
    let c = qemu_command()?;
    let mut cmd = Command::new(&c[0]);
    cmd.args(&c[1..]).args(["-device", "help"]);
    let out = output(&mut cmd)?;
    if !out.contains("\"vfio-user-pci\"") {
        bail!(
            "`{} -device help` does not list vfio-user-pci",
            display(&cmd)
        );
    }
    let mut v = Command::new(&c[0]);
    v.args(&c[1..]).arg("--version");
    Ok(output(&mut v)?.lines().next().unwrap_or("").to_owned())
}

/// Runs `cmd`, naming it and a remedy on failure.
fn run_hint(cmd: &mut Command, hint: &str) -> Result<()> {
    run(cmd).with_context(|| hint.to_owned())
}

/// Whether the chroot was completed by an earlier setup (for `cargo xtask setup --check`).
pub fn trixie_qemu_ready() -> bool {
    chroot_dir().join(STAMP).is_file()
}

/// `cargo xtask setup` step: a minbase trixie chroot with QEMU from trixie-backports, whose
/// `-device help` lists `vfio-user-pci`. Cached: a second run only re-checks QEMU.
///
/// `-t trixie-backports` is used inside the chroot only; the host's apt is never pointed
/// at trixie by this step.
pub fn setup_trixie_qemu() -> Result<()> {
    let root = chroot_dir();
    eprintln!("    chroot: {}", root.display());
    if root.join(STAMP).is_file() {
        if let Ok(v) = step("cached chroot: check QEMU", qemu_lists_vfio_user) {
            eprintln!("    {v}, vfio-user-pci present");
            return Ok(());
        }
        eprintln!("    cached chroot is broken: rebuilding it");
        let _ = std::fs::remove_file(root.join(STAMP));
    }
    if !have_program("debootstrap") {
        bail!("debootstrap is missing: `cargo xtask setup` installs it with the host packages");
    }
    let mirror = host_mirror()?;
    if !root.join(BOOTSTRAPPED).is_file() {
        step("debootstrap trixie (minbase)", || {
            // A half-made tree from an interrupted run is not trusted.
            if root.exists() {
                std::fs::remove_dir_all(&root)
                    .with_context(|| format!("remove stale {}", root.display()))?;
            }
            std::fs::create_dir_all(root.parent().unwrap_or(Path::new("/")))?;
            let log = target_dir().join("setup/debootstrap.log");
            crate::util::run_logged(
                Command::new("debootstrap")
                    .args(["--variant=minbase", "trixie"])
                    .arg(&root)
                    .arg(&mirror),
                &log,
            )
            .with_context(|| {
                format!(
                    "debootstrap failed; see {} (network? disk space? try removing {})",
                    log.display(),
                    root.display()
                )
            })?;
            std::fs::write(root.join(BOOTSTRAPPED), "ok\n")
                .with_context(|| format!("write {}", root.join(BOOTSTRAPPED).display()))
        })?;
    }
    step("add trixie-backports inside the chroot", || {
        let list = root.join("etc/apt/sources.list.d/trixie-backports.list");
        std::fs::write(&list, format!("deb {mirror} trixie-backports main\n"))
            .with_context(|| format!("write {}", list.display()))?;
        // Name resolution for apt inside the chroot.
        let _ = std::fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf"));
        run_hint(
            Command::new("chroot")
                .arg(&root)
                .args(["apt-get", "update"]),
            "apt-get update inside the chroot failed: check the network; rerun setup",
        )
    })?;
    step(
        "install qemu-system-x86 from trixie-backports (in the chroot)",
        || {
            let log = target_dir().join("setup/chroot-qemu.log");
            crate::util::run_logged(
                Command::new("chroot")
                    .arg(&root)
                    .args([
                        "apt-get",
                        "install",
                        "-y",
                        "-t",
                        "trixie-backports",
                        "--no-install-recommends",
                        QEMU_PKG,
                    ])
                    .env("DEBIAN_FRONTEND", "noninteractive"),
                &log,
            )
            .with_context(|| {
                format!(
                    "installing {QEMU_PKG} in the chroot failed; see {}; \
                 try `chroot {} apt-get install -t trixie-backports {QEMU_PKG}` by hand",
                    log.display(),
                    root.display()
                )
            })
        },
    )?;
    std::fs::write(root.join(STAMP), "ok\n")?;
    match step("check that QEMU lists vfio-user-pci", qemu_lists_vfio_user) {
        Ok(v) => {
            eprintln!("    {v}, vfio-user-pci present");
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(root.join(STAMP));
            Err(e).context("the chroot's QEMU cannot run vfio-user devices")
        }
    }
}
