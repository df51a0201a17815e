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
use super::mac::{MacInfo, PciId};
use super::mbx::{ApiVersion, MbxError, MsgId, Reply, Request, XcastMode};
use super::record::{RingError, RingRebase, RingSnapshot, SavedState, RING_SLOTS};
use super::regs::{self, dctl, vfctrl, Access, Class, Indexing, Reg, VTEICR_VECTOR_BITS};

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

/// The lowest API the saved state can live with on `dst`.
pub fn min_api(saved: &SavedState, dst: &MacInfo) -> ApiVersion {
    let mut need = ApiVersion::V1_0;
    let mut raise = |v: ApiVersion| need = need.max(v);
    match saved.pf.xcast {
        Some(XcastMode::Promisc) => raise(ApiVersion::V1_3),
        Some(_) => raise(ApiVersion::V1_2),
        None => {}
    }
    if rings_in_use(saved, Dir::Rx).count_ones() > 1
        || rings_in_use(saved, Dir::Tx).count_ones() > 1
    {
        raise(ApiVersion::V1_1);
    }
    if saved.pf.max_frame.is_some_and(|f| f > dst.max_frame_api10) {
        raise(ApiVersion::V1_1);
    }
    need
}

/// Checks, from data alone, whether the saved state can live on `dst`.
pub fn check_compatible(saved: &SavedState, dst: &PciId) -> Result<(), Refusal> {
    if dst.hyperv {
        return Err(Refusal::NoMailbox);
    }
    let src = saved.mac.info();
    let dst = dst.info;
    if src.rss_owner != dst.rss_owner && rings_in_use(saved, Dir::Rx).count_ones() > 1 {
        return Err(Refusal::RssOwnerDiffers {
            src: src.name,
            dst: dst.name,
        });
    }
    if saved.pf.xcast == Some(XcastMode::Promisc) && !dst.promisc_allowed {
        return Err(Refusal::PromiscUnsupported { dst: dst.name });
    }
    if let Some(f) = saved.pf.max_frame {
        let limit = dst.max_frame(ApiVersion::V1_7);
        if f > limit {
            return Err(Refusal::FrameTooLarge {
                max_frame: f,
                limit,
            });
        }
    }
    Ok(())
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

/// True when a row's logged value is written back by the generic configuration stages:
/// read-back or logged rows with a plain value, except the enable handshakes, the tails
/// (rebased) and the interrupt mask and causes (written last).
fn is_plain_config(desc: &regs::RegDesc) -> bool {
    matches!(desc.class, Class::ReadBack | Class::Logged)
        && matches!(desc.access, Access::ReadWrite | Access::WriteOnly)
        && !matches!(
            desc.reg,
            Reg::VFTXDCTL | Reg::VFRXDCTL | Reg::VFTDT | Reg::VFRDT
        )
}

/// True for the MSI-X routing and moderation rows that ixgbevf programs only once the
/// rings run (`ixgbevf_configure_msix` and `ixgbevf_irq_enable` in `ixgbevf_up_complete`,
/// anatomy §4c step 6 and §7.3 step 8), after every ring is enabled.
fn is_interrupt_config(reg: Reg) -> bool {
    matches!(
        reg,
        Reg::VTIVAR | Reg::VTIVAR_MISC | Reg::VTEITR | Reg::VTEIAM | Reg::VTEIAC
    )
}

/// Which configuration rows a configuration stage writes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConfigRows {
    /// Per-VF rows written before the rings (VFPSRTYPE, the X550 RSS registers), as
    /// `ixgbevf_configure_rx` does before `ixgbevf_configure_rx_ring`.
    Device,
    /// The interrupt routing rows, written after the rings ([`is_interrupt_config`]).
    Interrupt,
    /// The rows of one ring.
    Queue(Dir),
}

impl ConfigRows {
    fn contains(self, desc: &regs::RegDesc) -> bool {
        let indexing = match self {
            ConfigRows::Device | ConfigRows::Interrupt => Indexing::Plain,
            ConfigRows::Queue(dir) => dir.indexing(),
        };
        desc.indexing == indexing
            && is_plain_config(desc)
            && match self {
                ConfigRows::Device => !is_interrupt_config(desc.reg),
                ConfigRows::Interrupt => is_interrupt_config(desc.reg),
                ConfigRows::Queue(_) => true,
            }
    }
}

