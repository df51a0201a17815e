//! The tool versions Kbuild records in a kernel's `.config`, and whether the tools on `PATH`
//! would record the same.
//!
//! Kconfig stores what the kernel source's `scripts/cc-version.sh`, `as-version.sh`,
//! `ld-version.sh`, `pahole-version.sh`, `rustc-version.sh` and `rustc-llvm-version.sh` print,
//! and the compiler, rustc and bindgen version texts (`init/Kconfig`,
//! `scripts/Kconfig.include`, the top `Makefile`). A module build against that kernel compares
//! some of them with the current tools and warns on a difference, so a cached kernel build is
//! only reusable while every recorded value still matches. [`current`] asks the kernel source's
//! own scripts what they would record now; [`changed`] is the comparison.

use crate::kernel::Kernel;
use crate::util::{path_with_cargo_bin, project_root, target_dir};
use anyhow::{bail, Context, Result};
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The tool commands, as the kernel Makefile names them (`CC`, `LD`, `PAHOLE`, `RUSTC`,
/// `BINDGEN`) and with its defaults.
pub struct Tools {
    pub cc: String,
    pub ld: String,
    pub pahole: String,
    pub rustc: String,
    pub bindgen: String,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            cc: "gcc".into(),
            ld: "ld".into(),
            pahole: "pahole".into(),
            rustc: "rustc".into(),
            bindgen: "bindgen".into(),
        }
    }
}

/// One value Kconfig records about a tool: `CONFIG_<symbol>=<value>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The tool, as a user would name it (`pahole`, `ld`).
    pub tool: String,
    /// The Kconfig symbol without `CONFIG_`.
    pub symbol: &'static str,
    pub value: String,
}

/// A recorded value the current tools would record differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub tool: String,
    pub symbol: &'static str,
    /// What the kernel's `.config` holds.
    pub was: String,
    /// What the current tool gives.
    pub now: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quote = |v: &str| {
            if v.is_empty() || v.contains(' ') {
                format!("\"{v}\"")
            } else {
                v.to_owned()
            }
        };
        write!(
            f,
            "{} {} -> {} (CONFIG_{})",
            self.tool,
            quote(&self.was),
            quote(&self.now),
            self.symbol
        )
    }
}

/// The changes joined for one line: `pahole 0 -> 124 (CONFIG_PAHOLE_VERSION); ...`.
pub fn describe(changes: &[Change]) -> String {
    changes
        .iter()
        .map(Change::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The value of `CONFIG_<symbol>` in `.config` text, strings unquoted and unescaped; `None` if
/// the symbol is absent or not set.
pub fn config_value(config: &str, symbol: &str) -> Option<String> {
    let prefix = format!("CONFIG_{symbol}=");
    let raw = config.lines().find_map(|l| l.strip_prefix(&prefix))?;
    let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return Some(raw.to_owned());
    };
    // Kconfig escapes `"` and `\` with a backslash.
    let mut value = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        value.push(if c == '\\' {
            chars.next().unwrap_or('\\')
        } else {
            c
        });
    }
    Some(value)
}

/// Each `current` value that `.config` records differently. A symbol `.config` lacks (an
/// older kernel, or one whose dependency is off, like `BINDGEN_VERSION_TEXT` without
/// `CONFIG_RUST`) is nothing Kbuild compares, so it is no change.
pub fn changed(config: &str, current: &[Recorded]) -> Vec<Change> {
    current
        .iter()
        .filter_map(|r| {
            let was = config_value(config, r.symbol)?;
            (was != r.value).then(|| Change {
                tool: r.tool.clone(),
                symbol: r.symbol,
                was,
                now: r.value.clone(),
            })
        })
        .collect()
}

/// `'s'` for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `script` with `sh` the way Kconfig's and make's `$(shell ...)` do: its exit status is
/// ignored (`pahole-version.sh` prints 0 and fails when pahole is missing), trailing newlines
/// are dropped and inner ones become spaces.
fn shell(script: &str) -> Result<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("PATH", path_with_cargo_bin())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `sh -c {script}`"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.trim_end_matches('\n').replace('\n', " "))
}

