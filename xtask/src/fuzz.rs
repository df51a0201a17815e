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
    r.context("cargo fuzz run failed")?;
    check_corpus_covers_decoders()
}

/// The decoders the fuzz body feeds (its `DECODERS` list, chosen by an input's first byte):
/// every one must have inputs in the corpus, or the run did not exercise it.
fn check_corpus_covers_decoders() -> Result<()> {
    let fuzz = project_root().join("rust/core/fuzz");
    let body = std::fs::read_to_string(fuzz.join("body.rs")).context("read the fuzz body")?;
    let names: Vec<&str> = body
        .split_once("pub const DECODERS: [&str;")
        .and_then(|(_, rest)| rest.split_once("= [")?.1.split_once("];"))
        .map(|(list, _)| list.split('"').skip(1).step_by(2).collect())
        .context("the fuzz body has no `pub const DECODERS` list")?;
    let mut seen = vec![0usize; names.len()];
    for input in crashes(&fuzz.join("corpus").join(TARGET)) {
        if let Some(first) = std::fs::read(&input).ok().and_then(|b| b.first().copied()) {
            if let Some(n) = seen.get_mut(usize::from(first) % names.len()) {
                *n += 1;
            }
        }
    }
    let missing: Vec<&str> = names
        .iter()
        .zip(&seen)
        .filter(|(_, n)| **n == 0)
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        bail!("the fuzz corpus has no input for: {}", missing.join("; "));
    }
    eprintln!(
        "    fuzz corpus per decoder: {}",
        names
            .iter()
            .zip(&seen)
            .map(|(name, n)| format!("{name} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The files in `dir` (crash artifacts, corpus inputs); none if it does not exist.
fn crashes(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}
