//! `cargo xtask kernel`: the guest kernel, built from Debian's linux-source with our fragment.
//!
//! The build lives in the cache (see [`crate::util::cache_dir`]), keyed on the source package
//! version, the config fragment and the compilers, so a second run, or a fresh clone on the same
//! machine, does nothing. A cached build is reused only while its `.config` records the tool
//! versions the current tools would (ld, as, pahole and the rest; see [`crate::tools`]), since
//! Kbuild compares them and a module build against it would warn; a changed tool rebuilds it in
//! place, after a line naming the tool and both versions. `target/guest-kernel` links to the
//! build for the Makefile's default `KDIR`.

use crate::setup::{
    bindgen_version, check_rustc, LIBCLANG_PATH, LINUX_PREVIOUS_PKG, LINUX_SOURCE_PKG, RUST_LIB_SRC,
};
use crate::tools;
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

/// Which guest kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// The kernel every test runs on: gcc, `tinyconfig` plus `qemu-images/guest.config`.
    Standard,
    /// The same plus `qemu-images/guest-debug.config` (KASAN, lockdep, kmemleak, DMA-API
    /// debugging, UBSAN, Rust debug assertions), built with clang: the kernel accepts KASAN
    /// with Rust only in a clang build.
    Debug,
    /// The standard configuration on the previous kernel series (Debian's
    /// linux-source-7.2): the module must build, load and carry traffic there too.
    Previous,
}

/// The clang the debug kernel is built with (`LLVM=-19`): the LLVM of the libclang that
/// bindgen already uses, from Debian's `clang-19`, `lld-19` and `llvm-19`.
pub const DEBUG_LLVM: &str = "-19";

impl Flavor {
    /// The fragments merged on top of `tinyconfig`, in order.
    pub fn fragments(self) -> Vec<PathBuf> {
        let mut f = vec![fragment_path()];
        if self == Flavor::Debug {
            f.push(project_root().join("qemu-images/guest-debug.config"));
        }
        f
    }

    /// The `LLVM=` the kernel (and so every module build against it) is made with.
    pub fn llvm(self) -> Option<&'static str> {
        (self == Flavor::Debug).then_some(DEBUG_LLVM)
    }

    /// The tools Kbuild uses for this flavor, as [`tools::current`] probes them.
    pub fn tools(self) -> tools::Tools {
        match self.llvm() {
            Some(suffix) => tools::Tools {
                cc: format!("clang{suffix}"),
                ld: format!("ld.lld{suffix}"),
                ..tools::Tools::default()
            },
            None => tools::Tools::default(),
        }
    }

    fn link_name(self) -> &'static str {
        match self {
            Flavor::Standard => "guest-kernel",
            Flavor::Debug => "guest-kernel-debug",
            Flavor::Previous => "guest-kernel-7.2",
        }
    }

    /// The Debian package whose tarball this flavor is built from.
    pub fn source_pkg(self) -> &'static str {
        match self {
            Flavor::Standard | Flavor::Debug => LINUX_SOURCE_PKG,
            Flavor::Previous => LINUX_PREVIOUS_PKG,
        }
    }

    /// The suffix of module build directories against this kernel (`target/module/<variant>`
    /// plus this), since each is built with its own compiler and headers.
    pub fn module_suffix(self) -> &'static str {
        match self {
            Flavor::Standard => "",
            Flavor::Debug => "-debug",
            Flavor::Previous => "-7.2",
        }
    }
}

/// What a finished guest kernel build provides to the rest of the xtask.
pub struct Kernel {
    /// The `O=` build directory: `make KDIR=` for modules.
    pub build: PathBuf,
    /// The source tree (for `tools/testing/kunit`).
    pub source: PathBuf,
    /// Which configuration and compiler it was built with.
    pub flavor: Flavor,
}

