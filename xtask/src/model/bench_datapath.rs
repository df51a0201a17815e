//! `cargo xtask bench datapath`: compsc_vf against the in-tree ixgbevf on the same vf-model,
//! the same traffic test, interleaved over several rounds: TCP throughput each way (timed,
//! host-side), and from the model's own counters (deterministic, not timed) MMIO reads,
//! MMIO writes and interrupts per packet.

use super::ixgbevf::{run_traffic, TrafficReport, VfDriver};
use super::rig::json_field;
use super::spread;
use crate::kernel::Kernel;
use anyhow::{Context, Result};
use std::path::Path;

/// Per-packet counts from the model's final statistics: (MMIO reads, MMIO writes,
/// interrupts) per frame the VF carried either way.
fn per_packet(stats: &str) -> Result<(f64, f64, f64)> {
    let n = |k: &str| -> Result<f64> {
        json_field(stats, k)
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("the model's statistics lack {k}: {stats}"))
    };
    let frames = n("gprc")? + n("gptc")?;
    if frames <= 0.0 {
        anyhow::bail!("the model carried no frames: {stats}");
    }
    Ok((
        n("mmio_reads")? / frames,
        n("mmio_writes")? / frames,
        n("irqs")? / frames,
    ))
}

/// Runs `rounds` rounds of the traffic test with each driver in turn; prints the table and
/// the ratio lines (compsc_vf / ixgbevf).
pub fn bench_datapath(kernel: &Kernel, ko: &Path, rounds: u32) -> Result<String> {
    let drivers = [VfDriver::compsc_vf(ko), VfDriver::ixgbevf(kernel)?];
    let mut runs: Vec<Vec<TrafficReport>> = vec![Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (i, d) in drivers.iter().enumerate() {
            let r = run_traffic(kernel, d).with_context(|| format!("round {round}, {}", d.name))?;
            eprintln!(
                "    round {round} {}: TCP tx {:.0} Mbit/s, rx {:.0} Mbit/s, UDP {:.0} pps, {:.1} us CPU/pkt",
                d.name, r.tx_mbit_s, r.rx_mbit_s, r.udp_pps, r.cpu_us_per_pkt
            );
            runs[i].push(r);
        }
    }
    let mut out = format!(
        "data path, {rounds} rounds (median, min-max): the traffic test (100 MiB TCP each way, 5 s of 64-byte UDP with iperf3) on vf-model\n{:<10} {:>22} {:>22} {:>24} {:>18} {:>12} {:>13} {:>11}\n",
        "driver", "TCP tx Mbit/s", "TCP rx Mbit/s", "UDP packets/s", "CPU us/UDP pkt", "MMIO rd/pkt", "MMIO wr/pkt", "irq/pkt"
    );
    let mut med = Vec::new();
    for (d, rs) in drivers.iter().zip(&runs) {
        let tx = spread(rs.iter().map(|r| r.tx_mbit_s));
        let rx = spread(rs.iter().map(|r| r.rx_mbit_s));
        let pps = spread(rs.iter().map(|r| r.udp_pps));
        let cpu = spread(rs.iter().map(|r| r.cpu_us_per_pkt));
        let pp: Vec<(f64, f64, f64)> = rs
            .iter()
            .map(|r| per_packet(&r.stats))
            .collect::<Result<_>>()?;
        let rd = spread(pp.iter().map(|p| p.0));
        let wr = spread(pp.iter().map(|p| p.1));
        let irq = spread(pp.iter().map(|p| p.2));
        out.push_str(&format!(
            "{:<10} {:>22} {:>22} {:>24} {:>18} {:>12.4} {:>13.4} {:>11.4}\n",
            d.name,
            format!("{:.0} ({:.0}-{:.0})", tx.0, tx.1, tx.2),
            format!("{:.0} ({:.0}-{:.0})", rx.0, rx.1, rx.2),
            format!("{:.0} ({:.0}-{:.0})", pps.0, pps.1, pps.2),
            format!("{:.1} ({:.1}-{:.1})", cpu.0, cpu.1, cpu.2),
            rd.0,
            wr.0,
            irq.0
        ));
        med.push((tx.0, rx.0, rd.0 + wr.0, irq.0, rd.0, pps.0, cpu.0));
    }
    let (c, i) = (med[0], med[1]);
    for (metric, a, b) in [
        ("tcp_tx", c.0, i.0),
        ("tcp_rx", c.1, i.1),
        ("udp_pps", c.5, i.5),
        ("cpu_per_pkt", c.6, i.6),
        ("mmio_per_pkt", c.2, i.2),
        ("irq_per_pkt", c.3, i.3),
    ] {
        out.push_str(&format!("ratio {metric} compsc_vf/ixgbevf {:.3}\n", a / b));
    }
    out.push_str(&format!(
        "compsc_vf MMIO reads per packet {:.4} (ixgbevf {:.4})\n",
        c.4, i.4
    ));
    Ok(out)
}
