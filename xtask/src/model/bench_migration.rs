//! `cargo xtask bench migration`: the same live migration (two QEMU processes, the same
//! guest, the same peer, the same probe stream) in each configuration users could pick:
//! compsc_vf on vf-model with the doorbell, virtio-net alone, the VF failover users run today
//! (QEMU's `failover=on` virtio-net as standby, the VF as primary, hot-unplugged for the
//! migration and re-plugged on the destination; with ixgbevf and with compsc_vf as the VF's
//! driver), and ixgbevf alone (no CompSC: it must notice the fresh VF by itself).
//! Interleaved over several rounds; the peer-visible outage of each, as medians and ratios.

use super::chroot::qemu_command;
use super::migrate::{migrate, quit_both, Qmp};
use super::rig::{
    attach_model, bridged_models, build_model, json_field, peer_result, start_peer, Rig, E2E_MAC,
    GUEST_IP, HOST_IP,
};
use super::spread;
use crate::guest::{self, GuestRun, Hook};
use crate::kernel::Kernel;
use anyhow::{bail, Context, Result};
use std::cell::RefCell;
use std::ffi::OsString;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A configuration under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    /// compsc_vf on vf-model, the doorbell driven by the hypervisor (the xtask).
    CompscVf,
    /// virtio-net only, a tap on the same bridge: the para-virtual baseline.
    VirtioNet,
    /// virtio-net `failover=on` (standby) with the VF as primary driven by ixgbevf.
    FailoverIxgbevf,
    /// The same failover with compsc_vf driving the VF.
    FailoverCompsc,
    /// The VF alone with the in-tree ixgbevf, migrated without a doorbell.
    Ixgbevf,
}

impl Config {
    fn name(self) -> &'static str {
        match self {
            Config::CompscVf => "compsc_vf",
            Config::VirtioNet => "virtio-net",
            Config::FailoverIxgbevf => "failover-ixgbevf",
            Config::FailoverCompsc => "failover-compsc_vf",
            Config::Ixgbevf => "ixgbevf",
        }
    }

    /// The VF's driver, if the configuration has a VF.
    fn vf_driver(self) -> Option<&'static str> {
        match self {
            Config::CompscVf | Config::FailoverCompsc => Some("compsc_vf"),
            Config::FailoverIxgbevf | Config::Ixgbevf => Some("ixgbevf"),
            Config::VirtioNet => None,
        }
    }

    /// Whether the guest has a virtio-net NIC on a tap (alone or as the failover standby).
    fn has_virtio(self) -> bool {
        matches!(
            self,
            Config::VirtioNet | Config::FailoverIxgbevf | Config::FailoverCompsc
        )
    }

    fn failover(self) -> bool {
        matches!(self, Config::FailoverIxgbevf | Config::FailoverCompsc)
    }

    /// A short tag for the rig's names.
    fn tag(self) -> &'static str {
        match self {
            Config::CompscVf => "c",
            Config::VirtioNet => "v",
            Config::FailoverIxgbevf => "fi",
            Config::FailoverCompsc => "fc",
            Config::Ixgbevf => "i",
        }
    }
}

