//! The freeze, restore and abort plans: ordered steps that the driver executes.
//!
//! The core decides, the driver acts: each plan is a cursor whose `next` returns one
//! [`Step`] at a time, computed from the saved record, the register table and what the
//! destination has answered so far. Nothing is allocated and no step list is materialised,
//! so the plans can run on a kernel stack.
//!
//! * Freeze (doorbell FREEZE, on the source): stop Tx, stop Rx DMA, drain, stop Tx DMA,
//!   collect heads, final counter update, mark DMA-written pages dirty, seal the record. DMA
//!   stops before pages are dirtied, and both before the record is sealed (design.md, "The
//!   migration doorbell").
//! * Restore (doorbell RESTORE, on the destination): mirrors `ixgbevf_reset` +
//!   `ixgbevf_configure` + `ixgbevf_up_complete` (anatomy §7.3), with the source's values.
//! * Abort (doorbell ABORT after FREEZE): resume on the same VF; the PF state and the
//!   register values are intact, only the rings and the Tx stack need restarting.

use super::emul::{Emul, EmulError, RegisterIo};
use super::mac::MacInfo;
use super::mbx::{ApiVersion, MbxError, MsgId, Request};
use super::record::{RingError, RingRebase, RingSnapshot, SavedState, RING_SLOTS};
use super::regs::{dctl, Indexing, Reg};

#[path = "plan/abort.rs"]
mod abort;
#[path = "plan/compat.rs"]
mod compat;
#[path = "plan/config.rs"]
mod config;
#[path = "plan/freeze.rs"]
mod freeze;
#[path = "plan/restore.rs"]
mod restore;

pub use abort::Abort;
pub use compat::{check_compatible, holds_frozen_state, min_api};
pub use freeze::Freeze;
pub use restore::Restore;

/// A ring direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Transmit.
    Tx,
    /// Receive.
    Rx,
}

impl Dir {
    fn indexing(self) -> Indexing {
        match self {
            Dir::Tx => Indexing::TxQueue,
            Dir::Rx => Indexing::RxQueue,
        }
    }

    /// The descriptor control register (ENABLE handshake).
    pub const fn dctl(self) -> Reg {
        match self {
            Dir::Tx => Reg::VFTXDCTL,
            Dir::Rx => Reg::VFRXDCTL,
        }
    }

    /// The head register.
    pub const fn head(self) -> Reg {
        match self {
            Dir::Tx => Reg::VFTDH,
            Dir::Rx => Reg::VFRDH,
        }
    }

    /// The tail register.
    pub const fn tail(self) -> Reg {
        match self {
            Dir::Tx => Reg::VFTDT,
            Dir::Rx => Reg::VFRDT,
        }
    }
}

/// One thing for the driver to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Stop the stack's Tx queues (netif_tx_stop_all_queues).
    StopTxStack,
    /// Restart the stack's Tx queues.
    StartTxStack,
    /// Write `value` (ENABLE clear) to the queue's descriptor control, then poll until
    /// ENABLE reads 0 (main.c:1826-1851: 10 × 10 µs).
    DisableQueue {
        /// Direction.
        dir: Dir,
        /// Register index.
        queue: u8,
        /// Value to write.
        value: u32,
    },
    /// Run NAPI over Rx descriptors already written back (`length != 0`).
    DrainRx,
    /// Read the head register into the record's ring snapshot, then reap completed Tx.
    CollectHead {
        /// Direction.
        dir: Dir,
        /// Register index.
        queue: u8,
    },
    /// Fold the counters one last time (`Counters::update`) into the record.
    UpdateCounters,
    /// Touch every page the VF may have written (Rx buffers, descriptor rings) so the
    /// hypervisor's dirty log has them.
    MarkDirty,
    /// Encode the record and report FROZEN.
    Seal,
    /// Write a register through the self-emulation layer.
    Write {
        /// Register.
        reg: Reg,
        /// Index.
        index: u32,
        /// Value.
        value: u32,
    },
    /// Wait for RSTI low and RSTD consumed (`mbx_vf::ResetWait`).
    WaitResetDone,
    /// Zero the VFMAILBOX read-clear stash: it describes the source's PF.
    ClearMailboxStash,
    /// Run a mailbox exchange (`mbx_vf::Transaction`) and report the result with
    /// [`Restore::mailbox_done`].
    Mailbox(Request),
    /// Rotate the ring in software by `rebase.rotate_by`, write head 0 and tail
    /// `rebase.tail`; drop a partial Rx frame.
    RebaseRing {
        /// Direction.
        dir: Dir,
        /// Register index.
        queue: u8,
        /// The rotation.
        rebase: RingRebase,
    },
    /// Write `value` (ENABLE set) to the descriptor control, then poll until ENABLE reads 1
    /// (main.c:1853-1871: 10 × 1-2 ms).
    EnableQueue {
        /// Direction.
        dir: Dir,
        /// Register index.
        queue: u8,
        /// Value to write.
        value: u32,
    },
    /// Re-baseline the counters on the new VF (`Counters::rebase`).
    RebaseCounters,
    /// Set `get_link_status` and run the link check now.
    RefreshLink,
}