/// The next configuration write of `rows` at or after `(row, index)`, restricted to
/// `queue` for queue rows: the logged value, or 0 for a reset-surviving register the driver
/// never wrote (a fresh VF may hold a previous tenant's value there, anatomy §1i).
fn next_config_write(
    saved: &SavedState,
    dst: &MacInfo,
    rows: ConfigRows,
    queue: u8,
    cursor: &mut (usize, u32),
) -> Option<Step> {
    let per_queue = matches!(rows, ConfigRows::Queue(_));
    while let Some(desc) = regs::TABLE.get(cursor.0) {
        let here = *cursor;
        cursor.1 = cursor.1.saturating_add(1);
        let count = if per_queue { 1 } else { desc.logged_count() };
        if cursor.1 >= count {
            *cursor = (cursor.0.saturating_add(1), 0);
        }
        if !rows.contains(desc) || !dst.implements(desc.presence) || here.1 >= count {
            continue;
        }
        let index = if per_queue { u32::from(queue) } else { here.1 };
        let value = match saved.log.value(desc.reg, index) {
            Some(v) => v,
            None if desc.survives_reset => 0,
            None => continue,
        };
        return Some(Step::Write {
            reg: desc.reg,
            index,
            value,
        });
    }
    None
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Quiesce,
    Session,
    Api,
    Negotiated,
    PfReplay,
    DeviceConfig,
    Rings,
    InterruptConfig,
    Finish,
    Done,
}

/// The restore plan (doorbell RESTORE on the destination VF).
///
/// Stages, in order: quiesce (mask, disable queues), VF reset and wait, clear the mailbox
/// stash, VF_RESET, API negotiation (the source's version first, then older ones down to
/// what the saved state needs), features and queue layout, PF state replay, per-VF register
/// configuration (VFPSRTYPE, RSS), rings (Tx then Rx: disable, configuration, rebase,
/// enable), interrupt routing (VTIVAR, VTEITR, VTEIAM, VTEIAC), interrupt mask, MAC, link
/// state, counters, link refresh, interrupt kick: anatomy §7.3 in order.
#[derive(Clone, Debug)]
pub struct Restore {
    dst: &'static MacInfo,
    stage: Stage,
    /// Position within the stage.
    i: usize,
    /// Table cursor for configuration rows.
    cursor: (usize, u32),
    /// Ring being rebuilt: Tx slots first, then Rx slots.
    ring: usize,
    /// Phase within the ring: 0 disable, 1 configuration, 2 rebase, 3 enable.
    phase: u8,
    api: Option<ApiVersion>,
    /// Index into `ApiVersion::NEGOTIATION_ORDER` of the version to try next.
    api_try: usize,
    awaiting: Option<Request>,
}

impl Restore {
    /// Plans a restore of `saved` onto the VF `dst`, or refuses from data.
    pub fn new(saved: &SavedState, dst: &PciId) -> Result<Restore, Refusal> {
        check_compatible(saved, dst)?;
        let api_try = ApiVersion::NEGOTIATION_ORDER
            .iter()
            .position(|v| *v <= saved.pf.api)
            .unwrap_or(0);
        Ok(Restore {
            dst: dst.info,
            stage: Stage::Quiesce,
            i: 0,
            cursor: (0, 0),
            ring: 0,
            phase: 0,
            api: None,
            api_try,
            awaiting: None,
        })
    }

    /// The negotiated API, once known.
    pub fn api(&self) -> Option<ApiVersion> {
        self.api
    }

