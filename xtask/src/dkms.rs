//! `cargo xtask dkms`: the DKMS source package as a Debian package, and the check that it
//! builds with DKMS against a Rust-enabled kernel and that the module it builds loads.

use crate::kernel::Kernel;
use crate::util::{output, project_root, run, run_logged, target_dir};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The module's name and version, as dkms.conf says.
const NAME: &str = "compsc_vf";
const VERSION: &str = "0.1.0";

/// What the package installs under /usr/src/compsc_vf-VERSION: the module's build inputs.
fn sources() -> Result<Vec<PathBuf>> {
    let root = project_root();
    let mut files = vec![
        PathBuf::from("dkms.conf"),
        PathBuf::from("Kbuild"),
        PathBuf::from("Makefile"),
        PathBuf::from("scripts/dkms-make.sh"),
    ];
    for dir in ["rust/driver", "rust/core/src"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).with_context(|| format!("read {}", d.display()))? {
                let p = e?.path();
                if p.is_dir() {
                    stack.push(p);
                } else if matches!(
                    p.extension().and_then(|x| x.to_str()),
                    Some("rs" | "c" | "h")
                ) {
                    files.push(p.strip_prefix(&root)?.to_path_buf());
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Builds `target/dkms/compsc-vf-dkms_VERSION_all.deb`; returns its path.
pub fn package() -> Result<PathBuf> {
    let out = target_dir().join("dkms");
    let stage = out.join("stage");
    let _ = std::fs::remove_dir_all(&stage);
    let src = stage.join(format!("usr/src/{NAME}-{VERSION}"));
    for f in sources()? {
        let to = src.join(&f);
        std::fs::create_dir_all(to.parent().context("no parent")?)?;
        std::fs::copy(project_root().join(&f), &to)
            .with_context(|| format!("copy {}", f.display()))?;
    }
    let debian = stage.join("DEBIAN");
    std::fs::create_dir_all(&debian)?;
    std::fs::write(
        debian.join("control"),
        format!(
            "Package: compsc-vf-dkms\n\
             Version: {VERSION}\n\
             Architecture: all\n\
             Maintainer: The compsc_vf developers <compsc-vf@invalid>\n\
             Depends: dkms (>= 3.0.4), make, gcc\n\
             Section: kernel\n\
             Priority: optional\n\
             Description: compsc_vf, a live-migratable driver for Intel 82599/X540/X550/E610 VFs (DKMS)\n \
             DKMS builds compsc_vf for every installed kernel with CONFIG_RUST, 7.2 or later,\n \
             with the rustc that kernel was built with. See blacklisting ixgbevf in the README.\n"
        ),
    )?;
    let script = |name: &str, body: &str| -> Result<()> {
        let p = debian.join(name);
        std::fs::write(&p, body)?;
        run(Command::new("chmod").arg("0755").arg(&p))
    };
    // As dh_dkms does: add the source, then build and install for the kernels present;
    // kernels without CONFIG_RUST are skipped by BUILD_EXCLUSIVE_CONFIG with DKMS's line.
    script(
        "postinst",
        &format!(
            "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n\
             \tdkms add -m {NAME} -v {VERSION} >/dev/null 2>&1 || true\n\
             \tdkms autoinstall || true\nfi\n"
        ),
    )?;
    script(
        "prerm",
        &format!(
            "#!/bin/sh\nset -e\ndkms remove -m {NAME} -v {VERSION} --all >/dev/null 2>&1 || true\n"
        ),
    )?;
    let deb = out.join(format!("compsc-vf-dkms_{VERSION}_all.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&stage)
        .arg(&deb))?;
    Ok(deb)
}

/// The package check: unpacks the package, and with DKMS (in a private tree, nothing
/// installed on the host) adds and builds it against the guest kernel build; returns the
/// module DKMS built. Also checks that DKMS skips a kernel without Rust with one line.
pub fn build_with_dkms(k: &Kernel) -> Result<PathBuf> {
    let deb = package()?;
    let work = target_dir().join("dkms/check");
    let _ = std::fs::remove_dir_all(&work);
    let root = work.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    let sourcetree = root.join("usr/src");
    let tree = work.join("tree");
    std::fs::create_dir_all(&tree)?;
    let release = output(
        Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(&k.build)
            .arg("kernelrelease"),
    )?
    .trim()
    .to_owned();
    let dkms = |args: &[&str], kernel: &str, kdir: &Path, log: &str| -> Result<()> {
        let mut c = Command::new("dkms");
        c.args(args)
            .args(["-m", NAME, "-v", VERSION, "-k", kernel])
            .arg("--kernelsourcedir")
            .arg(kdir)
            .arg("--sourcetree")
            .arg(&sourcetree)
            .arg("--dkmstree")
            .arg(&tree);
        run_logged(&mut c, &work.join(log))
    };
    dkms(&["add"], &release, &k.build, "add.log")?;
    dkms(&["build"], &release, &k.build, "build.log")?;
    let ko = tree.join(format!(
        "{NAME}/{VERSION}/{release}/x86_64/module/{NAME}.ko"
    ));
    let ko = if ko.is_file() {
        ko
    } else {
        // Older layouts keep the build directory's copy only.
        let b = tree.join(format!("{NAME}/{VERSION}/build/{NAME}.ko"));
        if !b.is_file() {
            bail!("dkms build left no {NAME}.ko under {}", tree.display());
        }
        b
    };
    // A kernel without Rust: DKMS must refuse it with one line, not a compiler error wall.
    let norust = work.join("norust");
    std::fs::create_dir_all(&norust)?;
    std::fs::write(norust.join("Makefile"), "")?;
    std::fs::write(
        norust.join(".config"),
        "# Linux/x86 7.3.4 Kernel Configuration\nCONFIG_NET=y\n",
    )?;
    let log = work.join("norust.log");
    let r = dkms(
        &["build"],
        &format!("{release}-norust"),
        &norust,
        "norust.log",
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    if r.is_ok() && !text.contains("BUILD_EXCLUSIVE") {
        bail!(
            "dkms built for a kernel without CONFIG_RUST: {}",
            log.display()
        );
    }
    if !text.contains("BUILD_EXCLUSIVE") || text.contains("error[") {
        bail!(
            "dkms on a kernel without CONFIG_RUST did not say BUILD_EXCLUSIVE in one line: {}",
            log.display()
        );
    }
    Ok(ko)
}
