//! `cargo xtask test`: every test layer, ending in `N passed, N failed`.
//!
//! Layers: host (fmt, clippy, `cargo test`), the module build, KUnit in the guest, end to end in
//! the guest. A step that cannot run because an earlier one failed counts as failed.

use crate::guest::{self, GuestRun};
use crate::kernel::{self, Kernel};
use crate::ktap;
use crate::module::{self, Variant};
use crate::util::{display, step};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Pass/fail bookkeeping across layers.
#[derive(Default)]
pub struct Tally {
    passed: usize,
    failed: Vec<String>,
}

impl Tally {
    /// Records one check.
    pub fn check(&mut self, name: &str, r: Result<()>) -> bool {
        match r {
            Ok(()) => {
                eprintln!("PASS {name}");
                self.passed += 1;
                true
            }
            Err(e) => {
                eprintln!("FAIL {name}: {e:#}");
                self.failed.push(name.to_owned());
                false
            }
        }
    }

    /// Records a step the checks need (setup, the kernel build): its failure fails the run,
    /// its success is not a check passed.
    pub fn step(&mut self, name: &str, r: Result<()>) -> bool {
        match r {
            Ok(()) => {
                eprintln!("done {name} (a step, not counted as a check)");
                true
            }
            Err(e) => self.check(name, Err(e)),
        }
    }

    /// Prints the totals; an error naming the failed checks if there are any.
    pub fn finish(self) -> Result<()> {
        println!("{} passed, {} failed", self.passed, self.failed.len());
        if !self.failed.is_empty() {
            bail!("failed: {}", self.failed.join(", "));
        }
        Ok(())
    }

    /// Records a batch counted elsewhere (e.g. by cargo test).
    fn add(&mut self, passed: usize, failed: &[String]) {
        self.passed += passed;
        self.failed.extend(failed.iter().cloned());
    }
}

