// SPDX-License-Identifier: GPL-2.0

//! The migration doorbell (docs/doorbell.md): finding the hypervisor's capability, reading
//! its commands, carrying them out and writing the status back.
//!
//! The decisions are rust/core's (`doorbell::Doorbell` says what a command means in the
//! current phase; the record and its checks are `record::SavedState`); this file does the
//! config-space I/O and runs the steps, timing each one for the dmesg timeline.

use super::{Adapter, Control};
use crate::compsc_core::doorbell::{self, off, Action, Doorbell, Found, Phase, Reason};
use crate::compsc_core::mac::PciId;
use crate::compsc_core::plan::check_compatible;
use crate::compsc_core::record::{RingSnapshot, SavedState, RECORD_BYTES};
use crate::fmt::Api;
use crate::shim;
use kernel::device::Bound;
use kernel::io::Io;
use kernel::pci;
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Relaxed, Release};
use kernel::time::{ClockSource, Monotonic};

/// How often the service task reads the doorbell while frozen (on a destination, MSI-X is
/// not live until the PCI state is restored, so the ring is polled).
pub(super) const FROZEN_POLL_MS: u32 = 2;
/// How long FREEZE waits for Tx frames in flight to complete.
const TX_DRAIN_US: i64 = 20_000;

/// The doorbell capability found at probe, the guest's side of its protocol and the saved
/// record's buffer (guest memory that migrates with the VM).
pub(crate) struct Bell {
    at: u8,
    state: Doorbell,
    record: KBox<[u8; RECORD_BYTES]>,
    saved: KBox<SavedState>,
}

/// Microseconds since `start` (monotonic ns), saturating.
fn us_since(start: i64) -> u32 {
    u32::try_from(Monotonic::ktime_get().wrapping_sub(start) / 1000).unwrap_or(u32::MAX)
}

impl Bell {
    /// Walks `pdev`'s capability list for the doorbell; `None` (with a dmesg line) when the
    /// hypervisor offers none or one this driver does not speak.
    pub(super) fn find(pdev: &pci::Device<Bound>, id: &PciId) -> Result<Option<Bell>> {
        let cfg = pdev.config_space();
        let found = doorbell::locate(
            |o| cfg.try_read8(usize::from(o)).ok(),
            |o| cfg.try_read32(usize::from(o)).ok(),
        );
        match found {
            Found::Doorbell { at } => {
                let saved = KBox::new(SavedState::new(id.info.mac), GFP_KERNEL)?;
                let bell = Bell {
                    at,
                    state: Doorbell::default(),
                    record: KBox::new([0u8; RECORD_BYTES], GFP_KERNEL)?,
                    saved,
                };
                bell.publish(pdev);
                dev_info!(
                    pdev,
                    "migration doorbell v{} at config {:#x}; saved record {} bytes\n",
                    doorbell::VERSION,
                    at,
                    RECORD_BYTES
                );
                return Ok(Some(bell));
            }
            Found::Unsupported { at, version, len } => {
                dev_warn!(
                    pdev,
                    "migration doorbell at {:#x} has version {} length {}; this driver speaks version {}: live migration disabled\n",
                    at,
                    version,
                    len,
                    doorbell::VERSION
                );
                return Ok(None);
            }
            Found::Nothing => {}
        }
        dev_info!(
            pdev,
            "no migration doorbell in config space: the hypervisor cannot live-migrate this VF (docs/doorbell.md)\n"
        );
        Ok(None)
    }

    /// Tells the hypervisor where the saved record lives: at probe, and again on every
    /// destination VF, whose capability starts blank.
    fn publish(&self, pdev: &pci::Device<Bound>) {
        let gpa = shim::virt_to_phys(self.record.as_ptr());
        // CAST: the low and high halves of a 64-bit guest-physical address.
        self.write(pdev, off::RECORD_LO, gpa as u32);
        self.write(pdev, off::RECORD_HI, (gpa >> 32) as u32);
        self.write(pdev, off::RECORD_LEN, RECORD_BYTES as u32);
    }

    /// FREEZE was carried out and neither RESTORE nor ABORT yet: nothing may touch the VF.
    pub(super) fn frozen(&self) -> bool {
        self.state.phase() == Phase::Frozen
    }

    fn read(&self, pdev: &pci::Device<Bound>, field: u8) -> u32 {
        let at = usize::from(self.at) + usize::from(field);
        pdev.config_space().try_read32(at).unwrap_or(u32::MAX)
    }

