//! The debug-kernel pass of `cargo xtask test`: compsc_vf's end-to-end checks again, on the
//! guest kernel built with KASAN, lockdep, DEBUG_ATOMIC_SLEEP, kmemleak, DMA-API debugging,
//! UBSAN and Rust's debug assertions (`qemu-images/guest-debug.config`).
//!
//! A checker's report anywhere in a console fails that check ([`crate::test::kernel_trouble`]),
//! and every guest on this kernel ends with a kmemleak scan after its plan (the plans unload
//! the driver), which must find nothing. The first check proves the checkers are armed: their
//! boot lines are there, and kmemleak finds what the kernel's own leaking sample leaves.

use crate::guest::{self, GuestRun};
use crate::kernel::{self, Flavor, Kernel};
use crate::module::{self, Variant};
use crate::test::{kernel_trouble, Tally, KMEMLEAK_MARK};
use crate::util::step;
use anyhow::{bail, Context, Result};

/// Lines the debug kernel prints at boot when each checker is on (UBSAN and Rust's
/// assertions print nothing; the `.config` check covers them).
const ARMED: [(&str, &str); 4] = [
    ("KASAN", "KernelAddressSanitizer initialized"),
    ("lockdep", "Lock dependency validator"),
    (
        "kmemleak",
        "kmemleak: Kernel memory leak detector initialized",
    ),
    (
        "DMA-API debugging",
        "DMA-API: debugging enabled by kernel config",
    ),
];

/// Options the debug kernel's `.config` must hold for the checks above to mean anything.
const CONFIG: [&str; 8] = [
    "CONFIG_KASAN=y",
    "CONFIG_PROVE_LOCKING=y",
    "CONFIG_DEBUG_ATOMIC_SLEEP=y",
    "CONFIG_DEBUG_KMEMLEAK=y",
    "CONFIG_DMA_API_DEBUG=y",
    "CONFIG_UBSAN=y",
    "CONFIG_RUST_DEBUG_ASSERTIONS=y",
    "CONFIG_RUST_OVERFLOW_CHECKS=y",
];

/// Runs the pass, adding its checks to `t`.
pub fn pass(t: &mut Tally) {
    let k = match step("debug guest kernel", || {
        kernel::kernel_flavor(Flavor::Debug)
    }) {
        Ok(k) => k,
        Err(e) => {
            t.step("debug guest kernel build", Err(e));
            return;
        }
    };
    t.step("debug guest kernel build", Ok(()));
    let ko = match step("build compsc_vf.ko (Release, debug kernel)", || {
        module::build(&k, Variant::Release)
    }) {
        Ok(ko) => ko,
        Err(e) => {
            t.step("compsc_vf.ko for the debug kernel", Err(e));
            return;
        }
    };
    t.step("compsc_vf.ko for the debug kernel", Ok(()));
    t.check(
        "debug kernel: KASAN, lockdep, kmemleak, DMA-API debugging armed; kmemleak finds kmemleak-test.ko's leaks",
        checkers_armed(&k),
    );
    let drv = crate::model::VfDriver::compsc_vf(&ko);
    t.check(
        "debug kernel: compsc_vf traffic (ping, TCP each way, VLAN, multicast, ethtool, reloads), then kmemleak",
        crate::model::test_traffic(&k, &drv),
    );
    t.check(
        "debug kernel: compsc_vf with its MTU refused, then kmemleak",
        crate::model::test_mtu_refused(&k, &drv),
    );
    t.check(
        "debug kernel: compsc_vf through a PF reset, a VF swap and rmmod under traffic, then kmemleak",
        crate::model::test_compsc_vf_recovery(&k, &ko),
    );
    t.check(
        "debug kernel: compsc_vf under the device-fault matrix, then kmemleak",
        crate::model::test_device_faults(&k, &ko),
    );
    t.check(
        "debug kernel: compsc_vf XDP pass, drop, tx, redirect and refusals, then kmemleak",
        crate::model::test_xdp(&k, &ko),
    );
    t.check(
        "debug kernel: compsc_vf doorbell (freeze+abort, swap+restore, abuse), then kmemleak",
        crate::model::test_doorbell(&k, &ko),
    );
    t.check(
        "debug kernel: compsc_vf against a hostile hypervisor, then kmemleak",
        crate::model::test_doorbell_hypervisor_faults(&k, &ko),
    );
    t.check(
        "debug kernel: compsc_vf live-migrated twice under TCP, then kmemleak",
        crate::model::test_live_migration(&k, &ko).map(drop),
    );
}

/// The debug kernel's checkers are on: its `.config` has them, their boot lines are in the
/// console, and a kmemleak scan after loading and unloading `kmemleak-test.ko` (the kernel's
/// sample that leaks on purpose) reports leaked objects allocated by it.
fn checkers_armed(k: &Kernel) -> Result<()> {
    let config = std::fs::read_to_string(k.build.join(".config"))?;
    let off: Vec<&str> = CONFIG
        .iter()
        .copied()
        .filter(|c| !config.lines().any(|l| l == *c))
        .collect();
    if !off.is_empty() {
        bail!("the debug kernel's .config lacks {}", off.join(" "));
    }
    let sample = k.build.join("samples/kmemleak/kmemleak-test.ko");
    let mut g = GuestRun::new(
        "checkers-armed",
        "insmod /modules/kmemleak-test.ko\nrmmod kmemleak_test\n",
    );
    if !sample.is_file() {
        bail!(
            "{} is missing from the debug kernel build",
            sample.display()
        );
    }
    g.files.push((sample, "/modules/kmemleak-test.ko".into()));
    let out = guest::boot(k, &mut g)?;
    out.check_plan()?;
    for (what, line) in ARMED {
        if !out.console.contains(line) {
            bail!(
                "{what} is not armed: no `{line}` in {}",
                out.log_path.display()
            );
        }
    }
    let found: usize = out
        .console
        .lines()
        .find_map(|l| l.trim().strip_prefix(KMEMLEAK_MARK))
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("no kmemleak scan result in {}", out.log_path.display()))?;
    // The sample's objects were allocated by its init, run by the plan's insmod (the module
    // is gone by the scan, so its frames show as bare addresses).
    if found == 0 || !out.console.contains("comm \"insmod\"") {
        bail!(
            "kmemleak reported {found} objects, none allocated by insmod, after kmemleak-test.ko \
             leaked: the scan would not see a leak in compsc_vf either; see {}",
            out.log_path.display()
        );
    }
    // The same console minus the expected leaks (and the sample's own kmemleak lines) must
    // be clean.
    let unexpected: Vec<&str> = kernel_trouble(&out.console)
        .into_iter()
        .filter(|l| {
            !l.contains("unreferenced object")
                && !l.contains(KMEMLEAK_MARK)
                && !l.contains("kmemleak: ")
        })
        .collect();
    if !unexpected.is_empty() {
        bail!("kernel trouble: {}", unexpected.join(" | "));
    }
    eprintln!("    debug kernel: kmemleak found {found} objects leaked by kmemleak-test.ko");
    Ok(())
}