    /// The destination's MAC facts.
    pub fn dst(&self) -> &'static MacInfo {
        self.dst
    }

    /// The next step, `Ok(None)` when done. A [`Step::Mailbox`] must be answered with
    /// [`Restore::mailbox_done`] before calling this again.
    pub fn next(&mut self, saved: &SavedState) -> Result<Option<Step>, RestoreError> {
        if self.awaiting.is_some() {
            return Err(RestoreError::UnexpectedResult);
        }
        loop {
            let i = self.i;
            // A bounded cursor: every stage ends after a few dozen steps.
            self.i = self.i.saturating_add(1);
            let api = self.api.unwrap_or(ApiVersion::V1_0);
            let step = match self.stage {
                Stage::Quiesce => quiesce_step(i),
                Stage::Session => [
                    Some(Step::Write {
                        reg: Reg::VFCTRL,
                        index: 0,
                        value: vfctrl::RST,
                    }),
                    Some(Step::WaitResetDone),
                    Some(Step::ClearMailboxStash),
                    Some(Step::Mailbox(Request::Reset)),
                ]
                .into_iter()
                .flatten()
                .nth(i),
                Stage::Api => match self.api {
                    Some(_) => None,
                    None => {
                        let needed = min_api(saved, self.dst);
                        match ApiVersion::NEGOTIATION_ORDER.get(self.api_try) {
                            Some(v) if *v >= needed => {
                                Some(Step::Mailbox(Request::ApiNegotiate(*v)))
                            }
                            _ => return Err(Refusal::NoCommonApi { needed }.into()),
                        }
                    }
                },
                Stage::Negotiated => [
                    api.has_features_negotiate()
                        .then_some(Step::Mailbox(Request::FeaturesNegotiate(saved.pf.features))),
                    api.has_get_queues()
                        .then_some(Step::Mailbox(Request::GetQueues)),
                ]
                .into_iter()
                .flatten()
                .nth(i),
                Stage::PfReplay => {
                    let limit = self.dst.max_frame(api);
                    if let Some(f) = saved.pf.max_frame.filter(|f| *f > limit) {
                        return Err(Refusal::FrameTooLarge {
                            max_frame: f,
                            limit,
                        }
                        .into());
                    }
                    saved.pf.replay().nth(i).map(Step::Mailbox)
                }
                Stage::DeviceConfig => {
                    next_config_write(saved, self.dst, ConfigRows::Device, 0, &mut self.cursor)
                }
                Stage::Rings => self.ring_step(saved)?,
                Stage::InterruptConfig => {
                    next_config_write(saved, self.dst, ConfigRows::Interrupt, 0, &mut self.cursor)
                }
                Stage::Finish => finish_steps(saved, self.dst, api)
                    .into_iter()
                    .flatten()
                    .nth(i),
                Stage::Done => return Ok(None),
            };
            match step {
                Some(s) => {
                    if let Step::Mailbox(r) = s {
                        self.awaiting = Some(r);
                    }
                    return Ok(Some(s));
                }
                None => {
                    self.stage = match self.stage {
                        Stage::Quiesce => Stage::Session,
                        Stage::Session => Stage::Api,
                        Stage::Api => Stage::Negotiated,
                        Stage::Negotiated => Stage::PfReplay,
                        Stage::PfReplay => Stage::DeviceConfig,
                        Stage::DeviceConfig => Stage::Rings,
                        Stage::Rings => Stage::InterruptConfig,
                        Stage::InterruptConfig => Stage::Finish,
                        Stage::Finish | Stage::Done => Stage::Done,
                    };
                    self.i = 0;
                    self.cursor = (0, 0);
                }
            }
        }
    }

    /// Reports the outcome of the last [`Step::Mailbox`]. The driver also records a success
    /// in its live `PfState` with `PfState::note`.
    pub fn mailbox_done(
        &mut self,
        saved: &SavedState,
        request: &Request,
        result: Result<Reply, MbxError>,
    ) -> Result<(), RestoreError> {
        if self.awaiting.take() != Some(*request) {
            return Err(RestoreError::UnexpectedResult);
        }
        let msg = request.id();
        match (*request, result) {
            (Request::ApiNegotiate(v), Ok(Reply::Ack)) => self.api = Some(v),
            (Request::ApiNegotiate(_), Err(MbxError::Nack { .. })) => {
                self.api_try = self.api_try.saturating_add(1);
            }
            // A PF that refuses feature negotiation leaves the implied features.
            (Request::FeaturesNegotiate(_), Err(MbxError::Nack { .. })) => {}
            (Request::GetQueues, Ok(Reply::Queues(q))) => {
                let tx = rings_in_use(saved, Dir::Tx);
                let rx = rings_in_use(saved, Dir::Rx);
                // The highest ring index in use must be granted (reg_idx is dense from 0).
                let fits = |mask: u8, max: u8| {
                    u32::from(max) >= u8::BITS.saturating_sub(mask.leading_zeros())
                };
                if !fits(tx, q.max_tx) || !fits(rx, q.max_rx) {
                    return Err(Refusal::QueueLayout {
                        // CAST: at most 8 bits set.
                        tx_in_use: tx.count_ones() as u8,
                        rx_in_use: rx.count_ones() as u8,
                        max_tx: q.max_tx,
                        max_rx: q.max_rx,
                    }
                    .into());
                }
            }
            // The destination's admin pinned another MAC on an untrusted VF: the PF refuses
            // ours, and ixgbevf carries on with the admin MAC from the VF_RESET reply
            // (ixgbevf_up_complete ignores the result; vf.c:451-456, anatomy §3e). The
            // driver adopts that MAC rather than failing the whole restore.
            (Request::SetMacAddr(_), Err(MbxError::Nack { .. })) => {}
            (_, Ok(_)) => {}
            (_, Err(err)) => return Err(RestoreError::Mailbox { msg, err }),
        }
        Ok(())
    }

    fn ring_step(&mut self, saved: &SavedState) -> Result<Option<Step>, RestoreError> {
        loop {
            let Some((dir, queue, snap)) = ring_at(saved, self.ring) else {
                return Ok(None);
            };
            if snap.count == 0 {
                self.ring = self.ring.saturating_add(1);
                continue;
            }
            match self.phase {
                0 => {
                    self.phase = 1;
                    self.cursor = (0, 0);
                    return Ok(Some(Step::DisableQueue {
                        dir,
                        queue,
                        value: disable_value(saved, dir, queue),
                    }));
                }
                1 => match next_config_write(
                    saved,
                    self.dst,
                    ConfigRows::Queue(dir),
                    queue,
                    &mut self.cursor,
                ) {
                    Some(s) => return Ok(Some(s)),
                    None => self.phase = 2,
                },
                2 => {
                    self.phase = 3;
                    let rebase =
                        snap.rebase()
                            .map_err(|err| RestoreError::Ring { dir, queue, err })?;
                    return Ok(Some(Step::RebaseRing { dir, queue, rebase }));
                }
                _ => {
                    self.phase = 0;
                    self.ring = self.ring.saturating_add(1);
                    return Ok(Some(resume_queue(
                        saved,
                        self.dst,
                        dir,
                        queue,
                        snap.enabled,
                    )));
                }
            }
        }
    }
}

