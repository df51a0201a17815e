//! `cargo xtask kernel`: the guest kernel, built from Debian's linux-source with our fragment.
//!
//! The build lives in the cache (see [`crate::util::cache_dir`]), keyed on the source package
//! version, the config fragment and the compilers, so a second run, or a fresh clone on the same
//! machine, does nothing. `target/guest-kernel` links to the build for the Makefile's default
//! `KDIR`.

use crate::setup::{check_rustc, LIBCLANG_PATH, LINUX_SOURCE_PKG, RUST_LIB_SRC};
use crate::util::{
    cache_dir, fnv1a, output, path_with_cargo_bin, project_root, run, run_logged, step, target_dir,
};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The config fragment merged on top of `tinyconfig`.
pub fn fragment_path() -> PathBuf {
    project_root().join("qemu-images/guest.config")
}

/// Where the default `KDIR` of the Makefile points.
pub fn default_kdir() -> PathBuf {
    target_dir().join("guest-kernel")
}

/// What a finished guest kernel build provides to the rest of the xtask.
pub struct Kernel {
    /// The `O=` build directory: `make KDIR=` for modules.
    pub build: PathBuf,
    /// The source tree (for `tools/testing/kunit`).
    pub source: PathBuf,
}

impl Kernel {
    /// The compressed kernel image QEMU boots.
    pub fn bzimage(&self) -> PathBuf {
        self.build.join("arch/x86/boot/bzImage")
    }

    /// The in-tree ixgbevf module, the reference driver for the device model.
    pub fn ixgbevf_ko(&self) -> PathBuf {
        self.build
            .join("drivers/net/ethernet/intel/ixgbevf/ixgbevf.ko")
    }
}

const STAMP: &str = "compsc-build-complete";

fn tarball() -> PathBuf {
    PathBuf::from(format!("/usr/src/{LINUX_SOURCE_PKG}.tar.xz"))
}

fn source_version() -> Result<String> {
    let v = output(Command::new("dpkg-query").args(["-W", "-f=${Version}", LINUX_SOURCE_PKG]))
        .with_context(|| format!("{LINUX_SOURCE_PKG} is not installed: run `cargo xtask setup`"))?;
    Ok(v.trim().to_owned())
}

/// Checks every tool the kernel build needs and says how to get what is missing.
fn check_tools() -> Result<()> {
    check_rustc()?;
    if !Path::new(RUST_LIB_SRC).join("core/src/lib.rs").is_file() {
        bail!("rust-src for rustc 1.95 is missing ({RUST_LIB_SRC}): run `cargo xtask setup`");
    }
    if output(
        Command::new("bindgen")
            .arg("--version")
            .env("PATH", path_with_cargo_bin()),
    )
    .is_err()
    {
        bail!(
            "bindgen is missing: run `cargo xtask setup` (or `cargo install bindgen-cli --locked`)"
        );
    }
    if !Path::new(LIBCLANG_PATH).is_dir() {
        bail!("libclang is missing ({LIBCLANG_PATH}): run `cargo xtask setup`");
    }
    for tool in ["make", "gcc", "flex", "bison", "bc"] {
        if !crate::util::have_program(tool) {
            bail!("`{tool}` is missing: run `cargo xtask setup`");
        }
    }
    if !tarball().is_file() {
        bail!(
            "{} is missing: run `cargo xtask setup`",
            tarball().display()
        );
    }
    Ok(())
}

/// The make invocation with the environment the kernel's Rust support needs.
pub fn kmake(dir: &Path) -> Command {
    let mut cmd = Command::new("make");
    cmd.env("PATH", path_with_cargo_bin())
        .env("LIBCLANG_PATH", LIBCLANG_PATH)
        .arg("-C")
        .arg(dir)
        .arg(format!("RUST_LIB_SRC={RUST_LIB_SRC}"));
    cmd
}

