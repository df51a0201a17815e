//! `cargo xtask fuzz [SECONDS]`: libFuzzer over the core's decoders, record and plans.
//!
//! The target is `rust/core/fuzz` (cargo-fuzz). cargo-fuzz needs nightly-only compiler flags
//! (the sanitizer); the machine's stable 1.95 accepts them with `RUSTC_BOOTSTRAP=1`, which is
//! set for this command only. The corpus is kept between runs (`rust/core/fuzz/corpus`); a
//! crash leaves its input in `rust/core/fuzz/artifacts` and fails the run.

use crate::util::{have_program, path_with_cargo_bin, project_root, run};
use anyhow::{bail, Context, Result};
use std::process::Command;

/// The one fuzz target: every decoder, the saved record and the plans.
const TARGET: &str = "decoders_and_plan";

/// Whether `cargo fuzz` runs (with cargo's bin directory on `PATH`).
pub fn cargo_fuzz_present() -> bool {
    Command::new("cargo")
        .args(["fuzz", "--version"])
        .env("PATH", path_with_cargo_bin())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs cargo-fuzz if it is missing (a setup step).
pub fn install_cargo_fuzz() -> Result<()> {
    if cargo_fuzz_present() {
        eprintln!("    cargo-fuzz present");
        return Ok(());
    }
    if !have_program("cargo") {
        bail!("cargo not found on PATH");
    }
    run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))
        .context("cargo install cargo-fuzz failed; try `cargo install cargo-fuzz --locked`")
}

/// Fuzzes for `seconds`; an error names the crashing input and how to replay it.
pub fn fuzz(seconds: u32) -> Result<()> {
    let dir = project_root().join("rust/core/fuzz");
    let artifacts = dir.join("artifacts").join(TARGET);
    let before = crashes(&artifacts);
    let r = run(Command::new("cargo")
        .current_dir(&dir)
        .env("PATH", path_with_cargo_bin())
        .env("RUSTC_BOOTSTRAP", "1")
        .args([
            "fuzz",
            "run",
            TARGET,
            "--",
            &format!("-max_total_time={seconds}"),
        ]));
    let new: Vec<_> = crashes(&artifacts)
        .into_iter()
        .filter(|c| !before.contains(c))
        .collect();
    if let Some(first) = new.first() {
        bail!(
            "the fuzzer found {} crashing input(s), e.g. {}; replay with \
             `cd rust/core/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run {TARGET} {}`",
            new.len(),
            first.display(),
            first.display()
        );
    }
    r.context("cargo fuzz run failed")
}

fn crashes(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}