/// ixgbevf_stop_hw_vf order: disable Rx queues, mask interrupts, disable Tx queues. Every
/// queue the log knows is disabled: VFRXDCTL/VFTXDCTL survive VFLR and a destination VF may
/// hold ENABLE from a previous tenant (anatomy §1i).
fn quiesce_step(i: usize) -> Option<Step> {
    let disable = |dir, slot: usize| Step::DisableQueue {
        dir,
        // CAST: slot < RING_SLOTS.
        queue: slot as u8,
        value: 0,
    };
    match i {
        i if i < RING_SLOTS => Some(disable(Dir::Rx, i)),
        i if i == RING_SLOTS => Some(Step::Write {
            reg: Reg::VTEIMC,
            index: 0,
            value: VTEICR_VECTOR_BITS,
        }),
        // The arms above leave i > RING_SLOTS here.
        i if i <= 2 * RING_SLOTS => Some(disable(Dir::Tx, i.saturating_sub(RING_SLOTS + 1))),
        _ => None,
    }
}

/// The closing steps (ixgbevf_up_complete): interrupt mask, MAC, link state, counters, link
/// refresh, kick.
fn finish_steps(saved: &SavedState, dst: &MacInfo, api: ApiVersion) -> [Option<Step>; 8] {
    [
        // Mask all, then unmask what the driver intends (anatomy §1b, VTEIMS).
        Some(Step::Write {
            reg: Reg::VTEIMC,
            index: 0,
            value: VTEICR_VECTOR_BITS,
        }),
        saved.log.value(Reg::VTEIMS, 0).map(|m| Step::Write {
            reg: Reg::VTEIMS,
            index: 0,
            value: m,
        }),
        saved.pf.mac.map(|m| Step::Mailbox(Request::SetMacAddr(m))),
        api.has_query_messages()
            .then_some(Step::Mailbox(Request::GetLinkState)),
        dst.link_from_pf(api)
            .then_some(Step::Mailbox(Request::GetPfLinkState)),
        // Counters before the link: ixgbevf_up_complete re-baselines the statistics and only
        // then sets `get_link_status` and runs the service task (main.c:2393-2397), whose
        // watchdog folds the counters (anatomy §4c step 6, §7.3 steps 10-11).
        Some(Step::RebaseCounters),
        Some(Step::RefreshLink),
        // Re-raise every vector: causes the source had pending, read or not, and anything
        // lost between freeze and resume; NAPI and the mailbox handler tolerate a spurious
        // call (ixgbevf_check_hang_subtask kicks the same way).
        Some(Step::Write {
            reg: Reg::VTEICS,
            index: 0,
            value: VTEICR_VECTOR_BITS,
        }),
    ]
}

/// The freeze plan (doorbell FREEZE on the source). Before the first step the driver
/// copies its live log, PF state and ring `count`/`next_to_use`/`enabled` into the record:
/// the disable writes below change the live log, and an abort restores from the record.
#[derive(Clone, Debug)]
pub struct Freeze {
    i: usize,
}

impl Freeze {
    /// Starts a freeze.
    pub fn new() -> Self {
        Freeze { i: 0 }
    }

    /// The next step, `None` when done.
    pub fn next(&mut self, saved: &SavedState) -> Option<Step> {
        const R: usize = RING_SLOTS;
        loop {
            let i = self.i;
            // A bounded cursor: the plan ends after 4 * RING_SLOTS + 4 steps.
            self.i = self.i.saturating_add(1);
            let used =
                |dir: Dir, slot: usize| rings(saved, dir).get(slot).is_some_and(|s| s.count > 0);
            // CAST: slots are below RING_SLOTS (4).
            let q = |slot: usize| slot as u8;
            let step = match i {
                0 => Some(Step::StopTxStack),
                // Stop Rx DMA first: nothing new lands in guest memory after this.
                i if i <= R => {
                    // Each arm's guard and the arms before it bound i from below, so the
                    // subtractions below never saturate.
                    let s = i.saturating_sub(1);
                    used(Dir::Rx, s).then(|| Step::DisableQueue {
                        dir: Dir::Rx,
                        queue: q(s),
                        value: disable_value(saved, Dir::Rx, q(s)),
                    })
                }
                i if i == R + 1 => Some(Step::DrainRx),
                // Tx: SWFLSH disables the queue and flushes batched DD write-backs.
                i if i <= 2 * R + 1 => {
                    let s = i.saturating_sub(R + 2);
                    used(Dir::Tx, s).then(|| Step::DisableQueue {
                        dir: Dir::Tx,
                        queue: q(s),
                        value: disable_value(saved, Dir::Tx, q(s)),
                    })
                }
                i if i <= 4 * R + 1 => {
                    let k = i.saturating_sub(2 * R + 2);
                    let (dir, s) = match k.checked_sub(R) {
                        None => (Dir::Tx, k),
                        Some(s) => (Dir::Rx, s),
                    };
                    used(dir, s).then(|| Step::CollectHead { dir, queue: q(s) })
                }
                i if i == 4 * R + 2 => Some(Step::UpdateCounters),
                i if i == 4 * R + 3 => Some(Step::MarkDirty),
                i if i == 4 * R + 4 => Some(Step::Seal),
                _ => return None,
            };
            if let Some(s) = step {
                return Some(s);
            }
        }
    }
}

