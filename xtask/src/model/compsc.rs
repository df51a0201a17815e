//! compsc_vf against the model: it binds each VF generation, and survives a hostile PF.

use super::rig::{
    attach_model, boot_with_model, build_model, control_ok, finish_model, json_field, E2E_MAC,
    HOST_IP, RMMOD_UNDER_FLOOD,
};
use super::{clean_run, marker};
use crate::guest::{self, GuestRun, Hook};
use crate::kernel::Kernel;
use anyhow::{bail, Context, Result};
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

/// The guest plan that binds compsc_vf to the model and unbinds it by unloading.
pub const COMPSC_PROBE_PLAN: &str = "\
insmod /modules/compsc_vf.ko
n=0; while ! ls /sys/bus/pci/drivers/compsc_vf | grep -q : && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
echo \"E2E-BOUND $(ls /sys/bus/pci/drivers/compsc_vf | grep :)\"
rmmod compsc_vf
echo \"E2E-UNLOADED $(grep -c compsc_vf /proc/modules)\"
";

/// `cargo xtask test` check: compsc_vf binds the model's 82599 VF, maps BAR0, resets the VF,
/// gets its MAC and an API version over the PF mailbox, prints its probe line, and unbinds
/// cleanly on rmmod, with a clean kernel log and no access the model refused.
pub fn test_compsc_vf_probe(kernel: &Kernel, ko: &Path) -> Result<()> {
    let mut g = GuestRun::new("compsc-probe", COMPSC_PROBE_PLAN);
    g.files
        .push((ko.to_path_buf(), "/modules/compsc_vf.ko".into()));
    let (out, stats) = boot_with_model(kernel, g, &[], &[])?;
    out.check_plan()?;
    let c = &out.console;
    let bound = marker(c, "E2E-BOUND").unwrap_or_default();
    if !bound.starts_with("0000:") {
        bail!(
            "compsc_vf did not bind the model; console {}",
            out.log_path.display()
        );
    }
    // The probe line proves the reset handshake and the PF session ran through the core's
    // mailbox machines against the model's PF: the MAC is the one the model's PF assigns.
    let probe = c
        .lines()
        .find(|l| l.contains("82599 VF [8086:10ed] BAR0"))
        .unwrap_or_default();
    if !probe.contains(&format!("MAC {E2E_MAC}")) || !probe.contains("mailbox API 1.") {
        bail!(
            "compsc_vf's probe line lacks the PF-assigned MAC {E2E_MAC} or the API: `{probe}`; console {}",
            out.log_path.display()
        );
    }
    if !c.contains("82599 VF unbound") {
        bail!(
            "no unbind line from compsc_vf; console {}",
            out.log_path.display()
        );
    }
    if marker(c, "E2E-UNLOADED") != Some("0") {
        bail!(
            "compsc_vf still loaded after rmmod; console {}",
            out.log_path.display()
        );
    }
    clean_run(c, &stats).with_context(|| format!("console {}", out.log_path.display()))?;
    Ok(())
}