/// Runs every layer; returns an error (non-zero exit) if anything failed.
pub fn test() -> Result<()> {
    let mut t = Tally::default();
    t.step("setup", crate::setup::setup());
    host(&mut t);
    // Short on purpose: it keeps the target building and finds shallow crashes; long
    // campaigns are `cargo xtask fuzz SECONDS`.
    t.check(
        "fuzz the core's decoders and plans for 20 s: no crash",
        step("fuzz", || crate::fuzz::fuzz(20)),
    );
    bad_kdir(&mut t);
    let kernel = match step("guest kernel", kernel::kernel) {
        Ok(k) => Some(k),
        Err(e) => {
            t.step("guest kernel build", Err(e));
            None
        }
    };
    // Where the 7.2 and debug kernels are not cached yet, they build meanwhile at the lowest
    // CPU priority: the standard pass's guests spend much of their time waiting.
    let mut prebuild = kernel::prebuild_niced(&[kernel::Flavor::Previous, kernel::Flavor::Debug]);
    if let Some(k) = &kernel {
        t.step("guest kernel build", Ok(()));
        t.check(
            "kernel tools: the cache and make KDIR= see a changed pahole and name both versions",
            crate::tools::check_tool_change_is_seen(k),
        );
        let release = build(&mut t, k, Variant::Release);
        let kunit = build(&mut t, k, Variant::Kunit);
        build(&mut t, k, Variant::Clippy);
        if let Some(ko) = &release {
            t.check(
                "release module: no panic paths in compsc_vf code",
                no_panics(ko),
            );
            t.check(
                "modinfo: description, author, license, version, ixgbevf aliases",
                check_modinfo(ko),
            );
            t.check(
                "guest: insmod, driver registered, rmmod, clean dmesg",
                load_unload(k, ko),
            );
            t.check(
                "make install: modules_install into updates/ with depmod (module dependencies and aliases)",
                crate::dkms::stage_install(k).map(drop),
            );
            t.check(
                "binding over ixgbevf: blacklist + modprobe by alias binds compsc_vf; driver_override takes the VF from a loaded ixgbevf",
                crate::dkms::check_binding(k),
            );
            t.check(
                "DKMS package: dkms builds it against the Rust-enabled kernel, skips a kernel without Rust in one line, and its module binds the VF",
                crate::dkms::build_with_dkms(k)
                    .and_then(|dko| crate::model::test_compsc_vf_probe(k, &dko)),
            );
            t.check(
                "compsc_vf binds vf-model: reset, MAC and API over the mailbox, unbind",
                crate::model::test_compsc_vf_probe(k, ko),
            );
            t.check(
                "compsc_vf binds X540, X550, X550EM_x, X550EM_a, E610 and the Hyper-V VF ids",
                crate::model::test_compsc_vf_ids(k, ko),
            );
            t.check(
                "compsc_vf on a hostile PF: lost message, ping race, reset held",
                crate::model::test_compsc_vf_faults(k, ko),
            );
            t.check(
                "compsc_vf on vf-model: netdev, MAC, link, ping, 100 MiB TCP each way, link flap",
                crate::model::test_traffic(k, &crate::model::VfDriver::compsc_vf(ko)),
            );
            t.check(
                "compsc_vf refuses an MTU the PF refuses, says why, and keeps receiving",
                crate::model::test_mtu_refused(k, &crate::model::VfDriver::compsc_vf(ko)),
            );
            t.check(
                "compsc_vf recovers from a PF reset and a VF swap, replays its PF state, unloads under traffic",
                crate::model::test_compsc_vf_recovery(k, ko),
            );
            t.check(
                "compsc_vf under device faults (bad Rx write-backs, Tx head jumps, all-ones BAR, held reset, bad mailbox replies, ping flood, MSI-X storm): counted, logged once, traffic back",
                crate::model::test_device_faults(k, ko),
            );
            t.check(
                "compsc_vf with every Rx page allocation failing (fail_page_alloc on its call stacks): counted in ethtool -S and qstats, nothing received, rings refilled by the service task once pages come back",
                crate::model::test_alloc_failure(k, ko),
            );
            t.check(
                "compsc_vf XDP: pass, drop, tx and redirect (ndo_xdp_xmit) in native mode; a multi-buffer program and a too-large MTU refused with extack",
                crate::model::test_xdp(k, ko),
            );
            t.check(
                "compsc_vf doorbell on one VF: freeze+abort, freeze+swap+restore with PF state replayed, abuse refused",
                crate::model::test_doorbell(k, ko),
            );
            t.check(
                "compsc_vf against a hostile hypervisor: FREEZE twice, ABORT after RESTORE, 1000 doorbells/s, a minute frozen, a corrupted record, other VF models",
                crate::model::test_doorbell_hypervisor_faults(k, ko),
            );
            t.check(
                "live migration between two QEMUs under 100 MiB TCP each way: PREPARE, FREEZE, switch-over, RESTORE, nothing corrupted",
                crate::model::test_live_migration(k, ko).map(|_| ()),
            );
        }
        t.check(
            "ixgbevf on vf-model: probe, MAC, link, ping, 100 MiB TCP each way, link flap",
            crate::model::test_ixgbevf_traffic(k),
        );
        t.check(
            "ixgbevf against a PF that refuses jumbo frames: refused, and Rx stops as on an 82599 (the model's oracle)",
            crate::model::VfDriver::ixgbevf(k)
                .and_then(|d| crate::model::test_mtu_refused(k, &d)),
        );
        t.check(
            "ixgbevf under a VF swap (no CompSC): recovers by resetting, same MAC, clean kernel",
            crate::model::test_ixgbevf_swap(k).map(|r| {
                eprintln!(
                    "    ixgbevf swap baseline: {} failed 1 s pings before traffic resumed; rx_packets {} -> {}",
                    r.pings_until_back, r.rx_packets.0, r.rx_packets.1
                );
            }),
        );
        match &kunit {
            Some(ko) => kunit_in_guest(&mut t, k, ko, ""),
            None => {
                t.check(
                    "kunit in guest",
                    Err(anyhow::anyhow!("no KUnit module to load")),
                );
            }
        }
    } else {
        t.check(
            "module build and guest tests",
            Err(anyhow::anyhow!("no guest kernel")),
        );
    }
    crate::previous::pass(&mut t);
    crate::debug::pass(&mut t);
    if let Some(c) = prebuild.as_mut() {
        // Done by now (both passes waited for its builds); reaped, never left behind.
        let _ = c.wait();
    }
    t.finish()
}

