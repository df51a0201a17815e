//! Small helpers shared by every task: where things live, running commands with an echo, timing.

use anyhow::{bail, Context, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The repository root (the parent of `xtask/`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the project root")
        .to_path_buf()
}

/// Cargo's target directory for this workspace; build outputs and logs go below it.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => project_root().join("target"),
    }
}

/// A cache that outlives a checkout, so a fresh clone on the same machine reuses the guest
/// kernel build and the chroot: `$COMPSC_CACHE`, else `$XDG_CACHE_HOME/compsc_vf`, else
/// `~/.cache/compsc_vf`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("COMPSC_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| target_dir().join("cache"));
    base.join("compsc_vf")
}

/// Formats a command the way a shell user would type it.
pub fn display(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.push_str(&format!("{}={} ", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(' ') {
            s.push_str(&format!(" '{a}'"));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        s = format!("(cd {} && {s})", dir.display());
    }
    s
}

/// Echoes `cmd` and runs it with inherited output; a non-zero exit is an error naming it.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", display(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{}`", cmd.get_program().to_string_lossy()))?;
    if !status.success() {
        bail!("`{}` failed ({status})", display(cmd));
    }
    Ok(())
}

/// Echoes `cmd`, runs it with its output sent to `log`, and on failure shows the log's tail.
pub fn run_logged(cmd: &mut Command, log: &Path) -> Result<()> {
    eprintln!("$ {}  > {}", display(cmd), log.display());
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
    let status = cmd
        .stdout(Stdio::from(file.try_clone()?))
        .stderr(Stdio::from(file))
        .status()
        .with_context(|| format!("cannot start `{}`", cmd.get_program().to_string_lossy()))?;
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(25).collect();
        for line in tail.iter().rev() {
            eprintln!("  | {line}");
        }
        bail!(
            "`{}` failed ({status}); full log in {}",
            display(cmd),
            log.display()
        );
    }
    Ok(())
}

/// Runs `cmd` quietly and returns its stdout, or an error with its stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot start `{}`", cmd.get_program().to_string_lossy()))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            display(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `prog` is found on `PATH`.
pub fn have_program(prog: impl AsRef<OsStr>) -> bool {
    let prog = prog.as_ref();
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

/// `PATH` with cargo's bin directory in front, so `bindgen` installed by `cargo install` is found.
pub fn path_with_cargo_bin() -> std::ffi::OsString {
    let mut dirs = Vec::new();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    } else if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    if let Some(p) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&p) {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// One announced, timed step: prints `==> what` before and `    done in Ns` after.
pub fn step<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("==> {what}");
    let start = Instant::now();
    let r = f().with_context(|| format!("step failed: {what}"));
    let secs = start.elapsed().as_secs_f64();
    match &r {
        Ok(_) => eprintln!("    {what}: done in {secs:.1}s"),
        Err(_) => eprintln!("    {what}: FAILED after {secs:.1}s"),
    }
    r
}

/// A stable 64-bit FNV-1a hash, used for cache keys (no dependency, same on every machine).
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
