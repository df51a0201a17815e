//! The in-tree ixgbevf, the oracle for the model: traffic through it, and its behaviour under a
//! VF swap as the baseline CompSC is measured against.

use super::chroot::qemu_command;
use super::rig::{
    attach_model, build_model, control, control_ok, e2e_bytes, finish_model, iperf3_udp,
    json_field, networked_model, peer_result, start_iperf3, start_peer_bytes, CHUNK, E2E_MAC,
    GUEST_IP, GUEST_VLAN_IP, HOST_IP, IPERF_PORT,
};
use super::{clean_run, marker};
use crate::guest::{self, GuestRun, Hook};
use crate::kernel::Kernel;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A VF driver the traffic test runs: the in-tree ixgbevf (the model's oracle) or compsc_vf.
pub struct VfDriver {
    /// Module name; the guest loads `/modules/<name>.ko`.
    pub name: &'static str,
    /// The module on the host.
    pub ko: PathBuf,
    /// Text the driver's probe line contains when it bound the model as an 82599 VF.
    pub probe: &'static str,
}

impl VfDriver {
    /// The in-tree ixgbevf built with the guest kernel.
    pub fn ixgbevf(kernel: &Kernel) -> Result<VfDriver> {
        Ok(VfDriver {
            name: "ixgbevf",
            ko: ixgbevf_ko(kernel)?,
            probe: "82599",
        })
    }

    /// compsc_vf, from the module build at `ko`.
    pub fn compsc_vf(ko: &std::path::Path) -> VfDriver {
        VfDriver {
            name: "compsc_vf",
            ko: ko.to_path_buf(),
            probe: "82599 VF [8086:10ed] BAR0",
        }
    }
}

/// Guest shell: load ixgbevf, bring eth0 up at `GUEST_IP` and wait (up to 30 s) for carrier.
fn ixgbevf_up() -> String {
    driver_up("ixgbevf")
}

/// Guest shell: load `/modules/<name>.ko`, bring eth0 up at `GUEST_IP` and wait (up to 30 s)
/// for carrier.
pub(super) fn driver_up(name: &str) -> String {
    format!(
        r#"insmod /modules/{name}.ko
n=0; while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
ip link set eth0 up
ip addr add {GUEST_IP}/24 dev eth0
n=0; while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $n -lt 150 ]; do sleep 0.2; n=$((n+1)); done"#
    )
}

/// The multicast group the guest joins; the peer pings it.
pub(super) const MCAST_GROUP: &str = "239.1.2.3";

/// Guest shell for what only compsc_vf offers: its own counters, its refusals and debugfs.
fn compsc_only(drv: &VfDriver) -> &'static str {
    if drv.name != "compsc_vf" {
        return "";
    }
    r#"if ethtool -G eth0 rx 1000 2>/tmp/g; then echo E2E-RING-BAD accepted; else echo "E2E-RING-BAD $(tr '\n' ' ' </tmp/g)"; fi
