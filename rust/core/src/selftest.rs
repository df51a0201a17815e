//! Deterministic, allocation-free checks of the core's logic, run by the host tests and,
//! unchanged, by the KUnit suite inside the guest kernel.
//!
//! Each check returns a [`SelfTestFailure`] naming what broke. Randomised checks use a
//! fixed-seed xorshift generator, so a failure reproduces. Frames stay small (no array
//! above a few hundred bytes; the largest frame holds one saved record, about 1 KiB).

use core::cell::Cell;

use super::counters::{CounterDesc, COUNTERS};
use super::emul::{Emul, EmulLog, RegisterIo};
use super::mac::{lookup_pci, MacType, MAC_X550};
use super::mbx::{
    ApiVersion, MacAddr, MbxError, McList, MsgId, PfMessage, QueueInfo, Reply, Request, XcastMode,
    MBX_WORDS, MSG_CTS, MSG_FAILURE, MSG_SUCCESS,
};
use super::plan::{Freeze, Restore, Step};
use super::record::{RingSnapshot, SavedState, RECORD_BYTES, RING_SLOTS};
use super::regs::{self, dctl, vfctrl, Access, Class, Reg, LOGGED_QUEUES, TABLE};

/// What a failed check reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelfTestFailure {
    /// What did not hold.
    pub reason: &'static str,
    /// A value to help diagnosis (an offset, a seed, a step index).
    pub a: u64,
    /// A second value.
    pub b: u64,
}

type Outcome = Result<(), SelfTestFailure>;

fn ensure(ok: bool, reason: &'static str, a: u64, b: u64) -> Outcome {
    if ok {
        Ok(())
    } else {
        Err(SelfTestFailure { reason, a, b })
    }
}

/// One check.
pub type SelfTest = fn() -> Result<(), SelfTestFailure>;

/// Every check, by name, for the KUnit suite and the host test.
pub const ALL: &[(&str, SelfTest)] = &[
    ("register_table", register_table),
    ("emulation_replay", emulation_replay),
    ("counter_wrap", counter_wrap),
    ("mailbox_round_trip", mailbox_round_trip),
    ("mailbox_rejects", mailbox_rejects),
    ("record_round_trip", record_round_trip),
    ("restore_plan_order", restore_plan_order),
];

/// A tiny xorshift64 generator.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next().checked_rem(n).unwrap_or(0)
    }
    fn u32(&mut self) -> u32 {
        // CAST: the high half of a u64.
        (self.next() >> 32) as u32
    }
}

/// Rows do not overlap, stay in BAR0 and are aligned; write-only and read-clear rows are
/// logged; the log layout is dense.
pub fn register_table() -> Outcome {
    let mut words = 0u32;
    for (i, a) in TABLE.iter().enumerate() {
        ensure(a.reg as usize == i, "row out of order", i as u64, 0)?;
        if matches!(
            a.access,
            Access::WriteOnly | Access::ReadClear { .. } | Access::WriteOneToClear { .. }
        ) {
            ensure(
                a.class == Class::Logged,
                "unlogged write-only/read-clear",
                u64::from(a.offset),
                0,
            )?;
        }
        // Saturating: an absurd total fails the density check below.
        words = words.saturating_add(a.logged_count());
        for ia in 0..a.count {
            let oa = a.offset(ia).map_err(|_| SelfTestFailure {
                reason: "bad index",
                a: i as u64,
                b: u64::from(ia),
            })?;
            ensure(
                oa % 4 == 0 && oa < 0x4000,
                "offset misaligned or outside BAR0",
                u64::from(oa),
                0,
            )?;
            for b in TABLE.iter().skip(i.saturating_add(1)) {
                for ib in 0..b.count {
                    let ob = b.offset(ib).unwrap_or(u32::MAX);
                    ensure(oa != ob, "rows overlap", u64::from(oa), b.reg as u64)?;
                }
            }
        }
    }
    ensure(
        words as usize == regs::LOG_WORDS,
        "log layout not dense",
        u64::from(words),
        regs::LOG_WORDS as u64,
    )
}

/// Offsets whose value survives VF reset, per the 82599 Specification Update (anatomy §1i),
/// written out here rather than read from the table so a wrong table row is caught.
fn fake_survives_reset(offset: u32) -> bool {
    match offset {
        0x300 => true,
        0x1000..=0x11FF => matches!(offset & 0x3F, 0x0C | 0x10 | 0x14 | 0x18 | 0x28),
        0x2000..=0x21FF => matches!(offset & 0x3F, 0x0C | 0x10 | 0x18 | 0x28 | 0x38 | 0x3C),
        _ => false,
    }
}