impl Kernel {
    /// `make -C dir` with the environment the kernel's Rust support needs and the compiler
    /// this kernel was built with, for module builds against it.
    pub fn kmake(&self, dir: &Path) -> Command {
        let mut cmd = kmake(dir);
        if let Some(suffix) = self.flavor.llvm() {
            cmd.arg(format!("LLVM={suffix}"));
        }
        cmd
    }

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

fn tarball(pkg: &str) -> PathBuf {
    PathBuf::from(format!("/usr/src/{pkg}.tar.xz"))
}

fn source_version(pkg: &str) -> Result<String> {
    let v = output(Command::new("dpkg-query").args(["-W", "-f=${Version}", pkg]))
        .with_context(|| format!("{pkg} is not installed: run `cargo xtask setup`"))?;
    Ok(v.trim().to_owned())
}

/// The kernel's own netdev-family client, `tools/net/ynl/ynltool` (qstats, page-pool stats),
/// built from the guest kernel's source once (the same source, so the netlink attributes
/// match the guest kernel). Needs Python 3 with PyYAML for ynl's code generator.
pub fn ynltool(kernel: &Kernel) -> Result<PathBuf> {
    let dir = kernel.source.join("tools/net/ynl");
    let bin = dir.join("ynltool/ynltool");
    let _lock = lock(&dir.join(".compsc-ynltool.lock"))?;
    if !bin.is_file() {
        step(
            "build ynltool (tools/net/ynl) from the kernel source",
            || {
                // 7.2's ovs_packet spec names an attribute its UAPI header lacks, so that
                // family does not build there; ynltool needs only netdev.
                run_logged(
                    Command::new("make")
                        .arg("-C")
                        .arg(&dir)
                        .arg("ynltool")
                        .arg("GENS_UNSUP=conntrack nftables ovs_packet"),
                    &dir.join("compsc-ynltool-build.log"),
                )
            },
        )?;
    }
    if !bin.is_file() {
        bail!("the ynl build wrote no {}", bin.display());
    }
    Ok(bin)
}

/// `netdev-map` (xtask/ynl/netdev_map.c): the queue -> NAPI -> IRQ mapping of one
/// interface from the netdev family's queue-get and napi-get dumps, which ynltool has no
/// command for. Built with the ynl library and generated netdev code [`ynltool`] builds, so
/// it speaks the guest kernel's attributes; a second to build, so built every time.
pub fn netdev_map(kernel: &Kernel) -> Result<PathBuf> {
    ynltool(kernel)?;
    let ynl = kernel.source.join("tools/net/ynl");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("ynl/netdev_map.c");
    let dir = target_dir().join("ynl");
    std::fs::create_dir_all(&dir)?;
    let bin = dir.join("netdev-map");
    let status = Command::new("gcc")
        .args(["-Wall", "-Wextra", "-Werror", "-O2"])
        .arg("-I")
        .arg(ynl.join("lib"))
        .arg("-I")
        .arg(ynl.join("generated"))
        .arg("-I")
        .arg(kernel.source.join("tools/include/uapi"))
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .arg(ynl.join("libynl.a"))
        .status()
        .context("gcc not found: run `cargo xtask setup`")?;
    if !status.success() {
        bail!(
            "gcc could not build {} against {}",
            src.display(),
            ynl.display()
        );
    }
    Ok(bin)
}

/// Checks every tool the kernel build needs and says how to get what is missing.
fn check_tools(flavor: Flavor) -> Result<()> {
    check_rustc()?;
    if !Path::new(RUST_LIB_SRC).join("core/src/lib.rs").is_file() {
        bail!("rust-src for rustc 1.95 is missing ({RUST_LIB_SRC}): run `cargo xtask setup`");
    }
    if bindgen_version().is_none() {
        bail!(
            "bindgen is missing: run `cargo xtask setup` (or `cargo install bindgen-cli --locked`)"
        );
    }
    if !Path::new(LIBCLANG_PATH).is_dir() {
        bail!("libclang is missing ({LIBCLANG_PATH}): run `cargo xtask setup`");
    }
    let tools = flavor.tools();
    for tool in ["make", &tools.cc, &tools.ld, "flex", "bison", "bc"] {
        if !crate::util::have_program(tool) {
            bail!("`{tool}` is missing: run `cargo xtask setup`");
        }
    }
    if !tarball(flavor.source_pkg()).is_file() {
        bail!(
            "{} is missing: run `cargo xtask setup`",
            tarball(flavor.source_pkg()).display()
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

/// The compilers whose output ends up in the kernel image: a new gcc (or clang), rustc or
/// bindgen (and so libclang's view of the headers) changes the objects, so each is part of the
/// cache key.
fn compiler_versions(flavor: Flavor) -> Result<String> {
    let gcc = output(Command::new(flavor.tools().cc).arg("--version"))?;
    let rustc = output(Command::new("rustc").arg("-V"))?;
    let bindgen = bindgen_version().context("bindgen --version failed")?;
    let first = |s: &str| s.lines().next().unwrap_or_default().trim().to_owned();
    Ok(format!(
        "{}\n{}\nbindgen {bindgen}\n",
        first(&gcc),
        first(&rustc)
    ))
}

/// `version` made safe for directory names: Debian versions carry `~` and `+`, and make
/// minds some characters in paths.
fn dir_tag(version: &str) -> String {
    version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The build directory's name: the source version and a hash of the version, the config
/// fragments and the compilers, so that a change in any of them builds afresh.
fn build_dir_name(version: &str, fragment: &[u8], compilers: &str) -> String {
    let key = fnv1a(&[version.as_bytes(), fragment, compilers.as_bytes()]);
    format!("kbuild-{}-{key:016x}", dir_tag(version))
}

/// The guest kernel every test runs on; see [`kernel_flavor`].
pub fn kernel() -> Result<Kernel> {
    kernel_flavor(Flavor::Standard)
}

/// Builds the guest kernel unless the cached build for this key is complete and its `.config`
/// records what the current tools would; returns it.
///
/// A lock file next to the build keeps two checkouts (or two runs) from building into the same
/// directory at once; the second waits and then finds the build complete.
pub fn kernel_flavor(flavor: Flavor) -> Result<Kernel> {
    check_tools(flavor)?;
    let version = source_version(flavor.source_pkg())?;
    let mut fragment = Vec::new();
    for f in flavor.fragments() {
        fragment.extend(std::fs::read(&f).with_context(|| format!("read {}", f.display()))?);
    }
    let compilers = compiler_versions(flavor)?;
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).with_context(|| format!("create {}", cache.display()))?;
    let name = build_dir_name(&version, &fragment, &compilers);
    let kernel = Kernel {
        build: cache.join(&name),
        source: cache.join(format!("linux-{}", dir_tag(&version))),
        flavor,
    };
    let _lock = lock(&cache.join(format!("{name}.lock")))?;
    if !kernel.source.join("Makefile").is_file() {
        // Also for a complete build: its tool check runs the source's scripts.
        step("extract kernel source", || {
            extract(&kernel.source, flavor.source_pkg())
        })?;
    }
    let stamp_text = format!("{version}\n{compilers}");
    let complete = kernel.build.join(STAMP).is_file() && kernel.bzimage().is_file();
    if !complete {
        build(&kernel, &stamp_text)?;
    } else {
        let changes = tools::changed_since(&kernel.build, &kernel.source, &flavor.tools())?;
        if changes.is_empty() {
            eprintln!(
                "guest kernel: cached build {} is complete",
                kernel.build.display()
            );
        } else {
            eprintln!(
                "guest kernel: rebuilding {}, a tool changed since it was built: {}",
                kernel.build.display(),
                tools::describe(&changes)
            );
            build(&kernel, &stamp_text)?;
        }
    }
    link_kdir(&kernel.build, flavor)?;
    Ok(kernel)
}

/// Starts building the guest kernels of `flavors`, one after another, in a child process at
/// the lowest CPU priority (`nice -n 19 <this xtask> kernel --7.2`, then `--debug`), its
/// output in `target/kernel-prebuild.log`; a cached kernel takes it a second. The passes
/// that need a kernel call [`kernel_flavor`] as usual: a build still running holds the
/// cache lock, so they wait for it, and one that failed is tried again there, where its
/// error is reported. None if the child cannot start (the passes then build as before).
pub fn prebuild_niced(flavors: &[Flavor]) -> Option<std::process::Child> {
    let exe = std::env::current_exe().ok()?;
    // No `set -e`: a failed build leaves the next one to go on (the pass reports the error).
    let mut script = String::new();
    for f in flavors {
        let arg = match f {
            Flavor::Standard => "",
            Flavor::Debug => "--debug",
            Flavor::Previous => "--7.2",
        };
        script += &format!("nice -n 19 \"$0\" kernel {arg}\n");
    }
    std::fs::create_dir_all(target_dir()).ok()?;
    let log = std::fs::File::create(target_dir().join("kernel-prebuild.log")).ok()?;
    let err = log.try_clone().ok()?;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(exe)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .ok()
}

/// Takes an exclusive lock on `path` (created if missing), waiting if another run holds it.
fn lock(path: &Path) -> Result<std::fs::File> {
    let file = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    if file.try_lock().is_err() {
        eprintln!(
            "guest kernel: another run is building it ({} is locked); waiting",
            path.display()
        );
        file.lock()
            .with_context(|| format!("lock {}", path.display()))?;
    }
    Ok(file)
}

/// Extracts (if needed), configures and builds `kernel`; the stamp, holding `stamp_text`, is
/// written last. It is removed first, so an interrupted rebuild is never taken as complete.
fn build(kernel: &Kernel, stamp_text: &str) -> Result<()> {
    let (source, build) = (&kernel.source, &kernel.build);
    let _ = std::fs::remove_file(build.join(STAMP));
    step(
        &format!(
            "configure {:?} guest kernel (tinyconfig + fragments)",
            kernel.flavor
        ),
        || configure(kernel),
    )?;
    let minutes = match kernel.flavor {
        Flavor::Standard | Flavor::Previous => 6,
        Flavor::Debug => 10,
    };
    step(
        &format!(
            "build {:?} guest kernel (about {minutes} minutes on 2 cores)",
            kernel.flavor
        ),
        || {
            let jobs = std::thread::available_parallelism().map_or(2, |n| n.get() + 1);
            run_logged(
                kernel
                    .kmake(source)
                    .arg(format!("O={}", build.display()))
                    .arg(format!("-j{jobs}")),
                &build.join("build.log"),
            )?;
            if !build.join("Module.symvers").is_file() {
                bail!("the build wrote no Module.symvers; modules cannot link against it");
            }
            // A probe that disagrees with what Kconfig just recorded would rebuild on every run.
            let changes = tools::changed_since(build, source, &kernel.flavor.tools())?;
            if !changes.is_empty() {
                bail!(
                    "the fresh .config records other tool versions than xtask's probe of the same \
                 tools gives (a bug in xtask/src/tools.rs): {}",
                    tools::describe(&changes)
                );
            }
            std::fs::write(build.join(STAMP), stamp_text)?;
            Ok(())
        },
    )
}

fn extract(source: &Path, pkg: &str) -> Result<()> {
    let parent = source.parent().context("cache dir has no parent")?;
    std::fs::create_dir_all(parent)?;
    let tmp = parent.join(".extract");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    run(Command::new("tar")
        .arg("xf")
        .arg(tarball(pkg))
        .arg("-C")
        .arg(&tmp))?;
    let inner = tmp.join(pkg);
    if !inner.join("Makefile").is_file() {
        bail!("{} did not unpack to {pkg}/", tarball(pkg).display());
    }
    let _ = std::fs::remove_dir_all(source);
    std::fs::rename(&inner, source)?;
    std::fs::remove_dir_all(&tmp)?;
    Ok(())
}

fn configure(kernel: &Kernel) -> Result<()> {
    let (source, build) = (&kernel.source, &kernel.build);
    std::fs::create_dir_all(build)?;
    let o = format!("O={}", build.display());
    run(kernel.kmake(source).arg(&o).arg("tinyconfig"))?;
    run(Command::new(source.join("scripts/kconfig/merge_config.sh"))
        .arg("-m")
        .arg("-O")
        .arg(build)
        .arg(build.join(".config"))
        .args(kernel.flavor.fragments()))?;
    run(kernel.kmake(source).arg(&o).arg("olddefconfig"))?;

    // Every option the fragments ask for must have survived olddefconfig; a dropped
    // CONFIG_RUST usually means the toolchain is not usable, which `rustavailable` explains.
    let config = std::fs::read_to_string(build.join(".config"))?;
    let mut fragment = String::new();
    for f in kernel.flavor.fragments() {
        fragment += &std::fs::read_to_string(f)?;
    }
    let missing: Vec<&str> = fragment
        .lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .filter(|l| !config.lines().any(|c| c == *l))
        .collect();
    if missing.contains(&"CONFIG_RUST=y") {
        let _ = run(kernel.kmake(source).arg(&o).arg("rustavailable"));
        bail!("the kernel config dropped CONFIG_RUST=y: Rust is not available to this kernel build (see above); run `cargo xtask setup`");
    }
    if !missing.is_empty() {
        bail!(
            "olddefconfig dropped options from the config fragments: {}",
            missing.join(" ")
        );
    }
    Ok(())
}

/// `target/guest-kernel` (the Makefile's default `KDIR`) or `target/guest-kernel-debug`.
fn link_kdir(build: &Path, flavor: Flavor) -> Result<()> {
    let link = target_dir().join(flavor.link_name());
    std::fs::create_dir_all(target_dir())?;
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(build, &link)
        .with_context(|| format!("link {} -> {}", link.display(), build.display()))
}

#[cfg(test)]
mod tests {
    use super::build_dir_name;

    #[test]
    fn cache_key_covers_version_fragment_and_compilers() {
        let base = build_dir_name(
            "7.3.4-1~bpo13+1",
            b"CONFIG_RUST=y\n",
            "gcc 12\nrustc 1.95\n",
        );
        assert!(base.starts_with("kbuild-7.3.4_1_bpo13_1-"), "{base}");
        for other in [
            build_dir_name(
                "7.3.5-1~bpo13+1",
                b"CONFIG_RUST=y\n",
                "gcc 12\nrustc 1.95\n",
            ),
            build_dir_name(
                "7.3.4-1~bpo13+1",
                b"CONFIG_RUST=y\nCONFIG_BUG=y\n",
                "gcc 12\nrustc 1.95\n",
            ),
            build_dir_name(
                "7.3.4-1~bpo13+1",
                b"CONFIG_RUST=y\n",
                "gcc 13\nrustc 1.95\n",
            ),
            build_dir_name(
                "7.3.4-1~bpo13+1",
                b"CONFIG_RUST=y\n",
                "gcc 12\nrustc 1.96\n",
            ),
        ] {
            assert_ne!(base, other);
        }
    }
}
