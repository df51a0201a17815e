//! The device model's place in the xtask: the QEMU that can attach it, the host rig around
//! it, and the end-to-end checks of `cargo xtask test`.
//!
//! - [`chroot`]: QEMU 11.1 with `vfio-user-pci` from a trixie chroot (`cargo xtask setup`).
//! - [`rig`]: vf-model, the network namespace and peers, and their teardown.
//! - [`ixgbevf`]: the in-tree driver as the model's oracle (traffic, link flap, VF swap).
//! - [`compsc`]: compsc_vf binding the model, per VF generation and under PF faults.
//! - [`faults`]: the device-fault matrix (the model misbehaves under traffic).

mod bench_datapath;
mod bench_migration;
mod chroot;
mod compsc;
mod faults;
mod ixgbevf;
mod migrate;
mod rig;
mod soak;
mod xdp;

pub use bench_datapath::bench_datapath;
pub use bench_migration::bench_migration;
pub use chroot::{setup_trixie_qemu, trixie_qemu_ready};
pub use compsc::{
    test_compsc_vf_faults, test_compsc_vf_ids, test_compsc_vf_probe, test_compsc_vf_recovery,
    test_mtu_refused,
};
pub use faults::{test_alloc_failure, test_device_faults};
pub use ixgbevf::{test_ixgbevf_swap, test_ixgbevf_traffic, test_traffic, VfDriver};
pub use migrate::{test_doorbell, test_doorbell_hypervisor_faults, test_live_migration};
pub use rig::boot_with_model;
pub use soak::soak;
pub use xdp::test_xdp;

use anyhow::{bail, Result};
use rig::json_field;

/// No kernel trouble in the console, and the model refused no guest access, descriptor or DMA.
fn clean_run(console: &str, stats: &str) -> Result<()> {
    let trouble = crate::test::kernel_trouble(console);
    if !trouble.is_empty() {
        bail!("kernel trouble: {}", trouble.join(" | "));
    }
    // The model's statistics are the evidence: missing ones fail the check, not pass it.
    for key in ["bad_accesses", "bad_descriptors", "dma_errors"] {
        match json_field(stats, key) {
            Some("0") => {}
            Some(_) => bail!("the model refused guest input ({key}): {stats}"),
            None => bail!("no statistics from the model to check ({key} missing): {stats:?}"),
        }
    }
    Ok(())
}

/// Median, minimum and maximum of `values` (NaN when there are none): how the benches report a
/// measurement taken over several rounds.
fn spread(values: impl IntoIterator<Item = f64>) -> (f64, f64, f64) {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let median = match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    };
    (
        median,
        v.first().copied().unwrap_or(f64::NAN),
        v.last().copied().unwrap_or(f64::NAN),
    )
}

fn marker<'a>(console: &'a str, key: &str) -> Option<&'a str> {
    console
        .lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .map(str::trim)
}
