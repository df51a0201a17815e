//! The emulation replay check: random driver accesses through the self-emulation layer
//! on a fake VF, then a swap to a fresh VF and a restore.

use super::super::emul::{Emul, EmulLog};
use super::super::mac::{lookup_pci, MacType, MAC_X550};
use super::super::mbx::ApiVersion;
use super::super::plan::{Restore, Step};
use super::super::record::{RingSnapshot, SavedState, RING_SLOTS};
use super::super::regs::{dctl, vfctrl, Access, Reg, LOGGED_QUEUES, TABLE};
use super::fake::FakeVf;
use super::{ensure, fail, synth_reply, Outcome, SelfTestFailure, XorShift};

/// Ring size used by the replay check.
const RING: u32 = 64;

/// One random driver access.
fn random_access(
    rng: &mut XorShift,
    dev: &FakeVf,
    emul: &mut Emul<&FakeVf>,
    model: &mut u32,
) -> Outcome {
    match rng.below(10) {
        0..=3 => {
            // A read-back or logged plain register.
            let row = TABLE.get(rng.below(TABLE.len() as u64) as usize).copied();
            let Some(row) = row.filter(|r| r.has_log_word() && r.access == Access::ReadWrite)
            else {
                return Ok(());
            };
            let index = rng.below(u64::from(row.logged_count())) as u32;
            let mut value = rng.u32();
            match row.reg {
                Reg::VFRDT | Reg::VFTDT => value %= RING,
                Reg::VFRXDCTL => value &= !(dctl::RLPML_EN | dctl::RLPML_MASK),
                Reg::VFTXDCTL => value &= !dctl::SWFLSH,
                _ => {}
            }
            emul.write(row.reg, index, value)
                .map_err(|_| fail("write refused", row.offset))?;
        }
        4 => emul
            .write(Reg::VTEIMS, 0, rng.u32() & 7)
            .map_err(|_| fail("VTEIMS", 0))?,
        5 => emul
            .write(Reg::VTEIMC, 0, rng.u32() & 7)
            .map_err(|_| fail("VTEIMC", 0))?,
        6 => {
            let bits = rng.u32() & 7;
            dev.raise(bits);
            *model |= bits;
        }
        7 => {
            emul.read(Reg::VTEICR, 0).map_err(|_| fail("VTEICR", 0))?;
            let handled = emul.log_mut().consume(Reg::VTEICR, rng.u32() & 7);
            *model &= !handled;
        }
        8 => {
            // CAST: below 3.
            let bits = 1u32.checked_shl(rng.below(3) as u32).unwrap_or(0);
            // A vector fires only for a cause it has; its handler services the vector, so a
            // cause auto-cleared by VTEIAC counts as delivered.
            if dev.at(0x100) & bits != 0 {
                let eiac = emul.log().value(Reg::VTEIAC, 0).unwrap_or(0);
                *model &= !(bits & eiac);
                dev.fire(bits);
                emul.note_msix(bits);
            }
        }
        _ => {
            if rng.below(8) == 0 {
                emul.write(Reg::VFCTRL, 0, vfctrl::RST)
                    .map_err(|_| fail("VFCTRL", 0))?;
                // Reset clears hardware causes: those the driver had not read are gone on
                // real hardware too; only what was read is owed.
                *model &= emul.log().pending(Reg::VTEICR);
            }
        }
    }
    Ok(())
}

/// Every register the log keeps equals the device: the logged value where the driver wrote
/// one, else the reset value 0. Tails are skipped when `skip_tails` (they are rebased).
pub(super) fn log_matches_device(
    log: &EmulLog,
    dev: &FakeVf,
    seed: u64,
    skip_tails: bool,
) -> Outcome {
    for row in TABLE
        .iter()
        .filter(|r| r.access == Access::ReadWrite || r.access == Access::WriteOneToSet)
    {
        if skip_tails && matches!(row.reg, Reg::VFRDT | Reg::VFTDT) {
            continue;
        }
        for index in 0..row.logged_count() {
            let want = log.value(row.reg, index).unwrap_or(0);
            let off = index
                .checked_mul(row.stride)
                .and_then(|d| row.offset.checked_add(d))
                .ok_or(SelfTestFailure {
                    reason: "offset overflows",
                    a: u64::from(index),
                    b: seed,
                })?;
            ensure(
                dev.at(off) == want,
                "device differs from log",
                u64::from(off),
                seed,
            )?;
        }
    }
    Ok(())
}