/// What Kconfig would record for the `tools` now, computed with the scripts of the kernel
/// source at `source`, as `init/Kconfig` and `scripts/Kconfig.include` compute it.
pub fn current(source: &Path, tools: &Tools) -> Result<Vec<Recorded>> {
    let script = |name: &str, tool: &str| -> Result<String> {
        let path = source.join("scripts").join(name);
        if !path.is_file() {
            bail!("{} is missing from the kernel source", path.display());
        }
        shell(&format!("sh {} {tool}", sh_quote(&path.to_string_lossy())))
    };
    // `<name> <version>`, as cc-version.sh, as-version.sh and ld-version.sh print it.
    let split = |info: String| -> (String, String) {
        let mut words = info.split_whitespace().map(str::to_owned);
        (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default(),
        )
    };
    let if_name = |name: &str, want: &str, version: &str| {
        if name == want {
            version.to_owned()
        } else {
            "0".to_owned()
        }
    };
    let Tools {
        cc,
        ld,
        pahole,
        rustc,
        bindgen,
    } = tools;
    let (cc_name, cc_version) = split(script("cc-version.sh", cc)?);
    // A clang build assembles with clang's integrated assembler (`-fintegrated-as` in the
    // kernel's CLANG_FLAGS), which as-version.sh reports as `LLVM 0`.
    let as_cmd = if cc.contains("clang") {
        format!("{cc} -fintegrated-as")
    } else {
        cc.clone()
    };
    let (as_name, as_version) = split(script("as-version.sh", &as_cmd)?);
    let (ld_name, ld_version) = split(script("ld-version.sh", ld)?);
    let clang_version = if_name(&cc_name, "Clang", &cc_version);
    let as_version = if as_name == "LLVM" {
        clang_version.clone()
    } else {
        as_version
    };
    let rec = |tool: &str, symbol: &'static str, value: String| Recorded {
        tool: tool.to_owned(),
        symbol,
        value,
    };
    Ok(vec![
        rec(
            cc,
            "CC_VERSION_TEXT",
            shell(&format!("LC_ALL=C {cc} --version 2>/dev/null | head -n 1"))?.replace('#', ""),
        ),
        rec(cc, "GCC_VERSION", if_name(&cc_name, "GCC", &cc_version)),
        rec(cc, "CLANG_VERSION", clang_version),
        rec("as", "AS_VERSION", as_version),
        rec(ld, "LD_VERSION", if_name(&ld_name, "BFD", &ld_version)),
        rec(ld, "LLD_VERSION", if_name(&ld_name, "LLD", &ld_version)),
        rec(
            pahole,
            "PAHOLE_VERSION",
            script("pahole-version.sh", pahole)?,
        ),
        rec(rustc, "RUSTC_VERSION", script("rustc-version.sh", rustc)?),
        rec(
            rustc,
            "RUSTC_VERSION_TEXT",
            shell(&format!("{rustc} --version 2>/dev/null"))?.replace('#', ""),
        ),
        rec(
            &format!("{rustc} (its LLVM)"),
            "RUSTC_LLVM_VERSION",
            script("rustc-llvm-version.sh", rustc)?,
        ),
        rec(
            bindgen,
            "BINDGEN_VERSION_TEXT",
            shell(&format!("{bindgen} --version 2>/dev/null"))?,
        ),
    ])
}

/// The changes between the `.config` of the kernel build `build` and what `tools` would record
/// with the scripts of `source`.
pub fn changed_since(build: &Path, source: &Path, tools: &Tools) -> Result<Vec<Change>> {
    let config = std::fs::read_to_string(build.join(".config"))
        .with_context(|| format!("read {}", build.join(".config").display()))?;
    Ok(changed(&config, &current(source, tools)?))
}

