//! The device-fault matrix: vf-model misbehaves on request while compsc_vf carries traffic,
//! one fault after another in one guest. For each fault the check wants the model's word
//! that it fired, the driver's count of it in `ethtool -S` (where the driver can see it), its
//! one dmesg line (where it logs one), traffic back afterwards, and at the end a clean
//! kernel log and an rmmod under traffic (followed, on the debug kernel, by a kmemleak scan).

use super::marker;
use super::rig::{boot_checked, compsc_guest, control_ok, json_field, HOST_IP};
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
stats() {{ echo "E2E-STATS $1 $(ethtool -S eth0 | sed -n 's/^ *\([a-z0-9_]*\): \([0-9]*\)$/\1=\2/p' | tr '\n' ' ')"; }}
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
ping -f -c 3000 {HOST_IP} >/dev/null 2>&1 &
sleep 1
rmmod compsc_vf
echo "E2E-UNLOADED $(grep -c compsc_vf /proc/modules)"
wait
"#
    ));
    p
}

/// `name=value` pairs of one `E2E-STATS <case>` line.
fn stats_of(console: &str, case: &str) -> Option<BTreeMap<String, u64>> {
    let line = marker(console, &format!("E2E-STATS {case} "))?;
    Some(
        line.split_whitespace()
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_owned(), v.parse().ok()?))
            })
            .collect(),
    )
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
    // Each logged fault is one line at first, then at most one a minute: a whole run is
    // shorter than that, so more than one line of a kind is a flood.
    for name in [
        "rx_bad_length)",
        "rx_bad_status)",
        "rx_chain_overflow)",
        "irq_storms)",
    ] {
        let n = c
            .lines()
            .filter(|l| l.contains("device fault:") && l.contains(name))
            .count();
        if n != 1 {
            bail!("{n} dmesg lines for `{name}`, want exactly 1 (rate limit); {here}");
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