impl Default for Freeze {
    fn default() -> Self {
        Freeze::new()
    }
}

/// The abort plan (doorbell ABORT after FREEZE): resume on the same VF. Registers and PF
/// state are intact; each ring is rebased from the collected head and re-enabled with its
/// logged configuration, then Tx restarts and every vector is kicked.
#[derive(Clone, Debug)]
pub struct Abort {
    ring: usize,
    rebased: bool,
    tail: u8,
}

impl Abort {
    /// Starts an abort.
    pub fn new() -> Self {
        Abort {
            ring: 0,
            rebased: false,
            tail: 0,
        }
    }

    /// The next step, `Ok(None)` when done.
    pub fn next(&mut self, saved: &SavedState) -> Result<Option<Step>, RestoreError> {
        while let Some((dir, queue, snap)) = ring_at(saved, self.ring) {
            if snap.count == 0 {
                self.ring = self.ring.saturating_add(1);
                continue;
            }
            if !self.rebased {
                self.rebased = true;
                let rebase = snap
                    .rebase()
                    .map_err(|err| RestoreError::Ring { dir, queue, err })?;
                return Ok(Some(Step::RebaseRing { dir, queue, rebase }));
            }
            self.rebased = false;
            self.ring = self.ring.saturating_add(1);
            return Ok(Some(resume_queue(
                saved,
                saved.mac.info(),
                dir,
                queue,
                snap.enabled,
            )));
        }
        let tail = [
            Step::StartTxStack,
            Step::Write {
                reg: Reg::VTEICS,
                index: 0,
                value: VTEICR_VECTOR_BITS,
            },
        ];
        let step = tail.get(usize::from(self.tail)).copied();
        self.tail = self.tail.saturating_add(1);
        Ok(step)
    }
}

impl Default for Abort {
    fn default() -> Self {
        Abort::new()
    }
}

