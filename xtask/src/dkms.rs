//! Installing compsc_vf as out-of-tree drivers install: `make install` (checked staged), the
//! DKMS source package as a Debian package (`cargo xtask dkms`) and the check that DKMS
//! builds it, and binding over the in-tree ixgbevf in a guest (blacklist, driver_override).

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
    std::fs::create_dir_all(&work)?;
    let root = work.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    let sourcetree = root.join("usr/src");
    let tree = work.join("tree");
    std::fs::create_dir_all(&tree)?;
    let release = release(k)?;
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

/// `make install` staged with INSTALL_MOD_PATH: the module lands in updates/ and depmod lists
/// it and its aliases. Returns the staged `lib/modules/<release>` directory.
pub fn stage_install(k: &Kernel) -> Result<PathBuf> {
    let stage = target_dir().join("install-check");
    let _ = std::fs::remove_dir_all(&stage);
    let mo = target_dir().join("module/install");
    std::fs::create_dir_all(&mo)?;
    run_logged(
        Command::new("make")
            .arg("-C")
            .arg(project_root())
            .arg(format!("KDIR={}", k.build.display()))
            .arg(format!("MO={}", mo.display()))
            .arg(format!("INSTALL_MOD_PATH={}", stage.display()))
            .arg("install"),
        &mo.join("install.log"),
    )?;
    let dir = stage.join("lib/modules").join(release(k)?);
    if !dir.join("updates/compsc_vf.ko").is_file() {
        bail!(
            "make install put no updates/compsc_vf.ko under {}",
            dir.display()
        );
    }
    let dep = std::fs::read_to_string(dir.join("modules.dep")).unwrap_or_default();
    let alias = std::fs::read_to_string(dir.join("modules.alias")).unwrap_or_default();
    if !dep.contains("updates/compsc_vf.ko") || !alias.contains("pci:v00008086d000010EDsv") {
        bail!(
            "depmod did not list compsc_vf (modules.dep, modules.alias in {})",
            dir.display()
        );
    }
    Ok(dir)
}

/// The guest kernel's release string.
fn release(k: &Kernel) -> Result<String> {
    Ok(output(
        Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(&k.build)
            .arg("kernelrelease"),
    )?
    .trim()
    .to_owned())
}

/// The guest side of the binding check, with Debian's kmod as modprobe.
const BIND_PLAN: &str = r#"ln -sf /usr/bin/kmod /tmp/modprobe
dev=/sys/bus/pci/devices/0000:01:00.0
mkdir -p /etc/modprobe.d
echo "blacklist ixgbevf" > /etc/modprobe.d/compsc_vf.conf
/tmp/modprobe "$(cat $dev/modalias)"
echo "E2E-ALIAS-BOUND $(basename "$(readlink $dev/driver)") $(grep -c '^ixgbevf ' /proc/modules)"
/tmp/modprobe -r compsc_vf
rm /etc/modprobe.d/compsc_vf.conf
/tmp/modprobe ixgbevf
echo "E2E-IXGBEVF-BOUND $(basename "$(readlink $dev/driver)")"
/tmp/modprobe compsc_vf
echo compsc_vf > $dev/driver_override
echo 0000:01:00.0 > /sys/bus/pci/drivers/ixgbevf/unbind
echo 0000:01:00.0 > /sys/bus/pci/drivers_probe
echo "E2E-OVERRIDE-BOUND $(basename "$(readlink $dev/driver)") $(grep -c '^ixgbevf ' /proc/modules)"
# driverctl (Debian's script; --nosave: no udev rule in this guest) moves the VF back and forth.
/usr/sbin/driverctl --nosave set-override 0000:01:00.0 ixgbevf || true
echo "E2E-DRIVERCTL-IXGBEVF $(basename "$(readlink $dev/driver)") $(cat $dev/driver_override)"
/usr/sbin/driverctl --nosave set-override 0000:01:00.0 compsc_vf || true
echo "E2E-DRIVERCTL-COMPSC $(basename "$(readlink $dev/driver)") $(cat $dev/driver_override)"
"#;