impl Step {
    /// Performs the register part of the step through the self-emulation layer: the write
    /// of [`Step::Write`], the descriptor-control write of [`Step::DisableQueue`] and
    /// [`Step::EnableQueue`] (the ENABLE poll is the driver's), head 0 and the new tail of
    /// [`Step::RebaseRing`] (after the driver rotated the ring in software), and the stash
    /// clearing of [`Step::ClearMailboxStash`]. Other steps have no register part.
    pub fn apply_registers<I: RegisterIo>(&self, emul: &mut Emul<I>) -> Result<(), EmulError> {
        match *self {
            Step::Write { reg, index, value } => emul.write(reg, index, value),
            Step::DisableQueue { dir, queue, value } | Step::EnableQueue { dir, queue, value } => {
                emul.write(dir.dctl(), u32::from(queue), value)
            }
            Step::RebaseRing { dir, queue, rebase } => {
                emul.write(dir.head(), u32::from(queue), 0)?;
                emul.write(dir.tail(), u32::from(queue), u32::from(rebase.tail))
            }
            Step::ClearMailboxStash => {
                emul.log_mut().clear_pending(Reg::VFMAILBOX);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Why a restore is refused before it starts or once the destination answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A Hyper-V VF has no PF mailbox: PF state cannot be replayed.
    NoMailbox,
    /// RSS belongs to the PF on one side and to the VF on the other, and the source spread
    /// traffic over several Rx queues.
    RssOwnerDiffers {
        /// Source MAC.
        src: &'static str,
        /// Destination MAC.
        dst: &'static str,
    },
    /// The source ran promiscuous; the destination PF never grants it (82599).
    PromiscUnsupported {
        /// Destination MAC.
        dst: &'static str,
    },
    /// The source's max frame exceeds what the destination grants at the negotiated API.
    FrameTooLarge {
        /// Source max frame.
        max_frame: u32,
        /// Destination limit.
        limit: u32,
    },
    /// The destination PF grants fewer queues than the source's highest ring index needs.
    /// (The traffic-class layout is not compared yet.)
    QueueLayout {
        /// Tx queues in use on the source.
        tx_in_use: u8,
        /// Rx queues in use on the source.
        rx_in_use: u8,
        /// Tx queues granted.
        max_tx: u8,
        /// Rx queues granted.
        max_rx: u8,
    },
    /// No API version both the destination PF and the saved state accept.
    NoCommonApi {
        /// The lowest version the saved state needs.
        needed: ApiVersion,
    },
}

/// Why a restore stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// Refused by data.
    Refused(Refusal),
    /// A mailbox exchange failed.
    Mailbox {
        /// The request.
        msg: MsgId,
        /// Why.
        err: MbxError,
    },
    /// A ring snapshot is inconsistent with the device's head.
    Ring {
        /// Direction.
        dir: Dir,
        /// Register index.
        queue: u8,
        /// Why.
        err: RingError,
    },
    /// [`Restore::mailbox_done`] was called for a request the plan did not ask for.
    UnexpectedResult,
}

impl From<Refusal> for RestoreError {
    fn from(r: Refusal) -> Self {
        RestoreError::Refused(r)
    }
}

/// The saved ring snapshots of one direction, by register index.
fn rings(saved: &SavedState, dir: Dir) -> &[RingSnapshot; RING_SLOTS] {
    match dir {
        Dir::Tx => &saved.tx,
        Dir::Rx => &saved.rx,
    }
}

/// Rings the source had configured (count > 0) in one direction, as a bit mask.
fn rings_in_use(saved: &SavedState, dir: Dir) -> u8 {
    rings(saved, dir)
        .iter()
        .enumerate()
        .filter(|(_, r)| r.count > 0)
        // RING_SLOTS <= 8 slots, so every bit fits; a slot past bit 7 would add nothing.
        .fold(0u8, |m, (i, _)| {
            let bit = u32::try_from(i).ok().and_then(|i| 1u8.checked_shl(i));
            m | bit.unwrap_or(0)
        })
}

/// The logged descriptor-control configuration without the handshake bits: ENABLE, and for
/// Tx the self-clearing SWFLSH.
fn queue_config(saved: &SavedState, dir: Dir, queue: u8) -> u32 {
    let logged = saved.log.value(dir.dctl(), u32::from(queue)).unwrap_or(0);
    match dir {
        Dir::Tx => logged & !(dctl::ENABLE | dctl::SWFLSH),
        Dir::Rx => logged & !dctl::ENABLE,
    }
}

/// The value of the descriptor control register to re-enable a queue on `dst`: the logged
/// configuration with ENABLE set and, for Rx, RLPML only where the MAC honours it.
fn enable_value(saved: &SavedState, dst: &MacInfo, dir: Dir, queue: u8) -> u32 {
    let mut v = queue_config(saved, dir, queue) | dctl::ENABLE;
    if dir == Dir::Rx {
        v &= !(dctl::RLPML_EN | dctl::RLPML_MASK);
        if dst.rlpml_works {
            if let Some(frame) = saved.pf.max_frame {
                v |= dctl::RLPML_EN | (frame & dctl::RLPML_MASK);
            }
        }
    }
    v
}

/// The last step of a ring: enable it with its configuration, or, for a ring the source
/// had disabled, leave its configuration bits as logged (without ENABLE or SWFLSH).
fn resume_queue(saved: &SavedState, dst: &MacInfo, dir: Dir, queue: u8, enabled: bool) -> Step {
    if enabled {
        Step::EnableQueue {
            dir,
            queue,
            value: enable_value(saved, dst, dir, queue),
        }
    } else {
        Step::Write {
            reg: dir.dctl(),
            index: u32::from(queue),
            value: queue_config(saved, dir, queue),
        }
    }
}

fn disable_value(saved: &SavedState, dir: Dir, queue: u8) -> u32 {
    match dir {
        // configure_tx_ring / ixgbevf_down: SWFLSH alone disables and flushes write-backs.
        Dir::Tx => dctl::SWFLSH,
        Dir::Rx => {
            saved
                .log
                .value(Reg::VFRXDCTL, u32::from(queue))
                .unwrap_or(0)
                & !dctl::ENABLE
        }
    }
}

/// Ring `ring` of the plans' ring walk (Tx slots first, then Rx slots, as
/// `ixgbevf_configure` does): its direction, register index and snapshot. `None` past the
/// last slot.
fn ring_at(saved: &SavedState, ring: usize) -> Option<(Dir, u8, RingSnapshot)> {
    let (dir, slot) = match ring.checked_sub(RING_SLOTS) {
        None => (Dir::Tx, ring),
        Some(slot) => (Dir::Rx, slot),
    };
    let snap = rings(saved, dir).get(slot).copied()?;
    // CAST: slot < RING_SLOTS (4), checked by the `get` above.
    Some((dir, slot as u8, snap))
}

/// Fixtures shared by the plans' tests.
#[cfg(test)]
mod testing {
    use super::super::mac::MacType;
    use super::super::mbx::{MacAddr, McList, Reply, XcastMode};
    use super::*;

    pub(super) const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);

    struct NullIo;
    impl RegisterIo for NullIo {
        fn read32(&self, _: u32) -> u32 {
            0
        }
        fn write32(&self, _: u32, _: u32) {}
    }

    pub(super) fn saved(mac: MacType) -> SavedState {
        let mut s = SavedState::new(mac);
        let pf = &mut s.pf;
        for (req, rep) in [
            (
                Request::Reset,
                Reply::Reset {
                    mac: Some(MAC),
                    mc_filter_type: 0,
                },
            ),
            (Request::ApiNegotiate(ApiVersion::V1_4), Reply::Ack),
            (
                Request::UpdateXcastMode(XcastMode::Multi),
                Reply::XcastMode(XcastMode::Multi),
            ),
            (
                Request::SetMulticast(McList::new(&[5]).unwrap()),
                Reply::Ack,
            ),
            (Request::SetVlan { vid: 7, add: true }, Reply::Ack),
            (Request::SetLpe { max_frame: 1518 }, Reply::Ack),
            (Request::SetMacAddr(MAC), Reply::Ack),
        ] {
            pf.note(&req, &rep).unwrap();
        }
        let mut emul = Emul::new(NullIo, mac.info());
        for (reg, index, value) in [
            (Reg::VTEIAM, 0, 7),
            (Reg::VTEIMS, 0, 7),
            (Reg::VTEITR, 1, 200),
            (Reg::VFTXDCTL, 0, 0x0208_0120),
            (Reg::VFRXDCTL, 1, dctl::VME | dctl::ENABLE),
            (Reg::VFTDBAL, 1, 0x1000),
        ] {
            emul.write(reg, index, value).unwrap();
        }
        s.log = emul.log().clone();
        for q in 0..2 {
            s.tx[q] = RingSnapshot {
                count: 64,
                head: 10,
                next_to_use: 12,
                enabled: true,
            };
            s.rx[q] = RingSnapshot {
                count: 64,
                head: 3,
                next_to_use: 2,
                enabled: true,
            };
        }
        s
    }

    pub(super) fn pos(steps: &[Step], f: impl Fn(&Step) -> bool) -> usize {
        steps.iter().position(f).expect("step missing")
    }
}