    fn write(&self, pdev: &pci::Device<Bound>, field: u8, v: u32) {
        let at = usize::from(self.at) + usize::from(field);
        let _ = pdev.config_space().try_write32(v, at);
    }

    /// Publishes the answer to `seq`: status block first, the acknowledged sequence number
    /// last, so a hypervisor that sees the new `ACK_SEQ` reads a complete status.
    fn answer(
        &self,
        pdev: &pci::Device<Bound>,
        seq: u32,
        action: Action,
        outcome: Result<(), Reason>,
        us: u32,
    ) {
        let (status, reason) = self.state.status(action, outcome);
        self.write(pdev, off::REASON, reason as u32);
        self.write(pdev, off::ELAPSED_US, us);
        self.write(pdev, off::STATUS, status as u32);
        self.write(pdev, off::ACK_SEQ, seq);
    }
}

impl Adapter<'_> {
    /// Reads the doorbell and carries out a new command. Returns true while the VF is frozen
    /// (the service task then only polls the doorbell).
    pub(super) fn doorbell(&self) -> bool {
        let mut ctl = self.ctl.lock();
        let Some(bell) = ctl.bell.as_mut() else {
            return false;
        };
        let raw = bell.read(self.pdev, off::DOORBELL);
        let (command, seq) = doorbell::split(raw);
        let action = if raw == u32::MAX || raw == 0 {
            // All ones: config space does not answer (a VF being moved). Zero: the
            // capability's reset value, nothing rung yet (a destination before RESTORE).
            Action::None
        } else {
            bell.state.decide(command, seq)
        };
        let frozen = bell.state.phase() == Phase::Frozen;
        if action == Action::None {
            return frozen;
        }
        let start = Monotonic::ktime_get();
        let outcome: Result<(), Reason> = match action {
            Action::None | Action::Nop => {
                dev_info!(
                    self.dev,
                    "doorbell: NONE seq {} (command {:#x})\n",
                    seq,
                    command
                );
                Ok(())
            }
            Action::Refuse(reason) => {
                dev_warn!(
                    self.dev,
                    "doorbell: command {:#x} seq {} refused: {:?}\n",
                    command,
                    seq,
                    reason
                );
                Err(reason)
            }
            Action::Prepare => {
                self.dirtying.store(true, Release);
                dev_info!(
                    self.dev,
                    "doorbell PREPARE seq {}: Rx pages now dirtied after DMA\n",
                    seq
                );
                Ok(())
            }
            Action::Freeze => {
                drop(ctl);
                self.freeze(seq);
                ctl = self.ctl.lock();
                Ok(())
            }
            Action::Restore => {
                drop(ctl);
                let r = self.restore(seq);
                ctl = self.ctl.lock();
                r
            }
            Action::Abort => {
                drop(ctl);
                let r = self.abort(seq);
                ctl = self.ctl.lock();
                r
            }
        };
        let us = us_since(start);
        let Some(bell) = ctl.bell.as_mut() else {
            return false;
        };
        bell.state.done(action, outcome.is_ok());
        bell.answer(self.pdev, seq, action, outcome, us);
        bell.state.phase() == Phase::Frozen
    }

    /// FREEZE: stop the stack's Tx, let frames in flight complete, stop VF DMA, take the
    /// data path down, save the record. The vCPUs may stop once FROZEN is published.
    fn freeze(&self, seq: u32) {
        let _rtnl = shim::Rtnl::lock();
        let t0 = Monotonic::ktime_get();
        self.dirtying.store(true, Release);
        // Absent while frozen: the stack queues what it sends, and the Tx watchdog does not
        // take a long freeze for a hung queue.
        self.netdev.detach();
        self.netdev.tx_disable_all();
        // Frames already on the ring are sent: wait (bounded) for their completions.
        let mut drained = false;
        while Monotonic::ktime_get().wrapping_sub(t0) / 1000 < TX_DRAIN_US {
            // SAFETY: only the Tx indices are read (atomics); the rings stay installed
            // until `stop` below, which this thread runs.
            let pending = self
                .queues()
                .any(|(_, qv)| unsafe { qv.rings() }.is_some_and(|r| r.tx.progress().1));
            if !pending {
                drained = true;
                break;
            }
            kernel::time::delay::fsleep(kernel::time::Delta::from_micros(200));
        }
        let t_tx = us_since(t0);
        // Stop Rx DMA, then let NAPI take what already arrived before the rings go.
        {
            let mut ctl = self.ctl.lock();
            for (q, _) in self.queues() {
                let _ = ctl
                    .emul
                    .write(crate::compsc_core::regs::Reg::VFRXDCTL, q, 0);
            }
        }
        for (_, qv) in self.queues() {
            qv.napi.schedule();
        }
        kernel::time::delay::fsleep(kernel::time::Delta::from_micros(1000));
        self.stop_data_path(false);
        let t_dma = us_since(t0);
        let mut ctl = self.ctl.lock();
        let rings = Rings {
            pairs: self.queue_pairs(),
            tx: self.tx_count.load(Relaxed),
            rx: self.rx_count.load(Relaxed),
        };
        let n = save(&mut ctl, seq, rings);
        let t_all = us_since(t0);
        self.freezes
            .store(self.freezes.load(Relaxed).wrapping_add(1), Relaxed);
        dev_info!(
            self.dev,
            "{}: doorbell FREEZE seq {}: frozen in {} us (Tx drained {} in {} us, DMA stopped at {} us), record {} bytes\n",
            self.name(),
            seq,
            t_all,
            if drained { "fully" } else { "partly" },
            t_tx,
            t_dma,
            n
        );
    }

    /// RESTORE, on the destination VF: restore the PCI state the destination may have
    /// reset, check the record, reset the VF, open a PF session, replay what the PF held,
    /// bring the data path back.
    fn restore(&self, seq: u32) -> Result<(), Reason> {
        let _rtnl = shim::Rtnl::lock();
        let t0 = Monotonic::ktime_get();
        shim::pci_restore_state(self.pdev);
        let t_pci = us_since(t0);
        // The VF behind the BAR now may be another model than the one probed: its identity
        // comes from config space, not from what the PCI core cached at probe.
        let cfg = self.pdev.config_space();
        let device = cfg.try_read16(0x02).unwrap_or(0xFFFF);
        let subdevice = cfg.try_read16(0x2E).unwrap_or(0xFFFF);
        let Some(dst) = crate::compsc_core::mac::lookup_pci(device, subdevice) else {
            dev_err!(
                self.dev,
                "doorbell RESTORE seq {}: the destination VF [8086:{:04x}] is not one this driver supports\n",
                seq,
                device
            );
            return Err(Reason::Incompatible);
        };
        let mut ctl = self.ctl.lock();
        {
            let Some(bell) = ctl.bell.as_mut() else {
                return Err(Reason::BadState);
            };
            // This VF's capability does not know the record yet: the next migration needs it.
            bell.publish(self.pdev);
            match bell.saved.decode_into(&bell.record[..]) {
                Err(e) => {
                    dev_err!(self.dev, "doorbell RESTORE seq {}: saved record refused: {:?}\n", seq, e);
                    return Err(Reason::BadRecord);
                }
                Ok(()) => check_compatible(&bell.saved, dst).map_err(|e| {
                    dev_err!(self.dev, "doorbell RESTORE seq {}: the destination {} VF cannot take the record: {:?}\n", seq, dst.info.name, e);
                    Reason::Incompatible
                })?,
            }
        }
        if dst.info.mac != ctl.emul.mac().mac {
            dev_info!(
                self.dev,
                "doorbell RESTORE seq {}: the destination is a {} VF (was {})\n",
                seq,
                dst.info.name,
                ctl.emul.mac().name
            );
            ctl.emul.set_mac(dst.info);
        }
        let (pf, hw) = match ctl.bell.as_ref() {
            Some(b) => (b.saved.pf, b.saved.counters),
            None => return Err(Reason::BadState),
        };
        // The counters continue from the source's values (rebuild rebases them on this VF).
        ctl.hw = hw;
        let replayed = self.rebuild(&mut ctl, &pf).map_err(|e| {
            dev_err!(
                self.dev,
                "doorbell RESTORE seq {}: VF reset failed: {}\n",
                seq,
                e
            );
            Reason::DeviceFailed
        })?;
        let api = ctl.pf.api;
        drop(ctl);
        let t_vf = us_since(t0);
        let up = self.admin_up.load(Acquire);
        if up {
            self.open().map_err(|e| {
                dev_err!(
                    self.dev,
                    "doorbell RESTORE seq {}: the data path did not come up: {:?}\n",
                    seq,
                    e
                );
                Reason::DeviceFailed
            })?;
        }
        self.netdev.attach();
        if up {
            // Switches learn the VM's new port from its own announcement.
            self.netdev.notify_peers();
        }
        self.dirtying.store(false, Relaxed);
        let t_all = us_since(t0);
        self.restores
            .store(self.restores.load(Relaxed).wrapping_add(1), Relaxed);
        // The saved state is re-recorded on this VF for the next migration.
        shim::pci_save_state(self.pdev);
        dev_info!(
            self.dev,
            "{}: doorbell RESTORE seq {}: restored in {} us (PCI state {} us, VF reset + PF session API {} + {} requests replayed {} us, data path {} us)\n",
            self.name(),
            seq,
            t_all,
            t_pci,
            Api(api),
            replayed,
            t_vf.saturating_sub(t_pci),
            t_all.saturating_sub(t_vf)
        );
        Ok(())
    }

    /// ABORT: the migration failed; resume on the same VF, whose registers and PF state are
    /// as the freeze left them.
    fn abort(&self, seq: u32) -> Result<(), Reason> {
        let _rtnl = shim::Rtnl::lock();
        // ABORT resumes without a reset, which is right only on the VF FREEZE stopped.
        let same = {
            let mut ctl = self.ctl.lock();
            crate::compsc_core::plan::holds_frozen_state(&mut ctl.emul)
        };
        if same != Ok(true) {
            dev_err!(
                self.dev,
                "{}: doorbell ABORT seq {} refused: the VF does not hold the state FREEZE left ({}); still frozen, RESTORE is the command for this VF\n",
                self.name(),
                seq,
                if same.is_err() { "it does not answer" } else { "it was reset, or this is a destination VF" }
            );
            return Err(Reason::NotSameVf);
        }
        self.dirtying.store(false, Relaxed);
        if self.admin_up.load(Acquire) && !self.up.load(Acquire) {
            self.open().map_err(|e| {
                dev_err!(
                    self.dev,
                    "{}: doorbell ABORT seq {}: the data path did not come up: {:?}\n",
                    self.name(),
                    seq,
                    e
                );
                Reason::DeviceFailed
            })?;
        }
        self.netdev.attach();
        dev_info!(
            self.dev,
            "{}: doorbell ABORT seq {}: running on the same VF\n",
            self.name(),
            seq
        );
        Ok(())
    }
}

