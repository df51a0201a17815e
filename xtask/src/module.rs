//! `cargo xtask build`: compsc_vf.ko, plain and with the KUnit suites, against the guest kernel.

use crate::kernel::Kernel;
use crate::util::{output, project_root, run_logged, target_dir};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// Which build of the module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// What users load.
    Release,
    /// The same module with the KUnit suites of `tests-kunit/`, which run at insmod.
    Kunit,
    /// The KUnit variant (a superset of the release code) compiled under clippy
    /// (`make CLIPPY=1`), for its lints only.
    Clippy,
}

impl Variant {
    fn dir_name(self) -> &'static str {
        match self {
            Variant::Release => "release",
            Variant::Kunit => "kunit",
            Variant::Clippy => "clippy",
        }
    }
}

/// Builds one variant into `target/module/<variant>/` (`<variant>-debug/` against the debug
/// kernel, whose compiler differs, `<variant>-7.2/` against the previous series) and returns the `.ko`. Any compiler warning fails the
/// build: the module is meant to build clean.
pub fn build(kernel: &Kernel, variant: Variant) -> Result<PathBuf> {
    let dir = format!("{}{}", variant.dir_name(), kernel.flavor.module_suffix());
    let out = target_dir().join("module").join(dir);
    std::fs::create_dir_all(&out)?;
    let mut cmd = kernel.kmake(&project_root());
    cmd.arg(format!("KDIR={}", kernel.build.display()))
        .arg(format!("MO={}", out.display()))
        .arg(format!(
            "-j{}",
            std::thread::available_parallelism().map_or(2, |n| n.get())
        ));
    if matches!(variant, Variant::Kunit | Variant::Clippy) {
        cmd.arg("COMPSC_KUNIT=1");
    }
    if variant == Variant::Clippy {
        cmd.arg("CLIPPY=1");
    }
    // Always recompile the crate: warnings are printed only by the compile that produces
    // them, and a silently reused object would hide them.
    let _ = std::fs::remove_file(out.join("rust/driver/compsc_vf_main.o"));
    let log = out.join("build.log");
    run_logged(&mut cmd, &log)?;
    let text = std::fs::read_to_string(&log)?;
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("warning:")).collect();
    if let Some(tools) = only_tool_warnings(&text) {
        bail!(
            "the {variant:?} module's only warning is that a tool differs from the kernel's: {}; \
             rebuild the kernel (`cargo xtask kernel`) or use the tools it was built with",
            tools.join("; ")
        );
    }
    if !warnings.is_empty() {
        for w in &warnings {
            eprintln!("  | {w}");
        }
        bail!(
            "the {variant:?} module built with {} warning(s); see {}",
            warnings.len(),
            log.display()
        );
    }
    let ko = out.join("compsc_vf.ko");
    if !ko.is_file() {
        bail!("the build wrote no {}", ko.display());
    }
    Ok(ko)
}

/// The Makefile's one-line warning that a tool differs from the kernel's (see `check-kdir`).
const MAKEFILE_TOOL_WARNING: &str = "differs from the one that built the kernel in KDIR=";
/// Kbuild's warning for the same, followed by two lines with the kernel's and the current value.
const KBUILD_TOOL_WARNING: &str = "differs from the one used to build the kernel";

/// If every warning in a module build log says that a tool differs from the one that built the
/// kernel, one line per tool naming it and both versions: the Makefile's own lines, or else
/// Kbuild's three-line warnings joined into one. `None` if there is no warning or another one.
fn only_tool_warnings(log: &str) -> Option<Vec<String>> {
    let lines: Vec<&str> = log.lines().collect();
    let warnings: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("warning:"))
        .collect();
    let is_tool = |l: &str| l.contains(MAKEFILE_TOOL_WARNING) || l.contains(KBUILD_TOOL_WARNING);
    if warnings.is_empty() || !warnings.iter().all(|&i| is_tool(lines[i])) {
        return None;
    }
    let ours: Vec<String> = warnings
        .iter()
        .map(|&i| lines[i])
        .filter(|l| l.contains(MAKEFILE_TOOL_WARNING))
        .map(|l| l.split_once("warning: ").map_or(l, |(_, w)| w).to_owned())
        .collect();
    if !ours.is_empty() {
        return Some(ours);
    }
    // `warning: pahole version differs from ...` / `  The kernel was built with: 0` /
    // `  You are using:             124`.
    let after_colon = |l: Option<&&str>| {
        l.and_then(|l| l.split_once(':'))
            .map_or(String::new(), |(_, v)| v.trim().to_owned())
    };
    Some(
        warnings
            .iter()
            .map(|&i| {
                let what = lines[i]
                    .split_once("warning: ")
                    .map_or(lines[i], |(_, w)| w);
                format!(
                    "{what}: the kernel's is {}, this one is {}",
                    after_colon(lines.get(i + 1)),
                    after_colon(lines.get(i + 2))
                )
            })
            .collect(),
    )
}

/// The `modinfo` fields users rely on, read from a built module.
pub struct ModInfo {
    /// `description=`
    pub description: String,
    /// `author=`
    pub author: String,
    /// `license=`
    pub license: String,
    /// `version=`
    pub version: String,
    /// `kernels=`: the kernel series the driver is tested on.
    pub kernels: String,
    /// Every `alias=` line.
    pub aliases: Vec<String>,
}

