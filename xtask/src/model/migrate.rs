//! The migration doorbell end to end: the xtask plays the hypervisor's part (docs/doorbell.md)
//! through vf-model's control socket.

use super::rig::{
    attach_model, build_model, control, control_ok, finish_model, json_field, HOST_IP,
};
use super::{clean_run, marker};
use crate::guest::{self, GuestRun, Hook};
use crate::kernel::Kernel;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Rings `command` on the model at `ctl`; returns the sequence number used.
pub(super) fn ring(ctl: &Path, command: &str) -> Result<u32> {
    let reply = control_ok(
        ctl,
        &format!(r#"{{"cmd":"doorbell","command":"{command}"}}"#),
    )?;
    json_field(&reply, "seq")
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no sequence number in {reply}"))
}

/// Rings `command` with sequence number `seq`: a destination's hypervisor continues the
/// source's numbering.
pub(super) fn ring_seq(ctl: &Path, command: &str, seq: u32) -> Result<u32> {
    control_ok(
        ctl,
        &format!(r#"{{"cmd":"doorbell","command":"{command}","seq":{seq}}}"#),
    )?;
    Ok(seq)
}

/// Rings a raw command value (for abuse tests) with an explicit sequence number.
fn ring_raw(ctl: &Path, value: u32, seq: u32) -> Result<()> {
    control_ok(
        ctl,
        &format!(r#"{{"cmd":"doorbell","value":{value},"seq":{seq}}}"#),
    )
    .map(drop)
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

/// PREPARE then FREEZE, each required to be answered within `limit`: how every move and
/// abort in these tests starts.
pub(super) fn prepare_and_freeze(ctl: &Path, limit: Duration) -> Result<()> {
    command(ctl, "prepare", "prepared", limit)?;
    command(ctl, "freeze", "frozen", limit).map(drop)
}

/// Guest shell: the driver's own packet counts and the VF's (ethtool -S), in that order:
/// rx_packets, tx_packets, hw_rx_packets, hw_tx_packets.
const COUNTERS_LINE: &str = r#"echo "E2E-COUNTERS $(ethtool -S eth0 | sed -n 's/^ *\(rx_packets\|tx_packets\|hw_rx_packets\|hw_tx_packets\): //p' | tr '\n' ' ')""#;

/// Checks the guest's `E2E-COUNTERS` line after `moves` moves to other VFs: the VF's
/// counters, carried in the record and rebased on each VF, match what the driver itself
/// counted, within `slack(driver count)` and with at least `min` packets counted (a lost
/// base would be off by a whole VF's count, or by 2^32). Returns (rx, tx) as (driver, VF).
fn counters_continuous(
    console: &str,
    moves: &str,
    slack: impl Fn(u64) -> u64,
    min: u64,
) -> Result<[(u64, u64); 2]> {
    let counts: Vec<u64> = marker(console, "E2E-COUNTERS")
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let [rx_sw, tx_sw, rx_hw, tx_hw] = counts[..] else {
        bail!("no counters after {moves}: {counts:?}");
    };
    for (what, sw, hw) in [("rx", rx_sw, rx_hw), ("tx", tx_sw, tx_hw)] {
        if hw.abs_diff(sw) > slack(sw) || sw < min {
            bail!(
                "after {moves} hw_{what}_packets is {hw} but the driver counted {sw}: the counters did not stay continuous"
            );
        }
    }
    Ok([(rx_sw, rx_hw), (tx_sw, tx_hw)])
}

/// Swaps in a row in the doorbell test.
const SWAPS: usize = 20;

/// The guest's side of the in-place doorbell test.
fn plan() -> String {
    format!(
        r#"{up}
vconfig add eth0 7 && ip link set eth0.7 up
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-BEFORE ok || echo E2E-PING-BEFORE failed
ping -i 0.05 -c 300 -W 1 {HOST_IP} > /tmp/ping.txt 2>&1 &
echo E2E-DOORBELL-ABORT
sleep 10
echo E2E-DOORBELL-RESTORE
wait
sleep 1
echo "E2E-PING-DURING $(grep 'packets received' /tmp/ping.txt)"
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-AFTER ok || echo E2E-PING-AFTER failed
echo E2E-DOORBELL-ABUSE
# The host's abuse takes a few doorbell round trips; stay up while it runs.
sleep 4
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-END ok || echo E2E-PING-END failed
ping -i 0.05 -c 400 -W 1 {HOST_IP} > /tmp/ping2.txt 2>&1 &
echo E2E-DOORBELL-SWAPS
wait
# The host rings {HV_DONE} (NONE, seq 0xABCDEF) when its swaps are over (config 0x48).
n=0; until [ "$(od -An -tx4 -j 72 -N 4 /sys/class/net/eth0/device/config | tr -d ' ')" = "{HV_DONE}" ]; do sleep 1; n=$((n+1)); [ $n -ge 300 ] && break; done
echo "E2E-SWAPS-WAITED $n"
echo "E2E-PING-SWAPS $(grep 'packets received' /tmp/ping2.txt)"
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-AFTER-SWAPS ok || echo E2E-PING-AFTER-SWAPS failed
{counters}
"#,
        up = super::ixgbevf::driver_up("compsc_vf"),
        counters = COUNTERS_LINE,
    )
}

/// `cargo xtask test` check: the doorbell on one VF. PREPARE, FREEZE and ABORT resume on the
/// same VF; PREPARE, FREEZE, a VF swap (a fresh device and PF, as a destination presents)
/// and RESTORE carry on with the PF state replayed; abuse (RESTORE unfrozen, a garbage
/// command, a stale sequence number, a reserved command) is refused with the reason the
/// specification gives, and traffic goes on.
pub fn test_doorbell(kernel: &Kernel, ko: &Path) -> Result<()> {
    let (mut rig, m, mut g) = super::rig::compsc_guest(
        ko,
        "dbl",
        "compsc-doorbell",
        plan(),
        Duration::from_secs(300),
    )?;
    let limit = super::rig::answer_limit(kernel);
    let ctl: PathBuf = m.ctl.clone();
    let c1 = ctl.clone();
    g.hooks.push(Hook::new("E2E-DOORBELL-ABORT", move || {
        prepare_and_freeze(&c1, limit)?;
        // Longer than the stack's 5 s Tx watchdog, with pings queued meanwhile: a frozen
        // VF is absent to the stack, not a hung queue.
        std::thread::sleep(Duration::from_secs(7));
        command(&c1, "abort", "running", limit)?;
        Ok(())
    }));
    let c2 = ctl.clone();
    g.hooks.push(Hook::new("E2E-DOORBELL-RESTORE", move || {
        prepare_and_freeze(&c2, limit)?;
        control_ok(&c2, r#"{"cmd":"swap"}"#)?;
        // ABORT on the fresh VF (as on a destination) is refused: reason 8, still frozen.
        refused(&c2, "abort", "8", limit).context("ABORT on a swapped VF")?;
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
        // A sequence number that goes backwards is refused as stale (reason 3); the guest
        // acknowledges that number, so the reason is what tells the answer came.
        let seq = ring(&c3, "none")?;
        wait_ack(&c3, seq, limit)?;
        ring_raw(&c3, 2, seq.saturating_sub(5))?;
        let start = Instant::now();
        loop {
            let reply = control(&c3, r#"{"cmd":"doorbell_status"}"#)?;
            if json_field(&reply, "reason") == Some("3") {
                break;
            }
            if start.elapsed() > limit {
                bail!("a stale sequence number was not refused: {reply}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }));
    // Twenty moves in a row: each swap presents a fresh VF with its counters near their wrap
    // and a PF that remembers nothing, as a destination does.
    let c4 = ctl.clone();
    g.hooks.push(Hook::new("E2E-DOORBELL-SWAPS", move || {
        let r = (|| -> Result<()> {
            // The abuse left a stale number in the doorbell: move well past it first.
            let seq = ring(&c4, "none")?.wrapping_add(100);
            ring_seq(&c4, "none", seq)?;
            wait_ack(&c4, seq, limit)?;
            for i in 0..SWAPS {
                prepare_and_freeze(&c4, limit)?;
                control_ok(&c4, r#"{"cmd":"swap"}"#)?;
                command(&c4, "restore", "restored", limit)
                    .with_context(|| format!("swap {} of {SWAPS}", i + 1))?;
                std::thread::sleep(Duration::from_millis(100));
            }
            // A destination PF that loses a message: the exchange is sent again, RESTORE works.
            prepare_and_freeze(&c4, limit)?;
            control_ok(&c4, r#"{"cmd":"swap"}"#)?;
            control_ok(&c4, r#"{"cmd":"fault","kind":"lose_msgs","count":1}"#)?;
            command(&c4, "restore", "restored", limit).context("RESTORE with a lost message")?;
            // A destination PF that holds the VF in reset: RESTORE fails with DEVICE_FAILED and
            // the guest stays frozen; once the PF lets go, RESTORE again works.
            prepare_and_freeze(&c4, limit)?;
            control_ok(&c4, r#"{"cmd":"swap"}"#)?;
            control_ok(&c4, r#"{"cmd":"fault","kind":"hold_rsti","ms":1500}"#)?;
            refused(&c4, "restore", "7", limit).context("RESTORE onto a VF held in reset")?;
            std::thread::sleep(Duration::from_millis(1600));
            command(&c4, "restore", "restored", limit).context("RESTORE after the PF let go")?;
            let stats = control(&c4, r#"{"cmd":"stats"}"#)?;
            if json_field(&stats, "faults_fired").is_none_or(|n| n.parse::<u32>().unwrap_or(0) < 2)
            {
                bail!("the lost message and the held reset did not both fire: {stats}");
            }
            Ok(())
        })();
        // Over, or given up: the guest waits for this value in its config space either way.
        let done = ring_seq(&c4, "none", u32::from_str_radix(HV_DONE, 16)? >> 8);
        r.and(done.map(drop))
    }));
    g.with_host_program("/usr/sbin/ethtool")?;
    let out = guest::boot(kernel, &mut g)?;
    let (stats, here) = finish_model(&mut rig, &m, &out);
    let c = &out.console;
    out.check_plan().with_context(|| here.clone())?;
    if !out.hook_errors.is_empty() {
        bail!("{}; {here}", out.hook_errors.join("; "));
    }
    for (key, what) in [
        ("E2E-PING-BEFORE", "before the doorbell"),
        ("E2E-PING-AFTER", "after ABORT and RESTORE"),
        ("E2E-PING-END", "after the abuse"),
        ("E2E-PING-AFTER-SWAPS", "after twenty swaps"),
    ] {
        if marker(c, key) != Some("ok") {
            bail!("no traffic {what}; {here}");
        }
    }
    if c.lines().any(|l| {
        (l.contains("Tx queue") && l.contains("timed out")) || l.contains("NETDEV WATCHDOG")
    }) {
        bail!("a Tx queue was reported timed out while the VF was frozen; {here}");
    }
    for line in [
        "doorbell PREPARE seq",
        "doorbell FREEZE seq",
        "doorbell ABORT seq",
        "running on the same VF",
        "does not hold the state FREEZE left",
        "doorbell RESTORE seq",
        "restored in",
    ] {
        if !c.contains(line) {
            bail!("no `{line}` line in dmesg; {here}");
        }
    }
    let restores = c.matches("restored in").count();
    if restores < SWAPS + 1 {
        bail!("{restores} RESTORE lines, want {}; {here}", SWAPS + 1);
    }
    // The counters survived the swaps' VFs, most of them starting near their wrap.
    let [(rx_sw, rx_hw), (tx_sw, tx_hw)] =
        counters_continuous(c, &format!("{SWAPS} swaps"), |sw| (sw / 20).max(50), 0)
            .with_context(|| here.clone())?;
    eprintln!(
        "    doorbell: ping during freeze/abort/swap/restore: {}; during {SWAPS} swaps: {}; counters rx {rx_sw}/{rx_hw} tx {tx_sw}/{tx_hw}",
        marker(c, "E2E-PING-DURING").unwrap_or("(none)"),
        marker(c, "E2E-PING-SWAPS").unwrap_or("(none)")
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

/// A QMP connection to one QEMU.
pub(super) struct Qmp {
    r: std::io::BufReader<std::os::unix::net::UnixStream>,
    w: std::os::unix::net::UnixStream,
}

impl Qmp {
    /// Connects to the QMP socket at `path` (waiting up to 30 s for QEMU to create it) and
    /// leaves capabilities negotiation mode.
    pub(super) fn connect(path: &Path) -> Result<Qmp> {
        let start = Instant::now();
        let w = loop {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if start.elapsed() > Duration::from_secs(30) => {
                    bail!("QMP socket {}: {e}", path.display())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        w.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut q = Qmp {
            r: std::io::BufReader::new(w.try_clone()?),
            w,
        };
        q.line()?; // the greeting
        q.cmd("qmp_capabilities", serde_json::json!({}))?;
        Ok(q)
    }

    fn line(&mut self) -> Result<serde_json::Value> {
        use std::io::BufRead;
        let mut l = String::new();
        if self.r.read_line(&mut l)? == 0 {
            bail!("QMP connection closed");
        }
        serde_json::from_str(&l).with_context(|| format!("QMP sent {l:?}"))
    }

    /// Runs `execute` with `arguments`; returns its `return` value (events are skipped).
    pub(super) fn cmd(
        &mut self,
        execute: &str,
        arguments: serde_json::Value,
    ) -> Result<serde_json::Value> {
        use std::io::Write;
        let req = serde_json::json!({"execute": execute, "arguments": arguments});
        writeln!(self.w, "{req}")?;
        loop {
            let v = self.line()?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                bail!("QMP {execute}: {e}");
            }
        }
    }
}

/// Ends the source and destination QEMU at once (a failed migration: neither can finish
/// its plan), whichever still answers on its QMP socket.
pub(super) fn quit_both(src_qmp: &Path, dst_qmp: &Path) {
    for q in [src_qmp, dst_qmp] {
        if let Ok(mut q) = Qmp::connect(q) {
            let _ = q.cmd("quit", serde_json::json!({}));
        }
    }
}

/// What one migration measured, from the hypervisor's side.
#[derive(Debug, Default)]
pub struct MigrationReport {
    /// FREEZE rung to FROZEN seen.
    pub freeze_ms: f64,
    /// FREEZE rung to the source's QEMU reporting `completed`.
    pub switchover_ms: f64,
    /// RESTORE rung to RESTORED seen.
    pub restore_ms: f64,
    /// FREEZE rung to RESTORED seen: the VF's outage as the hypervisor drives it.
    pub vf_outage_ms: f64,
    /// QEMU's own `downtime` and `total-time` (ms).
    pub qemu_downtime_ms: u64,
    /// See `qemu_downtime_ms`.
    pub qemu_total_ms: u64,
    /// Size of the guest's saved record.
    pub record_bytes: u64,
}

/// FREEZE is rung once this little RAM is left to copy; what is left then is copied while the
/// VF is frozen, so it is part of the outage.
const FREEZE_AT_REMAINING: u64 = 16 << 20;
/// Bandwidth (bytes/s) while waiting for FROZEN: too little to finish the copy, so QEMU cannot
/// switch over before the guest answered.
const HOLD_BANDWIDTH: u64 = 64 << 10;
/// Bandwidth after FROZEN: as fast as the host goes.
const FULL_BANDWIDTH: u64 = 100 << 30;

/// The hypervisor's side of one live migration with the doorbell: PREPARE, pre-copy until
/// the first pass is done, FREEZE, switch over, RESTORE on the destination VF.
pub(super) fn migrate(
    src_qmp: &Path,
    dst_qmp: &Path,
    src_ctl: &Path,
    dst_ctl: &Path,
    port: u16,
    limit: Duration,
) -> Result<MigrationReport> {
    let mut src = Qmp::connect(src_qmp)?;
    let mut dst = Qmp::connect(dst_qmp)?;
    let uri = format!("tcp:127.0.0.1:{port}");
    dst.cmd("migrate-incoming", serde_json::json!({ "uri": uri }))?;
    command(src_ctl, "prepare", "prepared", limit)?;
    // No switch-over before FREEZE: with a zero downtime limit QEMU switches over only when
    // nothing is left to copy, and when little is left the bandwidth is throttled so that it
    // cannot get there. The first pass copies RAM at full speed while the VF keeps working.
    src.cmd(
        "migrate-set-parameters",
        serde_json::json!({"downtime-limit": 0}),
    )?;
    src.cmd("migrate", serde_json::json!({ "uri": uri }))?;
    let start = Instant::now();
    loop {
        let q = src.cmd("query-migrate", serde_json::json!({}))?;
        let status = q.get("status").and_then(|s| s.as_str()).unwrap_or("");
        let remaining = q
            .pointer("/ram/remaining")
            .and_then(|v| v.as_u64())
            .unwrap_or(u64::MAX);
        if std::env::var_os("COMPSC_TRACE_MIGRATION").is_some() {
            eprintln!("    query-migrate: {status}, {remaining} bytes remaining");
        }
        if status == "failed" || status == "cancelled" || status == "completed" {
            bail!("migration {status} before FREEZE: {q}");
        }
        if status == "active" && remaining <= FREEZE_AT_REMAINING {
            src.cmd(
                "migrate-set-parameters",
                serde_json::json!({"max-bandwidth": HOLD_BANDWIDTH}),
            )?;
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("pre-copy did not get near its end in 120 s: {q}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let t_freeze = Instant::now();
    let seq = ring(src_ctl, "freeze")?;
    let (reply, _) = wait_ack(src_ctl, seq, limit)?;
    if json_field(&reply, "status") != Some("frozen") {
        bail!("FREEZE: the guest answered {reply}");
    }
    let freeze_ms = t_freeze.elapsed().as_secs_f64() * 1e3;
    let record_bytes = json_field(&reply, "record_len")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // VF DMA has stopped and its pages are dirty: let QEMU copy the rest and switch over.
    src.cmd(
        "migrate-set-parameters",
        serde_json::json!({"downtime-limit": 2000, "max-bandwidth": FULL_BANDWIDTH}),
    )?;
    let q = loop {
        let q = src.cmd("query-migrate", serde_json::json!({}))?;
        match q.get("status").and_then(|s| s.as_str()).unwrap_or("") {
            "completed" => break q,
            "failed" | "cancelled" => bail!("migration failed after FREEZE: {q}"),
            _ => {}
        }
        if t_freeze.elapsed() > Duration::from_secs(60) {
            bail!("migration did not complete within 60 s of FREEZE: {q}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let switchover_ms = t_freeze.elapsed().as_secs_f64() * 1e3;
    let t_restore = Instant::now();
    let seq = ring_seq(dst_ctl, "restore", seq.wrapping_add(1))?;
    let (reply, _) = wait_ack(dst_ctl, seq, limit * 2)?;
    if json_field(&reply, "status") != Some("restored") {
        bail!("RESTORE: the guest answered {reply}");
    }
    let restore_ms = t_restore.elapsed().as_secs_f64() * 1e3;
    let vf_outage_ms = t_freeze.elapsed().as_secs_f64() * 1e3;
    let _ = src.cmd("quit", serde_json::json!({}));
    Ok(MigrationReport {
        freeze_ms,
        switchover_ms,
        restore_ms,
        vf_outage_ms,
        qemu_downtime_ms: q.get("downtime").and_then(|v| v.as_u64()).unwrap_or(0),
        qemu_total_ms: q.get("total-time").and_then(|v| v.as_u64()).unwrap_or(0),
        record_bytes,
    })
}

/// The guest's side of the live-migration test: TCP each way and a ping stream across one
/// migration, checksums at the end. The interface runs one of its two queue pairs (`ethtool
/// -L`) and an XDP_PASS program, both of which must still be so after the moves.
fn migration_plan(bytes: u64) -> String {
    use super::rig::CHUNK;
    format!(
        r#"{up}
ethtool -L eth0 combined 1 && echo E2E-CHANNELS-SET ok || echo E2E-CHANNELS-SET failed
/usr/bin/ip link set dev eth0 xdpdrv obj /xdp/pass.o sec xdp && echo E2E-XDP-SET ok || echo E2E-XDP-SET failed
n=0; until ping -c 1 -W 1 {HOST_IP} >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 15 ] && break; done
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-BEFORE ok || echo E2E-PING-BEFORE failed
head -c {CHUNK} /dev/urandom > /tmp/chunk
echo "E2E-CHUNK $(crc32 < /tmp/chunk)"
(i=0; while [ $i -lt {copies} ]; do cat /tmp/chunk; i=$((i+1)); done | nc {HOST_IP} 5001 || echo "E2E-TX-FAILED") &
tx=$!
(echo "E2E-RX $(nc {HOST_IP} 5002 </dev/null | crc32)") &
rx=$!
ping -i 0.01 -c 1500 -W 1 {HOST_IP} > /tmp/ping.txt 2>&1 &
pg=$!
{dirtier}
sleep 1
echo E2E-MIGRATE
wait $tx $rx $pg || true
touch /tmp/stop
wait
echo "E2E-PING-DURING $(grep 'packets received' /tmp/ping.txt)"
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-AFTER ok || echo E2E-PING-AFTER failed
{counters}
echo "E2E-CHANNELS-AFTER $(ethtool -l eth0 | sed -n 's/^Combined:[[:space:]]*//p' | tr '\n' ' ')"
echo "E2E-XDP-AFTER $(/usr/bin/ip link show eth0 | grep -c 'prog/xdp') $(ethtool -S eth0 | sed -n 's/^ *rx_xdp_pass: //p')"
"#,
        copies = bytes / CHUNK,
        up = super::ixgbevf::driver_up("compsc_vf"),
        dirtier = DIRTIER,
        counters = COUNTERS_LINE,
    )
}

/// Guest shell: a background job that keeps rewriting a tmpfs page until `/tmp/stop` exists.
/// A migration whose downtime limit is 0 switches over as soon as nothing is left to copy; an
/// idle guest gets there, and the hypervisor's FREEZE must come first. The job costs the guest
/// one busy shell loop, in every configuration the benchmark compares.
pub(super) const DIRTIER: &str = "(while [ ! -e /tmp/stop ]; do echo x > /tmp/dirty; done) &";

/// `cargo xtask test` check: two live migrations in a row (A to B, then B to C), each
/// between two QEMU processes with their own vf-model, the VM's VF driven by compsc_vf, while
/// 100 MiB of TCP run each way and a ping stream runs: PREPARE, pre-copy, FREEZE,
/// switch-over, RESTORE on the destination VF (whose config space comes back reset). Every
/// byte arrives intact, the guest resumes on each destination VF with its PF state replayed,
/// the VF's statistics counters stay continuous across both moves, and the kernel stays
/// clean. Returns the first migration's report.
pub fn test_live_migration(kernel: &Kernel, ko: &Path) -> Result<MigrationReport> {
    let (model_bin, peer_bin) = build_model()?;
    let (mut rig, models) = super::rig::bridged_models_n(&model_bin, "mig", "compsc-migrate", 3)?;
    let bytes = super::rig::e2e_bytes(kernel);
    let sink = super::rig::start_peer_bytes(&mut rig, &peer_bin, "sink", 5001, bytes)?;
    let source = super::rig::start_peer_bytes(&mut rig, &peer_bin, "source", 5002, bytes)?;
    let roles = ["src", "dst", "dst2"];
    let qmps: Vec<PathBuf> = roles
        .iter()
        .map(|r| rig.dir().join(format!("{r}.qmp")))
        .collect();
    let xdp = super::xdp::build_programs()?;
    let mut guests = Vec::new();
    for (k, role) in roles.iter().enumerate() {
        let mut g = GuestRun::new(&format!("compsc-migrate-{role}"), migration_plan(bytes));
        g.files
            .push((ko.to_path_buf(), "/modules/compsc_vf.ko".into()));
        g.files.push((xdp.join("pass.o"), "/xdp/pass.o".into()));
        g.with_host_program("/usr/sbin/ethtool")?;
        g.with_host_program("/usr/bin/ip")?;
        g.timeout = Duration::from_secs(600);
        g.cmdline.push(crate::guest::MIGRATED_CLOCK.into());
        attach_model(&mut g, &models[k].sock)?;
        g.extra_args.push("-qmp".into());
        g.extra_args
            .push(format!("unix:{},server=on,wait=off", qmps[k].display()).into());
        if k > 0 {
            g.extra_args.push("-incoming".into());
            g.extra_args.push("defer".into());
        }
        guests.push(g);
    }
    let mut src = guests.remove(0);
    let dst_runs: Vec<_> = guests
        .iter()
        .map(|g| guest::spawn(kernel, g))
        .collect::<Result<_>>()?;
    let report = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    {
        let qmps = qmps.clone();
        let ctls: Vec<PathBuf> = models.iter().map(|m| m.ctl.clone()).collect();
        let rep = report.clone();
        // Ports of our own per run: the pid keeps parallel runs apart.
        let port = 20000 + (std::process::id() % 20000) as u16;
        let limit = super::rig::answer_limit(kernel);
        src.hooks.push(Hook::new("E2E-MIGRATE", move || {
            for hop in 0..2 {
                let (a, b) = (hop, hop + 1);
                match migrate(
                    &qmps[a],
                    &qmps[b],
                    &ctls[a],
                    &ctls[b],
                    port + hop as u16,
                    limit,
                ) {
                    Ok(r) => rep.borrow_mut().push(r),
                    Err(e) => {
                        quit_both(&qmps[a], &qmps[b]);
                        if hop == 0 {
                            quit_both(&qmps[2], &qmps[2]);
                        }
                        return Err(e.context(format!("migration {}", hop + 1)));
                    }
                }
                // Traffic on the new VF before the next move.
                std::thread::sleep(Duration::from_millis(1500));
            }
            Ok(())
        }));
    }
    let src_run = guest::spawn(kernel, &src)?;
    let src_out = src_run.watch(&mut src.hooks, src.timeout);
    let outs: Vec<_> = dst_runs
        .into_iter()
        .map(|r| r.watch(&mut [], Duration::from_secs(600)))
        .collect();
    let tx = super::rig::peer_result(&mut rig, "sink", sink);
    let rx = super::rig::peer_result(&mut rig, "source", source);
    let stats = control(&models[2].ctl, r#"{"cmd":"stats"}"#)
        .unwrap_or_else(|e| format!("(no stats: {e:#})"));
    for role in roles {
        rig.terminate(&format!("vf-model-{role}"));
    }
    let here = format!(
        "consoles {}, {} and {}, model logs {}, {} and {}",
        src_out.log_path.display(),
        outs[0].log_path.display(),
        outs[1].log_path.display(),
        models[0].log.display(),
        models[1].log.display(),
        models[2].log.display()
    );
    if !src_out.hook_errors.is_empty() {
        bail!(
            "the migrations failed: {}; {here}",
            src_out.hook_errors.join("; ")
        );
    }
    let last = &outs[1];
    last.check_plan().with_context(|| here.clone())?;
    let console = format!("{}\n{}\n{}", src_out.console, outs[0].console, last.console);
    let c = &console;
    for key in [
        "E2E-CHANNELS-SET",
        "E2E-XDP-SET",
        "E2E-PING-BEFORE",
        "E2E-PING-AFTER",
    ] {
        if marker(c, key) != Some("ok") {
            bail!("{key}: not ok; {here}");
        }
    }
    // The configuration the user made survives both moves: one queue pair of the two each
    // destination PF grants, and the XDP program every received frame went through.
    if marker(c, "E2E-CHANNELS-AFTER") != Some("2 1") {
        bail!(
            "after the migrations ethtool -l says {:?}, want 2 granted and 1 in use; {here}",
            marker(c, "E2E-CHANNELS-AFTER")
        );
    }
    let xdp_after: Vec<u64> = marker(c, "E2E-XDP-AFTER")
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let passed = match xdp_after[..] {
        [1, passed] if passed >= bytes / 1500 => passed,
        _ => bail!("after the migrations: XDP program attached and rx_xdp_pass {xdp_after:?}, want attached and every frame of the transfer passed; {here}"),
    };
    let chunk = marker(c, "E2E-CHUNK").context("the guest printed no chunk CRC")?;
    if json_field(&tx, "error").is_some()
        || json_field(&tx, "bytes") != Some(&bytes.to_string())
        || json_field(&tx, "chunk_crcs").unwrap_or("") != format!("[\"{chunk}\"]")
    {
        bail!("guest->host transfer across the migrations incomplete or corrupted: {tx}; {here}");
    }
    let rx_crc = marker(c, "E2E-RX").unwrap_or("");
    if json_field(&rx, "error").is_some() || json_field(&rx, "crc") != Some(rx_crc) {
        bail!("host->guest transfer across the migrations: source said {rx}, guest computed {rx_crc:?}; {here}");
    }
    for (k, o) in outs.iter().enumerate() {
        if !o.console.contains("doorbell RESTORE seq") {
            bail!("no RESTORE line on destination {}; {here}", k + 1);
        }
    }
    // Over three VFs the counters match the driver's own.
    let [(rx_sw, rx_hw), (tx_sw, tx_hw)] =
        counters_continuous(c, "two migrations", |sw| (sw / 100).max(200), 10_000)
            .with_context(|| here.clone())?;
    clean_run(&last.console, &stats).with_context(|| here.clone())?;
    let reports = std::mem::take(&mut *report.borrow_mut());
    for (k, r) in reports.iter().enumerate() {
        eprintln!(
            "    migration {}: VF outage {:.1} ms (FREEZE {:.1} ms, switch-over {:.1} ms, RESTORE {:.1} ms), QEMU downtime {} ms, total {} ms, record {} bytes",
            k + 1, r.vf_outage_ms, r.freeze_ms, r.switchover_ms, r.restore_ms, r.qemu_downtime_ms, r.qemu_total_ms, r.record_bytes
        );
    }
    eprintln!(
        "    ping across the migrations: {}; counters rx {rx_sw}/{rx_hw} tx {tx_sw}/{tx_hw} (driver/VF); one queue pair and XDP_PASS throughout ({passed} frames passed)",
        marker(c, "E2E-PING-DURING").unwrap_or("(none)")
    );
    for l in c
        .lines()
        .filter(|l| l.contains("frozen in") || l.contains("restored in"))
    {
        eprintln!("    {}", l.trim());
    }
    reports
        .into_iter()
        .next()
        .context("the migration hook reported nothing")
}

/// The doorbell value (command NONE, sequence number 0xABCDEF) the hypervisor side of
/// [`test_doorbell_hypervisor_faults`] rings when it is done; the guest waits for it in its
/// config space (the capability sits at 0x40, its doorbell dword at 0x48).
const HV_DONE: &str = "abcdef00";

/// The guest's side of the hypervisor-fault test: traffic, then wait (reading the doorbell
/// dword from config space) until the host has finished abusing the doorbell, then traffic.
fn hv_plan() -> String {
    format!(
        r#"{up}
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-BEFORE ok || echo E2E-PING-BEFORE failed
cfg=/sys/class/net/eth0/device/config
echo E2E-HV-FAULTS
n=0; until [ "$(od -An -tx4 -j 72 -N 4 $cfg | tr -d ' ')" = "{HV_DONE}" ]; do sleep 1; n=$((n+1)); [ $n -ge 400 ] && break; done
echo "E2E-HV-WAITED $n"
n=0; until ping -c 1 -W 1 {HOST_IP} >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 30 ] && break; done
echo "E2E-HV-BACK $n"
"#,
        up = super::ixgbevf::driver_up("compsc_vf"),
    )
}

/// Rings `command` and requires the guest to refuse it with `reason` (docs/doorbell.md).
fn refused(ctl: &Path, command: &str, reason: &str, limit: Duration) -> Result<()> {
    let seq = ring(ctl, command)?;
    let (reply, _) = wait_ack(ctl, seq, limit)?;
    if json_field(&reply, "status") != Some("error") || json_field(&reply, "reason") != Some(reason)
    {
        bail!("doorbell {command}: the guest answered {reply}, want error reason {reason}");
    }
    Ok(())
}

/// `cargo xtask test` check: a hostile or broken hypervisor. FREEZE twice, ABORT after
/// RESTORE, a thousand doorbells a second, a FREEZE left alone for a minute, a record
/// corrupted between source and destination, destinations of another VF model (one that
/// cannot take the record, one that can): each refused with its reason or carried out, the
/// guest never hangs, traffic comes back, and the kernel stays clean.
pub fn test_doorbell_hypervisor_faults(kernel: &Kernel, ko: &Path) -> Result<()> {
    let (mut rig, m, mut g) = super::rig::compsc_guest(
        ko,
        "hvf",
        "compsc-hv-faults",
        hv_plan(),
        Duration::from_secs(600),
    )?;
    let ctl: PathBuf = m.ctl.clone();
    let limit = super::rig::answer_limit(kernel) * 2;
    let report = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let log = report.clone();
    g.hooks.push(Hook::new("E2E-HV-FAULTS", move || {
        let r = hv_abuse(&ctl, limit, &mut |s| log.borrow_mut().push(s));
        // Done, or given up: the guest reads this value from its config space either way.
        let done = u32::from_str_radix(HV_DONE, 16)? >> 8;
        let rang = ring_seq(&ctl, "none", done);
        r.and(rang.map(drop))
    }));
    let (out, stats, here) = super::rig::boot_checked(kernel, g, &mut rig, &m)?;
    let c = &out.console;
    let waited: u32 = marker(c, "E2E-HV-WAITED")
        .and_then(|v| v.parse().ok())
        .unwrap_or(u32::MAX);
    if waited >= 400 {
        bail!("the guest never saw the host finish; {here}");
    }
    let back: u32 = marker(c, "E2E-HV-BACK")
        .and_then(|v| v.parse().ok())
        .unwrap_or(u32::MAX);
    if back >= 30 {
        bail!("no traffic within 30 s after the last fault; {here}");
    }
    if !c.contains("the destination is a X540 VF") {
        bail!("no dmesg line naming the X540 VF the guest was restored on; {here}");
    }
    clean_run(c, &stats).with_context(|| here.clone())?;
    for line in report.borrow().iter() {
        eprintln!("    {line}");
    }
    Ok(())
}

/// The hypervisor's abuse in [`test_doorbell_hypervisor_faults`], in order; `note` gets a
/// line per step done.
fn hv_abuse(c: &Path, limit: Duration, note: &mut dyn FnMut(String)) -> Result<()> {
    // FREEZE twice: the second is refused (BAD_STATE), the VF stays frozen.
    prepare_and_freeze(c, limit)?;
    refused(c, "freeze", "2", limit).context("FREEZE twice")?;
    command(c, "abort", "running", limit).context("ABORT after a second FREEZE")?;
    note("FREEZE twice: BAD_STATE, ABORT works".into());
    // ABORT after RESTORE: refused, the guest keeps running.
    prepare_and_freeze(c, limit)?;
    control_ok(c, r#"{"cmd":"swap"}"#)?;
    command(c, "restore", "restored", limit)?;
    refused(c, "abort", "2", limit).context("ABORT after RESTORE")?;
    note("ABORT after RESTORE: BAD_STATE".into());
    // A thousand doorbells as fast as the socket takes them; the last is answered.
    let start = Instant::now();
    let mut last = 0;
    for _ in 0..1000 {
        last = ring(c, "none")?;
    }
    let rang = start.elapsed();
    let (reply, took) = wait_ack(c, last, limit).context("after 1000 doorbells")?;
    if json_field(&reply, "status") != Some("running") {
        bail!("after 1000 doorbells the guest answered {reply}");
    }
    note(format!(
        "1000 doorbells in {} ms ({:.0}/s): last answered {} ms later, running",
        rang.as_millis(),
        1000.0 / rang.as_secs_f64().max(1e-6),
        took.as_millis()
    ));
    // FREEZE and then nothing for a minute: still frozen, then ABORT works.
    prepare_and_freeze(c, limit)?;
    std::thread::sleep(Duration::from_secs(60));
    command(c, "none", "frozen", limit).context("still frozen after a minute")?;
    command(c, "abort", "running", limit).context("ABORT after a minute frozen")?;
    note("FREEZE left alone 60 s: still FROZEN, ABORT works".into());
    // A record corrupted on its way: BAD_RECORD and still frozen; repaired, RESTORE.
    prepare_and_freeze(c, limit)?;
    control_ok(c, r#"{"cmd":"swap"}"#)?;
    control_ok(c, r#"{"cmd":"corrupt_record"}"#)?;
    refused(c, "restore", "5", limit).context("RESTORE of a corrupted record")?;
    control_ok(c, r#"{"cmd":"corrupt_record"}"#)?;
    command(c, "restore", "restored", limit).context("RESTORE of the repaired record")?;
    note("corrupted record: BAD_RECORD, repaired: RESTORED".into());
    // A destination of another model: an X550 VF (RSS its own, two queues in use)
    // cannot take the record: INCOMPATIBLE, still frozen; an X540 VF can.
    prepare_and_freeze(c, limit)?;
    control_ok(c, r#"{"cmd":"swap","device_id":"1565"}"#)?;
    refused(c, "restore", "6", limit).context("RESTORE on an X550 VF")?;
    control_ok(c, r#"{"cmd":"swap","device_id":"1515"}"#)?;
    command(c, "restore", "restored", limit).context("RESTORE on an X540 VF")?;
    note("X550 destination: INCOMPATIBLE; X540 destination: RESTORED".into());
    Ok(())
}
