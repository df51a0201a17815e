//! `cargo xtask <verb>`: the project's build, test and demo orchestration.
//!
//! Only orchestration lives here; product logic is in `rust/`.

mod debug;
mod demo;
mod dkms;
mod fuzz;
mod guest;
mod kernel;
mod ktap;
mod model;
mod module;
mod previous;
mod setup;
mod test;
mod tools;
mod util;

use anyhow::{bail, Context, Result};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  setup    install the toolchain, kernel source, QEMU and the vfio-user chroot (idempotent);
           `setup --check` says what is missing and changes nothing
  kernel   build the guest kernel (cached on the source version, config fragment and compilers;
           rebuilt when a tool version its .config records has changed); `kernel --debug`:
           the debug kernel (KASAN, lockdep, kmemleak, DMA-API debug, UBSAN; clang);
           `kernel --7.2`: the standard configuration on Debian's linux-source-7.2
  build    build compsc_vf.ko (release and KUnit variants) against the guest kernel
  test     run every test layer: host, module build, KUnit in the guest, end to end
  demo     boot the guest and load compsc_vf
  dkms     build the DKMS source package as a Debian package (target/dkms/)
  traffic  the end-to-end traffic test alone: `cargo xtask traffic [compsc_vf|ixgbevf|mtu|install|recovery|faults|alloc|hypervisor|xdp|doorbell|migrate|debug|7.2]`
           (default compsc_vf): ping, 100 MiB TCP each way and a link flap through vf-model;
           `mtu`: both drivers against a PF that refuses jumbo frames;
           `install`: make install, binding over ixgbevf, the DKMS package;
           `recovery`: compsc_vf through a PF reset, a VF swap and rmmod under traffic;
           `faults`: the device-fault matrix (vf-model misbehaves under traffic) and the
           hypervisor faults; `hypervisor`: those alone (doorbell abuse, a corrupted
           record, other VF models); `alloc`: every Rx page allocation failing and the
           rings refilling after; `xdp`: XDP programs of each verdict, and refusals;
           `doorbell`: the migration doorbell on one VF (abort, swap and restore, abuse);
           `migrate`: a live migration between two QEMUs under TCP traffic;
           `debug`: compsc_vf's end-to-end checks on the debug kernel (KASAN, lockdep,
           kmemleak, DMA-API debugging, UBSAN), each followed by a kmemleak scan;
           `7.2`: build, KUnit, probe and traffic on the previous kernel series
  soak     `cargo xtask soak MINUTES [--debug]` (not part of `test`): traffic each way with
           moves to fresh VFs, aborts, PF resets, link flaps and ring resizes at random;
           reports what was lost (target/soak/report.txt); --debug on the debug kernel
  fuzz     fuzz the core's decoders, record and plans: `cargo xtask fuzz [SECONDS]` (default 60)
  bench    `cargo xtask bench [datapath|migration] [ROUNDS]` (default: both, 3 rounds):
           datapath: compsc_vf against ixgbevf on the same traffic (throughput, MMIO and
           interrupts per packet); migration: the same live migration with compsc_vf and with
           virtio-net (peer-visible outage). Tables and `ratio ...` lines, also written to
           target/bench/
";

