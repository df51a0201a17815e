//! Property tests: random driver activity through the self-emulation layer, a freeze, a
//! swap to a fresh VF with other counter values and an empty PF, and the restore plan run
//! against it with real mailbox exchanges.

mod common;

use common::*;
use compsc_core::counters::{CounterId, Counters};
use compsc_core::emul::Emul;
use compsc_core::mac::{lookup_pci, MAC_82599};
use compsc_core::mbx::{ApiVersion, MacAddr, MbxError, McList, Reply, Request, XcastMode};
use compsc_core::mbx_vf::{self, Budget, Poll, ResetWait, Transaction};
use compsc_core::pf::PfState;
use compsc_core::plan::{Abort, Dir, Freeze, Restore, Step};
use compsc_core::record::{RingSnapshot, SavedState, RECORD_BYTES, RING_SLOTS};
use compsc_core::regs::{Access, Reg, LOGGED_QUEUES, TABLE};
use proptest::prelude::*;

const RING: u32 = 64;

#[derive(Clone, Debug)]
enum Op {
    Write { row: usize, index: u32, value: u32 },
    MaskSet(u32),
    MaskClear(u32),
    Raise(u32),
    ReadIcr { consume: u32 },
    Fire(u32),
    Traffic { rx: u32, bytes: u32, mc: u32 },
    UpdateStats,
    Vlan { vid: u16, add: bool },
    Multicast(Vec<u16>),
    Xcast(u32),
    Lpe(u32),
    Macvlan(u8),
    Ping,
}

fn op() -> impl Strategy<Value = Op> {
    let rows: Vec<usize> = TABLE
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.has_log_word() && r.access == Access::ReadWrite && MAC_82599.implements(r.presence)
        })
        .map(|(i, _)| i)
        .collect();
    prop_oneof![
        4 => (proptest::sample::select(rows), 0..LOGGED_QUEUES, any::<u32>()).prop_map(|(row, index, value)| Op::Write { row, index, value }),
        1 => (0u32..8).prop_map(Op::MaskSet),
        1 => (0u32..8).prop_map(Op::MaskClear),
        1 => (1u32..8).prop_map(Op::Raise),
        1 => (0u32..8).prop_map(|consume| Op::ReadIcr { consume }),
        1 => (0u32..3).prop_map(|v| Op::Fire(1 << v)),
        2 => (0u32..1 << 30, any::<u32>(), 0u32..1 << 30).prop_map(|(rx, bytes, mc)| Op::Traffic { rx, bytes, mc }),
        1 => Just(Op::UpdateStats),
        1 => (1u16..4095, any::<bool>()).prop_map(|(vid, add)| Op::Vlan { vid, add }),
        1 => proptest::collection::vec(0u16..0x1000, 0..30).prop_map(Op::Multicast),
        1 => (0u32..3).prop_map(Op::Xcast),
        1 => (68u32..9728).prop_map(Op::Lpe),
        1 => (0u8..4).prop_map(Op::Macvlan),
        1 => Just(Op::Ping),
    ]
}

/// The driver side: emulation wrapper, PF state log, counters.
struct Driver<'a> {
    emul: Emul<&'a FakeVf>,
    pf: PfState,
    counters: Counters,
    /// Interrupt causes raised and not yet serviced.
    owed: u32,
    last: [u64; 5],
}

const IDS: [CounterId; 5] = [
    CounterId::Gprc,
    CounterId::Gptc,
    CounterId::Gorc,
    CounterId::Gotc,
    CounterId::Mprc,
];

impl<'a> Driver<'a> {
    fn mbx(&mut self, req: Request) -> Result<Reply, MbxError> {
        let r = run_mbx(&mut self.emul, req);
        if let Ok(reply) = &r {
            self.pf.note(&req, reply).expect("log");
        }
        r
    }