/// Builds the guest kernel unless the cached build for this key is complete; returns it.
pub fn kernel() -> Result<Kernel> {
    check_tools()?;
    let version = source_version()?;
    let fragment = std::fs::read(fragment_path()).context("read qemu-images/guest.config")?;
    let rustc = output(Command::new("rustc").arg("-V"))?;
    let bindgen = output(
        Command::new("bindgen")
            .arg("--version")
            .env("PATH", path_with_cargo_bin()),
    )?;
    let key = fnv1a(&[
        version.as_bytes(),
        &fragment,
        rustc.as_bytes(),
        bindgen.as_bytes(),
    ]);
    // Debian versions carry `~` and `+`; keep directory names to characters make never minds.
    let tag: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cache = cache_dir();
    let source = cache.join(format!("linux-{tag}"));
    let build = cache.join(format!("kbuild-{tag}-{key:016x}"));
    let kernel = Kernel {
        build: build.clone(),
        source: source.clone(),
    };

    if build.join(STAMP).is_file() && kernel.bzimage().is_file() {
        eprintln!("guest kernel: cached build {} is complete", build.display());
    } else {
        if !source.join("Makefile").is_file() {
            step("extract kernel source", || extract(&source))?;
        }
        step(
            "configure guest kernel (tinyconfig + qemu-images/guest.config)",
            || configure(&source, &build),
        )?;
        step("build guest kernel (about 6 minutes on 2 cores)", || {
            let jobs = std::thread::available_parallelism().map_or(2, |n| n.get() + 1);
            run_logged(
                kmake(&source)
                    .arg(format!("O={}", build.display()))
                    .arg(format!("-j{jobs}")),
                &build.join("build.log"),
            )?;
            if !build.join("Module.symvers").is_file() {
                bail!("the build wrote no Module.symvers; modules cannot link against it");
            }
            std::fs::write(build.join(STAMP), format!("{version}\n{rustc}{bindgen}"))?;
            Ok(())
        })?;
    }
    link_default_kdir(&build)?;
    Ok(kernel)
}

fn extract(source: &Path) -> Result<()> {
    let parent = source.parent().context("cache dir has no parent")?;
    std::fs::create_dir_all(parent)?;
    let tmp = parent.join(".extract");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    run(Command::new("tar")
        .arg("xf")
        .arg(tarball())
        .arg("-C")
        .arg(&tmp))?;
    let inner = tmp.join(LINUX_SOURCE_PKG);
    if !inner.join("Makefile").is_file() {
        bail!(
            "{} did not unpack to {LINUX_SOURCE_PKG}/",
            tarball().display()
        );
    }
    let _ = std::fs::remove_dir_all(source);
    std::fs::rename(&inner, source)?;
    std::fs::remove_dir_all(&tmp)?;
    Ok(())
}

fn configure(source: &Path, build: &Path) -> Result<()> {
    std::fs::create_dir_all(build)?;
    let o = format!("O={}", build.display());
    run(kmake(source).arg(&o).arg("tinyconfig"))?;
    run(Command::new(source.join("scripts/kconfig/merge_config.sh"))
        .arg("-m")
        .arg("-O")
        .arg(build)
        .arg(build.join(".config"))
        .arg(fragment_path()))?;
    run(kmake(source).arg(&o).arg("olddefconfig"))?;

    // Every option the fragment asks for must have survived olddefconfig; a dropped
    // CONFIG_RUST usually means the toolchain is not usable, which `rustavailable` explains.
    let config = std::fs::read_to_string(build.join(".config"))?;
    let fragment = std::fs::read_to_string(fragment_path())?;
    let missing: Vec<&str> = fragment
        .lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .filter(|l| !config.lines().any(|c| c == *l))
        .collect();
    if missing.contains(&"CONFIG_RUST=y") {
        let _ = run(kmake(source).arg(&o).arg("rustavailable"));
        bail!("the kernel config dropped CONFIG_RUST=y: Rust is not available to this kernel build (see above); run `cargo xtask setup`");
    }
    if !missing.is_empty() {
        bail!(
            "olddefconfig dropped options from qemu-images/guest.config: {}",
            missing.join(" ")
        );
    }
    Ok(())
}

fn link_default_kdir(build: &Path) -> Result<()> {
    let link = default_kdir();
    std::fs::create_dir_all(target_dir())?;
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(build, &link)
        .with_context(|| format!("link {} -> {}", link.display(), build.display()))
}