/// compsc_vf binds the model presented as each other VF generation (the model keeps the 82599
/// register model; the ids select the core's per-MAC data): the probe line names the MAC type
/// from the core's table and the session comes up, over the mailbox or, for the Hyper-V
/// variants, from config space.
pub fn test_compsc_vf_ids(kernel: &Kernel, ko: &Path) -> Result<()> {
    // (device id, how the probe line names it, how it got its API). The Hyper-V
    // variants read their MAC from config space and stay on API 1.0, with no mailbox.
    for (id, name, api) in [
        ("1515", "X540 VF", "mailbox API 1.7"),
        ("1565", "X550 VF", "mailbox API 1.7"),
        ("15a8", "X550EM_x VF", "mailbox API 1.7"),
        ("15c5", "X550EM_a VF", "mailbox API 1.7"),
        ("57ad", "E610 VF", "mailbox API 1.7"),
        ("152e", "82599 VF (Hyper-V)", "no mailbox, API 1.0"),
        ("1530", "X540 VF (Hyper-V)", "no mailbox, API 1.0"),
        ("1564", "X550 VF (Hyper-V)", "no mailbox, API 1.0"),
        ("15a9", "X550EM_x VF (Hyper-V)", "no mailbox, API 1.0"),
    ] {
        let mut g = GuestRun::new(&format!("compsc-id-{id}"), COMPSC_PROBE_PLAN);
        g.files
            .push((ko.to_path_buf(), "/modules/compsc_vf.ko".into()));
        let (out, stats) = boot_with_model(kernel, g, &["--device-id", id], &[])?;
        out.check_plan()?;
        clean_run(&out.console, &stats)
            .with_context(|| format!("{id}: console {}", out.log_path.display()))?;
        let want = format!("{name} [8086:{id}] BAR0");
        let probe = out
            .console
            .lines()
            .find(|l| l.contains(&want))
            .unwrap_or_default();
        if !probe.contains(&format!("MAC {E2E_MAC}, {api}")) {
            bail!(
                "no `{want} ...: MAC {E2E_MAC}, {api}` probe line; console {}",
                out.log_path.display()
            );
        }
        if marker(&out.console, "E2E-UNLOADED") != Some("0") {
            bail!(
                "compsc_vf still loaded after rmmod; console {}",
                out.log_path.display()
            );
        }
    }
    Ok(())
}

/// One hostile-PF case for compsc_vf's bring-up.
struct FaultCase {
    /// Names the guest log.
    name: &'static str,
    /// The fault, as a control request sent before the guest boots.
    fault: &'static str,
    /// Whether bring-up must still succeed (the core recovers) or fail cleanly.
    recovers: bool,
}

/// The PF misbehaves during compsc_vf's bring-up. A lost message and a ping that overwrites
/// the request are recovered by the core's mailbox machine (resend of an idempotent request);
/// a PF that holds the VF in reset makes the probe fail with a line that says so. In every
/// case: no kernel trouble, the module unloads, the model refused nothing.
pub fn test_compsc_vf_faults(kernel: &Kernel, ko: &Path) -> Result<()> {
    const CASES: [FaultCase; 3] = [
        FaultCase {
            name: "fault-lost-msg",
            fault: r#"{"cmd":"fault","kind":"lose_msgs","count":1}"#,
            recovers: true,
        },
        FaultCase {
            name: "fault-ping-race",
            fault: r#"{"cmd":"fault","kind":"ping_race","count":1}"#,
            recovers: true,
        },
        FaultCase {
            name: "fault-held-reset",
            fault: r#"{"cmd":"fault","kind":"hold_rsti","ms":200}"#,
            recovers: false,
        },
    ];
    for case in CASES {
        let mut g = GuestRun::new(case.name, COMPSC_PROBE_PLAN);
        g.files
            .push((ko.to_path_buf(), "/modules/compsc_vf.ko".into()));
        let (out, stats) = boot_with_model(kernel, g, &[], &[case.fault])?;
        let c = &out.console;
        let here = format!("{}: console {}", case.name, out.log_path.display());
        out.check_plan().with_context(|| here.clone())?;
        let bound = marker(c, "E2E-BOUND")
            .unwrap_or_default()
            .starts_with("0000:");
        let probe_ok = c.lines().any(|l| l.contains(&format!("MAC {E2E_MAC}")));
        if case.recovers && !(bound && probe_ok) {
            bail!("compsc_vf did not recover from the fault; {here}");
        }
        if !case.recovers {
            if bound {
                bail!("compsc_vf bound a VF whose reset never completed; {here}");
            }
            if !c.contains("bring-up failed: VF reset did not complete") {
                bail!("no dmesg line saying the VF reset did not complete; {here}");
            }
        }
        if marker(c, "E2E-UNLOADED") != Some("0") {
            bail!("compsc_vf still loaded after rmmod; {here}");
        }
        // The fault must have fired, or the case proved nothing.
        if json_field(&stats, "faults_fired").is_none_or(|n| n == "0") {
            bail!("the model says the fault never fired ({stats}); {here}");
        }
        clean_run(c, &stats).with_context(|| here.clone())?;
    }
    Ok(())
}