    fn update(&mut self) {
        self.counters.update(&mut self.emul).unwrap();
        for (i, id) in IDS.iter().enumerate() {
            let v = self.counters.get(*id).value();
            assert!(v >= self.last[i], "counter {id:?} went backwards");
            self.last[i] = v;
        }
    }
}

fn run_mbx(emul: &mut Emul<&FakeVf>, req: Request) -> Result<Reply, MbxError> {
    let mut t = Transaction::new(req, Budget::IXGBEVF);
    let mut elapsed = 0;
    loop {
        match t.poll(emul, elapsed) {
            Poll::Wait { us } => elapsed = us,
            Poll::Done(r) => return r,
        }
    }
}

fn wait_reset(emul: &mut Emul<&FakeVf>) {
    let mut w = ResetWait::new(ResetWait::IXGBEVF_LIMIT_US);
    let mut elapsed = 0;
    loop {
        match w.poll(emul, elapsed) {
            Poll::Wait { us } => elapsed = us,
            Poll::Done(r) => return r.unwrap(),
        }
    }
}

fn apply(d: &mut Driver, dev: &FakeVf, op: &Op) {
    match *op {
        Op::Write {
            row,
            index,
            mut value,
        } => {
            let reg = TABLE[row].reg;
            let index = index % TABLE[row].logged_count();
            match reg {
                Reg::VFRDT | Reg::VFTDT => value %= RING,
                Reg::VFRXDCTL => value &= !0xBFFF,
                Reg::VFTXDCTL => value &= !(1 << 26),
                _ => {}
            }
            d.emul.write(reg, index, value).unwrap();
        }
        Op::MaskSet(b) => d.emul.write(Reg::VTEIMS, 0, b).unwrap(),
        Op::MaskClear(b) => d.emul.write(Reg::VTEIMC, 0, b).unwrap(),
        Op::Raise(b) => {
            dev.raise(b);
            d.owed |= b;
        }
        Op::ReadIcr { consume } => {
            d.emul.read(Reg::VTEICR, 0).unwrap();
            d.owed &= !d.emul.log_mut().consume(Reg::VTEICR, consume);
        }
        Op::Fire(b) => {
            if dev.reg(VTEICR) & b != 0 {
                d.owed &= !(b & dev.reg(VTEIAC));
                dev.fire(b);
                d.emul.note_msix(b);
            }
        }
        Op::Traffic { rx, bytes, mc } => {
            dev.traffic(rx, bytes, rx / 2, bytes / 3, mc);
            d.update();
        }
        Op::UpdateStats => d.update(),
        Op::Vlan { vid, add } => {
            let _ = d.mbx(Request::SetVlan { vid, add });
        }
        Op::Multicast(ref h) => {
            let _ = d.mbx(Request::SetMulticast(McList::new(h).unwrap()));
        }
        Op::Xcast(m) => {
            let _ = d.mbx(Request::UpdateXcastMode(XcastMode::from_wire(m).unwrap()));
        }
        Op::Lpe(f) => {
            let _ = d.mbx(Request::SetLpe { max_frame: f });
        }
        Op::Macvlan(i) => {
            let _ = d.mbx(Request::SetMacvlan {
                index: i,
                mac: MacAddr([2, 0, 0, 0, 1, i]),
            });
        }
        Op::Ping => {
            dev.ping(true);
            let m = mbx_vf::receive(&mut d.emul).unwrap();
            assert!(m.is_some());
        }
    }
    let seen = dev.reg(VTEICR) | d.emul.log().pending(Reg::VTEICR);
    assert_eq!(d.owed & !seen, 0, "a read-clear cause was lost");
}

