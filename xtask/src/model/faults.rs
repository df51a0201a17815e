//! The device-fault matrix: vf-model misbehaves on request while compsc_vf carries traffic,
//! one fault after another in one guest. For each fault the check wants the model's word
//! that it fired, the driver's count of it in `ethtool -S` (where the driver can see it), its
//! one dmesg line (where it logs one), traffic back afterwards, and at the end a clean
//! kernel log and an rmmod under traffic (followed, on the debug kernel, by a kmemleak scan).

use super::marker;
use super::rig::{
    boot_checked, compsc_guest, control_ok, json_field, GUEST_IP, HOST_IP, RMMOD_UNDER_FLOOD,
};
use crate::guest::Hook;
use crate::kernel::Kernel;
use anyhow::{bail, Context, Result};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

/// What the driver's `ethtool -S` must show for a fault.
#[derive(Clone, Copy)]
enum Expect {
    /// The counter grew by exactly as many as the model says fired.
    Fired(&'static str),
    /// The counter grew by at least this much.
    AtLeast(&'static str, u64),
    /// The driver cannot see this fault (it never reads what the device wrote, or the
    /// device only lost data); the model's count and the traffic afterwards are the check.
    Unseen,
}

/// One row of the matrix.
struct Case {
    /// The model's fault kind (its `fired` key).
    kind: &'static str,
    /// The control request that injects it.
    inject: &'static str,
    /// Guest shell run while the fault is armed.
    traffic: &'static str,
    expect: Expect,
    /// The dmesg line (a substring) the driver must print for it, if it logs.
    dmesg: Option<&'static str>,
}

/// Pings to the peer (`HOST`) during a fault; the plan prints how many were answered.
const PINGS: &str = "/usr/bin/ping -c 30 -i 0.05 -W 1 HOST >/tmp/p 2>&1 || true";
/// A VLAN added (a mailbox exchange), retried until the PF's reply comes through, then
/// removed (another exchange).
const VLAN: &str = "n=0; until /usr/bin/ip link add link eth0 name eth0.9 type vlan id 9; do n=$((n+1)); [ $n -ge 5 ] && break; sleep 0.5; done; echo \"E2E-VLAN-TRIES $n\"; /usr/bin/ip link del eth0.9 || true";

const CASES: &[Case] = &[
    Case {
        kind: "rx_bad_len",
        inject: r#"{"cmd":"fault","kind":"rx_bad_len","count":10}"#,
        traffic: PINGS,
        expect: Expect::Fired("rx_bad_length"),
        dmesg: Some("rx_bad_length)"),
    },
    Case {
        kind: "rx_no_eop",
        inject: r#"{"cmd":"fault","kind":"rx_no_eop","count":40}"#,
        traffic: "/usr/bin/ping -c 60 -i 0.05 -W 1 HOST >/tmp/p 2>&1 || true",
        expect: Expect::AtLeast("rx_chain_overflow", 1),
        dmesg: Some("rx_chain_overflow)"),
    },
    Case {
        kind: "rx_dd_unposted",
        inject: r#"{"cmd":"fault","kind":"rx_dd_unposted","count":10}"#,
        traffic: PINGS,
        expect: Expect::Unseen,
        dmesg: None,
    },
    Case {
        kind: "rx_bad_status",
        inject: r#"{"cmd":"fault","kind":"rx_bad_status","count":10}"#,
        traffic: PINGS,
        expect: Expect::Fired("rx_bad_status"),
        dmesg: Some("rx_bad_status)"),
    },
    Case {
        kind: "dma_wild",
        inject: r#"{"cmd":"fault","kind":"dma_wild","count":10}"#,
        traffic: PINGS,
        expect: Expect::Unseen,
        dmesg: None,
    },
    Case {
        kind: "tx_head_jump",
        inject: r#"{"cmd":"fault","kind":"tx_head_jump","count":1}"#,
        traffic: "/usr/bin/ping -c 10 -i 0.1 -W 1 HOST >/tmp/p 2>&1 || true",
        expect: Expect::AtLeast("tx_hangs", 1),
        dmesg: Some("a Tx queue made no progress"),
    },
    Case {
        kind: "tx_head_back",
        inject: r#"{"cmd":"fault","kind":"tx_head_back","count":3}"#,
        traffic: PINGS,
        expect: Expect::Unseen,
        dmesg: None,
    },
    Case {
        kind: "gone",
        inject: r#"{"cmd":"fault","kind":"gone","ms":3000}"#,
        traffic: "sleep 4",
        expect: Expect::AtLeast("vf_gone", 1),
        dmesg: Some("the VF answers again"),
    },
    Case {
        kind: "hold_rsti",
        // The PF resets and keeps the VF in reset for 4 s; the VF's own reset attempts fail
        // meanwhile and back off.
        inject: r#"{"cmd":"pf_reset","ms":4000}"#,
        traffic: "sleep 5",
        expect: Expect::AtLeast("vf_resets", 1),
        dmesg: Some("failed attempts)"),
    },
    Case {
        kind: "mbx_wrong_id",
        inject: r#"{"cmd":"fault","kind":"mbx_wrong_id","count":1}"#,
        traffic: VLAN,
        expect: Expect::AtLeast("mbx_bad_messages", 1),
        dmesg: Some("mbx_bad_messages)"),
    },
    Case {
        kind: "mbx_garbage",
        inject: r#"{"cmd":"fault","kind":"mbx_garbage","count":1}"#,
        traffic: VLAN,
        expect: Expect::AtLeast("mbx_bad_messages", 1),
        dmesg: None,
    },
    Case {
        kind: "ping_flood",
        inject: r#"{"cmd":"fault","kind":"ping_flood","count":1000}"#,
        traffic: PINGS,
        expect: Expect::Unseen,
        dmesg: None,
    },
    Case {
        kind: "msix_storm",
        inject: r#"{"cmd":"fault","kind":"msix_storm","ms":3000}"#,
        traffic: "sleep 4",
        expect: Expect::AtLeast("irq_storms", 1),
        dmesg: Some("irq_storms)"),
    },
];

/// Rx faults whose frames the driver must still deliver: every ping answered.
const NO_LOSS: &[&str] = &["rx_bad_status", "rx_dd_unposted"];

fn plan() -> String {
    let mut p = format!(
        r#"{up}
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-BEFORE ok || echo E2E-PING-BEFORE failed
{STATS_FN}
stats start
"#,
        up = super::ixgbevf::driver_up("compsc_vf")
    );
    for c in CASES {
        let k = c.kind;
        let _ = write!(
            p,
            r#"echo "E2E-FAULT {k}"
# The host injects the fault when it sees the line above (it polls the console).
sleep 1
{traffic}
echo "E2E-RECEIVED {k} $(sed -n 's/.* \([0-9]*\) \(packets \)\{{0,1\}}received.*/\1/p' /tmp/p 2>/dev/null)"
: >/tmp/p
echo "E2E-FAULT-END {k}"
n=0; until ping -c 1 -W 1 {HOST_IP} >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 30 ] && break; done
echo "E2E-BACK {k} $n"
stats {k}
"#,
            traffic = c.traffic.replace("HOST", HOST_IP)
        );
    }
    p.push_str(&format!(
        r#"# The service task writes the last faults' lines on its next pass.
sleep 3
{RMMOD_UNDER_FLOOD}"#
    ));
    p
}

/// The timestamp of a kernel console line (`[   71.031297] ...`), in seconds.
fn kernel_time(line: &str) -> Option<f64> {
    let rest = line.trim_start().strip_prefix('[')?;
    rest.split_once(']')?.0.trim().parse().ok()
}

/// Guest shell defining `stats CASE`: one `E2E-STATS CASE name=value ...` line of
/// `ethtool -S`, read back by [`stats_of`].
const STATS_FN: &str = r#"stats() { echo "E2E-STATS $1 $(ethtool -S eth0 | sed -n 's/^ *\([a-z0-9_]*\): \([0-9]*\)$/\1=\2/p' | tr '\n' ' ')"; }"#;

/// The numeric `name=value` pairs in `text` (other words are skipped).
pub(super) fn pairs(text: &str) -> BTreeMap<String, u64> {
    text.split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// `name=value` pairs of one `E2E-STATS <case>` line.
fn stats_of(console: &str, case: &str) -> Option<BTreeMap<String, u64>> {
    marker(console, &format!("E2E-STATS {case} ")).map(pairs)
}

/// `cargo xtask test` check: the device-fault matrix (see the module doc).
pub fn test_device_faults(kernel: &Kernel, ko: &Path) -> Result<()> {
    let (mut rig, m, mut g) =
        compsc_guest(ko, "flt", "compsc-faults", plan(), Duration::from_secs(400))?;
    g.with_host_program("/usr/sbin/ethtool")?;
    g.with_host_program("/usr/bin/ping")?;
    g.with_host_program("/usr/bin/ip")?;
    // The model's statistics at the end of each case.
    let after: Rc<RefCell<BTreeMap<&'static str, String>>> = Rc::default();
    for c in CASES {
        let ctl = m.ctl.clone();
        let inject = c.inject;
        g.hooks
            .push(Hook::new(&format!("E2E-FAULT {}", c.kind), move || {
                control_ok(&ctl, inject).map(drop)
            }));
        let (ctl, after, kind) = (m.ctl.clone(), after.clone(), c.kind);
        g.hooks
            .push(Hook::new(&format!("E2E-FAULT-END {}", c.kind), move || {
                let s = control_ok(&ctl, r#"{"cmd":"stats"}"#)?;
                after.borrow_mut().insert(kind, s);
                Ok(())
            }));
    }
    let (out, stats, here) = boot_checked(kernel, g, &mut rig, &m)?;
    let c = &out.console;
    let after = after.borrow();
    let mut prev =
        stats_of(c, "start").with_context(|| format!("no ethtool -S before the faults; {here}"))?;
    let mut report = Vec::new();
    for case in CASES {
        let k = case.kind;
        let model = after
            .get(k)
            .with_context(|| format!("{k}: no model statistics; {here}"))?;
        // hold_rsti is a PF reset here: the model counts the reset it held, not a fault.
        let fired: u64 = if k == "hold_rsti" {
            1
        } else {
            json_field(model, k)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        if fired == 0 {
            bail!("{k}: the model says the fault never fired ({model}); {here}");
        }
        let now = stats_of(c, k).with_context(|| format!("{k}: no ethtool -S after it; {here}"))?;
        let delta = |name: &str| -> Result<u64> {
            let (a, b) = (prev.get(name), now.get(name));
            match (a, b) {
                (Some(a), Some(b)) => Ok(b.wrapping_sub(*a)),
                _ => bail!("{k}: ethtool -S has no {name}; {here}"),
            }
        };
        let seen = match case.expect {
            Expect::Fired(name) => {
                let d = delta(name)?;
                if d != fired {
                    bail!("{k}: the model fired {fired}, the driver counted {d} in {name}; {here}");
                }
                format!("{name} +{d}")
            }
            Expect::AtLeast(name, n) => {
                let d = delta(name)?;
                if d < n {
                    bail!("{k}: {name} grew by {d}, want at least {n}; {here}");
                }
                format!("{name} +{d}")
            }
            Expect::Unseen => "not visible to the driver".to_owned(),
        };
        if let Some(line) = case.dmesg {
            if !c.lines().any(|l| l.contains(line)) {
                bail!("{k}: no dmesg line containing `{line}`; {here}");
            }
        }
        if NO_LOSS.contains(&k) && marker(c, &format!("E2E-RECEIVED {k}")) != Some("30") {
            bail!(
                "{k}: frames the driver should have delivered were lost (received {:?} of 30); {here}",
                marker(c, &format!("E2E-RECEIVED {k}"))
            );
        }
        let back: u32 = marker(c, &format!("E2E-BACK {k}"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(u32::MAX);
        if back >= 30 {
            bail!("{k}: no traffic within 30 s after the fault; {here}");
        }
        report.push(format!(
            "{k}: fired {fired}, {seen}, back after {back} failed pings"
        ));
        prev = now;
    }
    // Each logged fault is one line at first, then at most one a minute with the count since
    // the last: lines of one kind at least a minute apart (by the kernel's timestamps; a
    // slow kernel's run can outlast a minute) and at least one.
    for name in [
        "rx_bad_length)",
        "rx_bad_status)",
        "rx_chain_overflow)",
        "irq_storms)",
    ] {
        let times: Vec<f64> = c
            .lines()
            .filter(|l| l.contains("device fault:") && l.contains(name))
            .filter_map(kernel_time)
            .collect();
        if times.is_empty() {
            bail!("no dmesg line for `{name}`; {here}");
        }
        if let Some(w) = times.windows(2).find(|w| w[1] - w[0] < 59.0) {
            bail!(
                "dmesg lines for `{name}` at {:.1} s and {:.1} s: want at most one a minute (rate limit); {here}",
                w[0],
                w[1]
            );
        }
    }
    let failures = c.lines().filter(|l| l.contains("VF reset failed")).count();
    if failures > 4 {
        bail!("{failures} `VF reset failed` lines during one held PF reset: retries are not backing off; {here}");
    }
    if marker(c, "E2E-UNLOADED") != Some("0") {
        bail!("compsc_vf still loaded after rmmod under traffic; {here}");
    }
    let trouble = crate::test::kernel_trouble(c);
    if !trouble.is_empty() {
        bail!("kernel trouble: {}; {here}", trouble.join(" | "));
    }
    // The model refused nothing the guest did; the only DMA errors are the injected ones.
    let wild: u64 = after
        .get("dma_wild")
        .and_then(|s| json_field(s, "dma_wild"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    match json_field(&stats, "dma_errors").and_then(|v| v.parse::<u64>().ok()) {
        Some(n) if n == wild => {}
        other => bail!("the model counted {other:?} DMA errors, {wild} injected: {stats}; {here}"),
    }
    if json_field(&stats, "bad_accesses") != Some("0") {
        bail!("the model refused guest register accesses: {stats}; {here}");
    }
    for line in report {
        eprintln!("    {line}");
    }
    Ok(())
}

/// Allocations the kernel's fail_page_alloc may fail while the Rx rings are starved: far
/// more than the run makes, so the rings stay empty until the plan turns it off.
const ALLOC_FAILURES: u64 = 100_000;

/// The guest's side of the allocation-failure check.
fn alloc_plan() -> String {
    format!(
        r#"{up}
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-BEFORE ok || echo E2E-PING-BEFORE failed
{STATS_FN}
stats before
# fail_page_alloc, for call stacks through compsc_vf only: a frame at or above the module's
# text (the guest loads no module after it). Order-0 pages, every time, no console noise.
F=/sys/kernel/debug/fail_page_alloc
base=$(sed -n 's/^compsc_vf .* \(0x[0-9a-f]*\).*$/\1/p' /proc/modules)
echo "E2E-MODULE-BASE $base"
echo "$base" > $F/require-start
echo 0 > $F/min-order
echo 0 > $F/verbose
echo 1 > $F/interval
echo {ALLOC_FAILURES} > $F/times
echo 100 > $F/probability
echo E2E-ARMED
# Down and up: fresh page pools, so the rings must be filled from the page allocator.
/usr/bin/ip link set eth0 down
/usr/bin/ip link set eth0 up
sleep 5
/usr/bin/ping -c 10 -i 0.2 -W 1 {HOST_IP} >/tmp/p 2>&1 || true
echo "E2E-STARVED $(sed -n 's/.* \([0-9]*\) \(packets \)\{{0,1\}}received.*/\1/p' /tmp/p)"
stats starved
echo E2E-STARVED-END
sleep 1
echo 0 > $F/probability
echo "E2E-LEFT $(cat $F/times)"
# Pages are back, but the rings are empty and the guest sends nothing, so no interrupt
# comes: only the service task's refill retry (every 2 s) can let the peer's pings in.
sleep 4
echo E2E-PEER-PING
sleep 6
n=0; until ping -c 1 -W 1 {HOST_IP} >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 30 ] && break; done
echo "E2E-BACK $n"
ping -c 20 -i 0.1 -W 2 {HOST_IP} >/tmp/p 2>&1 || true
echo "E2E-AFTER $(sed -n 's/.* \([0-9]*\) \(packets \)\{{0,1\}}received.*/\1/p' /tmp/p)"
stats after
echo "E2E-QSTATS $(/usr/bin/ynltool -j qstats show | tr -d '\n')"
echo "E2E-IFINDEX $(cat /sys/class/net/eth0/ifindex)"
{RMMOD_UNDER_FLOOD}"#,
        up = super::ixgbevf::driver_up("compsc_vf")
    )
}

/// `cargo xtask test` check: Rx buffer allocation failure is counted, not fatal. The
/// kernel's fail_page_alloc (limited to compsc_vf's call stacks) fails every page the driver
/// asks for while the interface comes up, so its Rx rings come up empty; the device then has
/// no descriptor for what arrives (the model counts it) and nothing is received. The driver
/// counts each failed refill (ethtool -S and the netdev family's qstats), and once
/// allocations succeed again its service task refills the rings and traffic comes back by
/// itself, with no interrupt to trigger it.
pub fn test_alloc_failure(kernel: &Kernel, ko: &Path) -> Result<()> {
    let (mut rig, m, mut g) = compsc_guest(
        ko,
        "alc",
        "compsc-alloc",
        alloc_plan(),
        Duration::from_secs(300),
    )?;
    g.with_host_program("/usr/sbin/ethtool")?;
    g.with_host_program("/usr/bin/ping")?;
    g.with_host_program("/usr/bin/ip")?;
    g.with_program_at(&crate::kernel::ynltool(kernel)?, "/usr/bin/ynltool")?;
    let model: Rc<RefCell<BTreeMap<&'static str, String>>> = Rc::default();
    for at in ["E2E-ARMED", "E2E-STARVED-END"] {
        let (ctl, model) = (m.ctl.clone(), model.clone());
        g.hooks.push(Hook::new(at, move || {
            let s = control_ok(&ctl, r#"{"cmd":"stats"}"#)?;
            model.borrow_mut().insert(at, s);
            Ok(())
        }));
    }
    let peer_ping: Rc<RefCell<String>> = Rc::default();
    let (ns, got) = (rig.ns().to_owned(), peer_ping.clone());
    g.hooks.push(Hook::new("E2E-PEER-PING", move || {
        let o = std::process::Command::new("ip")
            .args([
                "netns", "exec", &ns, "ping", "-c", "5", "-i", "0.2", "-W", "2",
            ])
            .arg(GUEST_IP)
            .output()?;
        *got.borrow_mut() = String::from_utf8_lossy(&o.stdout).into_owned();
        Ok(())
    }));
    let (out, stats, here) = boot_checked(kernel, g, &mut rig, &m)?;
    let c = &out.console;
    let snap =
        |case: &str| stats_of(c, case).with_context(|| format!("no ethtool -S {case}; {here}"));
    let (before, starved, after) = (snap("before")?, snap("starved")?, snap("after")?);
    let counter = |m: &BTreeMap<String, u64>| -> Result<u64> {
        m.get("rx_alloc_failed")
            .copied()
            .with_context(|| format!("ethtool -S has no rx_alloc_failed; {here}"))
    };
    // The fault fired: fail_page_alloc used some of its budget, and the device found no
    // descriptor for frames that arrived while the rings were empty.
    let left: u64 = marker(c, "E2E-LEFT")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no fail_page_alloc count (E2E-LEFT); {here}"))?;
    let injected = ALLOC_FAILURES.saturating_sub(left);
    if injected == 0 {
        bail!(
            "fail_page_alloc failed no allocation (module base {:?}); {here}",
            marker(c, "E2E-MODULE-BASE")
        );
    }
    let model = model.borrow();
    let no_desc = |at: &str| -> Result<u64> {
        model
            .get(at)
            .and_then(|s| json_field(s, "rx_no_desc"))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no model rx_no_desc at {at}; {here}"))
    };
    let missed = no_desc("E2E-STARVED-END")?.wrapping_sub(no_desc("E2E-ARMED")?);
    if missed == 0 {
        bail!("the model never lacked an Rx descriptor: the rings were not starved; {here}");
    }
    if marker(c, "E2E-STARVED") != Some("0") {
        bail!(
            "{:?} of 10 pings answered with no Rx buffer to receive into; {here}",
            marker(c, "E2E-STARVED")
        );
    }
    // The driver counted it, and it was not fatal.
    let failed = counter(&starved)?.wrapping_sub(counter(&before)?);
    if failed == 0 {
        bail!("{injected} page allocations failed, rx_alloc_failed did not grow; {here}");
    }
    // Refilled with no help from the guest: the peer's pings answered.
    let peer = peer_ping.borrow();
    let answered = super::xdp::received(&peer).unwrap_or(0);
    if answered < 3 {
        bail!("{answered} of the peer's 5 pings answered once pages came back: the empty rings were not refilled by the service task ({peer:?}); {here}");
    }
    let back: u32 = marker(c, "E2E-BACK")
        .and_then(|v| v.parse().ok())
        .unwrap_or(u32::MAX);
    if back >= 30 {
        bail!("no traffic within 30 s after allocations succeeded again: the rings were never refilled; {here}");
    }
    if marker(c, "E2E-AFTER") != Some("20") {
        bail!(
            "after the refill {:?} of 20 pings answered; {here}",
            marker(c, "E2E-AFTER")
        );
    }
    // The netdev family's qstats carry the same count.
    let ifindex: u64 = marker(c, "E2E-IFINDEX")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no ifindex; {here}"))?;
    let qstats: serde_json::Value = serde_json::from_str(marker(c, "E2E-QSTATS").unwrap_or(""))
        .with_context(|| format!("qstats is not JSON; {here}"))?;
    let qs_fail = qstats
        .as_array()
        .and_then(|a| a.iter().find(|d| d["ifindex"].as_u64() == Some(ifindex)))
        .and_then(|d| d["rx"]["alloc-fail"].as_u64())
        .with_context(|| {
            format!("qstats has no rx alloc-fail for ifindex {ifindex}: {qstats}; {here}")
        })?;
    // Read after ethtool's last look, so at least as large (and counters never go back).
    let last = counter(&after)?;
    if last < counter(&starved)? || qs_fail < last {
        bail!(
            "rx_alloc_failed {} while starved, {last} after, qstats rx alloc-fail {qs_fail} later still; {here}",
            counter(&starved)?
        );
    }
    if marker(c, "E2E-UNLOADED") != Some("0") {
        bail!("compsc_vf still loaded after rmmod under traffic; {here}");
    }
    let trouble = crate::test::kernel_trouble(c);
    if !trouble.is_empty() {
        bail!("kernel trouble: {}; {here}", trouble.join(" | "));
    }
    if json_field(&stats, "bad_accesses") != Some("0") {
        bail!("the model refused guest register accesses: {stats}; {here}");
    }
    eprintln!(
        "    alloc failure: {injected} pages refused, rx_alloc_failed +{failed}, model found no descriptor {missed} times, the peer's pings answered {answered} of 5, the guest's back after {back} failed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::kernel_time;

    #[test]
    fn kernel_timestamps_parse() {
        assert_eq!(kernel_time("[   71.031297] compsc_vf: x"), Some(71.031297));
        assert_eq!(kernel_time("E2E-STATS x"), None);
    }
}