/// A VF register file with datasheet semantics, stored compactly: one cell per register
/// instance the log keeps, plus heads. Other registers read 0.
struct FakeVf {
    cells: [Cell<u32>; regs::LOG_WORDS],
    heads: [Cell<u32>; 2 * RING_SLOTS],
}

impl FakeVf {
    fn new() -> Self {
        FakeVf {
            cells: [const { Cell::new(0) }; regs::LOG_WORDS],
            heads: [const { Cell::new(0) }; 2 * RING_SLOTS],
        }
    }

    fn cell(&self, offset: u32) -> Option<&Cell<u32>> {
        let (reg, index) = regs::lookup(offset)?;
        if index >= reg.desc().logged_count() {
            return None;
        }
        let base = regs::LOG_BASE.get(reg as usize)?;
        self.cells
            .get(usize::from(*base).checked_add(index as usize)?)
    }

    fn head(&self, offset: u32) -> Option<&Cell<u32>> {
        let q = ((offset & 0xFFF) / 0x40) as usize;
        match offset & !0xFC0 {
            0x1010 => self.heads.get(q),
            0x2010 => self.heads.get(RING_SLOTS.checked_add(q)?),
            _ => None,
        }
    }

    fn at(&self, offset: u32) -> u32 {
        self.cell(offset).map_or(0, Cell::get)
    }

    /// The device raises interrupt causes.
    fn raise(&self, bits: u32) {
        if let Some(c) = self.cell(0x100) {
            c.set(c.get() | (bits & 7));
        }
    }

    /// MSI-X vectors fire: VTEIAM auto-masks, VTEIAC auto-clears.
    fn fire(&self, bits: u32) {
        let (eiam, eiac) = (self.at(0x114), self.at(0x110));
        if let Some(c) = self.cell(0x108) {
            c.set(c.get() & !(bits & eiam));
        }
        if let Some(c) = self.cell(0x100) {
            c.set(c.get() & !(bits & eiac));
        }
    }

    /// Replaces the device with a fresh VF: junk in every register (a previous tenant),
    /// no pending causes, everything masked.
    fn swap(&self, rng: &mut XorShift) {
        for c in self.cells.iter().chain(self.heads.iter()) {
            c.set(rng.u32());
        }
        for off in [0x100, 0x108] {
            if let Some(c) = self.cell(off) {
                c.set(0);
            }
        }
    }
}

impl RegisterIo for FakeVf {
    fn read32(&self, offset: u32) -> u32 {
        if let Some(h) = self.head(offset) {
            return h.get();
        }
        let v = self.at(offset);
        if offset == 0x100 {
            // VTEICR: read-clear.
            if let Some(c) = self.cell(0x100) {
                c.set(0);
            }
        }
        v
    }

    fn write32(&self, offset: u32, value: u32) {
        if let Some(h) = self.head(offset) {
            h.set(value);
            return;
        }
        match offset {
            0x0000 if value & vfctrl::RST != 0 => {
                for (i, c) in self.cells.iter().enumerate() {
                    let sticky = TABLE.iter().any(|r| {
                        // Cell i belongs to row r when base <= i < base + logged_count.
                        let Some(base) = regs::LOG_BASE.get(r.reg as usize) else {
                            return false;
                        };
                        let Some(k) = i
                            .checked_sub(usize::from(*base))
                            .and_then(|k| u32::try_from(k).ok())
                            .filter(|k| *k < r.logged_count())
                        else {
                            return false;
                        };
                        k.checked_mul(r.stride)
                            .and_then(|d| r.offset.checked_add(d))
                            .is_some_and(fake_survives_reset)
                    });
                    if !sticky {
                        c.set(0);
                    }
                }
            }
            // VTEICR write-1-to-clear; VTEICS sets causes; VTEIMS/VTEIMC set/clear the mask.
            0x0100 => self
                .cell(0x100)
                .into_iter()
                .for_each(|c| c.set(c.get() & !value)),
            0x0104 => self.raise(value),
            0x0108 => self
                .cell(0x108)
                .into_iter()
                .for_each(|c| c.set(c.get() | (value & 7))),
            0x010C => self
                .cell(0x108)
                .into_iter()
                .for_each(|c| c.set(c.get() & !value)),
            // TXDCTL.SWFLSH self-clears.
            o if o & !0x1C0 == 0x2028 => {
                self.cell(o)
                    .into_iter()
                    .for_each(|c| c.set(value & !dctl::SWFLSH));
            }
            o => {
                if let Some(c) = self.cell(o) {
                    c.set(value);
                }
            }
        }
    }
}

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

