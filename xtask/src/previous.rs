//! The previous-kernel pass of `cargo xtask test` (alone: `cargo xtask traffic 7.2`):
//! compsc_vf built against Debian's linux-source-7.2, the oldest series it supports, with the
//! standard guest configuration, then its KUnit suites, a load and unload, the probe and the
//! end-to-end traffic test there. What differs in the kernel's Rust API between the series is
//! kept in `rust/driver/compat.rs`.

use crate::kernel::{self, Flavor};
use crate::module::Variant;
use crate::test::{build, check_modinfo, kunit_in_guest, load_unload, no_panics, Tally};
use crate::util::step;

/// Runs the pass, adding its checks (each named `7.2: ...`) to `t`.
pub fn pass(t: &mut Tally) {
    let k = match step("guest kernel 7.2", || {
        kernel::kernel_flavor(Flavor::Previous)
    }) {
        Ok(k) => k,
        Err(e) => {
            t.step("7.2: guest kernel build", Err(e));
            return;
        }
    };
    t.step("7.2: guest kernel build", Ok(()));
    let release = build(t, &k, Variant::Release);
    let kunit = build(t, &k, Variant::Kunit);
    if let Some(ko) = &release {
        t.check("7.2: release module: no panic paths", no_panics(ko));
        t.check("7.2: modinfo", check_modinfo(ko));
        t.check(
            "7.2: guest: insmod, driver registered, rmmod, clean dmesg",
            load_unload(&k, ko),
        );
        t.check(
            "7.2: compsc_vf binds vf-model: reset, MAC and API over the mailbox, unbind",
            crate::model::test_compsc_vf_probe(&k, ko),
        );
        t.check(
            "7.2: compsc_vf on vf-model: ping, 100 MiB TCP each way, VLAN, multicast, ethtool, netdev family, link flap",
            crate::model::test_traffic(&k, &crate::model::VfDriver::compsc_vf(ko)),
        );
    }
    match &kunit {
        Some(ko) => kunit_in_guest(t, &k, ko, "7.2: "),
        None => {
            t.check(
                "7.2: kunit in guest",
                Err(anyhow::anyhow!("no KUnit module to load")),
            );
        }
    }
}
