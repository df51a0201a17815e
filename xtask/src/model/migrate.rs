//! The migration doorbell end to end: the xtask plays the hypervisor's part (docs/doorbell.md)
//! through vf-model's control socket.

use super::rig::{attach_model, build_model, control, json_field, networked_model, HOST_IP};
use super::{clean_run, marker};
use crate::guest::{self, GuestRun, Hook};
use crate::kernel::Kernel;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Rings `command` on the model at `ctl`; returns the sequence number used.
pub(super) fn ring(ctl: &Path, command: &str) -> Result<u32> {
    let reply = control(
        ctl,
        &format!(r#"{{"cmd":"doorbell","command":"{command}"}}"#),
    )?;
    if json_field(&reply, "ok") != Some("true") {
        bail!("the model refused to ring {command}: {reply}");
    }
    json_field(&reply, "seq")
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no sequence number in {reply}"))
}

/// Rings a raw command value (for abuse tests) with an explicit sequence number.
fn ring_raw(ctl: &Path, value: u32, seq: u32) -> Result<()> {
    let reply = control(
        ctl,
        &format!(r#"{{"cmd":"doorbell","value":{value},"seq":{seq}}}"#),
    )?;
    if json_field(&reply, "ok") != Some("true") {
        bail!("the model refused to ring {value}: {reply}");
    }
    Ok(())
}

/// Waits (polling every millisecond, up to `limit`) until the guest acknowledged `seq`;
/// returns the status reply and how long the wait took.
pub(super) fn wait_ack(ctl: &Path, seq: u32, limit: Duration) -> Result<(String, Duration)> {
    let start = Instant::now();
    loop {
        let reply = control(ctl, r#"{"cmd":"doorbell_status"}"#)?;
        if json_field(&reply, "ack_seq").and_then(|s| s.parse::<u32>().ok()) == Some(seq) {
            return Ok((reply, start.elapsed()));
        }
        if start.elapsed() > limit {
            bail!("the guest did not answer doorbell seq {seq} within {limit:?}: {reply}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Rings `command` and requires the guest to answer `want` within `limit`.
pub(super) fn command(ctl: &Path, command: &str, want: &str, limit: Duration) -> Result<Duration> {
    let seq = ring(ctl, command)?;
    let (reply, took) = wait_ack(ctl, seq, limit)?;
    if json_field(&reply, "status") != Some(want) {
        bail!("doorbell {command}: the guest answered {reply}, want status {want}");
    }
    Ok(took)
}

/// The guest's side of the in-place doorbell test.
fn plan() -> String {
    format!(
        r#"{up}
vconfig add eth0 7 && ip link set eth0.7 up
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-BEFORE ok || echo E2E-PING-BEFORE failed
ping -i 0.05 -c 160 -W 1 {HOST_IP} > /tmp/ping.txt 2>&1 &
echo E2E-DOORBELL-ABORT
sleep 3
echo E2E-DOORBELL-RESTORE
wait
echo "E2E-PING-DURING $(grep 'packets received' /tmp/ping.txt)"
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-AFTER ok || echo E2E-PING-AFTER failed
echo E2E-DOORBELL-ABUSE
# The host's abuse takes a few doorbell round trips; stay up while it runs.
sleep 4
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-END ok || echo E2E-PING-END failed
"#,
        up = super::ixgbevf::driver_up("compsc_vf")
    )
}

/// `cargo xtask test` check: the doorbell on one VF. PREPARE, FREEZE and ABORT resume on the
/// same VF; PREPARE, FREEZE, a VF swap (a fresh device and PF, as a destination presents)
/// and RESTORE carry on with the PF state replayed; abuse (RESTORE unfrozen, a garbage
/// command, a stale sequence number, a reserved command) is refused with the reason the
/// specification gives, and traffic goes on.
pub fn test_doorbell(kernel: &Kernel, ko: &Path) -> Result<()> {
    let (model_bin, _) = build_model()?;
    let (mut rig, m) = networked_model(&model_bin, "dbl", "compsc-doorbell")?;
    let mut g = GuestRun::new("compsc-doorbell", plan());
    g.files
        .push((ko.to_path_buf(), "/modules/compsc_vf.ko".into()));
    g.timeout = Duration::from_secs(300);
    attach_model(&mut g, &m.sock)?;
    let limit = Duration::from_secs(5);
    let ctl: PathBuf = m.ctl.clone();
    let c1 = ctl.clone();
    g.hooks.push(Hook::new("E2E-DOORBELL-ABORT", move || {
        command(&c1, "prepare", "prepared", limit)?;
        command(&c1, "freeze", "frozen", limit)?;
        std::thread::sleep(Duration::from_millis(200));
        command(&c1, "abort", "running", limit)?;
        Ok(())
    }));
    let c2 = ctl.clone();
    g.hooks.push(Hook::new("E2E-DOORBELL-RESTORE", move || {
        command(&c2, "prepare", "prepared", limit)?;
        command(&c2, "freeze", "frozen", limit)?;
        let reply = control(&c2, r#"{"cmd":"swap"}"#)?;
        if json_field(&reply, "ok") != Some("true") {
            bail!("the model refused the swap: {reply}");
        }
        command(&c2, "restore", "restored", limit)?;
        let stats = control(&c2, r#"{"cmd":"stats"}"#)?;
        if json_field(&stats, "vlans").is_none_or(|v| !v.contains('7')) {
            bail!("VLAN 7 was not replayed to the fresh PF: {stats}");
        }
        Ok(())
    }));
    let c3 = ctl.clone();
    g.hooks.push(Hook::new("E2E-DOORBELL-ABUSE", move || {
        // (command value, expected reason): RESTORE while running (bad state), a value
        // version 1 does not define, CHECKPOINT (reserved).
        for (value, reason) in [(3u32, "2"), (77, "1"), (5, "4")] {
            let seq = ring(&c3, "none")?.wrapping_add(1);
            ring_raw(&c3, value, seq)?;
            let (reply, _) = wait_ack(&c3, seq, limit)?;
            if json_field(&reply, "status") != Some("error")
                || json_field(&reply, "reason") != Some(reason)
            {
                bail!("command {value}: the guest answered {reply}, want error reason {reason}");
            }
        }
        // A sequence number that goes backwards is refused as stale (reason 3): the status
        // block keeps the earlier acknowledgement, so read the reason only.
        let seq = ring(&c3, "none")?;
        ring_raw(&c3, 2, seq.saturating_sub(5))?;
        std::thread::sleep(Duration::from_millis(300));
        let reply = control(&c3, r#"{"cmd":"doorbell_status"}"#)?;
        if json_field(&reply, "reason") != Some("3") {
            bail!("a stale sequence number was not refused: {reply}");
        }
        Ok(())
    }));
    let out = guest::boot(kernel, &mut g)?;
    let stats =
        control(&m.ctl, r#"{"cmd":"stats"}"#).unwrap_or_else(|e| format!("(no stats: {e:#})"));
    rig.terminate("vf-model");
    let c = &out.console;
    let here = format!(
        "console {}, model log {}",
        out.log_path.display(),
        m.log.display()
    );
    out.check_plan().with_context(|| here.clone())?;
    for (key, what) in [
        ("E2E-PING-BEFORE", "before the doorbell"),
        ("E2E-PING-AFTER", "after ABORT and RESTORE"),
        ("E2E-PING-END", "after the abuse"),
    ] {
        if marker(c, key) != Some("ok") {
            bail!("no traffic {what}; {here}");
        }
    }
    for line in [
        "doorbell PREPARE seq",
        "doorbell FREEZE seq",
        "doorbell ABORT seq",
        "doorbell RESTORE seq",
        "restored in",
    ] {
        if !c.contains(line) {
            bail!("no `{line}` line in dmesg; {here}");
        }
    }
    eprintln!(
        "    doorbell: ping during freeze/abort/swap/restore: {}",
        marker(c, "E2E-PING-DURING").unwrap_or("(none)")
    );
    for l in c
        .lines()
        .filter(|l| l.contains("frozen in") || l.contains("restored in"))
    {
        eprintln!("    {}", l.trim());
    }
    clean_run(c, &stats).with_context(|| here.clone())?;
    Ok(())
}