/// The check `cargo xtask test` runs against the guest kernel: the tools on `PATH` record what
/// the cached build recorded (else `cargo xtask kernel` would have rebuilt it), and a pahole
/// of another version is seen by [`current`] and named, with both versions, in the one
/// warning `make KDIR=... check-kdir` prints.
pub fn check_tool_change_is_seen(kernel: &Kernel) -> Result<()> {
    let diff = changed_since(&kernel.build, &kernel.source, &kernel.flavor.tools())?;
    if !diff.is_empty() {
        bail!(
            "the guest kernel build records other tools than these: {}",
            describe(&diff)
        );
    }
    let config = std::fs::read_to_string(kernel.build.join(".config"))?;
    let was = config_value(&config, "PAHOLE_VERSION")
        .context("the .config has no CONFIG_PAHOLE_VERSION")?;
    let (fake_version, now) = if was == "124" {
        ("v1.25", "125")
    } else {
        ("v1.24", "124")
    };
    let dir = target_dir().join("tool-check");
    std::fs::create_dir_all(&dir)?;
    let fake = dir.join("pahole");
    std::fs::write(&fake, format!("#!/bin/sh\necho {fake_version}\n"))?;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))?;
    let tools = Tools {
        pahole: fake.to_string_lossy().into_owned(),
        ..Tools::default()
    };
    let diff = changed(&config, &current(&kernel.source, &tools)?);
    let want = vec![Change {
        tool: tools.pahole.clone(),
        symbol: "PAHOLE_VERSION",
        was: was.clone(),
        now: now.to_owned(),
    }];
    if diff != want {
        bail!(
            "with pahole {fake_version} the cache's probe saw `{}`, want `{}`",
            describe(&diff),
            describe(&want)
        );
    }

    // `make KDIR=` warns about it in one line naming the tool and both versions, and says
    // nothing when the tools match.
    let make_warnings = |pahole: Option<&Path>| -> Result<Vec<String>> {
        let mut cmd = kernel.kmake(&project_root());
        cmd.arg(format!("KDIR={}", kernel.build.display()));
        if let Some(p) = pahole {
            cmd.arg(format!("PAHOLE={}", p.display()));
        }
        let out = cmd
            .arg("check-kdir")
            .output()
            .context("run make check-kdir")?;
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!("make check-kdir failed: {}", err.trim());
        }
        Ok(err
            .lines()
            .filter(|l| l.contains("warning:"))
            .map(str::to_owned)
            .collect())
    };
    let quiet = make_warnings(None)?;
    if !quiet.is_empty() {
        bail!(
            "make KDIR=<guest kernel> warns with the tools that built it: {}",
            quiet.join(" | ")
        );
    }
    let warned = make_warnings(Some(&fake))?;
    let names_both = |l: &String| {
        l.contains("pahole differs")
            && l.contains(&format!("CONFIG_PAHOLE_VERSION records {was}, "))
            && l.contains(&format!(" gives {now};"))
    };
    if warned.len() != 1 || !names_both(&warned[0]) {
        bail!(
            "make KDIR=<guest kernel> PAHOLE=<pahole {fake_version}>: want one warning naming \
             pahole, {was} and {now}; got: {}",
            warned.join(" | ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{changed, config_value, describe, Change, Recorded};

    const CONFIG: &str = "\
CONFIG_CC_VERSION_TEXT=\"gcc (Debian 12.2.0-14+deb12u1) 12.2.0\"
CONFIG_CC_IS_GCC=y
CONFIG_GCC_VERSION=120200
CONFIG_CLANG_VERSION=0
CONFIG_AS_IS_GNU=y
CONFIG_AS_VERSION=24000
CONFIG_LD_VERSION=24000
CONFIG_LLD_VERSION=0
CONFIG_RUSTC_VERSION=109500
CONFIG_RUSTC_LLVM_VERSION=220102
CONFIG_PAHOLE_VERSION=0
# CONFIG_DEBUG_INFO_BTF is not set
CONFIG_RUSTC_VERSION_TEXT=\"rustc 1.95.0 (59807616e 2026-04-14)\"
CONFIG_BINDGEN_VERSION_TEXT=\"bindgen 0.73.2\"
";

    fn rec(tool: &str, symbol: &'static str, value: &str) -> Recorded {
        Recorded {
            tool: tool.to_owned(),
            symbol,
            value: value.to_owned(),
        }
    }

    /// What the tools that wrote `CONFIG` would record, with `pahole` giving `pahole`.
    fn tools_now(pahole: &str) -> Vec<Recorded> {
        vec![
            rec(
                "gcc",
                "CC_VERSION_TEXT",
                "gcc (Debian 12.2.0-14+deb12u1) 12.2.0",
            ),
            rec("gcc", "GCC_VERSION", "120200"),
            rec("gcc", "CLANG_VERSION", "0"),
            rec("as", "AS_VERSION", "24000"),
            rec("ld", "LD_VERSION", "24000"),
            rec("ld", "LLD_VERSION", "0"),
            rec("pahole", "PAHOLE_VERSION", pahole),
            rec("rustc", "RUSTC_VERSION", "109500"),
            rec(
                "rustc",
                "RUSTC_VERSION_TEXT",
                "rustc 1.95.0 (59807616e 2026-04-14)",
            ),
            rec("rustc (its LLVM)", "RUSTC_LLVM_VERSION", "220102"),
            rec("bindgen", "BINDGEN_VERSION_TEXT", "bindgen 0.73.2"),
        ]
    }

    #[test]
    fn the_same_tools_change_nothing() {
        assert_eq!(changed(CONFIG, &tools_now("0")), vec![]);
    }

    #[test]
    fn installing_pahole_is_a_change() {
        let diff = changed(CONFIG, &tools_now("124"));
        assert_eq!(
            diff,
            vec![Change {
                tool: "pahole".into(),
                symbol: "PAHOLE_VERSION",
                was: "0".into(),
                now: "124".into(),
            }]
        );
        assert_eq!(describe(&diff), "pahole 0 -> 124 (CONFIG_PAHOLE_VERSION)");
    }

    #[test]
    fn every_changed_tool_is_named() {
        let mut now = tools_now("0");
        now[4].value = "24100".into();
        now[0].value = "gcc (Debian 12.2.0-14+deb12u2) 12.2.0".into();
        assert_eq!(
            describe(&changed(CONFIG, &now)),
            "gcc \"gcc (Debian 12.2.0-14+deb12u1) 12.2.0\" -> \
             \"gcc (Debian 12.2.0-14+deb12u2) 12.2.0\" (CONFIG_CC_VERSION_TEXT); \
             ld 24000 -> 24100 (CONFIG_LD_VERSION)"
        );
    }

    #[test]
    fn symbols_the_config_lacks_are_not_compared() {
        // A kernel without CONFIG_RUST records no bindgen text; an older one no LLD_VERSION.
        let config: String = CONFIG
            .lines()
            .filter(|l| !l.starts_with("CONFIG_BINDGEN") && !l.starts_with("CONFIG_LLD"))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut now = tools_now("0");
        now[10].value = String::new();
        now[5].value = "170001".into();
        assert_eq!(changed(&config, &now), vec![]);
    }

    #[test]
    fn config_strings_are_unescaped() {
        let config =
            "CONFIG_CC_VERSION_TEXT=\"cc \\\"quoted\\\" \\\\ 1\"\nCONFIG_PAHOLE_VERSION=124\n";
        assert_eq!(
            config_value(config, "CC_VERSION_TEXT").as_deref(),
            Some("cc \"quoted\" \\ 1")
        );
        assert_eq!(
            config_value(config, "PAHOLE_VERSION").as_deref(),
            Some("124")
        );
        assert_eq!(config_value(config, "LD_VERSION"), None);
        assert_eq!(config_value("# CONFIG_RUST is not set\n", "RUST"), None);
    }
}