/// The guest's side of the recovery test: traffic, a PF reset, a VF swap (a fresh device, as
/// a destination host presents it, handled here as a reset: no doorbell), each followed by
/// pings until the VF carries traffic again; then rmmod while a ping flood runs.
fn recovery_plan() -> String {
    format!(
        r#"{up}
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-BEFORE ok || echo E2E-PING-BEFORE failed
vconfig add eth0 7 && ip link set eth0.7 up
ip link set eth0 mtu 9500
echo E2E-PF-RESET
n=0; until [ "$(dmesg | grep -c 'VF reset done')" -ge 1 ]; do sleep 0.1; n=$((n+1)); [ $n -ge 100 ] && break; done
echo "E2E-RESET-SEEN-1 $n"
n=0; until ping -c 1 -W 1 {HOST_IP} >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 30 ] && break; done
echo "E2E-BACK-AFTER-RESET $n"
echo E2E-SWAP
n=0; until [ "$(dmesg | grep -c 'VF reset done')" -ge 2 ]; do sleep 0.1; n=$((n+1)); [ $n -ge 100 ] && break; done
echo "E2E-RESET-SEEN-2 $n"
n=0; until ping -c 1 -W 1 {HOST_IP} >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 30 ] && break; done
echo "E2E-BACK-AFTER-SWAP $n"
echo E2E-AFTER-SWAP
{RMMOD_UNDER_FLOOD}"#,
        up = super::ixgbevf::driver_up("compsc_vf")
    )
}