/// The rings in use at FREEZE: queue pairs and descriptors per ring.
struct Rings {
    pairs: u32,
    tx: u32,
    rx: u32,
}

/// Fills and encodes the saved record (self-emulation log, PF state, the rings in use) into
/// the migrating buffer; returns its size. The rings are rebuilt from scratch on RESTORE, so
/// only their number and size go in (for the destination's compatibility check: a VF that
/// keeps RSS to itself cannot spread Rx over more than one ring the way the PF did).
fn save(ctl: &mut Control<'_>, seq: u32, rings: Rings) -> usize {
    // The counters' last values go with the record; the destination rebases on its VF. A
    // VF that cannot be read now leaves them as last folded in.
    let _ = ctl.update_counters(false);
    let log = ctl.emul.log().clone();
    let pf = ctl.pf;
    let hw = ctl.hw;
    let Some(bell) = ctl.bell.as_mut() else {
        return 0;
    };
    bell.saved.seq = seq;
    let saved = &mut *bell.saved;
    // A bounded range, not `enumerate` (whose counter carries an overflow check).
    for ((tx, rx), q) in saved
        .tx
        .iter_mut()
        .zip(saved.rx.iter_mut())
        .zip(0..u32::MAX)
    {
        let used = q < rings.pairs;
        let size = |n: u32| {
            if used {
                u16::try_from(n).unwrap_or(0)
            } else {
                0
            }
        };
        *tx = RingSnapshot {
            count: size(rings.tx),
            enabled: used,
            ..RingSnapshot::default()
        };
        *rx = RingSnapshot {
            count: size(rings.rx),
            enabled: used,
            ..RingSnapshot::default()
        };
    }
    bell.saved.log = log;
    bell.saved.pf = pf;
    bell.saved.counters = hw;
    bell.saved.encode(&mut bell.record);
    RECORD_BYTES
}