/// Reads the `.modinfo` of `ko` with `modinfo`.
pub fn modinfo(ko: &std::path::Path) -> Result<ModInfo> {
    let text = output(Command::new("modinfo").arg(ko)).context("modinfo (from kmod) failed")?;
    let field = |name: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    Ok(ModInfo {
        description: field("description"),
        author: field("author"),
        license: field("license"),
        version: field("version"),
        kernels: field("kernels"),
        aliases: text
            .lines()
            .filter_map(|l| l.strip_prefix("alias:"))
            .map(|v| v.trim().to_owned())
            .collect(),
    })
}

/// The crate a v0-mangled symbol's path starts in (`_RNv...Cs<hash>_14compsc_vf_main...`):
/// the first crate root in it, since a path, and an impl's module path, come before any
/// generic argument.
fn path_crate(sym: &str) -> Option<&str> {
    let b = sym.as_bytes();
    let mut i = sym.find("_R")? + 2;
    while i + 1 < b.len() {
        // A crate root: `C`, an optional disambiguator `s<base62>_`, then `<len><name>`.
        if b[i] == b'C' {
            let mut j = i + 1;
            if b.get(j) == Some(&b's') {
                j += 1;
                while b.get(j).is_some_and(|c| c.is_ascii_alphanumeric()) {
                    j += 1;
                }
                if b.get(j) != Some(&b'_') {
                    i += 1;
                    continue;
                }
                j += 1;
            }
            let digits = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits > 0 {
                let len: usize = sym[j..j + digits].parse().ok()?;
                let start = j + digits;
                if let Some(name) = sym.get(start..start + len) {
                    return Some(name);
                }
            }
        }
        i += 1;
    }
    None
}

/// Calls from the module's own functions to Rust's panic machinery (overflow, bounds, slice
/// length, `panic!`): each is a `BUG()` waiting for a bad value. Returns (function, callee).
///
/// The kernel builds with overflow checks on, so an unchecked `+` on a device value compiles to
/// such a call; this scan is how "no panic on device input" is kept true rather than hoped.
pub fn panic_sites(obj: &std::path::Path) -> Result<Vec<(String, String)>> {
    let text = output(Command::new("objdump").arg("-dr").arg(obj)).context("objdump (binutils)")?;
    let mut func = String::new();
    let mut sites = Vec::new();
    for line in text.lines() {
        if let Some(name) = line
            .strip_suffix(">:")
            .and_then(|l| l.split_once(" <"))
            .map(|(_, n)| n)
        {
            func = name.to_owned();
            continue;
        }
        // Our crate's functions only, including our impls of the kernel's traits, but not the
        // kernel's own generic functions instantiated with our types (their panics are the
        // kernel's code, such as 7.2's probe_callback indexing its id table).
        if path_crate(&func) != Some("compsc_vf_main") {
            continue;
        }
        let Some(target) = line.split_whitespace().last() else {
            continue;
        };
        if !line.contains("R_X86_64_PLT32") {
            continue;
        }
        let callee = target.trim_end_matches("-0x4");
        let panics = callee.contains("4core9panicking")
            || callee.contains("_fail")
            || callee.contains("panic_bounds_check")
            || callee.contains("unwrap_failed")
            || callee.contains("expect_failed");
        if panics {
            sites.push((func.clone(), callee.to_owned()));
        }
    }
    Ok(sites)
}

#[cfg(test)]
mod path_crate_tests {
    use super::path_crate;

    #[test]
    fn the_first_crate_root_names_the_path() {
        // A kernel generic instantiated with our type: the kernel's.
        let k = "_RNvMs0_NtCs1EKtwoKEMO2_6kernel3pciINtB5_7AdapterNtNtCsh5nnDLnRupv_14compsc_vf_main6driver8CompscVfE14probe_callbackBO_";
        assert_eq!(path_crate(k), Some("kernel"));
        // Our function, and our impl of a kernel trait: ours.
        let ours = "_RNvMs3_NtNtCsh5nnDLnRupv_14compsc_vf_main3net7Adapter4open";
        assert_eq!(path_crate(ours), Some("compsc_vf_main"));
        let imp = "_RNvXs_NtCsh5nnDLnRupv_14compsc_vf_main6driverNtB4_8CompscVfNtNtCs1EKtwoKEMO2_6kernel3pci6Driver5probe";
        assert_eq!(path_crate(imp), Some("compsc_vf_main"));
        assert_eq!(path_crate("compsc_rs_open"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::only_tool_warnings;

    const KBUILD: &str = "\
warning: pahole version differs from the one used to build the kernel
  The kernel was built with: 0
  You are using:             124
  RUSTC [M] rust/driver/compsc_vf_main.o
";

    #[test]
    fn a_pahole_difference_is_one_line_naming_both_versions() {
        assert_eq!(
            only_tool_warnings(KBUILD),
            Some(vec![
                "pahole version differs from the one used to build the kernel: the kernel's \
                 is 0, this one is 124"
                    .to_owned()
            ])
        );
        let ours = "warning: pahole differs from the one that built the kernel in KDIR=k: \
                    CONFIG_PAHOLE_VERSION records 0, this pahole gives 124; rebuild the kernel\n";
        assert_eq!(
            only_tool_warnings(&format!("{ours}{KBUILD}")),
            Some(vec![ours
                .trim_end()
                .strip_prefix("warning: ")
                .unwrap()
                .to_owned()])
        );
    }

    #[test]
    fn other_warnings_or_none_are_not_tool_differences() {
        assert_eq!(only_tool_warnings("  RUSTC [M] x.o\n"), None);
        let other = format!("{KBUILD}warning: unused variable: `x`\n");
        assert_eq!(only_tool_warnings(&other), None);
    }
}