echo "E2E-CHANNELS $(ethtool -l eth0 | sed -n 's/^Combined:[[:space:]]*//p' | tr '\n' ' ')"
ethtool -L eth0 combined 1 && echo E2E-CHANNELS-SET ok || echo E2E-CHANNELS-SET failed
echo "E2E-CHANNELS-NOW $(ethtool -l eth0 | sed -n 's/^Combined:[[:space:]]*//p' | tr '\n' ' ')"
ping -c 3 -i 0.2 -W 5 10.77.0.1 >/dev/null && echo E2E-PING-ONE-QUEUE ok || echo E2E-PING-ONE-QUEUE failed
ethtool -L eth0 combined 3 2>/tmp/l && echo E2E-CHANNELS-BAD accepted || echo "E2E-CHANNELS-BAD refused $(tr '\n' ' ' </tmp/l)"
echo "E2E-CHANNELS-AFTER-BAD $(ethtool -l eth0 | sed -n 's/^Combined:[[:space:]]*//p' | tr '\n' ' ')"
ethtool -L eth0 combined 2
ethtool -x eth0 >/tmp/x 2>&1 && echo "E2E-RSS-OFF shown" || echo "E2E-RSS-OFF $(tail -n 1 /tmp/x)"
echo E2E-QUERY-RSS
sleep 1
ethtool -x eth0 >/tmp/x 2>&1 || true
echo "E2E-RSS-KEY $(sed -n '/RSS hash key/{n;p}' /tmp/x)"
echo "E2E-RSS-TABLE $(sed -n 's/^ *0: *//p' /tmp/x | tr -s ' ')"
n=0; until ping -c 1 -W 1 10.77.0.1 >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 15 ] && break; done
s0=$(cat /sys/class/net/eth0/statistics/rx_packets)
echo "E2E-QSTATS-DEV $(/usr/bin/ynltool -j qstats show | tr -d '\n')"
echo "E2E-QSTATS-Q $(/usr/bin/ynltool -j qstats show scope queue | tr -d '\n')"
echo "E2E-SYSFS-RX $s0 $(cat /sys/class/net/eth0/statistics/rx_packets) $(cat /sys/class/net/eth0/ifindex)"
echo "E2E-PP $(/usr/bin/ynltool -j page-pool stats group-by page-pool | tr -d '\n')"
/usr/bin/netdev-map $(cat /sys/class/net/eth0/ifindex) | sed 's/^/E2E-NAPIMAP /'
grep compsc_vf /proc/interrupts | sed 's/^ *\([0-9]*\):.* \([^ ]*\)$/E2E-IRQ \1 \2/'
echo 1 > /sys/class/net/eth0/threaded && echo "E2E-THREADED $(ps | grep -c '\[napi/eth0-[0-9]')" || echo "E2E-THREADED refused"
/usr/bin/netdev-map $(cat /sys/class/net/eth0/ifindex) | sed 's/^/E2E-NAPIMAP-THREADED /'
ping -c 3 -i 0.2 -W 5 10.77.0.1 >/dev/null && echo E2E-PING-THREADED ok || echo E2E-PING-THREADED failed
echo 0 > /sys/class/net/eth0/threaded
for f in log pf counters state; do sed "s/^/E2E-DBG-$f /" /sys/kernel/debug/compsc_vf/*/$f; done
"#
}

/// The guest's side of the test (run by `/init` with `sh -e`).
fn plan(drv: &VfDriver, bytes: u64) -> String {
    format!(
        r#"{up}
echo "E2E-MAC $(cat /sys/class/net/eth0/address)"
echo "E2E-CARRIER $(cat /sys/class/net/eth0/carrier)"
ping -c 20 -i 0.2 -W 5 {HOST_IP} || echo "E2E-PING-FAILED"
head -c {CHUNK} /dev/urandom > /tmp/chunk
echo "E2E-CHUNK $(crc32 < /tmp/chunk)"
i=0; while [ $i -lt {copies} ]; do cat /tmp/chunk; i=$((i+1)); done | nc {HOST_IP} 5001 || echo "E2E-TX-FAILED"
echo "E2E-RX $(nc {HOST_IP} 5002 </dev/null | crc32)"
echo "E2E-CPU-BEFORE $(head -n 1 /proc/stat)"
iperf3 -c {HOST_IP} -p {IPERF_PORT} -u -l 64 -b 0 -t 5 >/tmp/udp 2>&1 && echo E2E-UDP ok || {{ echo E2E-UDP failed; cat /tmp/udp; }}
echo "E2E-CPU-AFTER $(head -n 1 /proc/stat)"
echo "E2E-ETHTOOL-DRIVER $(ethtool -i eth0 | sed -n 's/^driver: //p')"
echo "E2E-ETHTOOL-RXPKTS $(ethtool -S eth0 | sed -n 's/^ *rx_packets: //p' | head -n 1)"
echo "E2E-ETHTOOL-RINGMAX $(ethtool -g eth0 | sed -n '/maximums/,/Current/s/^RX:[[:space:]]*//p' | head -n 1)"
echo 0 > /proc/sys/net/ipv4/icmp_echo_ignore_broadcasts
/usr/bin/ip addr add {MCAST_GROUP}/32 dev eth0 autojoin && echo E2E-MCAST-JOIN ok || echo E2E-MCAST-JOIN failed
echo E2E-MCAST-PING
sleep 5
echo E2E-RSS-PINGS
sleep 4
ethtool -S eth0 | sed -n 's/^ *\([rt]x_queue_[01]_packets\): /E2E-Q-\1 /p'
ethtool -G eth0 rx 1024 tx 256 && echo E2E-RING-SET ok || echo E2E-RING-SET failed
ethtool -C eth0 rx-usecs 100 && echo E2E-COALESCE-SET ok || echo E2E-COALESCE-SET failed
echo "E2E-RING-NOW $(ethtool -g eth0 | sed -n '/Current/,$s/^[RT]X:[[:space:]]*//p' | head -n 2 | tr '\n' ' ')"
echo "E2E-COALESCE-NOW $(ethtool -c eth0 | sed -n 's/^rx-usecs:[[:space:]]*//p')"
n=0; until ping -c 1 -W 1 {HOST_IP} >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 15 ] && break; done
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-AFTER-RING ok || echo E2E-PING-AFTER-RING failed
ethtool -S eth0 | sed -n 's/^ *\(hw_[rt]x_packets\|hw_rx_multicast\): /E2E-HW-\1 /p'
echo "E2E-ETHMAC $(ethtool -S eth0 --groups eth-mac 2>&1 | sed -n 's/^ *\(eth-mac-\)\{{0,1\}}\([A-Za-z]*\): \([0-9]*\)$/\2=\3/p' | tr '\n' ' ')"
echo E2E-RING-SNAP
sleep 1
echo "E2E-REGS-BYTES $(ethtool -d eth0 raw on | wc -c)"
{compsc_only}ethtool -t eth0 offline >/tmp/t 2>&1 || true
echo "E2E-SELFTEST $(sed -n 's/^The test result is //p' /tmp/t)"
n=0; until ping -c 1 -W 1 {HOST_IP} >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 15 ] && break; done
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-AFTER-SELFTEST ok || echo E2E-PING-AFTER-SELFTEST failed
ip link set eth0 mtu 9000 && ping -c 3 -s 8000 -W 5 {HOST_IP} >/dev/null && echo E2E-JUMBO ok || echo "E2E-JUMBO failed: $(ip -o link show eth0 | tr -s ' ' | cut -d' ' -f3-5); $(ethtool -S eth0 | grep -v ': 0$' | tr -s ' \n' ' ')"
ip link set eth0 mtu 1500
vconfig add eth0 5 && ip addr add {GUEST_VLAN_IP}/24 dev eth0.5 && ip link set eth0.5 up && echo E2E-VLAN ok || echo E2E-VLAN failed
ping -c 2 -W 1 10.77.5.1 >/dev/null || true
echo E2E-VLAN-SENT
echo E2E-LINK-DOWN
n=0; while [ "$(cat /sys/class/net/eth0/carrier)" != 0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
echo "E2E-CARRIER-DOWN $(cat /sys/class/net/eth0/carrier)"
echo E2E-LINK-UP
n=0; while [ "$(cat /sys/class/net/eth0/carrier)" != 1 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
echo "E2E-CARRIER-UP $(cat /sys/class/net/eth0/carrier)"
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-AFTER-RELINK ok || echo E2E-PING-AFTER-RELINK failed
rmmod {name}
i=0; p=0; while [ $i -lt 5 ]; do
  insmod /modules/{name}.ko
  n=0; while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $n -lt 100 ]; do ip link set eth0 up 2>/dev/null; sleep 0.1; n=$((n+1)); done
  ip addr add {GUEST_IP}/24 dev eth0
  ping -c 1 -W 3 {HOST_IP} >/dev/null && p=$((p+1))
  rmmod {name} || break
  i=$((i+1))
done
echo "E2E-RELOADS $i $p $(grep -c '^{name} ' /proc/modules)"
echo "E2E-DMESG-BEGIN"
dmesg | grep -i {name} || true
echo "E2E-DMESG-END"
"#,
        copies = bytes / CHUNK,
        up = driver_up(drv.name),
        name = drv.name,
        compsc_only = compsc_only(drv),
    )
}