/// Every written log word equals the device; after a restore, reset-surviving registers
/// the driver never wrote must be 0, not a previous tenant's value.
fn assert_log_matches(
    log: &compsc_core::emul::EmulLog,
    dev: &FakeVf,
    skip_tails: bool,
    restored: bool,
) {
    for r in TABLE
        .iter()
        .filter(|r| matches!(r.access, Access::ReadWrite | Access::WriteOneToSet))
    {
        if skip_tails && matches!(r.reg, Reg::VFRDT | Reg::VFTDT) {
            continue;
        }
        for i in 0..r.logged_count() {
            let off = r.offset(i).unwrap();
            match log.value(r.reg, i) {
                Some(v) => assert_eq!(dev.reg(off), v, "{}[{i}]", r.name),
                None if r.survives_reset && restored => {
                    assert_eq!(dev.reg(off), 0, "{}[{i}] junk left", r.name)
                }
                None => {}
            }
        }
    }
}

fn capture(d: &Driver, seed: u64) -> SavedState {
    let mut s = SavedState::new(compsc_core::mac::MacType::M82599);
    s.log = d.emul.log().clone();
    s.pf = d.pf;
    s.counters = d.counters;
    for q in 0..RING_SLOTS {
        let qi = q as u32;
        let enabled = |reg| s.log.value(reg, qi).is_some_and(|v| v & (1 << 25) != 0);
        s.tx[q] = RingSnapshot {
            count: RING as u16,
            head: 0,
            next_to_use: s.log.value(Reg::VFTDT, qi).unwrap_or(0) as u16,
            enabled: enabled(Reg::VFTXDCTL),
        };
        s.rx[q] = RingSnapshot {
            count: RING as u16,
            head: 0,
            next_to_use: s.log.value(Reg::VFRDT, qi).unwrap_or(0) as u16,
            enabled: enabled(Reg::VFRXDCTL),
        };
    }
    s.seq = seed as u32;
    s
}

fn freeze(d: &mut Driver, dev: &FakeVf, saved: &mut SavedState, head_seed: u64) {
    let mut f = Freeze::new();
    let mut x = head_seed | 1;
    while let Some(step) = f.next(saved) {
        step.apply_registers(&mut d.emul).unwrap();
        match step {
            Step::CollectHead { dir, queue } => {
                // Hardware heads moved somewhere inside the ring.
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                let head = ((x >> 33) % u64::from(RING)) as u16;
                let r = match dir {
                    Dir::Tx => &mut saved.tx[queue as usize],
                    Dir::Rx => &mut saved.rx[queue as usize],
                };
                r.head = head;
                let _ = d.emul.read(dir.head(), u32::from(queue)).unwrap();
            }
            Step::UpdateCounters => {
                d.update();
                saved.counters = d.counters;
            }
            _ => {}
        }
    }
    let _ = dev;
}

fn check_tails(saved: &SavedState, dev: &FakeVf) {
    for q in 0..RING_SLOTS {
        for (snap, reg) in [(saved.tx[q], Reg::VFTDT), (saved.rx[q], Reg::VFRDT)] {
            let want = (u32::from(snap.next_to_use) + RING - u32::from(snap.head)) % RING;
            assert_eq!(
                dev.reg(reg.offset(q as u32).unwrap()),
                want,
                "{reg:?}[{q}] not rebased"
            );
        }
    }
}