fn main() {
    if let Err(e) = try_main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn try_main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(task) = args.first() else {
        eprint!("{USAGE}");
        std::process::exit(2);
    };
    // Only `setup`, `fuzz`, `traffic` and `bench` take arguments; anything else extra is a typo.
    let max_args = match task.as_str() {
        "setup" | "fuzz" | "traffic" | "kernel" => 2,
        "soak" => 3,
        "bench" => 3,
        _ => 1,
    };
    if let Some(extra) = args.get(max_args) {
        bail!("unexpected argument `{extra}` to `{task}`\n{USAGE}");
    }
    match task.as_str() {
        "setup" => match args.get(1).map(String::as_str) {
            None => setup::setup(),
            Some("--check") => setup::check(),
            Some(other) => bail!("unknown setup option `{other}` (only --check)"),
        },
        "kernel" => {
            let flavor = match args.get(1).map(String::as_str) {
                None => kernel::Flavor::Standard,
                Some("--debug") => kernel::Flavor::Debug,
                Some("--7.2") => kernel::Flavor::Previous,
                Some(other) => bail!("unknown kernel option `{other}` (--debug or --7.2)"),
            };
            kernel::kernel_flavor(flavor).map(|k| {
                eprintln!("guest kernel: {}", k.bzimage().display());
                eprintln!("reference ixgbevf: {}", k.ixgbevf_ko().display());
            })
        }
        "build" => {
            let k = kernel::kernel()?;
            for v in [module::Variant::Release, module::Variant::Kunit] {
                let ko = module::build(&k, v)?;
                eprintln!("built {}", ko.display());
            }
            Ok(())
        }
        "test" => test::test(),
        "demo" => demo::demo(),
        "dkms" => {
            setup::setup()?;
            let deb = dkms::package()?;
            eprintln!("DKMS package: {}", deb.display());
            Ok(())
        }
        "bench" => {
            let (what, rounds_arg) = match args.get(1).map(String::as_str) {
                Some(w @ ("datapath" | "migration")) => (Some(w.to_owned()), args.get(2)),
                Some(n) if n.parse::<u32>().is_ok() => (None, args.get(1)),
                None => (None, None),
                Some(other) => {
                    bail!("usage: cargo xtask bench [datapath|migration] [ROUNDS] (got `{other}`)")
                }
            };
            let rounds = match rounds_arg {
                Some(s) => s
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("`{s}` is not a number of rounds above 0"))?,
                None => 3,
            };
            setup::setup()?;
            let k = kernel::kernel()?;
            let ko = module::build(&k, module::Variant::Release)?;
            let dir = util::target_dir().join("bench");
            std::fs::create_dir_all(&dir)?;
            for (name, run) in [
                (
                    "datapath",
                    model::bench_datapath as fn(&_, &_, u32) -> Result<String>,
                ),
                ("migration", model::bench_migration),
            ] {
                if what.as_deref().is_some_and(|w| w != name) {
                    continue;
                }
                let out = run(&k, &ko, rounds)?;
                print!("{out}");
                let file = dir.join(format!("{name}.txt"));
                std::fs::write(&file, &out)?;
                eprintln!("written to {}", file.display());
            }
            Ok(())
        }
        "traffic" => {
            setup::setup()?;
            let k = kernel::kernel()?;
            let drv = match args.get(1).map(String::as_str) {
                None | Some("compsc_vf") => {
                    model::VfDriver::compsc_vf(&module::build(&k, module::Variant::Release)?)
                }
                Some("ixgbevf") => model::VfDriver::ixgbevf(&k)?,
                Some("doorbell") => {
                    let ko = module::build(&k, module::Variant::Release)?;
                    model::test_doorbell(&k, &ko)?;
                    eprintln!("doorbell passed");
                    return Ok(());
                }
                Some("migrate") => {
                    let ko = module::build(&k, module::Variant::Release)?;
                    model::test_live_migration(&k, &ko)?;
                    eprintln!("migration passed");
                    return Ok(());
                }
                Some("install") => {
                    dkms::check_binding(&k)?;
                    let ko = dkms::build_with_dkms(&k)?;
                    model::test_compsc_vf_probe(&k, &ko)?;
                    eprintln!("install passed");
                    return Ok(());
                }
                Some("mtu") => {
                    let ko = module::build(&k, module::Variant::Release)?;
                    model::test_mtu_refused(&k, &model::VfDriver::compsc_vf(&ko))?;
                    model::test_mtu_refused(&k, &model::VfDriver::ixgbevf(&k)?)?;
                    eprintln!("mtu passed");
                    return Ok(());
                }
                Some("faults") => {
                    let ko = module::build(&k, module::Variant::Release)?;
                    model::test_device_faults(&k, &ko)?;
                    model::test_doorbell_hypervisor_faults(&k, &ko)?;
                    eprintln!("faults passed");
                    return Ok(());
                }
                Some("alloc") => {
                    let ko = module::build(&k, module::Variant::Release)?;
                    model::test_alloc_failure(&k, &ko)?;
                    eprintln!("alloc passed");
                    return Ok(());
                }
                Some("xdp") => {
                    let ko = module::build(&k, module::Variant::Release)?;
                    model::test_xdp(&k, &ko)?;
                    eprintln!("xdp passed");
                    return Ok(());
                }
                Some("hypervisor") => {
                    let ko = module::build(&k, module::Variant::Release)?;
                    model::test_doorbell_hypervisor_faults(&k, &ko)?;
                    eprintln!("hypervisor faults passed");
                    return Ok(());
                }
                Some("debug") => {
                    let mut t = test::Tally::default();
                    debug::pass(&mut t);
                    return t.finish();
                }
                Some("7.2") => {
                    let mut t = test::Tally::default();
                    previous::pass(&mut t);
                    return t.finish();
                }
                Some("recovery") => {
                    let ko = module::build(&k, module::Variant::Release)?;
                    model::test_compsc_vf_recovery(&k, &ko)?;
                    eprintln!("recovery passed");
                    return Ok(());
                }
                Some(other) => {
                    bail!("unknown `{other}` (compsc_vf, ixgbevf, mtu, install, recovery, faults, alloc, hypervisor, xdp, doorbell, migrate, debug or 7.2)")
                }
            };
            model::test_traffic(&k, &drv)?;
            eprintln!("traffic passed");
            Ok(())
        }
        "soak" => {
            let minutes: u32 = args
                .get(1)
                .and_then(|s| s.parse().ok())
                .filter(|n| *n > 0)
                .context("usage: cargo xtask soak MINUTES [--debug]")?;
            let flavor = match args.get(2).map(String::as_str) {
                None => kernel::Flavor::Standard,
                Some("--debug") => kernel::Flavor::Debug,
                Some(other) => bail!("unknown soak option `{other}` (only --debug)"),
            };
            setup::setup()?;
            let k = kernel::kernel_flavor(flavor)?;
            let ko = module::build(&k, module::Variant::Release)?;
            let report = model::soak(&k, &ko, minutes)?;
            print!("{report}");
            Ok(())
        }
        "fuzz" => {
            let seconds = match args.get(1) {
                Some(s) => s
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("`{s}` is not a number of seconds above 0"))?,
                None => 60,
            };
            fuzz::fuzz(seconds)
        }
        other => bail!("unknown task `{other}`\n{USAGE}"),
    }
}
