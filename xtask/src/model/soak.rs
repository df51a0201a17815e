//! `cargo xtask soak MINUTES`: compsc_vf under traffic each way for MINUTES while the host
//! disrupts it at random: moves to a fresh VF through the doorbell (FREEZE, a swapped VF,
//! RESTORE: what a migration's destination presents), ABORTs, PF resets and link flaps; the
//! guest resizes its rings at random meanwhile and checks its counters never go backwards.
//! Every transfer is checksummed. The report says what was lost (the goal: nothing), what was
//! done, and any kernel complaint; it is also written to `target/soak/report.txt`.
//!
//! The moves are the doorbell's, on one QEMU: the guest's memory stays put while its VF is
//! replaced, which exercises every step of a migration's RESTORE but not QEMU's RAM copy
//! (`cargo xtask traffic migrate` and the bench do real QEMU migrations).

use super::marker;
use super::migrate::{command, prepare_and_freeze, ring_seq};
use super::rig::{
    attach_model, build_model, control_ok, finish_model, json_field, networked_model, CHUNK,
    HOST_IP,
};
use crate::guest::{self, GuestRun, Hook};
use crate::kernel::Kernel;
use crate::util::target_dir;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bytes per transfer round, each way.
const ROUND_BYTES: u64 = 16 << 20;

/// The doorbell value (NONE, sequence number 0xABCDEF) that tells the guest the soak is over;
/// it reads the doorbell dword (config 0x48) from sysfs.
const DONE: &str = "abcdef00";