/// The reference driver built with the guest kernel.
fn ixgbevf_ko(kernel: &Kernel) -> Result<PathBuf> {
    let ko = kernel.ixgbevf_ko();
    if !ko.is_file() {
        bail!(
            "{} missing: the guest kernel needs CONFIG_IXGBEVF=m",
            ko.display()
        );
    }
    Ok(ko)
}

/// The guest side of the swap baseline: traffic, a swap asked of the host, wait until ixgbevf
/// notices it (carrier drops), then ping until the VF carries traffic again (up to 60 s), with
/// eth0's counters before and after.
fn swap_plan() -> String {
    format!(
        r#"{up}
ping -c 5 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-BEFORE ok || echo E2E-PING-BEFORE failed
echo "E2E-RX-BEFORE $(cat /sys/class/net/eth0/statistics/rx_packets)"
echo E2E-SWAP
n=0; while [ "$(cat /sys/class/net/eth0/carrier)" != 0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
echo "E2E-CARRIER-AFTER-SWAP $(cat /sys/class/net/eth0/carrier)"
n=0; until ping -c 1 -W 1 {HOST_IP} >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 60 ] && break; done
echo "E2E-PINGS-UNTIL-BACK $n"
ping -c 5 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-AFTER ok || echo E2E-PING-AFTER failed
echo "E2E-RX-AFTER $(cat /sys/class/net/eth0/statistics/rx_packets)"
echo "E2E-MAC-AFTER $(cat /sys/class/net/eth0/address)"
"#,
        up = ixgbevf_up()
    )
}

/// What the swap baseline measured.
pub struct SwapReport {
    /// Failed one-second pings before the swapped VF carried traffic again.
    pub pings_until_back: u32,
    /// eth0's rx_packets before and after.
    pub rx_packets: (u64, u64),
}

/// Baseline for what CompSC is for: the in-tree ixgbevf, which has no self-emulation, under a
/// VF swap (the model replaces the VF with a fresh device whose counters and PF state differ,
/// as a destination host presents it). ixgbevf notices the reset on the mailbox, resets and
/// renegotiates; the check is that the swap looks like a real destination to a real driver:
/// traffic stops, the driver recovers on its own, the same PF-assigned MAC comes back, and the
/// kernel stays clean. The measured outage and counters are reported, not judged.
pub fn test_ixgbevf_swap(kernel: &Kernel) -> Result<SwapReport> {
    let qemu = qemu_command()?;
    let ko = ixgbevf_ko(kernel)?;
    let (model_bin, _) = build_model()?;
    let (mut rig, m) = networked_model(&model_bin, "swp", "ixgbevf-swap")?;
    let mut g = GuestRun::new("ixgbevf-swap", swap_plan());
    g.files.push((ko, "/modules/ixgbevf.ko".into()));
    g.qemu = qemu;
    g.timeout = Duration::from_secs(300);
    attach_model(&mut g, &m.sock)?;
    let ctl = m.ctl.clone();
    g.hooks.push(Hook::new("E2E-SWAP", move || {
        control_ok(&ctl, r#"{"cmd":"swap"}"#).map(drop)
    }));
    let out = guest::boot(kernel, &mut g)?;
    let (stats, here) = finish_model(&mut rig, &m, &out);
    let c = &out.console;
    out.check_plan().with_context(|| here.clone())?;
    if marker(c, "E2E-PING-BEFORE") != Some("ok") {
        bail!("no traffic before the swap; {here}");
    }
    // The swap must have been seen: ixgbevf finds the reset on the mailbox and drops the link.
    if marker(c, "E2E-CARRIER-AFTER-SWAP") != Some("0") {
        bail!("ixgbevf never noticed the swap (carrier stayed up); {here}");
    }
    let back: u32 = marker(c, "E2E-PINGS-UNTIL-BACK")
        .and_then(|v| v.parse().ok())
        .unwrap_or(u32::MAX);
    if back >= 60 || marker(c, "E2E-PING-AFTER") != Some("ok") {
        bail!("ixgbevf did not carry traffic again within 60 s of the swap; {here}");
    }
    if marker(c, "E2E-MAC-AFTER") != Some(E2E_MAC) {
        bail!("eth0 lost the PF-assigned MAC across the swap; {here}");
    }
    clean_run(c, &stats).with_context(|| here.clone())?;
    let num = |k: &str| marker(c, k).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(SwapReport {
        pings_until_back: back,
        rx_packets: (num("E2E-RX-BEFORE"), num("E2E-RX-AFTER")),
    })
}

/// What the end-to-end test measured.
pub struct TrafficReport {
    /// Guest-to-host TCP throughput, Mbit/s (host-side timing).
    pub tx_mbit_s: f64,
    /// Host-to-guest TCP throughput, Mbit/s (host-side timing, until all data was acked).
    pub rx_mbit_s: f64,
    /// Guest ping round trip to the host peer: min/avg/max in ms.
    pub ping_ms: (f64, f64, f64),
    /// The model's final statistics (its counters: frames, MMIO, interrupts).
    pub stats: String,
    /// Small (64-byte payload) UDP packets per second from the guest that reached the peer.
    pub udp_pps: f64,
    /// Guest CPU time (all vCPUs, from /proc/stat) per UDP packet sent, in µs.
    pub cpu_us_per_pkt: f64,
}

/// Busy and total jiffies of the guest's `/proc/stat` `cpu` line.
fn jiffies(line: &str) -> Option<(u64, u64)> {
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle, total))
}

/// The small-packet UDP measure: the peer's iperf3 report and the guest's CPU time.
fn udp(console: &str, report: Result<(f64, f64)>) -> Result<(f64, f64)> {
    if marker(console, "E2E-UDP") != Some("ok") {
        bail!("iperf3 -u in the guest failed");
    }
    let (sent, pps) = report?;
    let (b0, _) = marker(console, "E2E-CPU-BEFORE")
        .and_then(jiffies)
        .context("no CPU line before iperf3")?;
    let (b1, _) = marker(console, "E2E-CPU-AFTER")
        .and_then(jiffies)
        .context("no CPU line after iperf3")?;
    // USER_HZ is 100: a jiffy is 10 ms.
    let cpu_us = b1.saturating_sub(b0) as f64 * 10_000.0;
    Ok((pps, cpu_us / sent))
}