/// Binding over ixgbevf the conventional ways, in a guest whose /lib/modules is what
/// `make install` staged plus the in-tree ixgbevf: with ixgbevf blacklisted, modprobe by the
/// device's alias binds compsc_vf (and leaves ixgbevf unloaded); with ixgbevf loaded and
/// bound, driver_override hands the VF to compsc_vf; driverctl hands it to ixgbevf and back.
pub fn check_binding(k: &Kernel) -> Result<()> {
    let dir = stage_install(k)?;
    let rel = release(k)?;
    let intree = dir.join("kernel/drivers/net/ethernet/intel/ixgbevf");
    std::fs::create_dir_all(&intree)?;
    std::fs::copy(k.ixgbevf_ko(), intree.join("ixgbevf.ko"))?;
    let stage = dir
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .context("stage")?;
    run(Command::new("depmod").arg("-b").arg(stage).arg(&rel))?;
    let mut g = crate::guest::GuestRun::new("compsc-binding", BIND_PLAN);
    g.with_host_program("/usr/bin/kmod")?;
    g.with_host_program("/bin/bash")?;
    g.files
        .push((driverctl()?, "/usr/sbin/driverctl".to_owned()));
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                let rel_path = p.strip_prefix(&dir)?;
                g.files.push((
                    p.clone(),
                    format!("/lib/modules/{rel}/{}", rel_path.display()),
                ));
            }
        }
    }
    let (out, stats) = crate::model::boot_with_model(k, g, &[], &[])?;
    out.check_plan()?;
    let c = &out.console;
    let m = |key: &str| {
        c.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(str::trim)
            .unwrap_or("")
            .to_owned()
    };
    let here = format!("console {}", out.log_path.display());
    if m("E2E-ALIAS-BOUND") != "compsc_vf 0" {
        bail!(
            "with ixgbevf blacklisted, modprobe by alias gave driver and ixgbevf-loaded {:?}, want `compsc_vf 0`; {here}",
            m("E2E-ALIAS-BOUND")
        );
    }
    if m("E2E-IXGBEVF-BOUND") != "ixgbevf" {
        bail!("without the blacklist ixgbevf did not bind; {here}");
    }
    if m("E2E-OVERRIDE-BOUND") != "compsc_vf 1" {
        bail!(
            "driver_override with ixgbevf loaded gave {:?}, want `compsc_vf 1`; {here}",
            m("E2E-OVERRIDE-BOUND")
        );
    }
    for (key, want) in [
        ("E2E-DRIVERCTL-IXGBEVF", "ixgbevf ixgbevf"),
        ("E2E-DRIVERCTL-COMPSC", "compsc_vf compsc_vf"),
    ] {
        if m(key) != want {
            bail!(
                "driverctl --nosave set-override: {key} gave {:?} (driver, override), want `{want}`; {here}",
                m(key)
            );
        }
    }
    let trouble = crate::test::kernel_trouble(c);
    if !trouble.is_empty() || json_missing(&stats) {
        bail!(
            "kernel trouble or no model stats: {} {stats}; {here}",
            trouble.join(" | ")
        );
    }
    Ok(())
}

/// Debian's driverctl script, fetched once with `apt-get download` and unpacked into the
/// cache (not installed on the host: its package pulls in udev, which a guest check does not
/// need with `--nosave`).
fn driverctl() -> Result<PathBuf> {
    let dir = crate::util::cache_dir().join("driverctl");
    let script = dir.join("usr/sbin/driverctl");
    if script.is_file() {
        return Ok(script);
    }
    let debs = dir.join("deb");
    std::fs::create_dir_all(&debs)?;
    run(Command::new("apt-get")
        .args(["download", "driverctl"])
        .current_dir(&debs))
    .context("apt-get download driverctl (run `cargo xtask setup` first for the package lists)")?;
    let deb = std::fs::read_dir(&debs)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("apt-get download wrote no driverctl .deb")?;
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir))?;
    if !script.is_file() {
        bail!("{} has no usr/sbin/driverctl", deb.display());
    }
    Ok(script)
}

/// True when the model's statistics are absent (the model died).
fn json_missing(stats: &str) -> bool {
    !stats.contains("\"bad_accesses\":0")
}