/// `cargo xtask test` check: compsc_vf recovers by itself from a PF reset and from a VF swap
/// (reset, PF session renegotiated, VLAN filter and max frame replayed from the core's
/// record, traffic back), and unloads cleanly with traffic running.
pub fn test_compsc_vf_recovery(kernel: &Kernel, ko: &Path) -> Result<()> {
    let (mut rig, m, mut g) = super::rig::compsc_guest(
        ko,
        "rcv",
        "compsc-recovery",
        recovery_plan(),
        Duration::from_secs(300),
    )?;
    let after_swap = Rc::new(RefCell::new(String::new()));
    for (mark, cmd) in [
        ("E2E-PF-RESET", r#"{"cmd":"pf_reset","ms":20}"#),
        ("E2E-SWAP", r#"{"cmd":"swap"}"#),
        ("E2E-AFTER-SWAP", r#"{"cmd":"stats"}"#),
    ] {
        let (ctl, snap) = (m.ctl.clone(), after_swap.clone());
        g.hooks.push(Hook::new(mark, move || {
            let reply = control_ok(&ctl, cmd)?;
            if cmd.contains("stats") {
                *snap.borrow_mut() = reply;
            }
            Ok(())
        }));
    }
    let (out, stats, here) = super::rig::boot_checked(kernel, g, &mut rig, &m)?;
    let c = &out.console;
    for (what, key, line) in [
        (
            "PF reset",
            "E2E-BACK-AFTER-RESET",
            "the PF reset or withdrew clear-to-send",
        ),
        ("VF swap", "E2E-BACK-AFTER-SWAP", "VF reset done (reset 2,"),
    ] {
        let n: u32 = marker(c, key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(u32::MAX);
        if n >= 30 {
            bail!("no traffic within 30 s after the {what}; {here}");
        }
        if !c.contains(line) {
            bail!("no `{line}` line for the {what}; {here}");
        }
    }
    // What the guest configured survived the swap: the destination PF was told again.
    let snap = after_swap.borrow();
    if json_field(&snap, "vlans").is_none_or(|v| !v.contains('7')) {
        bail!("VLAN 7 was not replayed to the fresh PF: {snap}; {here}");
    }
    if json_field(&snap, "max_frame") != Some("9518") {
        bail!("the max frame for MTU 9500 was not replayed: {snap}; {here}");
    }
    if marker(c, "E2E-UNLOADED") != Some("0") {
        bail!("compsc_vf still loaded after rmmod under traffic; {here}");
    }
    clean_run(c, &stats).with_context(|| here.clone())?;
    Ok(())
}

/// The PF runs a 1500-byte MTU, so it refuses jumbo frames to an API 1.1+ VF and stops that
/// VF's Rx (`ixgbe_set_vf_lpe`). Both drivers must refuse `ip link set mtu 9000` and keep
/// MTU 1500. compsc_vf says why in dmesg and keeps receiving (it asks for the old size
/// again); the in-tree ixgbevf is the model's oracle here: it stops receiving, as on real
/// hardware, which proves the model's PF shuts Rx off.
pub fn test_mtu_refused(kernel: &Kernel, drv: &super::VfDriver) -> Result<()> {
    let plan = format!(
        r#"{up}
ping -c 2 -W 3 {HOST_IP} >/dev/null && echo E2E-PING-BEFORE ok || echo E2E-PING-BEFORE failed
ip link set eth0 mtu 9000 && echo E2E-MTU-SET accepted || echo E2E-MTU-SET refused
echo "E2E-MTU-NOW $(cat /sys/class/net/eth0/mtu)"
n=0; until ping -c 1 -W 1 {HOST_IP} >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 5 ] && break; done
ping -c 3 -i 0.2 -W 2 {HOST_IP} >/dev/null && echo E2E-PING-AFTER ok || echo E2E-PING-AFTER failed
"#,
        up = super::ixgbevf::driver_up(drv.name)
    );
    let qemu = super::chroot::qemu_command()?;
    let (model_bin, _) = build_model()?;
    let run = format!("{}-mtu-refused", drv.name.replace('_', "-"));
    let (mut rig, m) = super::rig::networked_model_pf_mtu(&model_bin, "mtu", &run, 1500)?;
    let mut g = GuestRun::new(&run, plan);
    g.files
        .push((drv.ko.clone(), format!("/modules/{}.ko", drv.name)));
    g.qemu = qemu;
    attach_model(&mut g, &m.sock)?;
    let out = guest::boot(kernel, &mut g)?;
    let (stats, here) = finish_model(&mut rig, &m, &out);
    let c = &out.console;
    out.check_plan().with_context(|| here.clone())?;
    if marker(c, "E2E-PING-BEFORE") != Some("ok") {
        bail!("no traffic at MTU 1500; {here}");
    }
    if marker(c, "E2E-MTU-SET") != Some("refused") || marker(c, "E2E-MTU-NOW") != Some("1500") {
        bail!(
            "MTU 9000 was {:?} with the PF refusing it, MTU now {:?}; {here}",
            marker(c, "E2E-MTU-SET"),
            marker(c, "E2E-MTU-NOW")
        );
    }
    // The model's PF logged its refusal as the Linux PF does.
    let model_log = std::fs::read_to_string(&m.log).unwrap_or_default();
    if !model_log.contains("VF max_frame 9018 out of range") {
        bail!("the model's PF did not log refusing max frame 9018; {here}");
    }
    let still_receives = marker(c, "E2E-PING-AFTER") == Some("ok");
    if drv.name == "compsc_vf" {
        if !still_receives {
            bail!("compsc_vf stopped receiving after the PF refused MTU 9000; {here}");
        }
        if !c.contains("the PF refused max frame 9018 for MTU 9000") {
            bail!("no dmesg line saying the PF refused MTU 9000; {here}");
        }
        clean_run(c, &stats).with_context(|| here.clone())?;
    } else if still_receives {
        bail!(
            "{} still receives after the refusal: the model's PF did not shut its Rx off as an 82599 PF does; {here}",
            drv.name
        );
    }
    Ok(())
}