/// `cargo xtask test` check: the in-tree ixgbevf, loaded in the guest, probes vf-model, gets
/// its MAC over the mailbox, reports link up, passes ping and 100 MiB of TCP each way with a
/// peer in a network namespace on the host, follows a PF link flap (down, up, ping again),
/// with no driver error in dmesg. Prints the
/// measured throughput and latency. An error names what failed and where the logs are.
pub fn test_ixgbevf_traffic(kernel: &Kernel) -> Result<()> {
    test_traffic(kernel, &VfDriver::ixgbevf(kernel)?)
}

/// `cargo xtask test` check: the traffic test with `drv`; prints what it measured.
pub fn test_traffic(kernel: &Kernel, drv: &VfDriver) -> Result<()> {
    let r = run_traffic(kernel, drv)?;
    eprintln!(
        "    {} on vf-model: TCP guest->host {:.0} Mbit/s, host->guest {:.0} Mbit/s, \
         UDP 64 B {:.0} packets/s at {:.1} us guest CPU each, ping min/avg/max {:.3}/{:.3}/{:.3} ms",
        drv.name,
        r.tx_mbit_s,
        r.rx_mbit_s,
        r.udp_pps,
        r.cpu_us_per_pkt,
        r.ping_ms.0,
        r.ping_ms.1,
        r.ping_ms.2
    );
    Ok(())
}