fn session(d: &mut Driver) {
    d.mbx(Request::Reset).unwrap();
    d.mbx(Request::ApiNegotiate(ApiVersion::V1_4)).unwrap();
    d.mbx(Request::GetQueues).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn swap_restores_what_the_driver_saw(ops in proptest::collection::vec(op(), 1..60), seed in any::<u64>(), dst_seed in any::<u64>()) {
        let src = FakeVf::new(seed, 4);
        let mut d = Driver { emul: Emul::new(&src, &MAC_82599), pf: PfState::default(), counters: Counters::default(), owed: 0, last: [0; 5] };
        session(&mut d);
        d.counters.rebase(&mut d.emul).unwrap();
        for op in &ops {
            apply(&mut d, &src, op);
        }
        assert_log_matches(d.emul.log(), &src, false, false);
        let pf_before = src.s.borrow().pf.clone();
        let mut saved = capture(&d, seed);
        freeze(&mut d, &src, &mut saved, seed);
        // The record survives encoding (the hypervisor copies guest memory).
        let mut bytes = [0u8; RECORD_BYTES];
        saved.encode(&mut bytes);
        let mut copy = SavedState::new(compsc_core::mac::MacType::E610);
        copy.decode_into(&bytes).unwrap();
        prop_assert_eq!(&copy, &saved);
        let values_before: Vec<u64> = IDS.iter().map(|id| saved.counters.get(*id).value()).collect();

        // Swap: same BAR, a different VF behind it.
        let dst = FakeVf::new(dst_seed, 4);
        let mut d2 = Driver { emul: Emul::with_log(&dst, &MAC_82599, d.emul.log().clone()), pf: saved.pf, counters: saved.counters, owed: d.owed, last: d.last };
        let mut plan = Restore::new(&saved, lookup_pci(0x10ED, 0).unwrap()).unwrap();
        while let Some(step) = plan.next(&saved).unwrap() {
            step.apply_registers(&mut d2.emul).unwrap();
            match step {
                Step::WaitResetDone => wait_reset(&mut d2.emul),
                Step::Mailbox(req) => {
                    let r = d2.mbx(req);
                    plan.mailbox_done(&saved, &req, r).unwrap();
                }
                Step::RebaseCounters => d2.counters.rebase(&mut d2.emul).unwrap(),
                _ => {}
            }
        }
        // Registers: as the driver left them; tails rebased; stale tenant values cleared.
        assert_log_matches(&saved.log, &dst, true, true);
        check_tails(&saved, &dst);
        // PF state replayed.
        let pf_after = dst.s.borrow().pf.clone();
        prop_assert_eq!(&pf_after.vlans, &pf_before.vlans);
        prop_assert_eq!(&pf_after.mc, &pf_before.mc);
        prop_assert_eq!(&pf_after.macvlans, &pf_before.macvlans);
        prop_assert_eq!(pf_after.xcast, pf_before.xcast);
        prop_assert_eq!(pf_after.max_frame, pf_before.max_frame);
        prop_assert_eq!(pf_after.api, pf_before.api);
        // No read-clear cause lost.
        let seen = dst.reg(VTEICR) | d2.emul.log().pending(Reg::VTEICR);
        prop_assert_eq!(d2.owed & !seen, 0);
        // Counters continue from where they were, whatever the destination's start.
        d2.update();
        let after: Vec<u64> = IDS.iter().map(|id| d2.counters.get(*id).value()).collect();
        prop_assert_eq!(&after, &values_before);
        dst.traffic(5, 500, 3, 300, 1);
        d2.update();
        prop_assert_eq!(d2.counters.get(CounterId::Gprc).value(), values_before[0] + 5);
        prop_assert_eq!(d2.counters.get(CounterId::Gorc).value(), values_before[2] + 500);
    }

    #[test]
    fn abort_resumes_on_the_same_vf(ops in proptest::collection::vec(op(), 1..40), seed in any::<u64>()) {
        let dev = FakeVf::new(seed, 4);
        let mut d = Driver { emul: Emul::new(&dev, &MAC_82599), pf: PfState::default(), counters: Counters::default(), owed: 0, last: [0; 5] };
        session(&mut d);
        d.counters.rebase(&mut d.emul).unwrap();
        for op in &ops {
            apply(&mut d, &dev, op);
        }
        let requests = dev.s.borrow().pf.requests;
        let mut saved = capture(&d, seed);
        freeze(&mut d, &dev, &mut saved, seed);
        let mut a = Abort::new();
        while let Some(step) = a.next(&saved).unwrap() {
            step.apply_registers(&mut d.emul).unwrap();
        }
        assert_log_matches(&saved.log, &dev, true, false);
        check_tails(&saved, &dev);
        prop_assert_eq!(dev.s.borrow().pf.requests, requests, "abort talks to the PF");
        d.update();
    }
}
