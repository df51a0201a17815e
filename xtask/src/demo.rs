//! `cargo xtask demo`: the main job. For now: boot the guest, load compsc_vf, show what it
//! printed, unload it.

use crate::guest::{self, GuestRun};
use crate::module::{self, Variant};
use crate::{kernel, setup};
use anyhow::Result;

/// Runs the demo end to end, installing and building what it needs.
pub fn demo() -> Result<()> {
    setup::setup()?;
    let k = kernel::kernel()?;
    let ko = module::build(&k, Variant::Release)?;
    let mut g = GuestRun::new(
        "demo",
        "echo '--- insmod compsc_vf.ko'\n\
         insmod /modules/compsc_vf.ko\n\
         echo \"--- compsc_vf $(cat /sys/module/compsc_vf/version) loaded\"\n\
         echo \"--- devices bound: $(ls /sys/bus/pci/drivers/compsc_vf | grep -c : || true)\"\n\
         echo '--- rmmod compsc_vf'\n\
         rmmod compsc_vf\n",
    );
    g.files.push((ko, "/modules/compsc_vf.ko".into()));
    let out = guest::boot(&k, &g)?;
    for line in out
        .console
        .lines()
        .filter(|l| l.contains("---") || l.contains("compsc_vf"))
    {
        println!("{line}");
    }
    out.check_plan()?;
    println!("demo passed: console log in {}", out.log_path.display());
    Ok(())
}
