//! KUnit results: what the sources declare, what the guest printed (KTAP), and the kernel's own
//! `kunit.py parse` as a second reader.

use crate::util::{display, project_root};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// One test case's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// `suite.case`
    pub name: String,
    /// Passed (a skip counts as not passed: a skipped check proves nothing).
    pub passed: bool,
}

/// The suites and test counts declared in `tests-kunit/` (`#[kunit_tests(name)]` and the
/// `#[test]` functions that follow it), so a suite or case that never ran is a failure.
pub fn declared_suites() -> Result<Vec<(String, usize)>> {
    let dir = project_root().join("tests-kunit");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    let mut suites: Vec<(String, usize)> = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(&f)?.lines() {
            let l = line.trim();
            if let Some(rest) = l.split("kunit_tests(").nth(1) {
                if l.starts_with("#[") {
                    let name = rest.split(')').next().unwrap_or_default().trim().to_owned();
                    suites.push((name, 0));
                }
            } else if l == "#[test]" {
                match suites.last_mut() {
                    Some(s) => s.1 += 1,
                    None => bail!("{}: #[test] outside a #[kunit_tests] suite", f.display()),
                }
            }
        }
    }
    if suites.is_empty() {
        bail!(
            "no #[kunit_tests(...)] suite found in {}: the KUnit layer would check nothing",
            dir.display()
        );
    }
    Ok(suites)
}

/// What is wrong with a KUnit run beyond its failed cases: a declared suite that did not run,
/// or ran fewer or more cases than it declares, and a case reported twice (counted once).
/// Each problem is one failed check, named.
pub fn completeness(declared: &[(String, usize)], cases: &[Case]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (suite, n) in declared {
        let prefix = format!("{suite}.");
        let ran = cases.iter().filter(|c| c.name.starts_with(&prefix)).count();
        if ran != *n {
            let why = if ran == 0 {
                format!("declares {n} tests, none reported (the suite never ran)")
            } else {
                format!("declares {n} tests, {ran} reported")
            };
            problems.push((format!("kunit suite {suite} complete"), why));
        }
    }
    for (i, c) in cases.iter().enumerate() {
        if cases[..i].iter().any(|d| d.name == c.name) {
            problems.push((
                format!("kunit {} reported once", c.name),
                "the guest reported it more than once".to_owned(),
            ));
        }
    }
    problems
}

/// Strips the console's `[    1.234567] ` timestamp, if any.
fn strip_time(line: &str) -> &str {
    let t = line.trim_end_matches('\r');
    if let Some(rest) = t.strip_prefix('[') {
        if let Some((_, after)) = rest.split_once("] ") {
            return after;
        }
    }
    t
}

/// The KTAP document of the module's suites: from the last `KTAP version 1` line on (the
/// boot-time executor prints an empty one first).
pub fn extract(console: &str) -> Option<String> {
    let lines: Vec<&str> = console.lines().map(strip_time).collect();
    let start = lines
        .iter()
        .rposition(|l| l.trim_end() == "KTAP version 1")?;
    Some(lines[start..].join("\n") + "\n")
}

/// Reads test-case results (`    ok N name` / `    not ok N name` inside a suite).
pub fn cases(ktap: &str) -> Vec<Case> {
    let mut suite = String::new();
    let mut out = Vec::new();
    for line in ktap.lines() {
        if let Some(name) = line.trim().strip_prefix("# Subtest:") {
            if line.starts_with("    #") {
                suite = name.trim().to_owned();
            }
            continue;
        }
        // Case results are indented by exactly four spaces (one nesting level).
        let Some(rest) = line.strip_prefix("    ") else {
            continue;
        };
        if rest.starts_with(' ') {
            continue;
        }
        let (passed, rest) = if let Some(r) = rest.strip_prefix("ok ") {
            (true, r)
        } else if let Some(r) = rest.strip_prefix("not ok ") {
            (false, r)
        } else {
            continue;
        };
        let mut words = rest.splitn(2, ' ');
        let _num = words.next();
        let desc = words.next().unwrap_or_default();
        let name = desc.split(" #").next().unwrap_or(desc).trim();
        let skipped = desc.contains("# SKIP");
        out.push(Case {
            name: format!("{suite}.{name}"),
            passed: passed && !skipped,
        });
    }
    out
}