/// The test itself with `drv`, returning the measurements.
pub(super) fn run_traffic(kernel: &Kernel, drv: &VfDriver) -> Result<TrafficReport> {
    let qemu = qemu_command()?;
    let (model_bin, peer_bin) = build_model()?;
    let run = format!("{}-e2e", drv.name.replace('_', "-"));
    let (mut rig, m) = networked_model(&model_bin, "vfm", &run)?;
    let (sock, ctl, model_log) = (m.sock, m.ctl, m.log);
    let bytes = e2e_bytes(kernel);
    let sink = start_peer_bytes(&mut rig, &peer_bin, "sink", 5001, bytes)?;
    let source = start_peer_bytes(&mut rig, &peer_bin, "source", 5002, bytes)?;
    let iperf = start_iperf3(&mut rig)?;

    let mut g = GuestRun::new(&run, plan(drv, bytes));
    g.with_host_program("/usr/sbin/ethtool")?;
    g.with_host_program("/usr/bin/ip")?;
    g.with_host_program("/usr/bin/iperf3")?;
    if drv.name == "compsc_vf" {
        g.with_program_at(&crate::kernel::ynltool(kernel)?, "/usr/bin/ynltool")?;
        g.with_program_at(&crate::kernel::netdev_map(kernel)?, "/usr/bin/netdev-map")?;
    }
    g.files
        .push((drv.ko.clone(), format!("/modules/{}.ko", drv.name)));
    g.qemu = qemu;
    g.timeout = Duration::from_secs(900);
    attach_model(&mut g, &sock)?;
    // The peer pings the group the guest joined: the replies prove the frames passed the
    // VF's multicast filter (the PF's hash table, set from the driver's list).
    let mcast = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    {
        let (ns, out) = (rig.ns().to_owned(), mcast.clone());
        g.hooks.push(Hook::new("E2E-MCAST-PING", move || {
            let o = std::process::Command::new("ip")
                .args([
                    "netns", "exec", &ns, "ping", "-c", "3", "-i", "0.5", "-W", "2",
                ])
                .args(["-I", "vfm0", MCAST_GROUP])
                .output()?;
            *out.borrow_mut() = String::from_utf8_lossy(&o.stdout).into_owned();
            Ok(())
        }));
    }
    // Pings from eight source addresses: RSS on the IPv4 addresses spreads them over the
    // VF's Rx queues (the model's hash is deterministic), and the replies over its Tx queues.
    {
        let ns = rig.ns().to_owned();
        g.hooks.push(Hook::new("E2E-RSS-PINGS", move || {
            for i in 11..19 {
                let src = format!("10.77.0.{i}");
                std::process::Command::new("ip")
                    .args([
                        "-n",
                        &ns,
                        "addr",
                        "add",
                        &format!("{src}/24"),
                        "dev",
                        "vfm0",
                    ])
                    .status()?;
                std::process::Command::new("ip")
                    .args([
                        "netns", "exec", &ns, "ping", "-c", "2", "-i", "0.2", "-W", "1",
                    ])
                    .args(["-I", &src, GUEST_IP])
                    .output()?;
            }
            Ok(())
        }));
    }
    // The device's view right after ethtool -G/-C, with the driver's counters just read.
    let ring_stats = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    {
        let (ctl, snap) = (ctl.clone(), ring_stats.clone());
        g.hooks.push(Hook::new("E2E-RING-SNAP", move || {
            *snap.borrow_mut() = control(&ctl, r#"{"cmd":"stats"}"#)?;
            Ok(())
        }));
    }
    // RSS reporting: the PF's administrator lets the VF read the key and table (compsc_vf's
    // part of the plan; ixgbevf's plan has no such line).
    if drv.name == "compsc_vf" {
        let ctl = ctl.clone();
        g.hooks.push(Hook::new("E2E-QUERY-RSS", move || {
            control_ok(&ctl, r#"{"cmd":"query_rss","on":true}"#).map(drop)
        }));
    }
    // The PF's view right after the guest set up VLAN 5 and sent on it (before the link
    // flap, after which a driver's reset may legitimately change it).
    let vlan_stats = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    {
        let (ctl, snap) = (ctl.clone(), vlan_stats.clone());
        g.hooks.push(Hook::new("E2E-VLAN-SENT", move || {
            *snap.borrow_mut() = control(&ctl, r#"{"cmd":"stats"}"#)?;
            Ok(())
        }));
    }
    // The host side of the link flap: the PF's physical link goes down and up again.
    for (mark, up) in [("E2E-LINK-DOWN", false), ("E2E-LINK-UP", true)] {
        let ctl = ctl.clone();
        g.hooks.push(Hook::new(mark, move || {
            control_ok(&ctl, &format!(r#"{{"cmd":"link","up":{up}}}"#)).map(drop)
        }));
    }
    let out = guest::boot(kernel, &mut g)?;
    let stats =
        control(&ctl, r#"{"cmd":"stats"}"#).unwrap_or_else(|e| format!("(no stats: {e:#})"));
    let tx = peer_result(&mut rig, "sink", sink);
    let rx = peer_result(&mut rig, "source", source);
    // The iperf3 server writes its report when its one test ends; read it before the rig
    // (and its directory) goes.
    let udp_report = iperf3_udp(&iperf);
    rig.terminate("vf-model");
    drop(rig);
    let where_ = format!(
        "console {}, model log {}",
        out.log_path.display(),
        super::rig::keep_model_log(&model_log, &out).display()
    );
    eprintln!("    model stats: {stats}");
    out.check_plan()?;
    let vlan_stats = vlan_stats.borrow().clone();
    let mut r = analyse(&out.console, &tx, &rx, &stats, &vlan_stats, drv, bytes)
        .with_context(|| where_.clone())?;
    (r.udp_pps, r.cpu_us_per_pkt) =
        udp(&out.console, udp_report).with_context(|| where_.clone())?;
    surfaces(&out.console, &mcast.borrow(), &ring_stats.borrow(), drv).with_context(|| where_)?;
    Ok(r)
}

/// The user surfaces beyond traffic: multicast receive, ethtool -G/-C/-d/-t, the driver's
/// own counters against the device's, and (compsc_vf) its refusals and debugfs files.
fn surfaces(console: &str, mcast: &str, ring_stats: &str, drv: &VfDriver) -> Result<()> {
    if marker(console, "E2E-MCAST-JOIN") != Some("ok") {
        bail!("could not join {MCAST_GROUP} with iproute2's autojoin");
    }
    if !mcast.contains(" 0% packet loss") && !mcast.contains(", 3 received") {
        bail!(
            "the peer's pings to {MCAST_GROUP}, which the guest joined, got no replies: {mcast:?}"
        );
    }
    // Both queue pairs carried traffic (the PF grants two; both drivers use them).
    for q in [
        "rx_queue_0_packets",
        "rx_queue_1_packets",
        "tx_queue_0_packets",
        "tx_queue_1_packets",
    ] {
        let n: u64 = marker(console, &format!("E2E-Q-{q}"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if n == 0 {
            bail!("ethtool -S {q} is 0: RSS did not spread the peer's flows over both queue pairs");
        }
    }
    if marker(console, "E2E-RING-SET") != Some("ok")
        || marker(console, "E2E-COALESCE-SET") != Some("ok")
    {
        bail!("ethtool -G rx 1024 tx 256 or -C rx-usecs 100 failed");
    }
    let rings = marker(console, "E2E-RING-NOW").unwrap_or("");
    if rings.split_whitespace().collect::<Vec<_>>() != ["1024", "256"] {
        bail!("after ethtool -G rx 1024 tx 256, ethtool -g reports current RX/TX {rings:?}");
    }
    if marker(console, "E2E-COALESCE-NOW") != Some("100") {
        bail!(
            "after ethtool -C rx-usecs 100, ethtool -c reports {:?}",
            marker(console, "E2E-COALESCE-NOW")
        );
    }
    // The device was programmed: ring lengths and the throttle ixgbevf would write (100 µs
    // is 400 in VTEITR's interval field).
    for (key, want) in [("tx_descs", "256"), ("rx_descs", "1024"), ("eitr", "400")] {
        if json_field(ring_stats, key) != Some(want) {
            bail!(
                "after ethtool -G/-C the device has {key} {:?}, want {want} ({ring_stats})",
                json_field(ring_stats, key)
            );
        }
    }
    if marker(console, "E2E-PING-AFTER-RING") != Some("ok") {
        bail!("no ping after ethtool -G resized the rings");
    }
    let regs: u64 = marker(console, "E2E-REGS-BYTES")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if regs == 0 {
        bail!("ethtool -d dumped nothing");
    }
    if marker(console, "E2E-SELFTEST") != Some("PASS") {
        bail!(
            "ethtool -t offline: {:?}, not PASS",
            marker(console, "E2E-SELFTEST")
        );
    }
    if marker(console, "E2E-PING-AFTER-SELFTEST") != Some("ok") {
        bail!("no ping after the offline self test");
    }
    // Five rounds of insmod, link up, one ping, rmmod; unloaded at the end.
    if marker(console, "E2E-RELOADS") != Some("5 5 0") {
        bail!(
            "insmod/rmmod five times: rounds, pings answered, still loaded = {:?}, want 5 5 0",
            marker(console, "E2E-RELOADS")
        );
    }
    if drv.name != "compsc_vf" {
        return Ok(());
    }
    // compsc_vf's copies of the VF's counters agree with the device's own (a few frames of
    // ARP or neighbour discovery may fall between the two readings).
    let model = |k: &str| json_field(ring_stats, k).and_then(|v| v.parse::<i64>().ok());
    for (ours, theirs) in [
        ("hw_rx_packets", "gprc"),
        ("hw_tx_packets", "gptc"),
        ("hw_rx_multicast", "mprc"),
    ] {
        let got: Option<i64> =
            marker(console, &format!("E2E-HW-{ours}")).and_then(|v| v.parse().ok());
        match (got, model(theirs)) {
            (Some(g), Some(m)) if (g - m).abs() <= 8 && m > 0 => {}
            (g, m) => bail!("ethtool -S {ours} is {g:?}, the device counted {theirs} {m:?}"),
        }
    }
    netdev_interfaces(console, ring_stats)?;
    // ethtool -l/-L: two pairs granted and used; one works; three are refused.
    if marker(console, "E2E-CHANNELS") != Some("2 2")
        || marker(console, "E2E-CHANNELS-SET") != Some("ok")
        || marker(console, "E2E-CHANNELS-NOW") != Some("2 1")
        || marker(console, "E2E-PING-ONE-QUEUE") != Some("ok")
        || !marker(console, "E2E-CHANNELS-BAD")
            .is_some_and(|m| m.starts_with("refused") && m.contains("exceeds maximum"))
        || marker(console, "E2E-CHANNELS-AFTER-BAD") != Some("2 1")
    {
        bail!(
            "ethtool -l/-L: granted/used {:?}, set 1 {:?} -> {:?}, ping {:?}, 3 {:?} (want refused with the kernel's `exceeds maximum`) -> {:?}",
            marker(console, "E2E-CHANNELS"),
            marker(console, "E2E-CHANNELS-SET"),
            marker(console, "E2E-CHANNELS-NOW"),
            marker(console, "E2E-PING-ONE-QUEUE"),
            marker(console, "E2E-CHANNELS-BAD"),
            marker(console, "E2E-CHANNELS-AFTER-BAD")
        );
    }
    let bad = marker(console, "E2E-RING-BAD").unwrap_or("");
    if bad == "accepted" || !bad.contains("powers of two") {
        bail!("ethtool -G rx 1000 was not refused with the driver's reason: {bad:?}");
    }
    // debugfs shows the log (VTEITR as -C set it), the PF's state and the counters.
    let dbg = |f: &str| -> Vec<&str> {
        let p = format!("E2E-DBG-{f} ");
        console
            .lines()
            .filter_map(|l| l.find(&p).map(|i| &l[i + p.len()..]))
            .collect()
    };
    if !dbg("log")
        .iter()
        .any(|l| l.starts_with("VTEITR[0]") && l.contains("0x80000190"))
    {
        bail!(
            "debugfs log lacks VTEITR[0] = 0x80000190 (rx-usecs 100): {:?}",
            dbg("log")
        );
    }
    if !dbg("pf")
        .iter()
        .any(|l| l.starts_with("max_frame") && l.ends_with("1518"))
    {
        bail!("debugfs pf lacks max_frame 1518: {:?}", dbg("pf"));
    }
    if !dbg("counters").iter().any(|l| l.starts_with("GPRC"))
        || !dbg("state")
            .iter()
            .any(|l| l.starts_with("rings           tx 256 rx 1024"))
    {
        bail!(
            "debugfs counters/state incomplete: {:?} {:?}",
            dbg("counters"),
            dbg("state")
        );
    }
    Ok(())
}

/// The interfaces current drivers offer beyond ixgbevf's, read with the kernel's own tools:
/// queue statistics and page pools through the netdev netlink family (tools/net/ynl's
/// ynltool), ethtool's standard eth-mac group, threaded NAPI.
fn netdev_interfaces(console: &str, ring_stats: &str) -> Result<()> {
    let json = |key: &str| -> Result<serde_json::Value> {
        let text = marker(console, key).with_context(|| format!("no {key} line"))?;
        serde_json::from_str(text).with_context(|| format!("{key}: not JSON: {text}"))
    };
    let sysfs: Vec<u64> = marker(console, "E2E-SYSFS-RX")
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let [before, after, ifindex] = sysfs[..] else {
        bail!("no E2E-SYSFS-RX line with rx_packets before, after and the ifindex");
    };
    let ours = |v: &&serde_json::Value| v["ifindex"].as_u64() == Some(ifindex);
    // qstats, device scope: the queues in use plus the base equal the device's totals
    // (ip -s link's rx_packets, read just before and after).
    let dev = json("E2E-QSTATS-DEV")?;
    let rx_dev = dev
        .as_array()
        .and_then(|a| a.iter().find(ours))
        .and_then(|d| d["rx"]["packets"].as_u64())
        .with_context(|| format!("qstats has no rx packets for ifindex {ifindex}: {dev}"))?;
    if !(before..=after).contains(&rx_dev) {
        bail!("qstats rx packets {rx_dev} outside ip -s link's {before}..={after}");
    }
    // Per queue: both Rx queues carried traffic (the RSS pings), Tx queue 0 too.
    let q = json("E2E-QSTATS-Q")?;
    let per_queue = |kind: &str, id: u64| -> Option<u64> {
        q.as_array()?
            .iter()
            .filter(ours)
            .find(|e| e["queue-type"] == kind && e["queue-id"].as_u64() == Some(id))
            .and_then(|e| e[kind]["packets"].as_u64())
    };
    for (kind, id) in [("rx", 0), ("rx", 1), ("tx", 0)] {
        if per_queue(kind, id).unwrap_or(0) == 0 {
            bail!("qstats shows no packets on {kind}-{id}: {q}");
        }
    }
    // Page pools: one per queue pair in use, tied to its NAPI, with allocations counted.
    let pp = json("E2E-PP")?;
    let pools: Vec<&serde_json::Value> = pp
        .as_array()
        .map(|a| {
            a.iter()
                .filter(ours)
                .filter(|p| p.get("detach_time").is_none())
                .collect()
        })
        .unwrap_or_default();
    let live = pools
        .iter()
        .filter(|p| {
            p["napi_id"].as_u64().is_some()
                && p["alloc"]["fast"].as_u64().unwrap_or(0)
                    + p["alloc"]["slow"].as_u64().unwrap_or(0)
                    > 0
        })
        .count();
    if live < 2 {
        bail!(
            "page-pool stats: {live} live pools of eth0 with a NAPI and allocations, want 2: {pp}"
        );
    }
    // ethtool's eth-mac group comes from the VF's counters: the device's own counts.
    let mac: Vec<(&str, i64)> = marker(console, "E2E-ETHMAC")
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k, v.parse().ok()?))
        })
        .collect();
    let model = |k: &str| json_field(ring_stats, k).and_then(|v| v.parse::<i64>().ok());
    for (name, theirs) in [
        ("FramesReceivedOK", "gprc"),
        ("FramesTransmittedOK", "gptc"),
        ("MulticastFramesReceivedOK", "mprc"),
    ] {
        let got = mac.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        match (got, model(theirs)) {
            (Some(g), Some(m)) if (g - m).abs() <= 8 && m > 0 => {}
            (g, m) => bail!("ethtool eth-mac {name} is {g:?}, the device counted {theirs} {m:?}"),
        }
    }
    // RSS reporting: refused while the PF does not allow the query, then the PF's key (the
    // model's: the standard Microsoft key) and its table over both queues.
    let off = marker(console, "E2E-RSS-OFF").unwrap_or("");
    if !off.contains("Operation not supported") {
        bail!("ethtool -x before query_rss was allowed: {off:?}, want Operation not supported");
    }
    let key = marker(console, "E2E-RSS-KEY").unwrap_or("");
    if !key.starts_with("6d:5a:56:da:25:5b:0e:c2") || key.split(':').count() != 40 {
        bail!("ethtool -x key {key:?}, want the PF's 40-byte key 6d:5a:56:da:25:5b:0e:c2...");
    }
    if marker(console, "E2E-RSS-TABLE") != Some("0 1 0 1 0 1 0 1") {
        bail!(
            "ethtool -x table row 0 {:?}, want the PF's round robin over two queues",
            marker(console, "E2E-RSS-TABLE")
        );
    }
    napi_links(console)?;
    // Threaded NAPI: one kernel thread per queue pair, and traffic flows through them.
    if marker(console, "E2E-THREADED") != Some("2")
        || marker(console, "E2E-PING-THREADED") != Some("ok")
    {
        bail!(
            "threaded NAPI: {:?} napi/eth0 threads (want 2), ping {:?}",
            marker(console, "E2E-THREADED"),
            marker(console, "E2E-PING-THREADED")
        );
    }
    Ok(())
}

/// One `netdev-map` listing (lines after `key`): each queue's NAPI id by (kind, queue id),
/// and each NAPI's IRQ and thread pid by NAPI id.
#[allow(clippy::type_complexity)]
fn napi_map(console: &str, key: &str) -> (BTreeMap<(String, u32), u32>, BTreeMap<u32, (i64, u32)>) {
    let (mut queues, mut napis) = (BTreeMap::new(), BTreeMap::new());
    for l in console.lines().filter_map(|l| l.trim().strip_prefix(key)) {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w[..] {
            ["queue", kind, id, "napi", napi] => {
                if let (Ok(id), Ok(napi)) = (id.parse(), napi.parse()) {
                    queues.insert((kind.to_owned(), id), napi);
                }
            }
            ["napi", id, "irq", irq, "pid", pid] => {
                if let (Ok(id), Ok(irq), Ok(pid)) = (id.parse(), irq.parse(), pid.parse()) {
                    napis.insert(id, (irq, pid));
                }
            }
            _ => {}
        }
    }
    (queues, napis)
}

/// NAPI and IRQ links through the netdev family (queue-get, napi-get): each queue pair's Rx
/// and Tx queue share one NAPI, the pairs' NAPIs differ, each NAPI names the IRQ
/// /proc/interrupts shows for its vector (compsc_vf-TxRx-N), and in threaded mode each NAPI
/// names its thread.
fn napi_links(console: &str) -> Result<()> {
    let irqs: BTreeMap<String, i64> = console
        .lines()
        .filter_map(|l| l.trim().strip_prefix("E2E-IRQ "))
        .filter_map(|l| {
            let (irq, name) = l.split_once(' ')?;
            Some((name.trim().to_owned(), irq.parse().ok()?))
        })
        .collect();
    let (queues, napis) = napi_map(console, "E2E-NAPIMAP ");
    let (_, threaded) = napi_map(console, "E2E-NAPIMAP-THREADED ");
    let mut seen = Vec::new();
    for q in 0..2u32 {
        let napi = |kind: &str| queues.get(&(kind.to_owned(), q)).copied().unwrap_or(0);
        let (rx, tx) = (napi("rx"), napi("tx"));
        if rx == 0 || rx != tx {
            bail!("queue pair {q}: rx NAPI {rx}, tx NAPI {tx}: want one NAPI for both (queue-get: {queues:?})");
        }
        if seen.contains(&rx) {
            bail!("queue pairs share NAPI {rx}: want one per pair ({queues:?})");
        }
        seen.push(rx);
        let vector = format!("compsc_vf-TxRx-{q}");
        let want = irqs
            .get(&vector)
            .with_context(|| format!("/proc/interrupts has no {vector}: {irqs:?}"))?;
        match napis.get(&rx) {
            Some((irq, pid)) if irq == want && *pid == 0 => {}
            other => {
                bail!("napi-get for NAPI {rx}: {other:?}, want irq {want} ({vector}) and no thread")
            }
        }
        match threaded.get(&rx) {
            Some((irq, pid)) if irq == want && *pid > 0 => {}
            other => bail!("napi-get in threaded mode for NAPI {rx}: {other:?}, want irq {want} and a thread pid"),
        }
    }
    Ok(())
}

fn parse_ping(console: &str) -> Option<(f64, f64, f64)> {
    let line = console
        .lines()
        .find(|l| l.contains("round-trip min/avg/max"))?;
    let nums = line.split('=').nth(1)?.trim().trim_end_matches("ms").trim();
    let v: Vec<f64> = nums
        .split('/')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    (v.len() == 3).then(|| (v[0], v[1], v[2]))
}

fn analyse(
    console: &str,
    tx: &str,
    rx: &str,
    stats: &str,
    vlan_stats: &str,
    drv: &VfDriver,
    bytes: u64,
) -> Result<TrafficReport> {
    // The model counts every access and descriptor it had to refuse; a faithful model
    // driven by the reference driver refuses none.
    for key in ["bad_accesses", "bad_descriptors", "dma_errors"] {
        match json_field(stats, key) {
            Some("0") => {}
            Some(n) => bail!("the model refused {n} guest operations ({key}); see its log"),
            None => bail!("no final statistics from the model: {stats}"),
        }
    }
    if !console.contains(drv.name) || !console.contains(drv.probe) {
        bail!("{} did not probe the model as an 82599 VF", drv.name);
    }
    let mac = marker(console, "E2E-MAC").unwrap_or("");
    if mac != E2E_MAC {
        bail!("eth0 has MAC {mac:?}, not {E2E_MAC} from the PF's VF_RESET reply");
    }
    if marker(console, "E2E-CARRIER") != Some("1") {
        bail!("eth0 reports no carrier (link down)");
    }
    if !console.contains("NIC Link is Up") {
        bail!("{} never reported \"NIC Link is Up\"", drv.name);
    }
    if console.contains("E2E-PING-FAILED") || !console.contains("20 packets received") {
        bail!("ping {HOST_IP}: not every reply came back");
    }
    let ping_ms = parse_ping(console).context("no ping summary in the console")?;
    if console.contains("E2E-TX-FAILED") {
        bail!("guest nc to the sink failed");
    }
    let chunk = marker(console, "E2E-CHUNK").context("the guest printed no chunk CRC")?;
    if json_field(tx, "error").is_some() || json_field(tx, "bytes") != Some(&bytes.to_string()) {
        bail!("guest->host transfer incomplete: sink said {tx}");
    }
    let crcs = json_field(tx, "chunk_crcs").unwrap_or("");
    if crcs != format!("[\"{chunk}\"]") {
        bail!("guest->host data corrupted: chunk CRCs {crcs}, guest sent {chunk} every time");
    }
    let rx_crc = marker(console, "E2E-RX").unwrap_or("");
    if json_field(rx, "error").is_some() || json_field(rx, "crc") != Some(rx_crc) {
        bail!("host->guest transfer: source said {rx}, guest computed CRC {rx_crc:?}");
    }
    // The real ethtool sees the driver, its counters and its ring limits.
    if marker(console, "E2E-ETHTOOL-DRIVER") != Some(drv.name) {
        bail!(
            "ethtool -i names driver {:?}, not {}",
            marker(console, "E2E-ETHTOOL-DRIVER"),
            drv.name
        );
    }
    let rx_pkts: u64 = marker(console, "E2E-ETHTOOL-RXPKTS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if rx_pkts < 10_000 {
        bail!(
            "ethtool -S rx_packets is {rx_pkts} after {} MiB received",
            bytes >> 20
        );
    }
    if marker(console, "E2E-ETHTOOL-RINGMAX") != Some("4096") {
        bail!(
            "ethtool -g reports an Rx ring maximum of {:?}, not 4096",
            marker(console, "E2E-ETHTOOL-RINGMAX")
        );
    }
    if marker(console, "E2E-JUMBO") != Some("ok") {
        bail!(
            "no 8000-byte ping at MTU 9000 (SET_LPE and multi-buffer Rx): {}",
            marker(console, "E2E-JUMBO").unwrap_or("(no marker)")
        );
    }
    if marker(console, "E2E-VLAN") != Some("ok") {
        bail!("could not bring up eth0.5 (VLAN 5)");
    }
    // The VLAN filter reached the PF over the mailbox (the stack adds VID 0 as well), and the
    // device inserted the tag.
    if json_field(vlan_stats, "vlans") != Some("[0,5]") {
        bail!(
            "with eth0.5 up the PF holds VLAN filters {:?}, want [0,5]",
            json_field(vlan_stats, "vlans")
        );
    }
    if json_field(vlan_stats, "tx_vlan").is_none_or(|n| n == "0") {
        bail!("nothing sent on eth0.5 was tagged by the device ({vlan_stats})");
    }
    // The model saw the offloads used: segmentation and checksum insertion.
    for key in ["tx_tso", "tx_csum"] {
        match json_field(stats, key).and_then(|v| v.parse::<u64>().ok()) {
            Some(n) if n > 0 => {}
            _ => bail!("the model counted no {key}: the offload was never used ({stats})"),
        }
    }
    // Link flap: the PF's ping makes ixgbevf re-read VFLINKS in both directions.
    if marker(console, "E2E-CARRIER-DOWN") != Some("0") || !console.contains("NIC Link is Down") {
        bail!(
            "after the PF's link went down, {} kept its carrier",
            drv.name
        );
    }
    if marker(console, "E2E-CARRIER-UP") != Some("1") {
        bail!(
            "after the PF's link came back, {} reported no carrier",
            drv.name
        );
    }
    if marker(console, "E2E-PING-AFTER-RELINK") != Some("ok") {
        bail!("no ping through the VF after the link came back");
    }
    let dmesg: Vec<&str> = console
        .lines()
        .skip_while(|l| !l.contains("E2E-DMESG-BEGIN"))
        .take_while(|l| !l.contains("E2E-DMESG-END"))
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            [
                "error",
                "fail",
                "hang",
                "timeout",
                "timed out",
                "not set",
                "not cleared",
                "reset",
                "not assigned",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .collect();
    let trouble = crate::test::kernel_trouble(console);
    if !dmesg.is_empty() || !trouble.is_empty() {
        bail!(
            "errors in the guest kernel log: {}",
            dmesg
                .iter()
                .chain(trouble.iter())
                .copied()
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    let mbit = |line: &str| -> Result<f64> {
        let secs: f64 = json_field(line, "secs")
            .and_then(|s| s.parse().ok())
            .context("no time")?;
        Ok(bytes as f64 * 8.0 / secs.max(1e-6) / 1e6)
    };
    Ok(TrafficReport {
        tx_mbit_s: mbit(tx)?,
        rx_mbit_s: mbit(rx)?,
        ping_ms,
        stats: stats.to_owned(),
        udp_pps: 0.0,
        cpu_us_per_pkt: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::napi_links;

    const IRQS: &str =
        "E2E-IRQ 24 compsc_vf-TxRx-0\nE2E-IRQ 25 compsc_vf-TxRx-1\nE2E-IRQ 26 compsc_vf-mbx\n";

    fn map(q1_tx_napi: u32, threaded_pid: u32) -> String {
        let mut c = IRQS.to_owned();
        for (key, pid) in [("E2E-NAPIMAP", 0), ("E2E-NAPIMAP-THREADED", threaded_pid)] {
            c += &format!(
                "{key} queue rx 0 napi 8193\n{key} queue rx 1 napi 8194\n{key} queue tx 0 napi 8193\n{key} queue tx 1 napi {q1_tx_napi}\n{key} napi 8193 irq 24 pid {pid}\n{key} napi 8194 irq 25 pid {pid}\n"
            );
        }
        c
    }

    #[test]
    fn napi_links_want_pairs_irqs_and_threads() {
        assert!(napi_links(&map(8194, 77)).is_ok());
        // Tx queue 1 on the other pair's NAPI, or no thread in threaded mode: refused.
        assert!(napi_links(&map(8193, 77)).is_err());
        assert!(napi_links(&map(8194, 0)).is_err());
        // The IRQ of another vector: refused.
        let swapped = map(8194, 77).replace("irq 24", "irq 26");
        assert!(napi_links(&swapped).is_err());
        assert!(napi_links(IRQS).is_err());
    }
}