/// What one migration showed.
#[derive(Clone, Debug, Default)]
struct Sample {
    /// The peer's longest gap between two probes (ms).
    peer_gap_ms: f64,
    /// Probes the peer received of those sent.
    received: u64,
    sent: u64,
    /// QEMU's downtime and total time (ms).
    qemu_downtime_ms: u64,
    qemu_total_ms: u64,
    /// compsc_vf only: the hypervisor's FREEZE-to-RESTORED time, and the record size.
    vf_outage_ms: f64,
    record_bytes: u64,
    /// compsc_vf only: the guest's own freeze and restore lines.
    timeline: Vec<String>,
    /// Whether the probe stream came back after the migration; when it did not, the gap is
    /// a lower bound (the rest of the probe window).
    resumed: bool,
    /// Throughput rounds: the TCP stream's bytes per 100 ms from its first byte, the first
    /// byte's and the migration's start and end wall-clock times (ms since the epoch).
    series: Vec<u64>,
    t0_unix_ms: u64,
    migrate_start_unix_ms: u64,
    migrate_end_unix_ms: u64,
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The two VF drivers' modules.
struct Kos {
    compsc: std::path::PathBuf,
    ixgbevf: std::path::PathBuf,
}

/// Probes (ICMP echo requests) the guest sends, one per 10 ms.
const PROBES: u32 = 1200;

/// Numbers the guests of each attempt, for their log names.
static ATTEMPT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Port of the TCP stream the throughput rounds send across the migration.
const STREAM_PORT: u16 = 5004;

fn plan(cfg: Config, stream: bool) -> String {
    let up = match cfg {
        Config::CompscVf | Config::Ixgbevf => {
            super::ixgbevf::driver_up(cfg.vf_driver().unwrap_or("compsc_vf"))
        }
        Config::VirtioNet => format!(
            r#"ip link set eth0 up
ip addr add {GUEST_IP}/24 dev eth0
n=0; while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $n -lt 150 ]; do sleep 0.2; n=$((n+1)); done"#
        ),
        // net_failover: the master netdev (the one with lower devices) enslaves virtio-net
        // as standby and the VF, once its driver registers the same MAC, as primary.
        Config::FailoverIxgbevf | Config::FailoverCompsc => format!(
            r#"insmod /modules/{drv}.ko
n=0; while [ "$(ls /sys/class/net | grep -c eth)" -lt 3 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
m=""; for d in /sys/class/net/eth*; do ls $d | grep -q '^lower_' && m=$(basename $d); done
echo "E2E-FAILOVER-MASTER $m $(ls /sys/class/net | tr '\n' ' ')"
ip link set $m up
ip addr add {GUEST_IP}/24 dev $m
n=0; while [ "$(cat /sys/class/net/$m/carrier 2>/dev/null)" != 1 ] && [ $n -lt 150 ]; do sleep 0.2; n=$((n+1)); done"#,
            drv = cfg.vf_driver().unwrap_or("ixgbevf")
        ),
    };
    format!(
        r#"{up}
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-BEFORE ok || echo E2E-PING-BEFORE failed
(ping -q -i 0.01 -c {PROBES} -W 1 {HOST_IP} >/tmp/probe.out 2>&1; echo "E2E-PROBE-EXIT $? $(tr '\n' ' ' </tmp/probe.out)"; ping -c 5 -i 0.2 -s 999 -W 1 {HOST_IP} >/dev/null 2>&1) &
probe=$!
{stream_start}
{dirtier}
sleep 3
echo E2E-MIGRATE
wait $probe || true
{stream_stop}
touch /tmp/stop
wait
dmesg | grep -iE 'ixgbevf|compsc_vf|failover' | tail -n 6
for q in /sys/class/net/eth0/queues/tx-*; do echo "E2E-DIAG $q inflight $(cat $q/byte_queue_limits/inflight 2>/dev/null)"; done
echo "E2E-DIAG tx_packets $(cat /sys/class/net/eth0/statistics/tx_packets) rx_packets $(cat /sys/class/net/eth0/statistics/rx_packets)"
ethtool -S eth0 2>/dev/null | sed -n 's/^ */E2E-DIAG /p' | head -n 30
echo E2E-DONE
"#,
        dirtier = super::migrate::DIRTIER,
        stream_start = if stream {
            format!("cat /dev/zero | nc {HOST_IP} {STREAM_PORT} &\nstrm=$!")
        } else {
            String::new()
        },
        stream_stop = if stream {
            "kill $strm 2>/dev/null || true"
        } else {
            ""
        },
    )
}

/// The hypervisor's part for virtio-net: an ordinary pre-copy migration.
fn migrate_plain(src_qmp: &Path, dst_qmp: &Path, port: u16) -> Result<(u64, u64)> {
    let mut src = Qmp::connect(src_qmp)?;
    let mut dst = Qmp::connect(dst_qmp)?;
    let uri = format!("tcp:127.0.0.1:{port}");
    dst.cmd("migrate-incoming", serde_json::json!({ "uri": uri }))?;
    src.cmd("migrate", serde_json::json!({ "uri": uri }))?;
    let start = Instant::now();
    let q = loop {
        let q = src.cmd("query-migrate", serde_json::json!({}))?;
        match q.get("status").and_then(|s| s.as_str()).unwrap_or("") {
            "completed" => break q,
            "failed" | "cancelled" => bail!("migration failed: {q}"),
            _ => {}
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("migration did not complete in 120 s: {q}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = src.cmd("quit", serde_json::json!({}));
    Ok((
        q.get("downtime").and_then(|v| v.as_u64()).unwrap_or(0),
        q.get("total-time").and_then(|v| v.as_u64()).unwrap_or(0),
    ))
}

/// The QEMU command line prefix for `cfg`: virtio-net's tap must live in the test's
/// namespace, so its QEMU runs there.
fn qemu_in(rig: &Rig, cfg: Config) -> Result<Vec<OsString>> {
    let q = qemu_command()?;
    Ok(match cfg {
        Config::CompscVf | Config::Ixgbevf => q,
        Config::VirtioNet | Config::FailoverIxgbevf | Config::FailoverCompsc => {
            let mut v: Vec<OsString> = ["ip", "netns", "exec", rig.ns()]
                .iter()
                .map(OsString::from)
                .collect();
            v.extend(q);
            v
        }
    })
}

/// Starts the sink of the throughput rounds' TCP stream (as much as comes, until the guest
/// stops sending).
fn start_stream_sink(
    rig: &mut Rig,
    peer: &Path,
) -> Result<std::io::BufReader<std::process::ChildStdout>> {
    super::rig::start_peer_bytes(rig, peer, "sink", STREAM_PORT, 1 << 40)
}

/// Puts tap `name` on the bridge once QEMU has created it.
fn bridge_tap(rig: &Rig, name: &str) -> Result<()> {
    let start = Instant::now();
    while rig.ip(&["link", "show", name]).is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            bail!("QEMU never created tap {name}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    rig.ip(&["link", "set", name, "master", "br0"])?;
    rig.ip(&["link", "set", name, "up"])
}

/// The failover pair: the VF as `net0`'s primary on a hot-pluggable root port (what
/// `attach_model` gives, plus `failover_pair_id`).
fn failover_vf_args(g: &GuestRun, sock: &Path) -> Vec<OsString> {
    [
        "-machine".to_owned(),
        "q35,memory-backend=mem".to_owned(),
        "-object".to_owned(),
        format!("memory-backend-memfd,id=mem,size={}M,share=on", g.memory_mb),
        "-device".to_owned(),
        "pcie-root-port,id=rp1,chassis=1".to_owned(),
        "-device".to_owned(),
        format!(
            r#"{{"driver":"vfio-user-pci","id":"vf0","bus":"rp1","failover_pair_id":"net0","socket":{{"type":"unix","path":"{}"}}}}"#,
            sock.display()
        ),
    ]
    .map(OsString::from)
    .to_vec()
}

fn run_one(kernel: &Kernel, kos: &Kos, cfg: Config, round: u32, stream: bool) -> Result<Sample> {
    let (model_bin, peer_bin) = build_model()?;
    let tag = format!("b{}{round}{}", cfg.tag(), if stream { "s" } else { "" });
    let attempt = ATTEMPT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (mut rig, src_m, dst_m) =
        bridged_models(&model_bin, &tag, &format!("bench-migrate-{attempt}"))?;
    let probe = start_peer(&mut rig, &peer_bin, "probe", 5003)?;
    let sink = if stream {
        Some(start_stream_sink(&mut rig, &peer_bin)?)
    } else {
        None
    };
    let (src_qmp, dst_qmp) = (rig.dir().join("src.qmp"), rig.dir().join("dst.qmp"));
    let mut runs = Vec::new();
    // Each attempt keeps its own console and model logs, so a failed round can be read.
    for (role, qmp) in [("src", &src_qmp), ("dst", &dst_qmp)] {
        let mut g = GuestRun::new(
            &format!("bench-{}-{role}-{attempt}", cfg.name()),
            plan(cfg, stream),
        );
        g.files
            .push((kos.compsc.clone(), "/modules/compsc_vf.ko".into()));
        g.files
            .push((kos.ixgbevf.clone(), "/modules/ixgbevf.ko".into()));
        g.with_host_program("/usr/sbin/ethtool")?;
        g.timeout = Duration::from_secs(300);
        g.cmdline.push(crate::guest::MIGRATED_CLOCK.into());
        let sock = if role == "src" {
            &src_m.sock
        } else {
            &dst_m.sock
        };
        if cfg.failover() {
            let a = failover_vf_args(&g, sock);
            g.extra_args.extend(a);
        } else if cfg.vf_driver().is_some() {
            attach_model(&mut g, sock)?;
        }
        if cfg.has_virtio() {
            let failover = if cfg.failover() {
                ",id=net0,failover=on"
            } else {
                ""
            };
            g.extra_args.extend(
                [
                    "-netdev".to_owned(),
                    format!("tap,id=n0,ifname=vt{role},script=no,downscript=no"),
                    "-device".to_owned(),
                    format!("virtio-net-pci,netdev=n0,mac={E2E_MAC}{failover}"),
                ]
                .map(OsString::from),
            );
        }
        g.qemu = qemu_in(&rig, cfg)?;
        g.extra_args.push("-qmp".into());
        g.extra_args
            .push(format!("unix:{},server=on,wait=off", qmp.display()).into());
        if role == "dst" {
            g.extra_args.push("-incoming".into());
            g.extra_args.push("defer".into());
        }
        runs.push(g);
    }
    let mut src = runs.remove(0);
    let dst = runs.remove(0);
    let dst_run = guest::spawn(kernel, &dst)?;
    if cfg.has_virtio() {
        bridge_tap(&rig, "vtdst")?;
    }
    let result: Rc<RefCell<Option<Sample>>> = Rc::new(RefCell::new(None));
    let port = 21000 + (std::process::id() % 20000) as u16;
    {
        let (sq, dq, sc, dc, out) = (
            src_qmp.clone(),
            dst_qmp.clone(),
            src_m.ctl.clone(),
            dst_m.ctl.clone(),
            result.clone(),
        );
        let limit = super::rig::answer_limit(kernel);
        src.hooks.push(Hook::new("E2E-MIGRATE", move || {
            let started = unix_ms();
            let r = match cfg {
                Config::CompscVf => migrate(&sq, &dq, &sc, &dc, port, limit).map(|r| Sample {
                    qemu_downtime_ms: r.qemu_downtime_ms,
                    qemu_total_ms: r.qemu_total_ms,
                    vf_outage_ms: r.vf_outage_ms,
                    record_bytes: r.record_bytes,
                    ..Sample::default()
                }),
                _ => migrate_plain(&sq, &dq, port).map(|(d, t)| Sample {
                    qemu_downtime_ms: d,
                    qemu_total_ms: t,
                    ..Sample::default()
                }),
            };
            match r {
                Ok(mut s) => {
                    s.migrate_start_unix_ms = started;
                    s.migrate_end_unix_ms = unix_ms();
                    *out.borrow_mut() = Some(s);
                    Ok(())
                }
                Err(e) => {
                    quit_both(&sq, &dq);
                    Err(e)
                }
            }
        }));
    }
    let src_run = guest::spawn(kernel, &src)?;
    if cfg.has_virtio() {
        bridge_tap(&rig, "vtsrc")?;
    }
    let src_out = src_run.watch(&mut src.hooks, src.timeout);
    let dst_out = dst_run.watch(&mut [], Duration::from_secs(300));
    let line = peer_result(&mut rig, "probe", probe);
    let dst_stats = super::rig::control(&dst_m.ctl, r#"{"cmd":"stats"}"#).unwrap_or_default();
    let stream_line = sink.map(|s| peer_result(&mut rig, "sink", s));
    rig.terminate("vf-model-src");
    rig.terminate("vf-model-dst");
    let here = format!(
        "consoles {} and {}",
        src_out.log_path.display(),
        dst_out.log_path.display()
    );
    if !src_out.hook_errors.is_empty() {
        bail!("{}: {}; {here}", cfg.name(), src_out.hook_errors.join("; "));
    }
    dst_out.check_plan().with_context(|| here.clone())?;
    let mut s = result.borrow_mut().take().context("no migration result")?;
    s.peer_gap_ms = json_field(&line, "max_gap_ms")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("the probe peer reported no gap: {line}; {here}"))?;
    s.received = json_field(&line, "received")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    s.sent = u64::from(PROBES);
    s.resumed = true;
    if s.received < u64::from(PROBES) / 2 {
        // ixgbevf alone cannot use a destination VF whose config space came back reset: its
        // stream stops for good. That is its result, with the rest of the window as the
        // least its outage can be; for the other configurations it is a failed round.
        if cfg != Config::Ixgbevf {
            bail!(
                "the peer received only {} of {PROBES} probes: {line}; destination model {dst_stats}; {here}",
                s.received
            );
        }
        let span_ms = json_field(&line, "span_secs")
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            * 1e3;
        s.resumed = false;
        s.peer_gap_ms = s.peer_gap_ms.max(f64::from(PROBES) * 10.0 - span_ms);
    }
    if let Some(l) = &stream_line {
        let v: serde_json::Value = serde_json::from_str(l)
            .with_context(|| format!("the stream sink said {l:?}; {here}"))?;
        s.series = v["series"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
            .unwrap_or_default();
        s.t0_unix_ms = v["t0_unix_ms"].as_u64().unwrap_or(0);
        if s.series.is_empty() {
            bail!("the TCP stream carried nothing: {l}; {here}");
        }
    }
    s.timeline = dst_out
        .console
        .lines()
        .chain(src_out.console.lines())
        .filter(|l| l.contains("frozen in") || l.contains("restored in"))
        .map(|l| l.trim().to_owned())
        .collect();
    // The destination prints its dmesg at the end, so a line may come twice.
    s.timeline.sort();
    s.timeline.dedup();
    Ok(s)
}

/// Runs `rounds` rounds, each migrating with every configuration in turn; returns the table
/// and the ratio lines.
pub fn bench_migration(kernel: &Kernel, ko: &Path, rounds: u32) -> Result<String> {
    let configs = [
        Config::CompscVf,
        Config::VirtioNet,
        Config::FailoverIxgbevf,
        Config::FailoverCompsc,
        Config::Ixgbevf,
    ];
    // COMPSC_BENCH_ONLY=name,name runs a subset (the ratio lines need compsc_vf and the
    // configuration they compare with).
    let only = std::env::var("COMPSC_BENCH_ONLY").unwrap_or_default();
    let configs: Vec<Config> = configs
        .into_iter()
        .filter(|c| only.is_empty() || only.split(',').any(|n| n == c.name()))
        .collect();
    let kos = Kos {
        compsc: ko.to_path_buf(),
        ixgbevf: kernel.ixgbevf_ko(),
    };
    let ko = &kos;
    let mut samples: Vec<(Config, Sample)> = Vec::new();
    for round in 0..rounds {
        for &cfg in &configs {
            // One retry: a round lost to the rig (a tap that never forwarded) is reported and
            // run again, not silently dropped.
            let s = match run_one(kernel, ko, cfg, round, false) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!(
                        "    round {round} {}: failed ({e:#}); running it again",
                        cfg.name()
                    );
                    run_one(kernel, ko, cfg, round, false)
                        .with_context(|| format!("round {round}, {}", cfg.name()))?
                }
            };
            eprintln!(
                "    round {round} {}: peer gap {}{:.0} ms, {}/{} probes, QEMU downtime {} ms, total {} ms",
                cfg.name(),
                if s.resumed { "" } else { "at least " },
                s.peer_gap_ms,
                s.received,
                s.sent,
                s.qemu_downtime_ms,
                s.qemu_total_ms
            );
            samples.push((cfg, s));
        }
    }
    let mut out = String::new();
    out.push_str(&format!(
        "live migration, {rounds} rounds (median, min-max), one probe per 10 ms from the guest to the peer\n"
    ));
    out.push_str(&format!(
        "{:<20} {:>22} {:>16} {:>20} {:>16}\n",
        "config", "peer-visible gap ms", "probes lost", "QEMU downtime ms", "QEMU total ms"
    ));
    let mut med = std::collections::HashMap::new();
    let mut never = Vec::new();
    for &cfg in &configs {
        let of: Vec<&Sample> = samples
            .iter()
            .filter(|(c, _)| *c == cfg)
            .map(|(_, s)| s)
            .collect();
        let (m, lo, hi) = spread(of.iter().map(|s| s.peer_gap_ms));
        let lost = spread(of.iter().map(|s| (s.sent - s.received.min(s.sent)) as f64));
        let down = spread(of.iter().map(|s| s.qemu_downtime_ms as f64));
        let total = spread(of.iter().map(|s| s.qemu_total_ms as f64));
        out.push_str(&format!(
            "{:<20} {:>22} {:>16.0} {:>20.0} {:>16.0}\n",
            cfg.name(),
            format!("{m:.0} ({lo:.0}-{hi:.0})"),
            lost.0,
            down.0,
            total.0
        ));
        med.insert(cfg.name(), m);
        if of.iter().any(|s| !s.resumed) {
            never.push(cfg.name());
        }
    }
    for n in &never {
        out.push_str(&format!(
            "{n}: the stream never resumed within the probe window in some rounds (the destination VF's config space comes back reset, and the driver cannot restore it); its gap is the least its outage can be, and its ratio an upper bound\n"
        ));
    }
    let compsc: Vec<&Sample> = samples
        .iter()
        .filter(|(c, _)| *c == Config::CompscVf)
        .map(|(_, s)| s)
        .collect();
    let vf = spread(compsc.iter().map(|s| s.vf_outage_ms));
    out.push_str(&format!(
        "compsc_vf: FREEZE rung to RESTORED seen (hypervisor's view) median {:.0} ms; saved record {} bytes\n",
        vf.0,
        compsc.first().map_or(0, |s| s.record_bytes)
    ));
    if let Some(s) = compsc.last() {
        for l in &s.timeline {
            out.push_str(&format!("  {l}\n"));
        }
    }
    // One more migration per configuration with a TCP stream from the guest across it: the
    // throughput over time, plotted.
    let mut streams: Vec<(Config, Sample)> = Vec::new();
    for &cfg in &configs {
        let s = run_one(kernel, ko, cfg, 0, true).or_else(|e| {
            eprintln!(
                "    throughput round {}: failed ({e:#}); running it again",
                cfg.name()
            );
            run_one(kernel, ko, cfg, 0, true)
        });
        match s {
            Ok(s) => streams.push((cfg, s)),
            Err(e) => out.push_str(&format!("{}: no throughput round ({e:#})\n", cfg.name())),
        }
    }
    if !streams.is_empty() {
        out.push_str("TCP stream from the guest across one migration (100 ms buckets; the plot is target/bench/migration-throughput.svg):\n");
        for (cfg, s) in &streams {
            let t = Throughput::of(s);
            out.push_str(&format!(
                "  {:<20} {:>6.0} Mbit/s before, below half of that for {:>6.0} ms of the 8 s after the migration started\n",
                cfg.name(),
                t.before_mbit,
                t.below_half_ms
            ));
        }
        // The same comparison on the TCP stream: how long it ran below half its rate.
        let below = |name: &str| {
            streams
                .iter()
                .find(|(c, _)| c.name() == name)
                .map(|(_, s)| Throughput::of(s).below_half_ms)
        };
        if let Some(c) = below("compsc_vf") {
            for (other, key) in [
                ("virtio-net", "virtio-net"),
                ("failover", "failover-ixgbevf"),
                ("ixgbevf", "ixgbevf"),
            ] {
                if let Some(o) = below(key).filter(|o| *o > 0.0) {
                    out.push_str(&format!(
                        "ratio tcp_below_half compsc_vf/{other} {:.3}\n",
                        c / o
                    ));
                }
            }
        }
        let svg = plot(&streams);
        let dir = crate::util::target_dir().join("bench");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("migration-throughput.svg"), svg)?;
    }
    // Failover as users deploy it today drives the VF with the in-tree ixgbevf.
    for (other, key) in [
        ("virtio-net", "virtio-net"),
        ("failover", "failover-ixgbevf"),
        ("ixgbevf", "ixgbevf"),
    ] {
        let (Some(c), Some(o)) = (med.get("compsc_vf"), med.get(key)) else {
            continue;
        };
        let ratio = c / o;
        out.push_str(&format!("ratio downtime compsc_vf/{other} {ratio:.3}\n"));
    }
    Ok(out)
}

/// A throughput round's numbers: the stream's rate before the migration, and how long after
/// the migration started it stayed below half of that.
struct Throughput {
    before_mbit: f64,
    below_half_ms: f64,
}

/// Buckets of 100 ms after the migration's start over which a stream's dip is counted.
const WINDOW_BUCKETS: usize = 80;

/// Mbit/s of a 100 ms bucket.
fn mbit(bytes: u64) -> f64 {
    bytes as f64 * 8.0 / 0.1 / 1e6
}

impl Throughput {
    fn of(s: &Sample) -> Throughput {
        // Bucket i covers [t0 + 100 i, t0 + 100 (i + 1)) ms.
        let start = s.migrate_start_unix_ms.saturating_sub(s.t0_unix_ms) / 100;
        let start = start as usize;
        let before: Vec<f64> = s.series[start.saturating_sub(20)..start.min(s.series.len())]
            .iter()
            .map(|b| mbit(*b))
            .collect();
        let before_mbit = if before.is_empty() {
            0.0
        } else {
            before.iter().sum::<f64>() / before.len() as f64
        };
        // Over the 8 s from the migration's start (the stream runs about 9 s past it); a
        // stream that stopped for good counts as zero for the rest.
        let below = (start..start + WINDOW_BUCKETS)
            .filter(|i| mbit(s.series.get(*i).copied().unwrap_or(0)) < before_mbit / 2.0)
            .count();
        Throughput {
            before_mbit,
            below_half_ms: below as f64 * 100.0,
        }
    }
}

/// An SVG of each configuration's stream throughput, aligned on its migration's start.
fn plot(streams: &[(Config, Sample)]) -> String {
    const W: f64 = 900.0;
    const H: f64 = 420.0;
    const LEFT: f64 = 60.0;
    const BOTTOM: f64 = 40.0;
    const T_MIN: f64 = -4.0;
    const T_MAX: f64 = 12.0;
    let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"];
    let y_max = streams
        .iter()
        .flat_map(|(_, s)| s.series.iter().map(|b| mbit(*b)))
        .fold(1.0f64, f64::max)
        * 1.1;
    let x = |t: f64| LEFT + (t - T_MIN) / (T_MAX - T_MIN) * (W - LEFT - 20.0);
    let y = |v: f64| H - BOTTOM - v / y_max * (H - BOTTOM - 20.0);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">
<rect width="{W}" height="{H}" fill="white"/>
<text x="{tx}" y="14" text-anchor="middle">TCP throughput from the guest across a live migration (t = 0: migration starts)</text>
<line x1="{LEFT}" y1="{yb}" x2="{xr}" y2="{yb}" stroke="black"/>
<line x1="{LEFT}" y1="20" x2="{LEFT}" y2="{yb}" stroke="black"/>
<line x1="{x0}" y1="20" x2="{x0}" y2="{yb}" stroke="gray" stroke-dasharray="4,4"/>
<text x="{tx}" y="{xl}" text-anchor="middle">seconds</text>
<text x="14" y="{ym}" transform="rotate(-90 14 {ym})" text-anchor="middle">Mbit/s</text>
"#,
        tx = W / 2.0,
        yb = H - BOTTOM,
        xr = W - 20.0,
        x0 = x(0.0),
        xl = H - 8.0,
        ym = H / 2.0,
    );
    let mut t = T_MIN.ceil();
    while t <= T_MAX {
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{t:.0}</text>\n",
            x(t),
            H - BOTTOM + 14.0
        ));
        t += 2.0;
    }
    for i in 0..=4 {
        let v = y_max / 4.0 * f64::from(i);
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.0}</text>\n",
            LEFT - 4.0,
            y(v) + 4.0
        ));
    }
    for (k, (cfg, s)) in streams.iter().enumerate() {
        let color = colors[k % colors.len()];
        let offset_ms = s.t0_unix_ms as f64 - s.migrate_start_unix_ms as f64;
        let points: Vec<String> = s
            .series
            .iter()
            .enumerate()
            .map(|(i, b)| ((offset_ms + i as f64 * 100.0 + 50.0) / 1e3, mbit(*b)))
            .filter(|(t, _)| (T_MIN..=T_MAX).contains(t))
            .map(|(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\n",
            points.join(" ")
        ));
        let end = (s.migrate_end_unix_ms as f64 - s.migrate_start_unix_ms as f64) / 1e3;
        if (T_MIN..=T_MAX).contains(&end) {
            svg.push_str(&format!(
                "<line x1=\"{x:.1}\" y1=\"20\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-dasharray=\"2,3\"/>\n",
                H - BOTTOM,
                x = x(end)
            ));
        }
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\">{} (dotted: QEMU reports completed)</text>\n",
            LEFT + 10.0,
            34.0 + 14.0 * k as f64,
            cfg.name()
        ));
    }
    svg.push_str("</svg>\n");
    svg
}