/// Runs the kernel's `kunit.py parse` on the KTAP file; its verdict must agree with ours.
pub fn kunit_py_parse(source: &Path, ktap_file: &Path) -> Result<bool> {
    let mut cmd = Command::new("python3");
    cmd.arg(source.join("tools/testing/kunit/kunit.py"))
        .arg("parse")
        .arg(ktap_file);
    eprintln!("$ {}", display(&cmd));
    let out = cmd.output().context("run kunit.py parse (needs python3)")?;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        eprintln!("  | {line}");
    }
    Ok(out.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
[    1.0] KTAP version 1
[    1.0] 1..0
[    2.0] KTAP version 1
[    2.0] 1..2
[    2.0]     KTAP version 1
[    2.0]     # Subtest: a
[    2.0]     # module: compsc_vf
[    2.0]     1..2
[    2.0]     ok 1 first
[    2.0]     not ok 2 second
[    2.0] not ok 1 a
[    2.0]     KTAP version 1
[    2.0]     # Subtest: b
[    2.0]     1..1
[    2.0]     ok 1 skipped # SKIP no device
[    2.0] ok 2 b
";

    #[test]
    fn reads_cases_after_the_last_header() {
        let ktap = extract(SAMPLE).unwrap();
        assert!(ktap.starts_with("KTAP version 1\n1..2"));
        let c = cases(&ktap);
        assert_eq!(
            c,
            vec![
                Case {
                    name: "a.first".into(),
                    passed: true
                },
                Case {
                    name: "a.second".into(),
                    passed: false
                },
                Case {
                    name: "b.skipped".into(),
                    passed: false
                },
            ]
        );
    }

    #[test]
    fn no_ktap_is_none() {
        assert!(extract("[ 1.0] hello\n").is_none());
    }

    fn case(name: &str, passed: bool) -> Case {
        Case {
            name: name.into(),
            passed,
        }
    }

    #[test]
    fn console_noise_and_parameterised_cases_are_not_cases() {
        let console = "\
KTAP version 1
1..1
[    2.0] compsc_vf 0000:00:03.0: probe says hello
    KTAP version 1
    # Subtest: s
    1..2
        KTAP version 1
        # Subtest: p
        ok 1 p one
        ok 2 p two
    ok 1 p
[    2.1] random: crng init done
    not ok 2 q # TIMEOUT
not ok 1 s
";
        let c = cases(&extract(console).unwrap());
        assert_eq!(c, vec![case("s.p", true), case("s.q", false)]);
    }

    #[test]
    fn a_crash_mid_suite_leaves_the_suite_incomplete() {
        let console = "\
[    2.0] KTAP version 1
[    2.0] 1..2
[    2.0]     KTAP version 1
[    2.0]     # Subtest: a
[    2.0]     1..3
[    2.0]     ok 1 one
[    2.1] BUG: kernel NULL pointer dereference, address: 0000000000000000
";
        let c = cases(&extract(console).unwrap());
        let declared = vec![("a".to_owned(), 3), ("b".to_owned(), 1)];
        let p = completeness(&declared, &c);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].1.contains("declares 3 tests, 1 reported"));
        assert!(p[1].1.contains("never ran"));
    }

    #[test]
    fn a_case_reported_twice_is_a_problem() {
        let c = vec![case("a.one", true), case("a.one", true)];
        let p = completeness(&[("a".to_owned(), 1)], &c);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[1].0, "kunit a.one reported once");
    }

    #[test]
    fn a_complete_run_has_no_problems() {
        let c = vec![case("a.one", true), case("a.two", false)];
        assert!(completeness(&[("a".to_owned(), 2)], &c).is_empty());
    }
}