fn fail(reason: &'static str, a: u32) -> SelfTestFailure {
    SelfTestFailure {
        reason,
        a: u64::from(a),
        b: 0,
    }
}

/// Every register the log keeps equals the device: the logged value where the driver wrote
/// one, else the reset value 0. Tails are skipped when `skip_tails` (they are rebased).
fn log_matches_device(log: &EmulLog, dev: &FakeVf, seed: u64, skip_tails: bool) -> Outcome {
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

/// What a well-behaved Linux PF answers (for plan checks that need no PF model).
fn synth_reply(req: &Request) -> Result<Reply, MbxError> {
    Ok(match *req {
        Request::Reset => Reply::Reset {
            mac: Some(MacAddr([2, 0, 0, 0, 0, 1])),
            mc_filter_type: 0,
        },
        Request::GetQueues => Reply::Queues(QueueInfo {
            max_tx: 4,
            max_rx: 4,
            num_tcs: 0,
            default_queue: 0,
        }),
        Request::UpdateXcastMode(m) => Reply::XcastMode(m),
        Request::GetLinkState => Reply::LinkState { enabled: true },
        Request::GetPfLinkState => Reply::PfLinkState {
            speed: 0x80,
            up: true,
        },
        Request::FeaturesNegotiate(f) => Reply::Features(f),
        _ => Reply::Ack,
    })
}

/// 32- and 36-bit counters stay continuous and monotonic over wraps and a swap.
pub fn counter_wrap() -> Outcome {
    let mut rng = XorShift(0xC0FF_EE00_1234_5678);
    for desc in COUNTERS.iter() {
        check_counter(desc, &mut rng)?;
    }
    Ok(())
}

fn check_counter(desc: &CounterDesc, rng: &mut XorShift) -> Outcome {
    let mut c = super::counters::Counter::default();
    // Masks are at least 32 bits wide.
    let mut raw = desc.mask().saturating_sub(1000);
    c.rebase(desc, raw);
    let mut truth = 0u64;
    for round in 0..2000u64 {
        // Increments below the wrap distance per update, as the 2 s watchdog guarantees.
        let inc = rng.below(desc.mask() / 3);
        // Both wrap by design: the counter's value is modulo 2^64, its raw value modulo
        // 2^width (and 2^width divides 2^64, so masking after the wrap is exact).
        truth = truth.wrapping_add(inc);
        raw = raw.wrapping_add(inc) & desc.mask();
        let before = c.value();
        let v = c.update(desc, raw);
        ensure(v >= before, "counter went backwards", round, v)?;
        ensure(v == truth, "counter lost increments", round, v)?;
        if round % 500 == 499 {
            // Swap: the destination counter starts anywhere.
            raw = rng.next() & desc.mask();
            c.rebase(desc, raw);
            ensure(
                c.value() == truth,
                "swap moved the counter",
                round,
                c.value(),
            )?;
        }
    }
    Ok(())
}

/// Every request encodes and decodes to itself; ACK replies decode.
pub fn mailbox_round_trip() -> Outcome {
    let mac = MacAddr([2, 1, 2, 3, 4, 5]);
    let mc = McList::new(&[1, 0x7FF, 0xFFF]).ok_or(fail("mc list", 0))?;
    let requests = [
        Request::Reset,
        Request::SetMacAddr(mac),
        Request::SetMulticast(mc),
        Request::SetVlan {
            vid: 4095,
            add: true,
        },
        Request::SetLpe { max_frame: 9728 },
        Request::SetMacvlan { index: 2, mac },
        Request::ApiNegotiate(ApiVersion::V1_7),
        Request::ApiNegotiate(ApiVersion::V1_0),
        Request::GetQueues,
        Request::GetReta,
        Request::GetRssKey,
        Request::UpdateXcastMode(XcastMode::Promisc),
        Request::GetLinkState,
        Request::GetPfLinkState,
        Request::FeaturesNegotiate(1),
    ];
    for (i, req) in requests.iter().enumerate() {
        let mut buf = [0u32; MBX_WORDS];
        let len = req.encode(&mut buf).map_err(|_| fail("encode", i as u32))?;
        let words = buf.get(..len).ok_or(fail("length", i as u32))?;
        ensure(
            Request::decode(words) == Ok(*req),
            "request round trip",
            i as u64,
            0,
        )?;
        // The PF's ACK: word 0 echoed with ACK|CTS, data words 1.. as the PF fills them.
        let mut reply = [0u32; MBX_WORDS];
        reply[0] = buf[0] | MSG_SUCCESS | MSG_CTS;
        reply[1] = 1;
        reply[2] = 2;
        if *req == Request::Reset {
            reply = [0; MBX_WORDS];
            reply[0] = MsgId::Reset as u32 | MSG_SUCCESS;
            reply[1] = u32::from_le_bytes([2, 1, 2, 3]);
        }
        let n = req.reply_words();
        let got = req.decode_reply(reply.get(..n).unwrap_or(&[]));
        ensure(got.is_ok(), "ACK reply rejected", i as u64, 0)?;
    }
    let ping = PfMessage::Control {
        clear_to_send: false,
    };
    ensure(
        PfMessage::decode(ping.encode()) == Ok(ping),
        "ping round trip",
        0,
        0,
    )
}

/// Malformed replies are errors: wrong length, unknown id, another request's reply, NACK.
pub fn mailbox_rejects() -> Outcome {
    let req = Request::SetVlan { vid: 1, add: true };
    let cases: [(&[u32], MbxError); 6] = [
        (&[], MbxError::Empty),
        (&[0; 17], MbxError::TooLong { got: 17 }),
        (
            &[0x0002 | MSG_SUCCESS | MSG_CTS, 0],
            MbxError::ReplyMismatch {
                expected: MsgId::SetVlan,
                got: 2,
            },
        ),
        (
            &[0x0004 | MSG_SUCCESS | MSG_CTS, 1],
            MbxError::InfoMismatch {
                msg: MsgId::SetVlan,
                sent: 1,
                got: 0,
            },
        ),
        (
            &[0x0001_0004 | MSG_FAILURE | MSG_CTS, 1],
            MbxError::Nack {
                msg: MsgId::SetVlan,
            },
        ),
        (
            &[0x0001_0004 | MSG_FAILURE, 1],
            MbxError::NotClearToSend {
                msg: MsgId::SetVlan,
            },
        ),
    ];
    for (i, (words, want)) in cases.iter().enumerate() {
        ensure(
            req.decode_reply(words) == Err(*want),
            "malformed reply accepted",
            i as u64,
            0,
        )?;
    }
    // Pseudo-random garbage never decodes as a reply to a request it does not answer.
    let mut rng = XorShift(0xDEAD_BEEF_0BAD_F00D);
    for i in 0..2000u64 {
        let mut w = [0u32; MBX_WORDS];
        for x in w.iter_mut() {
            *x = rng.u32();
        }
        let n = rng.below((MBX_WORDS as u64).saturating_add(1)) as usize;
        let words = w.get(..n).unwrap_or(&[]);
        if let Ok(r) = Request::GetQueues.decode_reply(words) {
            let first = words.first().copied().unwrap_or(0);
            ensure(
                first & 0xFFFF == 0x9 && first & MSG_SUCCESS != 0,
                "garbage accepted",
                i,
                u64::from(first),
            )?;
            ensure(matches!(r, Reply::Queues(_)), "wrong reply kind", i, 0)?;
        }
        let _ = Request::decode(words);
        let _ = PfMessage::decode(words.first().copied().unwrap_or(0));
    }
    Ok(())
}

/// A record encodes, decodes to the same bytes and refuses a flipped bit.
pub fn record_round_trip() -> Outcome {
    let mut s = SavedState::new(MacType::X540);
    s.seq = 42;
    s.tx[0] = RingSnapshot {
        count: 512,
        head: 7,
        next_to_use: 9,
        enabled: true,
    };
    s.pf.note(&Request::SetVlan { vid: 5, add: true }, &Reply::Ack)
        .map_err(|_| fail("note", 0))?;
    let mut bytes = [0u8; RECORD_BYTES];
    s.encode(&mut bytes);
    let crc = bytes.get(12..16).map(super::emul::le32).unwrap_or(0);
    s = SavedState::new(MacType::M82599);
    s.decode_into(&bytes).map_err(|_| fail("decode", 0))?;
    ensure(
        s.seq == 42 && s.pf.vlans() == [5] && s.mac == MacType::X540,
        "fields lost",
        0,
        0,
    )?;
    s.encode(&mut bytes);
    ensure(
        bytes.get(12..16).map(super::emul::le32) == Some(crc),
        "re-encoding differs",
        0,
        0,
    )?;
    for at in [0usize, 13, 100, RECORD_BYTES - 1] {
        if let Some(b) = bytes.get_mut(at) {
            *b ^= 0x10;
        }
        ensure(
            s.decode_into(&bytes).is_err(),
            "corrupt record accepted",
            at as u64,
            0,
        )?;
        if let Some(b) = bytes.get_mut(at) {
            *b ^= 0x10;
        }
    }
    Ok(())
}

/// Freeze stops DMA before collecting heads and dirtying pages; restore resets before any
/// mailbox replay, replays before touching rings, re-bases counters before refreshing the
/// link, and kicks interrupts last.
pub fn restore_plan_order() -> Outcome {
    let mut s = SavedState::new(MacType::M82599);
    s.pf.api = ApiVersion::V1_4;
    s.pf.xcast = Some(XcastMode::Multi);
    for q in 0..2 {
        if let (Some(t), Some(r)) = (s.tx.get_mut(q), s.rx.get_mut(q)) {
            *t = RingSnapshot {
                count: 64,
                head: 3,
                next_to_use: 9,
                enabled: true,
            };
            *r = RingSnapshot {
                count: 64,
                head: 60,
                next_to_use: 2,
                enabled: true,
            };
        }
    }
    // Freeze.
    let mut f = Freeze::new();
    let (mut last_disable, mut first_head, mut dirty, mut n) = (0u32, u32::MAX, 0u32, 0u32);
    while let Some(step) = f.next(&s) {
        // Saturating: a step counter; both plans end after a few dozen steps.
        n = n.saturating_add(1);
        match step {
            Step::DisableQueue { .. } => last_disable = n,
            Step::CollectHead { .. } => first_head = first_head.min(n),
            Step::MarkDirty => dirty = n,
            _ => {}
        }
    }
    ensure(
        last_disable < first_head && first_head < dirty,
        "freeze order",
        u64::from(first_head),
        u64::from(dirty),
    )?;
    // Restore onto an X540.
    let dst = lookup_pci(0x1515, 0).ok_or(fail("no X540 id", 0))?;
    let mut plan = Restore::new(&s, dst).map_err(|_| fail("refused", 0))?;
    let (mut reset, mut first_mbx, mut last_mbx_before_rings, mut first_ring, mut n) =
        (0u32, 0u32, 0u32, 0u32, 0u32);
    let (mut counters, mut refresh) = (0u32, 0u32);
    let mut last = None;
    while let Some(step) = plan.next(&s).map_err(|_| fail("restore failed", n))? {
        // Saturating: a step counter; both plans end after a few dozen steps.
        n = n.saturating_add(1);
        match step {
            Step::Write {
                reg: Reg::VFCTRL, ..
            } => reset = n,
            Step::Mailbox(req) => {
                if first_mbx == 0 {
                    first_mbx = n;
                }
                if first_ring == 0 {
                    last_mbx_before_rings = n;
                }
                plan.mailbox_done(&s, &req, synth_reply(&req))
                    .map_err(|_| fail("mailbox", n))?;
            }
            Step::RebaseRing { .. } if first_ring == 0 => first_ring = n,
            Step::RebaseCounters => counters = n,
            Step::RefreshLink => refresh = n,
            _ => {}
        }
        last = Some(step);
    }
    ensure(
        reset > 0 && reset < first_mbx,
        "mailbox before reset",
        u64::from(reset),
        u64::from(first_mbx),
    )?;
    ensure(
        last_mbx_before_rings < first_ring,
        "rings before PF replay",
        u64::from(first_ring),
        0,
    )?;
    ensure(
        counters > 0 && counters < refresh,
        "link refreshed before counters re-based",
        u64::from(counters),
        u64::from(refresh),
    )?;
    ensure(
        matches!(
            last,
            Some(Step::Write {
                reg: Reg::VTEICS,
                ..
            })
        ),
        "interrupt kick is not last",
        u64::from(n),
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_selftest_passes() {
        for (name, check) in ALL {
            assert_eq!(check(), Ok(()), "{name}");
        }
    }

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