/// Random access sequences through the emulation layer, then a swap to a fresh VF and the
/// restore plan: the device ends as before the swap and no read-clear cause is lost.
pub fn emulation_replay() -> Outcome {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let dst = lookup_pci(0x1565, 0).ok_or(fail("no X550 id", 0))?;
    for seed in 0..300u64 {
        let dev = FakeVf::new();
        let mut emul = Emul::new(&dev, &MAC_X550);
        let mut model = 0u32;
        for _ in 0..40 {
            random_access(&mut rng, &dev, &mut emul, &mut model)?;
            let seen = dev.at(0x100) | emul.log().pending(Reg::VTEICR);
            ensure(
                model & !seen == 0,
                "read-clear cause lost",
                seed,
                u64::from(model),
            )?;
        }
        log_matches_device(emul.log(), &dev, seed, false)?;
        let mut saved = SavedState::new(MacType::X550);
        saved.log = emul.log().clone();
        saved.pf.api = ApiVersion::V1_4;
        for q in 0..RING_SLOTS {
            // CAST: q < 4.
            let qi = q as u32;
            for (dir_tx, tail_reg, dctl_reg) in [
                (true, Reg::VFTDT, Reg::VFTXDCTL),
                (false, Reg::VFRDT, Reg::VFRXDCTL),
            ] {
                let snap = RingSnapshot {
                    count: RING as u16,
                    head: rng.below(u64::from(RING)) as u16,
                    next_to_use: saved.log.value(tail_reg, qi).unwrap_or(0) as u16,
                    enabled: saved
                        .log
                        .value(dctl_reg, qi)
                        .is_some_and(|v| v & dctl::ENABLE != 0),
                };
                if let Some(s) = if dir_tx {
                    saved.tx.get_mut(q)
                } else {
                    saved.rx.get_mut(q)
                } {
                    *s = snap;
                }
            }
        }
        dev.swap(&mut rng);
        let mut plan = Restore::new(&saved, dst).map_err(|_| fail("restore refused", 0))?;
        let mut steps = 0u32;
        while let Some(step) = plan
            .next(&saved)
            .map_err(|_| fail("restore failed", steps))?
        {
            // Saturating: the bound below ends the loop long before.
            steps = steps.saturating_add(1);
            ensure(steps < 1000, "restore does not end", seed, 0)?;
            step.apply_registers(&mut emul)
                .map_err(|_| fail("step refused", steps))?;
            if let Step::Mailbox(req) = step {
                let reply = synth_reply(&req);
                plan.mailbox_done(&saved, &req, reply)
                    .map_err(|_| fail("mailbox step", steps))?;
            }
        }
        // Tails are rebased, not restored verbatim; compare everything else.
        for q in 0..LOGGED_QUEUES {
            for (tail_reg, snap) in [
                (Reg::VFTDT, saved.tx.get(q as usize)),
                (Reg::VFRDT, saved.rx.get(q as usize)),
            ] {
                let snap = snap.copied().unwrap_or_default();
                // Ring distance from head to next_to_use; RING divides 2^32, so the wrap
                // is exact.
                let want = u32::from(snap.next_to_use).wrapping_sub(u32::from(snap.head)) % RING;
                let off = tail_reg.offset(q).unwrap_or(0);
                ensure(
                    dev.at(off) == want,
                    "tail not rebased",
                    u64::from(off),
                    seed,
                )?;
            }
        }
        // The seed is only a label in a failure report.
        log_matches_device(&saved.log, &dev, seed.wrapping_add(1000), true)?;
        let seen = dev.at(0x100) | emul.log().pending(Reg::VTEICR);
        ensure(
            model & !seen == 0,
            "cause lost across swap",
            seed,
            u64::from(model),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::super::record::RECORD_BYTES;
    use super::*;

    #[test]
    fn selftests_can_fail() {
        // A device that loses VTEIMC writes must be caught by the replay check's logic.
        let dev = FakeVf::new();
        let mut emul = Emul::new(&dev, &MAC_X550);
        emul.write(Reg::VTEIMS, 0, 7).unwrap();
        dev.cells.iter().for_each(|c| c.set(0));
        assert!(log_matches_device(emul.log(), &dev, 0, false).is_err());
    }

    #[test]
    fn frames_stay_small() {
        use core::mem::size_of;
        let replay = size_of::<FakeVf>()
            + size_of::<Emul<&FakeVf>>()
            + size_of::<SavedState>()
            + size_of::<Restore>();
        let record = size_of::<SavedState>() + RECORD_BYTES;
        println!("selftest frames: replay {replay} B, record {record} B");
        assert!(replay < 2048 && record < 2048, "{replay} {record}");
    }
}