#[cfg(test)]
mod tests {
    use super::super::mac::{lookup_pci, MacType};
    use super::super::mbx::{MacAddr, McList, QueueInfo};
    use super::*;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);

    struct NullIo;
    impl RegisterIo for NullIo {
        fn read32(&self, _: u32) -> u32 {
            0
        }
        fn write32(&self, _: u32, _: u32) {}
    }

    fn saved(mac: MacType) -> SavedState {
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

    fn pci(device: u16) -> &'static PciId {
        lookup_pci(device, 0).unwrap()
    }

    /// Runs a restore against a PF that ACKs everything except the API versions in `nack`.
    fn run(
        s: &SavedState,
        dst: &PciId,
        nack: &[ApiVersion],
        queues: QueueInfo,
    ) -> Result<Vec<Step>, RestoreError> {
        let mut plan = Restore::new(s, dst)?;
        let mut steps = vec![];
        while let Some(step) = plan.next(s)? {
            steps.push(step);
            if let Step::Mailbox(req) = step {
                let reply = match req {
                    Request::ApiNegotiate(v) if nack.contains(&v) => Err(MbxError::Nack {
                        msg: MsgId::ApiNegotiate,
                    }),
                    Request::Reset => Ok(Reply::Reset {
                        mac: Some(MAC),
                        mc_filter_type: 0,
                    }),
                    Request::GetQueues => Ok(Reply::Queues(queues)),
                    Request::UpdateXcastMode(m) => Ok(Reply::XcastMode(m)),
                    Request::GetLinkState => Ok(Reply::LinkState { enabled: true }),
                    Request::GetPfLinkState => Ok(Reply::PfLinkState {
                        speed: 0x80,
                        up: true,
                    }),
                    Request::FeaturesNegotiate(f) => Ok(Reply::Features(f)),
                    _ => Ok(Reply::Ack),
                };
                plan.mailbox_done(s, &req, reply)?;
            }
            assert!(steps.len() < 1000);
        }
        Ok(steps)
    }

    const Q2: QueueInfo = QueueInfo {
        max_tx: 2,
        max_rx: 2,
        num_tcs: 0,
        default_queue: 0,
    };

    fn pos(steps: &[Step], f: impl Fn(&Step) -> bool) -> usize {
        steps.iter().position(f).expect("step missing")
    }

    #[test]
    fn restore_order_invariants() {
        let s = saved(MacType::M82599);
        let steps = run(&s, pci(0x10ED), &[], Q2).unwrap();
        let reset = pos(&steps, |s| {
            matches!(
                s,
                Step::Write {
                    reg: Reg::VFCTRL,
                    ..
                }
            )
        });
        let wait = pos(&steps, |s| *s == Step::WaitResetDone);
        let session = pos(&steps, |s| *s == Step::Mailbox(Request::Reset));
        let api = pos(&steps, |s| {
            matches!(s, Step::Mailbox(Request::ApiNegotiate(_)))
        });
        let vlan = pos(&steps, |s| {
            matches!(s, Step::Mailbox(Request::SetVlan { .. }))
        });
        let first_ring = pos(&steps, |s| matches!(s, Step::RebaseRing { .. }));
        let last_enable = steps
            .iter()
            .rposition(|s| matches!(s, Step::EnableQueue { .. }))
            .unwrap();
        let mask = pos(&steps, |s| {
            matches!(
                s,
                Step::Write {
                    reg: Reg::VTEIMS,
                    ..
                }
            )
        });
        let counters = pos(&steps, |s| *s == Step::RebaseCounters);
        let kick = pos(&steps, |s| {
            matches!(
                s,
                Step::Write {
                    reg: Reg::VTEICS,
                    ..
                }
            )
        });
        // Every queue is disabled before the reset.
        assert!(
            steps[..reset]
                .iter()
                .filter(|s| matches!(s, Step::DisableQueue { .. }))
                .count()
                == 2 * RING_SLOTS
        );
        assert!(reset < wait && wait < session && session < api && api < vlan);
        assert!(vlan < first_ring && first_ring < last_enable && last_enable < mask);
        assert!(mask < counters && counters < kick && kick == steps.len() - 1);
        // Each ring: disable, config, rebase, enable, with head/tail never written directly.
        for dir in [Dir::Tx, Dir::Rx] {
            for q in 0..2u8 {
                let d = steps.iter().rposition(|s| matches!(s, Step::DisableQueue { dir: d, queue, .. } if *d == dir && *queue == q)).unwrap();
                let r = pos(
                    &steps,
                    |s| matches!(s, Step::RebaseRing { dir: d, queue, .. } if *d == dir && *queue == q),
                );
                let e = pos(
                    &steps,
                    |s| matches!(s, Step::EnableQueue { dir: d, queue, .. } if *d == dir && *queue == q),
                );
                assert!(d < r && r < e, "{dir:?}{q}");
            }
        }
        assert!(!steps.iter().any(|s| matches!(
            s,
            Step::Write {
                reg: Reg::VFTDH | Reg::VFRDH | Reg::VFTDT | Reg::VFRDT,
                ..
            }
        )));
        // Tx rings come before Rx rings (ixgbevf_configure).
        let tx_rebase = pos(&steps, |s| {
            matches!(s, Step::RebaseRing { dir: Dir::Tx, .. })
        });
        let rx_rebase = pos(&steps, |s| {
            matches!(s, Step::RebaseRing { dir: Dir::Rx, .. })
        });
        assert!(tx_rebase < rx_rebase);
        // Interrupt routing is programmed once the rings run, before the mask is opened
        // (ixgbevf_up_complete: configure_msix, then irq_enable).
        let psrtype = pos(&steps, |s| {
            matches!(
                s,
                Step::Write {
                    reg: Reg::VFPSRTYPE,
                    ..
                }
            )
        });
        assert!(psrtype < first_ring, "VFPSRTYPE precedes the rings");
        for reg in [Reg::VTEIAM, Reg::VTEITR] {
            let w = pos(
                &steps,
                |s| matches!(s, Step::Write { reg: r, .. } if *r == reg),
            );
            assert!(last_enable < w && w < mask, "{reg:?} at {w}");
        }
        // Counters are re-based before the link refresh, which precedes the kick.
        let refresh = pos(&steps, |s| *s == Step::RefreshLink);
        assert!(counters < refresh && refresh < kick);
        // Reset-surviving registers are written even if never logged (TDWBAL = 0).
        assert!(steps.contains(&Step::Write {
            reg: Reg::VFTDWBAL,
            index: 1,
            value: 0
        }));
    }

    #[test]
    fn refused_mac_does_not_fail_the_restore() {
        // The destination admin pinned another MAC: SET_MAC_ADDR is NACKed and the restore
        // goes on to the link, counters and kick; any other NACK still stops it.
        let s = saved(MacType::X540);
        let mut plan = Restore::new(&s, pci(0x1515)).unwrap();
        let mut after_mac = vec![];
        let mut mac_refused = false;
        while let Some(step) = plan.next(&s).unwrap() {
            if mac_refused {
                after_mac.push(step);
            }
            if let Step::Mailbox(req) = step {
                let reply = match req {
                    Request::SetMacAddr(_) => {
                        mac_refused = true;
                        Err(MbxError::Nack {
                            msg: MsgId::SetMacAddr,
                        })
                    }
                    Request::Reset => Ok(Reply::Reset {
                        mac: Some(MacAddr([2, 0, 0, 0, 0, 0x77])),
                        mc_filter_type: 0,
                    }),
                    Request::GetQueues => Ok(Reply::Queues(Q2)),
                    Request::UpdateXcastMode(m) => Ok(Reply::XcastMode(m)),
                    Request::GetLinkState => Ok(Reply::LinkState { enabled: true }),
                    _ => Ok(Reply::Ack),
                };
                plan.mailbox_done(&s, &req, reply).unwrap();
            }
        }
        assert!(mac_refused);
        assert!(after_mac.contains(&Step::RebaseCounters));
        assert!(after_mac.contains(&Step::RefreshLink));
        let mut plan = Restore::new(&s, pci(0x1515)).unwrap();
        loop {
            match plan.next(&s).unwrap() {
                Some(Step::Mailbox(req @ Request::SetVlan { .. })) => {
                    let nack = Err(MbxError::Nack { msg: req.id() });
                    assert_eq!(
                        plan.mailbox_done(&s, &req, nack),
                        Err(RestoreError::Mailbox {
                            msg: MsgId::SetVlan,
                            err: MbxError::Nack {
                                msg: MsgId::SetVlan
                            }
                        })
                    );
                    break;
                }
                Some(Step::Mailbox(req)) => {
                    let reply = match req {
                        Request::Reset => Ok(Reply::Reset {
                            mac: None,
                            mc_filter_type: 0,
                        }),
                        Request::GetQueues => Ok(Reply::Queues(Q2)),
                        Request::UpdateXcastMode(m) => Ok(Reply::XcastMode(m)),
                        _ => Ok(Reply::Ack),
                    };
                    plan.mailbox_done(&s, &req, reply).unwrap();
                }
                Some(_) => {}
                None => panic!("no SET_VLAN step"),
            }
        }
    }

    #[test]
    fn api_falls_back_to_what_the_state_needs() {
        let s = saved(MacType::X540);
        let steps = run(&s, pci(0x1515), &[ApiVersion::V1_4, ApiVersion::V1_3], Q2).unwrap();
        let tried: Vec<_> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Mailbox(Request::ApiNegotiate(v)) => Some(*v),
                _ => None,
            })
            .collect();
        assert_eq!(
            tried,
            [ApiVersion::V1_4, ApiVersion::V1_3, ApiVersion::V1_2]
        );
        // Multi xcast needs 1.2: refusing 1.2 as well leaves nothing.
        let err = run(
            &s,
            pci(0x1515),
            &[ApiVersion::V1_4, ApiVersion::V1_3, ApiVersion::V1_2],
            Q2,
        );
        assert_eq!(
            err,
            Err(RestoreError::Refused(Refusal::NoCommonApi {
                needed: ApiVersion::V1_2
            }))
        );
    }

    #[test]
    fn cross_mac_is_planned_or_refused_from_data() {
        // 82599 -> X540: same RSS owner; RLPML appears in RXDCTL because X540 honours it.
        let s = saved(MacType::M82599);
        let steps = run(&s, pci(0x1515), &[], Q2).unwrap();
        let rx_enable = steps
            .iter()
            .find_map(|s| match s {
                Step::EnableQueue {
                    dir: Dir::Rx,
                    value,
                    ..
                } => Some(*value),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            rx_enable & (dctl::RLPML_EN | dctl::RLPML_MASK),
            dctl::RLPML_EN | 1518
        );
        let back = run(&saved(MacType::X540), pci(0x10ED), &[], Q2).unwrap();
        let rx_enable = back
            .iter()
            .find_map(|s| match s {
                Step::EnableQueue {
                    dir: Dir::Rx,
                    value,
                    ..
                } => Some(*value),
                _ => None,
            })
            .unwrap();
        assert_eq!(rx_enable & dctl::RLPML_EN, 0, "82599 ignores RLPML");
        // X540 -> X550 with two Rx queues: RSS owner differs.
        assert_eq!(
            Restore::new(&s, pci(0x1565)).err(),
            Some(Refusal::RssOwnerDiffers {
                src: "82599",
                dst: "X550"
            })
        );
        // Hyper-V destination.
        assert_eq!(
            Restore::new(&s, pci(0x152E)).err(),
            Some(Refusal::NoMailbox)
        );
        // Promiscuous onto 82599.
        let mut p = saved(MacType::X540);
        p.pf.xcast = Some(XcastMode::Promisc);
        assert_eq!(
            Restore::new(&p, pci(0x10ED)).err(),
            Some(Refusal::PromiscUnsupported { dst: "82599" })
        );
        // E610 asks the PF for link at API >= 1.6.
        let mut e = saved(MacType::E610);
        e.pf.api = ApiVersion::V1_7;
        e.rx[1] = RingSnapshot::default();
        let steps = run(&e, pci(0x57AD), &[], Q2).unwrap();
        assert!(steps.contains(&Step::Mailbox(Request::GetPfLinkState)));
        assert!(steps.contains(&Step::Mailbox(Request::FeaturesNegotiate(e.pf.features))));
    }

    #[test]
    fn queue_layout_and_ring_errors() {
        let s = saved(MacType::M82599);
        let one = QueueInfo {
            max_tx: 1,
            max_rx: 1,
            num_tcs: 0,
            default_queue: 0,
        };
        assert_eq!(
            run(&s, pci(0x10ED), &[], one),
            Err(RestoreError::Refused(Refusal::QueueLayout {
                tx_in_use: 2,
                rx_in_use: 2,
                max_tx: 1,
                max_rx: 1
            }))
        );
        let mut bad = s.clone();
        bad.tx[1].head = 64;
        assert_eq!(
            run(&bad, pci(0x10ED), &[], Q2),
            Err(RestoreError::Ring {
                dir: Dir::Tx,
                queue: 1,
                err: RingError::HeadOutOfRange {
                    head: 64,
                    count: 64
                }
            })
        );
        // Mailbox failures stop the restore with the message named.
        let mut plan = Restore::new(&s, pci(0x10ED)).unwrap();
        loop {
            match plan.next(&s).unwrap() {
                Some(Step::Mailbox(req)) => {
                    let r = plan.mailbox_done(
                        &s,
                        &req,
                        Err(MbxError::Timeout {
                            phase: super::super::mbx::MbxPhase::Reply,
                            waited_us: 1,
                        }),
                    );
                    assert!(matches!(
                        r,
                        Err(RestoreError::Mailbox {
                            msg: MsgId::Reset,
                            ..
                        })
                    ));
                    break;
                }
                Some(_) => {}
                None => panic!("no mailbox step"),
            }
        }
        assert_eq!(
            plan.mailbox_done(&s, &Request::GetQueues, Ok(Reply::Ack)),
            Err(RestoreError::UnexpectedResult)
        );
    }

    #[test]
    fn freeze_order() {
        let s = saved(MacType::X540);
        let mut f = Freeze::new();
        let steps: Vec<_> = std::iter::from_fn(|| f.next(&s)).collect();
        let last_dma_stop = steps
            .iter()
            .rposition(|s| matches!(s, Step::DisableQueue { .. }))
            .unwrap();
        let rx_stop = pos(&steps, |s| {
            matches!(s, Step::DisableQueue { dir: Dir::Rx, .. })
        });
        let tx_stop = pos(&steps, |s| {
            matches!(s, Step::DisableQueue { dir: Dir::Tx, .. })
        });
        let drain = pos(&steps, |s| *s == Step::DrainRx);
        let heads = pos(&steps, |s| matches!(s, Step::CollectHead { .. }));
        let dirty = pos(&steps, |s| *s == Step::MarkDirty);
        assert_eq!(steps[0], Step::StopTxStack);
        assert!(rx_stop < drain && drain < tx_stop && last_dma_stop < heads && heads < dirty);
        assert_eq!(steps.last(), Some(&Step::Seal));
        assert_eq!(
            steps
                .iter()
                .filter(|s| matches!(s, Step::CollectHead { .. }))
                .count(),
            4
        );
        assert!(steps.contains(&Step::DisableQueue {
            dir: Dir::Tx,
            queue: 1,
            value: dctl::SWFLSH
        }));
    }

    #[test]
    fn abort_resumes_rings_then_tx() {
        let s = saved(MacType::X540);
        let mut a = Abort::new();
        let steps: Vec<_> = std::iter::from_fn(|| a.next(&s).unwrap()).collect();
        assert_eq!(
            steps
                .iter()
                .filter(|s| matches!(s, Step::RebaseRing { .. }))
                .count(),
            4
        );
        assert_eq!(
            steps
                .iter()
                .filter(|s| matches!(s, Step::EnableQueue { .. }))
                .count(),
            4
        );
        assert!(!steps
            .iter()
            .any(|s| matches!(s, Step::Mailbox(_) | Step::WaitResetDone)));
        assert_eq!(steps[steps.len() - 2], Step::StartTxStack);
        assert!(matches!(
            steps.last(),
            Some(Step::Write {
                reg: Reg::VTEICS,
                ..
            })
        ));
    }
}
