//! BPF on compsc_vf, end to end: XDP programs for each verdict (xtask/bpf/checks.c, built
//! with clang for the BPF target) attached in native mode with the guest's iproute2, frames
//! from the peer through them, and the driver's counters, the stack's ICMP counters and the
//! peer's replies as the evidence. Refusals (a multi-buffer program, an MTU too large for
//! one buffer) must come back with the driver's extack message and change nothing. First,
//! the Rx hash: a tc classifier that drops echo replies reaching the stack without one, so
//! pings pass with `rxhash` on and fail with it off.

use super::ixgbevf::driver_up;
use super::marker;
use super::rig::{
    build_model, compsc_guest, finish_model, json_field, peer_result, start_peer_bytes, CHUNK,
    GUEST_IP, HOST_IP,
};
use crate::guest::{self, Hook};
use crate::kernel::Kernel;
use crate::util::target_dir;
use anyhow::{bail, Context, Result};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

/// The programs: object name and the macro it is built with.
const PROGRAMS: [(&str, &str); 6] = [
    ("pass", "VERDICT_PASS"),
    ("drop", "VERDICT_DROP"),
    ("tx", "VERDICT_TX"),
    ("redirect", "VERDICT_REDIRECT"),
    ("frags", "VERDICT_FRAGS"),
    ("rxhash", "RXHASH_REQUIRED"),
];

/// Bytes the peer sends through the XDP_PASS program.
const PASS_BYTES: u64 = 8 * CHUNK;
/// Pings each way per case.
const PINGS: u64 = 20;

/// Builds the BPF programs into `target/xdp/`; returns the directory.
pub(super) fn build_programs() -> Result<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf/checks.c");
    let dir = target_dir().join("xdp");
    std::fs::create_dir_all(&dir)?;
    for (name, verdict) in PROGRAMS {
        let out = dir.join(format!("{name}.o"));
        let status = Command::new("clang-19")
            .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
            .arg(format!("-D{verdict}"))
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .status()
            .context("clang-19 not found: run `cargo xtask setup` (installs clang-19)")?;
        if !status.success() {
            bail!(
                "clang-19 could not build {} with -D{verdict}",
                src.display()
            );
        }
    }
    Ok(dir)
}

/// The guest's side.
fn plan() -> String {
    format!(
        r#"{up}
mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
n=0; until ping -c 1 -W 1 {HOST_IP} >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 15 ] && break; done
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-BEFORE ok || echo E2E-PING-BEFORE failed
snap() {{ echo "E2E-STATS $1 $(ethtool -S eth0 | sed -n 's/^ *\([a-z_0-9]*\): \([0-9]*\)$/\1=\2/p' | tr '\n' ' ') $(grep '^Icmp:' /proc/net/snmp | tr '\n' ' ')"; }}
attach() {{ /usr/bin/ip link set dev eth0 xdpdrv off; /usr/bin/ip link set dev eth0 xdpdrv obj /xdp/$1.o sec $2 2>/tmp/e; }}
pings() {{ ping -c {PINGS} -i 0.1 -W 2 {HOST_IP} >/tmp/p 2>&1 || true; echo "E2E-PINGS $1 $(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/p)"; }}
/usr/sbin/tc qdisc add dev eth0 clsact
/usr/sbin/tc filter add dev eth0 ingress bpf direct-action obj /xdp/rxhash.o sec tc 2>/tmp/e && echo E2E-TC ok || echo "E2E-TC $(tr '\n' ' ' </tmp/e)"
pings hash-on
ethtool -K eth0 rxhash off
echo "E2E-FEATURE-RXHASH $(ethtool -k eth0 | sed -n 's/^receive-hashing: //p')"
pings hash-off
ethtool -K eth0 rxhash on
pings hash-back
/usr/sbin/tc qdisc del dev eth0 clsact
attach frags xdp.frags && echo E2E-XDP-FRAGS accepted || echo "E2E-XDP-FRAGS $(tr '\n' ' ' </tmp/e)"
/usr/bin/ip link set eth0 mtu 3000
attach pass xdp && echo E2E-XDP-BIGMTU accepted || echo "E2E-XDP-BIGMTU $(tr '\n' ' ' </tmp/e)"
/usr/bin/ip link set eth0 mtu 1500
echo "E2E-XDP-NONE $(/usr/bin/ip link show eth0 | grep -c xdp)"
snap none
attach pass xdp && echo E2E-XDP-PASS ok || echo "E2E-XDP-PASS $(tr '\n' ' ' </tmp/e)"
echo "E2E-XDP-SHOWN $(/usr/bin/ip link show eth0 | grep -o 'prog/xdp id [0-9]*')"
/usr/bin/ip link set eth0 mtu 3000 2>/dev/null && echo E2E-XDP-MTU-WHILE accepted || echo E2E-XDP-MTU-WHILE refused
echo "E2E-MTU-NOW $(cat /sys/class/net/eth0/mtu)"
pings pass
echo "E2E-RX $(nc {HOST_IP} 5002 </dev/null | crc32)"
snap pass
attach drop xdp && echo E2E-XDP-DROP ok || echo "E2E-XDP-DROP $(tr '\n' ' ' </tmp/e)"
pings drop
snap drop
attach tx xdp && echo E2E-XDP-TX ok || echo "E2E-XDP-TX $(tr '\n' ' ' </tmp/e)"
echo E2E-HOST-PING tx
sleep 4
snap tx
attach redirect xdp && echo E2E-XDP-REDIRECT ok || echo "E2E-XDP-REDIRECT $(tr '\n' ' ' </tmp/e)"
echo E2E-HOST-PING redirect
sleep 4
snap redirect
/usr/bin/ip link set dev eth0 xdpdrv off && echo E2E-XDP-OFF ok || echo E2E-XDP-OFF failed
echo "E2E-XDP-GONE $(/usr/bin/ip link show eth0 | grep -c xdp)"
pings off
attach pass xdp || true
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-ATTACHED ok || echo E2E-PING-ATTACHED failed
rmmod compsc_vf
echo "E2E-UNLOADED $(grep -c compsc_vf /proc/modules)"
echo "E2E-DMESG-BEGIN"
dmesg | grep -i compsc_vf || true
echo "E2E-DMESG-END"
"#,
        up = driver_up("compsc_vf"),
    )
}