pub(crate) fn build(t: &mut Tally, k: &Kernel, v: Variant) -> Option<PathBuf> {
    let name = format!("{v:?}{}", k.flavor.module_suffix());
    let r = step(&format!("build compsc_vf.ko ({name})"), || {
        module::build(k, v)
    });
    let check = format!("module build ({name}), no warnings");
    match r {
        Ok(ko) => {
            t.check(&check, Ok(()));
            Some(ko)
        }
        Err(e) => {
            t.check(&check, Err(e));
            None
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn host(t: &mut Tally) {
    t.check(
        "cargo fmt --check",
        step("rustfmt", || {
            crate::util::run(cargo().args(["fmt", "--all", "--check"]))
        }),
    );
    t.check(
        "rustfmt --check on the module's Rust (rust/driver, tests-kunit)",
        step("rustfmt (module)", || {
            crate::util::run(
                Command::new("rustfmt")
                    .args(["--edition", "2021", "--check"])
                    .arg(crate::util::project_root().join("rust/driver/compsc_vf_main.rs")),
            )
        }),
    );
    t.check(
        "cargo clippy -D warnings",
        step("clippy", || {
            crate::util::run(cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--quiet",
                "--",
                "-D",
                "warnings",
            ]))
        }),
    );
    let r = step("cargo test (host)", || {
        let mut cmd = cargo();
        cmd.args(["test", "--workspace", "--no-fail-fast"])
            .stdout(Stdio::piped());
        eprintln!("$ {}", display(&cmd));
        let out = cmd.output().context("run cargo test")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let (passed, failed) = cargo_test_counts(&text);
        for f in &failed {
            eprintln!("  failed: {f}");
        }
        if !out.status.success() && failed.is_empty() {
            bail!("cargo test failed before running tests ({})", out.status);
        }
        Ok((passed, failed))
    });
    match r {
        Ok((p, f)) => {
            eprintln!("host tests: {p} passed, {} failed", f.len());
            t.add(p, &f);
        }
        Err(e) => {
            t.check("cargo test", Err(e));
        }
    }
}

/// `make` refuses a kernel it cannot build against, with one line naming what is missing and
/// the command that fixes it.
fn bad_kdir(t: &mut Tally) {
    let fake = crate::util::target_dir().join("fake-kdir");
    let rustc = crate::util::output(Command::new("rustc").arg("--version")).unwrap_or_default();
    let ours = rustc
        .split_whitespace()
        .nth(1)
        .and_then(|v| {
            let n: Vec<u32> = v.split('.').filter_map(|x| x.parse().ok()).collect();
            Some(n.first()? * 100_000 + n.get(1)? * 100 + n.get(2)?)
        })
        .unwrap_or(0);
    let cases: [(&str, Option<String>, &str, &str); 7] = [
        ("missing KDIR", None, "", "is not a kernel build directory"),
        (
            "kernel without CONFIG_RUST",
            Some("CONFIG_NET=y\n".into()),
            "",
            "built without CONFIG_RUST=y",
        ),
        (
            "kernel older than 7.2",
            Some("# Linux/x86 7.1.3 Kernel Configuration\nCONFIG_RUST=y\n".into()),
            "",
            "compsc_vf needs Linux 7.2 or later",
        ),
        (
            "headers without the kernel's Rust metadata",
            Some(format!("# Linux/x86 7.3.4 Kernel Configuration\nCONFIG_RUST=y\nCONFIG_RUSTC_VERSION={ours}\nNO_RUST_METADATA\n")),
            "",
            "has no rust/libkernel.rmeta",
        ),
        (
            "kernel built by another rustc",
            Some("CONFIG_RUST=y\nCONFIG_RUSTC_VERSION=108000\n".into()),
            "",
            "does not match the rustc that built the kernel",
        ),
        (
            "missing rust-src",
            Some(format!("CONFIG_RUST=y\nCONFIG_RUSTC_VERSION={ours}\n")),
            "RUST_LIB_SRC=/nonexistent",
            "rust-src is missing",
        ),
        (
            "kernel without Module.symvers",
            Some(format!("CONFIG_RUST=y\nCONFIG_RUSTC_VERSION={ours}\n")),
            "",
            "Module.symvers is missing",
        ),
    ];
    for (what, config, extra, want) in cases {
        let r = (|| -> Result<()> {
            let _ = std::fs::remove_dir_all(&fake);
            if let Some(c) = &config {
                std::fs::create_dir_all(&fake)?;
                std::fs::write(fake.join("Makefile"), "")?;
                std::fs::write(fake.join(".config"), c)?;
                if !c.contains("NO_RUST_METADATA") {
                    std::fs::create_dir_all(fake.join("rust"))?;
                    std::fs::write(fake.join("rust/libkernel.rmeta"), "")?;
                    std::fs::write(fake.join("rust/libmacros.so"), "")?;
                }
            }
            let mut cmd = Command::new("make");
            cmd.arg("-C")
                .arg(crate::util::project_root())
                .arg(format!("KDIR={}", fake.display()));
            if !extra.is_empty() {
                cmd.arg(extra);
            }
            let out = cmd.output()?;
            let err = String::from_utf8_lossy(&out.stderr);
            if out.status.success() || !err.contains(want) || !err.contains("error:") {
                bail!(
                    "make with {what}: want a failure saying `{want}`, got: {}",
                    err.trim()
                );
            }
            Ok(())
        })();
        t.check(&format!("make refuses {what}"), r);
    }
    let _ = std::fs::remove_dir_all(&fake);
}

/// Counts `test x ... ok` / `... FAILED` / `... ignored` lines of libtest output. An ignored
/// test counts as failed: a check that did not run proves nothing. The per-binary `test
/// result:` summaries must add up to the same numbers, so a result line garbled by a test's
/// own output is a failure rather than a test that silently went uncounted; so is a run in
/// which no test passed at all.
fn cargo_test_counts(text: &str) -> (usize, Vec<String>) {
    let mut passed = 0;
    let mut failed = Vec::new();
    let mut summary = [0usize; 3];
    for line in text.lines() {
        if let Some(totals) = line.strip_prefix("test result: ") {
            for (i, what) in ["passed", "failed", "ignored"].iter().enumerate() {
                summary[i] += libtest_total(totals, what);
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("test ") else {
            continue;
        };
        if rest.ends_with(" ... ok") {
            passed += 1;
        } else if let Some(name) = rest.strip_suffix(" ... FAILED") {
            failed.push(format!("host: {name}"));
        } else if let Some((name, _)) = rest.split_once(" ... ignored") {
            failed.push(format!("host: {name} (ignored)"));
        }
    }
    if summary[0] != passed || summary[1] + summary[2] != failed.len() {
        failed.push(format!(
            "host: libtest summaries say {} passed, {} failed, {} ignored, but {passed} passed \
             and {} failed or ignored were read",
            summary[0],
            summary[1],
            summary[2],
            failed.len()
        ));
    }
    if passed == 0 {
        failed.push("host: no test passed (did any run?)".to_owned());
    }
    (passed, failed)
}

/// `N` from `...; N what; ...` in a libtest `test result:` line (0 if absent).
fn libtest_total(totals: &str, what: &str) -> usize {
    totals
        .split(';')
        .filter_map(|part| part.trim().rsplit_once(' '))
        .find_map(|(n, w)| {
            (w == what)
                .then(|| n.rsplit(' ').next()?.parse().ok())
                .flatten()
        })
        .unwrap_or(0)
}

pub(crate) fn no_panics(ko: &Path) -> Result<()> {
    let obj = ko.with_file_name("compsc_vf.o");
    let sites = module::panic_sites(&obj)?;
    if !sites.is_empty() {
        for (f, c) in &sites {
            eprintln!("  | {f} -> {c}");
        }
        bail!(
            "{} call(s) into the panic machinery (each a BUG() on bad input)",
            sites.len()
        );
    }
    Ok(())
}

pub(crate) fn check_modinfo(ko: &Path) -> Result<()> {
    let mi = module::modinfo(ko)?;
    if mi.description.len() < 20 || mi.author.is_empty() || mi.version.is_empty() {
        bail!("modinfo lacks a description, author or version");
    }
    if mi.kernels != "7.2 to 7.3 (tested)" {
        bail!(
            "modinfo kernels is `{}`, want the tested range `7.2 to 7.3 (tested)`",
            mi.kernels
        );
    }
    if mi.license != "GPL v2" {
        bail!("license is `{}`, want `GPL v2`", mi.license);
    }
    for id in [
        "10ED", "152E", "1515", "1530", "1565", "1564", "15A8", "15A9", "15C5", "57AD",
    ] {
        let want = format!("pci:v00008086d0000{id}sv");
        if !mi.aliases.iter().any(|a| a.starts_with(&want)) {
            bail!("no modalias for 8086:{id}");
        }
    }
    Ok(())
}

/// The line the guest's `/init` prints after its kmemleak scan, with the number of objects
/// reported (only on a kernel with kmemleak, the debug one).
pub const KMEMLEAK_MARK: &str = "COMPSC-KMEMLEAK";

/// Lines in a guest console that mean the kernel is unhappy.
///
/// On the debug kernel (its kmemleak says it initialized), a plan that finished must also
/// show the scan `/init` runs after it, finding nothing: a leak is trouble, and so is a scan
/// that never ran.
pub fn kernel_trouble(console: &str) -> Vec<&str> {
    // The debug kernel's checkers: KASAN and sleeping-in-atomic reports start with `BUG:`,
    // lockdep's and DMA-API debugging's with `WARNING:`; `INFO:` is lockdep's, RCU stalls'
    // and hung tasks'; the guest's /init prints kmemleak's objects after its scan.
    const BAD: [&str; 9] = [
        "BUG:",
        "WARNING:",
        "Oops",
        "Kernel panic",
        "general protection",
        "Call Trace",
        "UBSAN",
        "INFO: ",
        "unreferenced object",
    ];
    // What the checkers say when they start, or when they lose their evidence (disabled,
    // out of memory): only the start is fine.
    const FINE: [&str; 5] = [
        "DMA-API: preallocated",
        "DMA-API: debugging enabled by kernel config",
        "kmemleak: Kernel memory leak detector initialized",
        "kmemleak: Automatic memory scanning thread",
        "kmemleak: Object", // the start of a reported object, trouble through its own line
    ];
    let mut trouble: Vec<&str> = console
        .lines()
        .filter(|l| {
            BAD.iter().any(|b| l.contains(b))
                || ((l.contains("DMA-API: ") || l.contains("kmemleak: "))
                    && !FINE.iter().any(|f| l.contains(f)))
        })
        .collect();
    let debug_kernel = console.contains("kmemleak: Kernel memory leak detector initialized");
    let finished = console.contains(crate::guest::PLAN_EXIT_MARK);
    if debug_kernel && finished {
        let scans: Vec<&str> = console
            .lines()
            .filter(|l| l.trim().starts_with(KMEMLEAK_MARK))
            .collect();
        match scans.as_slice() {
            [] => trouble.push("no kmemleak scan after the plan (COMPSC-KMEMLEAK missing)"),
            s => trouble.extend(
                s.iter()
                    .filter(|l| l.trim() != format!("{KMEMLEAK_MARK} 0"))
                    .copied(),
            ),
        }
    }
    trouble
}

#[cfg(test)]
mod trouble_tests {
    use super::kernel_trouble;

    const DEBUG_BOOT: &str =
        "[0.1] kmemleak: Kernel memory leak detector initialized (mem pool available: 15000)\n\
                              [0.2] DMA-API: preallocated 65536 debug entries\n\
                              [0.2] DMA-API: debugging enabled by kernel config\n";

    #[test]
    fn debug_kernel_needs_a_clean_scan() {
        let clean = format!("{DEBUG_BOOT}COMPSC-KMEMLEAK 0\nCOMPSC-PLAN-EXIT 0\n");
        assert!(
            kernel_trouble(&clean).is_empty(),
            "{:?}",
            kernel_trouble(&clean)
        );
        let leak = format!(
            "{DEBUG_BOOT}unreferenced object 0xffff888 (size 64):\nCOMPSC-KMEMLEAK 1\nCOMPSC-PLAN-EXIT 0\n"
        );
        assert_eq!(kernel_trouble(&leak).len(), 2);
        let unscanned = format!("{DEBUG_BOOT}COMPSC-PLAN-EXIT 0\n");
        assert_eq!(kernel_trouble(&unscanned).len(), 1);
        // A migration's source never finishes its plan: the destination scans.
        assert!(kernel_trouble(DEBUG_BOOT).is_empty());
    }

    #[test]
    fn checkers_losing_evidence_is_trouble() {
        let off = "DMA-API: debugging out of memory - disabling\nkmemleak: Kernel memory leak detector disabled\n";
        assert_eq!(kernel_trouble(off).len(), 2);
        assert!(kernel_trouble("COMPSC-PLAN-EXIT 0\n").is_empty());
    }
}

pub(crate) fn load_unload(k: &Kernel, ko: &Path) -> Result<()> {
    let mut g = GuestRun::new(
        "load-unload",
        "insmod /modules/compsc_vf.ko\n\
         test -d /sys/bus/pci/drivers/compsc_vf\n\
         grep -q compsc_vf /proc/modules\n\
         rmmod compsc_vf\n\
         ! grep -q compsc_vf /proc/modules\n\
         ! test -e /sys/bus/pci/drivers/compsc_vf\n",
    );
    g.files
        .push((ko.to_path_buf(), "/modules/compsc_vf.ko".into()));
    let out = guest::boot(k, &mut g)?;
    out.check_plan()?;
    let trouble = kernel_trouble(&out.console);
    if !trouble.is_empty() {
        bail!(
            "kernel trouble in {}: {}",
            out.log_path.display(),
            trouble.join(" | ")
        );
    }
    Ok(())
}

/// KUnit's suites in a guest on `k`; each case is a check named `<prefix>kunit <case>`.
pub(crate) fn kunit_in_guest(t: &mut Tally, k: &Kernel, ko: &Path, prefix: &str) {
    struct KunitRun {
        cases: Vec<ktap::Case>,
        kunit_py_ok: bool,
        declared: Vec<(String, usize)>,
    }
    let r = (|| -> Result<KunitRun> {
        let declared = ktap::declared_suites()?;
        let mut g = GuestRun::new("kunit", "insmod /modules/compsc_vf.ko\nrmmod compsc_vf\n");
        g.files
            .push((ko.to_path_buf(), "/modules/compsc_vf.ko".into()));
        let out = guest::boot(k, &mut g)?;
        out.check_plan()?;
        let doc = ktap::extract(&out.console)
            .with_context(|| format!("no KTAP in {}", out.log_path.display()))?;
        let file = guest::guest_dir().join("kunit.ktap");
        std::fs::write(&file, &doc)?;
        let agrees = ktap::kunit_py_parse(&k.source, &file)?;
        Ok(KunitRun {
            cases: ktap::cases(&doc),
            kunit_py_ok: agrees,
            declared,
        })
    })();
    let KunitRun {
        cases,
        kunit_py_ok,
        declared,
    } = match r {
        Ok(x) => x,
        Err(e) => {
            t.check(&format!("{prefix}kunit in guest"), Err(e));
            return;
        }
    };
    for c in &cases {
        t.check(
            &format!("{prefix}kunit {}", c.name),
            if c.passed {
                Ok(())
            } else {
                Err(anyhow::anyhow!("failed in the guest"))
            },
        );
    }
    // Every declared suite ran with every declared case, and kunit.py agrees with the verdict.
    for (name, why) in ktap::completeness(&declared, &cases) {
        t.check(&format!("{prefix}{name}"), Err(anyhow::anyhow!(why)));
    }
    let all_passed = cases.iter().all(|c| c.passed);
    if kunit_py_ok != all_passed {
        t.check(
            &format!("{prefix}kunit.py parse agrees"),
            Err(anyhow::anyhow!(
                "kunit.py says {kunit_py_ok}, cases say {all_passed}"
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::cargo_test_counts;

    #[test]
    fn libtest_lines_are_counted() {
        let out = "running 4 tests\n\
                   test a::b ... ok\n\
                   test c ... FAILED\n\
                   test d ... ignored, needs a device\n\
                   test e ... ok\n\
                   test result: FAILED. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out\n";
        let (passed, failed) = cargo_test_counts(out);
        assert_eq!(passed, 2);
        assert_eq!(
            failed,
            vec!["host: c".to_owned(), "host: d (ignored)".to_owned()]
        );
    }

    #[test]
    fn summaries_add_up_across_binaries() {
        let out = "test a ... ok\n\
                   test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\
                   test b ... ok\n\
                   test c ... ok\n\
                   test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n";
        assert_eq!(cargo_test_counts(out), (3, vec![]));
    }

    #[test]
    fn a_garbled_result_line_is_a_failure() {
        // A test's own output landed between the name and the verdict.
        let out = "test a ... ok\n\
                   test b ... some child output\n\
                   ok\n\
                   test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n";
        let (passed, failed) = cargo_test_counts(out);
        assert_eq!(passed, 1);
        assert_eq!(failed.len(), 1);
        assert!(failed[0].contains("summaries say 2 passed"), "{failed:?}");
    }

    #[test]
    fn no_tests_at_all_is_a_failure() {
        let (passed, failed) = cargo_test_counts("");
        assert_eq!(passed, 0);
        assert_eq!(
            failed,
            vec!["host: no test passed (did any run?)".to_owned()]
        );
    }
}
