//! The restore plan (doorbell RESTORE, on the destination): `ixgbevf_reset` +
//! `ixgbevf_configure` + `ixgbevf_up_complete` with the source's values.

use super::super::mac::{MacInfo, PciId};
use super::super::mbx::{ApiNegotiation, ApiVersion, MbxError, Reply, Request};
use super::super::record::{SavedState, RING_SLOTS};
use super::super::regs::{vfctrl, Reg, VTEICR_VECTOR_BITS};
use super::compat::{check_compatible, min_api};
use super::config::{next_config_write, ConfigRows};
use super::{disable_value, resume_queue, ring_at, rings_in_use, Dir, Refusal, RestoreError, Step};

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
    /// The negotiation (the policy every negotiation shares).
    api_try: ApiNegotiation,
    awaiting: Option<Request>,
}

impl Restore {
    /// Plans a restore of `saved` onto the VF `dst`, or refuses from data.
    pub fn new(saved: &SavedState, dst: &PciId) -> Result<Restore, Refusal> {
        check_compatible(saved, dst)?;
        let api_try = ApiNegotiation::new(saved.pf.api);
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
                        match self.api_try.current() {
                            Some(v) if v >= needed => Some(Step::Mailbox(Request::ApiNegotiate(v))),
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
            // The one negotiation policy: a NACK moves on, any other failure ends the restore.
            (Request::ApiNegotiate(_), Err(err)) => {
                if !self.api_try.failed(&err) {
                    return Err(RestoreError::Mailbox { msg, err });
                }
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

#[cfg(test)]
mod tests {
    use super::super::super::mac::{lookup_pci, MacType};
    use super::super::super::mbx::{MacAddr, MbxPhase, MsgId, QueueInfo, XcastMode};
    use super::super::super::record::{RingError, RingSnapshot};
    use super::super::super::regs::dctl;
    use super::super::testing::{pos, saved, MAC};
    use super::*;

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

    /// The RXDCTL value of the plan's first Rx queue enable.
    fn first_rx_enable(steps: &[Step]) -> u32 {
        steps
            .iter()
            .find_map(|s| match s {
                Step::EnableQueue {
                    dir: Dir::Rx,
                    value,
                    ..
                } => Some(*value),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn cross_mac_is_planned_or_refused_from_data() {
        // 82599 -> X540: same RSS owner; RLPML appears in RXDCTL because X540 honours it.
        let s = saved(MacType::M82599);
        let steps = run(&s, pci(0x1515), &[], Q2).unwrap();
        let rx_enable = first_rx_enable(&steps);
        assert_eq!(
            rx_enable & (dctl::RLPML_EN | dctl::RLPML_MASK),
            dctl::RLPML_EN | 1518
        );
        let back = run(&saved(MacType::X540), pci(0x10ED), &[], Q2).unwrap();
        let rx_enable = first_rx_enable(&back);
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
                            phase: MbxPhase::Reply,
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
}