fn plan() -> String {
    format!(
        r#"{up}
cfg=/sys/class/net/eth0/device/config
over() {{ [ "$(od -An -tx4 -j 72 -N 4 $cfg | tr -d ' ')" = "{DONE}" ]; }}
rnd() {{ echo $(( $(od -An -tu2 -N2 /dev/urandom | tr -d ' ') % $1 )); }}
head -c {CHUNK} /dev/urandom > /tmp/chunk
echo "E2E-CHUNK $(crc32 < /tmp/chunk)"
echo E2E-SOAK-GO
(
  r=0
  while ! over; do
    if (i=0; while [ $i -lt {copies} ]; do cat /tmp/chunk; i=$((i+1)); done) | nc {HOST_IP} 5001 2>/tmp/nce; then
      echo "E2E-TX-ROUND $r ok"
    else
      echo "E2E-TX-ROUND $r refused-or-broken $(head -c 120 /tmp/nce | tr '\n' ' ')"
    fi
    r=$((r+1)); sleep 1
  done
) &
(
  r=0
  while ! over; do
    nc {HOST_IP} 5002 </dev/null > /tmp/rx
    echo "E2E-RX-ROUND $r $(wc -c < /tmp/rx) $(crc32 < /tmp/rx)"
    r=$((r+1)); sleep 1
  done
) &
(
  while ! over; do
    sleep $(( $(rnd 20) + 10 ))
    for s in 128 256 512 1024; do [ $(rnd 4) = 0 ] && break; done
    ethtool -G eth0 rx $s tx $s && echo "E2E-RING $s" || echo "E2E-RING-FAILED $s"
  done
) &
(
  prev=""
  while ! over; do
    sleep 2
    cur=$(ethtool -S eth0 | sed -n 's/^ *\(rx_packets\|tx_packets\|rx_bytes\|tx_bytes\|hw_rx_packets\|hw_tx_packets\|hw_rx_bytes\|hw_tx_bytes\): \([0-9]*\)$/\1=\2/p' | tr '\n' ' ')
    if [ -n "$prev" ]; then
      for kv in $cur; do
        k=${{kv%%=*}}; v=${{kv#*=}}
        for pv in $prev; do
          [ "${{pv%%=*}}" = "$k" ] && [ "${{pv#*=}}" -gt "$v" ] && echo "E2E-BACKWARDS $k ${{pv#*=}} $v"
        done
      done
    fi
    prev=$cur
  done
  echo "E2E-COUNTERS-CHECKED"
) &
wait
echo "E2E-SOAK-END $(ethtool -S eth0 | sed -n 's/^ *\(vf_resets\|doorbell_restores\|tx_hangs\): /\1=/p' | tr '\n' ' ')"
rmmod compsc_vf
echo "E2E-UNLOADED $(grep -c compsc_vf /proc/modules)"
"#,
        up = super::ixgbevf::driver_up("compsc_vf"),
        copies = ROUND_BYTES / CHUNK,
    )
}

/// One peer run: `vf-peer MODE` accepting one connection in the namespace; its result line.
fn peer_once(ns: &str, peer: &Path, mode: &str, port: u16, stop: &Path) -> Result<String> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(peer)
        .arg(mode)
        .args(["--listen", &format!("{HOST_IP}:{port}")])
        .args([
            "--bytes",
            &ROUND_BYTES.to_string(),
            "--chunk",
            &CHUNK.to_string(),
        ])
        .args(["--timeout", "300"])
        .arg("--stop-file")
        .arg(stop)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start vf-peer {mode}"))?;
    let out = child.stdout.take().context("peer stdout")?;
    let mut last = String::new();
    for line in BufReader::new(out).lines() {
        last = line?;
    }
    child.wait()?;
    Ok(last)
}

/// What the host saw of one direction's rounds.
#[derive(Default)]
struct Rounds {
    /// Result lines of the peer, one per connection it accepted.
    results: Vec<String>,
}

/// Restarts `vf-peer MODE` for one connection after another until `stop`.
fn serve(
    ns: String,
    peer: PathBuf,
    mode: &'static str,
    port: u16,
    stop_file: PathBuf,
    stop: Arc<AtomicBool>,
    rounds: Arc<Mutex<Rounds>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match peer_once(&ns, &peer, mode, port, &stop_file) {
                // A peer that never got a connection (the soak ending, a guest between
                // rounds) carried no round.
                Ok(line)
                    if line.contains("listening")
                        || line.is_empty()
                        || line.contains("no connection") =>
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Ok(line) => rounds
                    .lock()
                    .map(|mut r| r.results.push(line))
                    .unwrap_or(()),
                Err(e) => {
                    eprintln!("    soak: vf-peer {mode}: {e:#}");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    })
}

/// What the host did, in order: when each disruption started (ms since the Unix epoch, the
/// clock vf-peer stamps its rounds with) and its kind.
type Timeline = Vec<(u128, &'static str)>;

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The host's disruptions, one every 5 to 20 s, until `until`; per kind: done, failed; and
/// the timeline.
fn disrupt(ctl: &Path, until: Instant) -> (BTreeMap<&'static str, (u32, Vec<String>)>, Timeline) {
    let mut done: BTreeMap<&'static str, (u32, Vec<String>)> = BTreeMap::new();
    let mut timeline = Timeline::new();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let limit = Duration::from_secs(10);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5_000 + rnd(15_000)));
        if Instant::now() >= until {
            break;
        }
        let at = unix_ms();
        let (kind, r): (&'static str, Result<()>) = match rnd(4) {
            0 => (
                "move to a fresh VF (FREEZE, swap, RESTORE)",
                (|| {
                    prepare_and_freeze(ctl, limit)?;
                    control_ok(ctl, r#"{"cmd":"swap"}"#)?;
                    command(ctl, "restore", "restored", limit).map(drop)
                })(),
            ),
            1 => (
                "FREEZE then ABORT",
                (|| {
                    prepare_and_freeze(ctl, limit)?;
                    std::thread::sleep(Duration::from_millis(rnd(2000)));
                    command(ctl, "abort", "running", limit).map(drop)
                })(),
            ),
            2 => ("PF reset", {
                let ms = 20 + rnd(500);
                control_ok(ctl, &format!(r#"{{"cmd":"pf_reset","ms":{ms}}}"#)).map(drop)
            }),
            _ => (
                "link flap",
                (|| {
                    control_ok(ctl, r#"{"cmd":"link","up":false}"#)?;
                    std::thread::sleep(Duration::from_millis(500 + rnd(2000)));
                    control_ok(ctl, r#"{"cmd":"link","up":true}"#).map(drop)
                })(),
            ),
        };
        timeline.push((at, kind));
        let e = done.entry(kind).or_default();
        e.0 += 1;
        if let Err(err) = r {
            e.1.push(format!("{err:#}"));
            // A failed move leaves the guest frozen: get it running again.
            let _ = command(ctl, "abort", "running", limit);
            let _ = command(ctl, "restore", "restored", limit);
        }
    }
    (done, timeline)
}

/// One line on a round the peer did not get whole: what it got, how the stream ended, when
/// (seconds into the soak) and the disruptions in the 40 s before.
fn explain_round(result: &str, start_ms: u128, timeline: &Timeline) -> String {
    let Some(t0) = json_field(result, "t0_unix_ms").and_then(|v| v.parse::<u128>().ok()) else {
        return format!("  {}", result.chars().take(200).collect::<String>());
    };
    let secs = json_field(result, "secs")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    let end = t0.saturating_add((secs * 1000.0) as u128);
    let before: Vec<String> = timeline
        .iter()
        .filter(|(at, _)| *at + 40_000 >= t0 && *at <= end)
        .map(|(at, k)| {
            format!(
                "{k} at {:.1} s",
                at.saturating_sub(start_ms) as f64 / 1000.0
            )
        })
        .collect();
    format!(
        "  round at {:.1} s for {secs:.1} s: {} bytes, ended {}, chunk CRCs {}; disruptions then: {}",
        t0.saturating_sub(start_ms) as f64 / 1000.0,
        json_field(result, "bytes").unwrap_or("?"),
        json_field(result, "ended").unwrap_or("?"),
        json_field(result, "chunk_crcs").unwrap_or("?"),
        if before.is_empty() { "none".to_owned() } else { before.join(", ") }
    )
}

/// Runs the soak for `minutes`; the report, or an error when something was lost.
pub fn soak(kernel: &Kernel, ko: &Path, minutes: u32) -> Result<String> {
    let (model_bin, peer_bin) = build_model()?;
    let (mut rig, m) = networked_model(&model_bin, "soak", "compsc-soak")?;
    let ns = rig.ns().to_owned();
    let dir = target_dir().join("soak");
    std::fs::create_dir_all(&dir)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (tx_rounds, rx_rounds) = (Arc::default(), Arc::default());
    let sink_stop = dir.join("sink.stop");
    let source_stop = dir.join("source.stop");
    for f in [&sink_stop, &source_stop] {
        let _ = std::fs::remove_file(f);
    }
    let sink = serve(
        ns.clone(),
        peer_bin.clone(),
        "sink",
        5001,
        sink_stop.clone(),
        stop.clone(),
        Arc::clone(&tx_rounds),
    );
    let source = serve(
        ns,
        peer_bin,
        "source",
        5002,
        source_stop.clone(),
        stop.clone(),
        Arc::clone(&rx_rounds),
    );

    let mut g = GuestRun::new("compsc-soak", plan());
    g.files
        .push((ko.to_path_buf(), "/modules/compsc_vf.ko".into()));
    g.with_host_program("/usr/sbin/ethtool")?;
    g.timeout = Duration::from_secs(u64::from(minutes) * 60 + 600);
    attach_model(&mut g, &m.sock)?;
    let ctl = m.ctl.clone();
    let disruptions = Arc::new(Mutex::new((BTreeMap::new(), Timeline::new())));
    let start_ms = unix_ms();
    let d = disruptions.clone();
    let started = Instant::now();
    let (stops, stopfiles) = (stop.clone(), [sink_stop.clone(), source_stop.clone()]);
    // The disruptions start when the guest is about to start its traffic, and run in this
    // hook (the console watcher waits for it; the guest does not).
    g.hooks.push(Hook::new("E2E-SOAK-GO", move || {
        let until = Instant::now() + Duration::from_secs(u64::from(minutes) * 60);
        let done = disrupt(&ctl, until);
        *d.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = done;
        // Over: tell the guest, let the last rounds end, stop the peers.
        let seq = u32::from_str_radix(DONE, 16)? >> 8;
        ring_seq(&ctl, "none", seq)?;
        stops.store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs(30));
        for f in &stopfiles {
            let _ = std::fs::write(f, b"");
        }
        Ok(())
    }));
    let out = guest::boot(kernel, &mut g)?;
    stop.store(true, Ordering::Relaxed);
    for f in [&sink_stop, &source_stop] {
        let _ = std::fs::write(f, b"");
    }
    let _ = sink.join();
    let _ = source.join();
    let (stats, here) = finish_model(&mut rig, &m, &out);
    let c = &out.console;
    let elapsed = started.elapsed();

    // Guest -> host: every round the sink saw is whole and carries only the guest's chunk.
    let chunk = marker(c, "E2E-CHUNK").unwrap_or("?").to_owned();
    let want_crcs = format!("[\"{chunk}\"]");
    let tx = tx_rounds.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let tx_bad: Vec<&String> = tx
        .results
        .iter()
        .filter(|r| {
            json_field(r, "error").is_some()
                || json_field(r, "bytes") != Some(&ROUND_BYTES.to_string())
                || json_field(r, "chunk_crcs") != Some(&want_crcs)
        })
        .collect();
    // Host -> guest: every whole round the guest received has the source's CRC.
    let rx = rx_rounds.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let source_crcs: Vec<&str> = rx
        .results
        .iter()
        .filter_map(|r| json_field(r, "crc"))
        .collect();
    let guest_rx: Vec<(u64, String)> = c
        .lines()
        .filter_map(|l| l.trim().strip_prefix("E2E-RX-ROUND "))
        .filter_map(|l| {
            let mut w = l.split_whitespace().skip(1);
            Some((w.next()?.parse().ok()?, w.next()?.to_owned()))
        })
        .collect();
    let rx_whole: Vec<&(u64, String)> =
        guest_rx.iter().filter(|(n, _)| *n == ROUND_BYTES).collect();
    let rx_partial = guest_rx
        .iter()
        .filter(|(n, _)| *n != 0 && *n != ROUND_BYTES)
        .count();
    let rx_corrupt = rx_whole
        .iter()
        .filter(|(_, crc)| !source_crcs.contains(&crc.as_str()))
        .count();
    let tx_ok = c
        .lines()
        .filter(|l| l.contains("E2E-TX-ROUND") && l.ends_with(" ok"))
        .count();
    let backwards: Vec<&str> = c.lines().filter(|l| l.contains("E2E-BACKWARDS")).collect();
    let rings = c
        .lines()
        .filter(|l| l.trim().starts_with("E2E-RING "))
        .count();
    let ring_failures = c.lines().filter(|l| l.contains("E2E-RING-FAILED")).count();
    let trouble = crate::test::kernel_trouble(c);
    let guard = disruptions
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    let (disruptions, timeline) = (&guard.0, &guard.1);
    let guest_failed: Vec<&str> = c
        .lines()
        .filter_map(|l| l.trim().strip_prefix("E2E-TX-ROUND "))
        .filter(|l| !l.ends_with(" ok"))
        .collect();

    let mut r = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        r,
        "soak: {minutes} min of disruptions, {:.1} min in all, kernel {:?}",
        elapsed.as_secs_f64() / 60.0,
        kernel.flavor
    );
    let _ = writeln!(r, "guest -> host: {} rounds of {} MiB received by the peer, {} whole and intact, {} lost or corrupted ({} rounds the guest saw complete)",
        tx.results.len(), ROUND_BYTES >> 20, tx.results.len() - tx_bad.len(), tx_bad.len(), tx_ok);
    let _ = writeln!(r, "host -> guest: {} rounds sent by the peer, {} whole in the guest, {} of them corrupted, {} partial",
        rx.results.len(), rx_whole.len(), rx_corrupt, rx_partial);
    for bad in &tx_bad {
        let _ = writeln!(r, "{}", explain_round(bad, start_ms, timeline));
    }
    for l in &guest_failed {
        let _ = writeln!(r, "  guest round {l}");
    }
    for (kind, (n, errs)) in disruptions.iter() {
        let _ = writeln!(
            r,
            "disruption: {kind}: {n} done, {} failed{}",
            errs.len(),
            errs.first()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        r,
        "ring resizes in the guest: {rings} done, {ring_failures} refused"
    );
    let _ = writeln!(r, "counters going backwards: {}", backwards.len());
    let _ = writeln!(
        r,
        "driver at the end: {}",
        marker(c, "E2E-SOAK-END").unwrap_or("(no line)")
    );
    let _ = writeln!(r, "kernel complaints: {}", trouble.len());
    for t in trouble.iter().take(10) {
        let _ = writeln!(r, "  {t}");
    }
    let _ = writeln!(
        r,
        "model: bad_accesses {}, bad_descriptors {}, dma_errors {}",
        json_field(&stats, "bad_accesses").unwrap_or("?"),
        json_field(&stats, "bad_descriptors").unwrap_or("?"),
        json_field(&stats, "dma_errors").unwrap_or("?")
    );
    let _ = writeln!(r, "logs: {here}");
    std::fs::write(dir.join("report.txt"), &r)?;
    out.check_plan().with_context(|| here.clone())?;
    let failed_disruptions: u32 = disruptions.values().map(|(_, e)| e.len() as u32).sum();
    if !tx_bad.is_empty()
        || rx_corrupt > 0
        || rx_partial > 0
        || !backwards.is_empty()
        || !trouble.is_empty()
        || failed_disruptions > 0
        || tx.results.is_empty()
        || rx_whole.is_empty()
        || marker(c, "E2E-UNLOADED") != Some("0")
    {
        bail!("the soak lost or broke something:\n{r}");
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::explain_round;

    #[test]
    fn a_broken_round_names_the_disruptions_around_it() {
        let start = 1_000_000;
        let timeline = vec![
            (start + 10_000, "PF reset"),
            (start + 95_000, "link flap"),
            (start + 300_000, "FREEZE then ABORT"),
        ];
        let r = r#"{"mode":"sink","bytes":1048576,"secs":31.000,"chunk_crcs":["1234abcd"],"crc":"0","ended":"stopped","t0_unix_ms":1100000,"series_ms":100}"#;
        let line = explain_round(r, start, &timeline);
        assert!(line.contains("round at 100.0 s for 31.0 s"), "{line}");
        assert!(line.contains("ended stopped"), "{line}");
        assert!(line.contains("link flap at 95.0 s"), "{line}");
        assert!(!line.contains("PF reset"), "{line}");
        assert!(!line.contains("FREEZE"), "{line}");
        let e = explain_round(
            r#"{"error":"no data before the stream stopped"}"#,
            start,
            &timeline,
        );
        assert!(e.contains("no data before"), "{e}");
    }
}