/// `name=value` pairs of one `E2E-STATS <case>` line, with the stack's ICMP counters under
/// `Icmp:<name>`.
fn stats_of(console: &str, case: &str) -> Option<BTreeMap<String, u64>> {
    let line = marker(console, &format!("E2E-STATS {case} "))?;
    let (ethtool, icmp) = line.split_once("Icmp:")?;
    let mut m = super::faults::pairs(ethtool);
    // `Icmp: InMsgs InErrors ... Icmp: 12 0 ...`: names, then values.
    let (names, values) = icmp.split_once("Icmp:")?;
    for (k, v) in names.split_whitespace().zip(values.split_whitespace()) {
        m.insert(format!("Icmp:{k}"), v.parse().ok()?);
    }
    Some(m)
}

/// Replies counted in `ping`'s summary (`20 packets transmitted, 20 received, ...`).
pub(super) fn received(ping_out: &str) -> Option<u64> {
    let line = ping_out
        .lines()
        .find(|l| l.contains("packets transmitted"))?;
    let part = line.split(',').nth(1)?;
    part.split_whitespace().next()?.parse().ok()
}

/// `cargo xtask test` check: XDP on compsc_vf (see the module doc).
pub fn test_xdp(kernel: &Kernel, ko: &Path) -> Result<()> {
    let programs = build_programs()?;
    let (_, peer_bin) = build_model()?;
    let (mut rig, m, mut g) =
        compsc_guest(ko, "xdp", "compsc-xdp", plan(), Duration::from_secs(400))?;
    let source = start_peer_bytes(&mut rig, &peer_bin, "source", 5002, PASS_BYTES)?;
    g.with_host_program("/usr/sbin/ethtool")?;
    g.with_host_program("/usr/bin/ip")?;
    g.with_host_program("/usr/sbin/tc")?;
    for (name, _) in PROGRAMS {
        g.files
            .push((programs.join(format!("{name}.o")), format!("/xdp/{name}.o")));
    }
    // The peer pings the guest while the TX and REDIRECT programs answer in XDP.
    let host_pings: Rc<RefCell<BTreeMap<&'static str, String>>> = Rc::default();
    for case in ["tx", "redirect"] {
        let (ns, out) = (rig.ns().to_owned(), host_pings.clone());
        g.hooks
            .push(Hook::new(&format!("E2E-HOST-PING {case}"), move || {
                let o = Command::new("ip")
                    .args(["netns", "exec", &ns, "ping", "-c", &PINGS.to_string()])
                    .args(["-i", "0.1", "-W", "2", GUEST_IP])
                    .output()?;
                out.borrow_mut()
                    .insert(case, String::from_utf8_lossy(&o.stdout).into_owned());
                Ok(())
            }));
    }
    let out = guest::boot(kernel, &mut g)?;
    let rx = peer_result(&mut rig, "source", source);
    let (model_stats, here) = finish_model(&mut rig, &m, &out);
    out.check_plan().with_context(|| here.clone())?;
    let c = &out.console;
    if marker(c, "E2E-PING-BEFORE") != Some("ok") {
        bail!("no traffic before XDP; {here}");
    }
    // Rx hash: echo replies without a hash are dropped by the classifier, so every ping
    // passes with rxhash on and none with it off.
    if marker(c, "E2E-TC") != Some("ok") {
        bail!(
            "the rxhash classifier did not attach: {:?}; {here}",
            marker(c, "E2E-TC")
        );
    }
    let all = PINGS.to_string();
    for (case, want) in [
        ("hash-on", all.as_str()),
        ("hash-off", "0"),
        ("hash-back", all.as_str()),
    ] {
        let got = marker(c, &format!("E2E-PINGS {case}"));
        if got != Some(want) {
            bail!("pings through the rxhash classifier, {case}: {got:?} answered, want {want}; {here}");
        }
    }
    if marker(c, "E2E-FEATURE-RXHASH") != Some("off") {
        bail!(
            "ethtool -K rxhash off did not take: {:?}; {here}",
            marker(c, "E2E-FEATURE-RXHASH")
        );
    }
    // Refusals: the driver's own extack message, and no program left behind.
    let frags = marker(c, "E2E-XDP-FRAGS").unwrap_or("");
    if !frags.contains("multi-buffer XDP (xdp.frags) is not supported") {
        bail!(
            "a multi-buffer program was not refused with the driver's message: {frags:?}; {here}"
        );
    }
    let big = marker(c, "E2E-XDP-BIGMTU").unwrap_or("");
    if !big.contains("one 2 KiB Rx buffer") {
        bail!("XDP at MTU 3000 was not refused with the driver's message: {big:?}; {here}");
    }
    if marker(c, "E2E-XDP-NONE") != Some("0") {
        bail!("a refused program is attached anyway; {here}");
    }
    for case in ["PASS", "DROP", "TX", "REDIRECT", "OFF"] {
        let v = marker(c, &format!("E2E-XDP-{case}"));
        if v != Some("ok") {
            bail!("attaching (or detaching) the {case} program failed: {v:?}; {here}");
        }
    }
    if marker(c, "E2E-XDP-SHOWN").is_none_or(|v| !v.starts_with("prog/xdp id")) {
        bail!("ip link does not show the attached program; {here}");
    }
    if marker(c, "E2E-XDP-MTU-WHILE") != Some("refused") || marker(c, "E2E-MTU-NOW") != Some("1500")
    {
        bail!("MTU 3000 was not refused with a program attached; {here}");
    }
    if !c.contains("an XDP program is attached and frames must fit one") {
        bail!("no dmesg line saying why MTU 3000 was refused; {here}");
    }
    if marker(c, "E2E-XDP-GONE") != Some("0") {
        bail!("ip link still shows a program after xdpdrv off; {here}");
    }
    // Per case, the growth of ethtool -S and the stack's ICMP counters.
    let snap = |case: &str| {
        stats_of(c, case).with_context(|| format!("no ethtool -S after {case}; {here}"))
    };
    let (none, pass, drop, tx, redirect) = (
        snap("none")?,
        snap("pass")?,
        snap("drop")?,
        snap("tx")?,
        snap("redirect")?,
    );
    let delta = |a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>, k: &str| -> Result<u64> {
        match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) => Ok(y.wrapping_sub(*x)),
            _ => bail!("ethtool -S or /proc/net/snmp has no {k}; {here}"),
        }
    };
    // PASS: every ping answered, the transfer whole, every frame counted as passed.
    if marker(c, "E2E-PINGS pass") != Some(&PINGS.to_string()) {
        bail!(
            "pings through the pass program: {:?} of {PINGS} answered; {here}",
            marker(c, "E2E-PINGS pass")
        );
    }
    let rx_crc = marker(c, "E2E-RX").unwrap_or("");
    if json_field(&rx, "error").is_some() || json_field(&rx, "crc") != Some(rx_crc) {
        bail!("host->guest transfer through XDP_PASS: source said {rx}, guest computed CRC {rx_crc:?}; {here}");
    }
    let passed = delta(&none, &pass, "rx_xdp_pass")?;
    let received_pkts = delta(&none, &pass, "rx_packets")?;
    if passed < PASS_BYTES / 1500 || passed != received_pkts {
        bail!("rx_xdp_pass grew by {passed}, rx_packets by {received_pkts}: want every frame of the {} MiB transfer through the program; {here}", PASS_BYTES >> 20);
    }
    // DROP: nothing answered (the replies died in XDP), each counted.
    if marker(c, "E2E-PINGS drop") != Some("0") {
        bail!(
            "pings answered through the drop program: {:?}; {here}",
            marker(c, "E2E-PINGS drop")
        );
    }
    let dropped = delta(&pass, &drop, "rx_xdp_drop")?;
    if dropped < PINGS {
        bail!("rx_xdp_drop grew by {dropped}, want at least {PINGS}; {here}");
    }
    // TX and REDIRECT: the peer's pings answered by XDP alone (the stack saw no echo
    // request), sent by the ring (XDP_TX) or by ndo_xdp_xmit (redirect).
    let pings = host_pings.borrow();
    for (case, before, after, counter) in [
        ("tx", &drop, &tx, "rx_xdp_tx"),
        ("redirect", &tx, &redirect, "rx_xdp_redirect"),
    ] {
        let got = pings.get(case).and_then(|o| received(o));
        if got != Some(PINGS) {
            bail!("the peer's pings through the {case} program: {got:?} of {PINGS} answered ({:?}); {here}", pings.get(case));
        }
        let n = delta(before, after, counter)?;
        if n < PINGS {
            bail!("{counter} grew by {n}, want at least {PINGS}; {here}");
        }
        let echos = delta(before, after, "Icmp:InEchos")?;
        if echos != 0 {
            bail!("the stack saw {echos} echo requests the {case} program should have answered; {here}");
        }
        let sent = delta(before, after, "tx_packets")?;
        if sent < PINGS {
            bail!(
                "tx_packets grew by {sent} while the {case} program answered {PINGS} pings; {here}"
            );
        }
    }
    let xmit = delta(&tx, &redirect, "tx_xdp_xmit")?;
    if xmit < PINGS {
        bail!("tx_xdp_xmit grew by {xmit}: redirected replies did not go through ndo_xdp_xmit; {here}");
    }
    for k in ["rx_xdp_aborted", "rx_xdp_tx_errors", "tx_xdp_xmit_errors"] {
        if redirect.get(k) != Some(&0) {
            bail!("{k} is {:?}, want 0; {here}", redirect.get(k));
        }
    }
    if marker(c, "E2E-PINGS off") != Some(&PINGS.to_string())
        || marker(c, "E2E-PING-ATTACHED") != Some("ok")
    {
        bail!("traffic did not come back after detaching; {here}");
    }
    if marker(c, "E2E-UNLOADED") != Some("0") {
        bail!("compsc_vf still loaded after rmmod with a program attached; {here}");
    }
    if json_field(&model_stats, "bad_accesses") != Some("0") {
        bail!("the model refused guest register accesses: {model_stats}; {here}");
    }
    let trouble = crate::test::kernel_trouble(c);
    if !trouble.is_empty() {
        bail!("kernel trouble: {}; {here}", trouble.join(" | "));
    }
    eprintln!(
        "    XDP: pass {passed} frames, drop {dropped}, tx {}, redirect {} (ndo_xdp_xmit {xmit})",
        delta(&drop, &tx, "rx_xdp_tx")?,
        delta(&tx, &redirect, "rx_xdp_redirect")?
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{received, stats_of};

    #[test]
    fn stats_line_and_ping_summary_parse() {
        let c = "E2E-STATS tx rx_packets=10 rx_xdp_tx=3 Icmp: InMsgs InEchos Icmp: 7 2 \n";
        let m = stats_of(c, "tx").unwrap();
        assert_eq!(m.get("rx_packets"), Some(&10));
        assert_eq!(m.get("rx_xdp_tx"), Some(&3));
        assert_eq!(m.get("Icmp:InEchos"), Some(&2));
        assert!(stats_of(c, "pass").is_none());
        let p = "--- 10.77.0.2 ping statistics ---\n20 packets transmitted, 19 received, 5% packet loss, time 1900ms\n";
        assert_eq!(received(p), Some(19));
        assert_eq!(received("nothing"), None);
    }
}
