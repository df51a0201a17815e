//! Deterministic, allocation-free checks of the core's logic, run by the host tests and,
//! unchanged, by the KUnit suite inside the guest kernel.
//!
//! Each check returns a [`SelfTestFailure`] naming what broke. Randomised checks use a
//! fixed-seed xorshift generator, so a failure reproduces. Frames stay small (no array
//! above a few hundred bytes; the largest frame holds one saved record, about 1 KiB).

use super::counters::{CounterDesc, COUNTERS};
use super::mac::{lookup_pci, MacType};
use super::mbx::{
    ApiNegotiation, ApiVersion, MacAddr, MbxError, MbxPhase, McList, MsgId, PfMessage, QueueInfo,
    Reply, Request, XcastMode, MBX_WORDS, MSG_CTS, MSG_FAILURE, MSG_SUCCESS,
};
use super::plan::{Freeze, Restore, Step};
use super::record::{RingSnapshot, SavedState, RECORD_BYTES};
use super::regs::{self, Access, Class, Reg, TABLE};

#[path = "selftest/fake.rs"]
mod fake;
#[path = "selftest/replay.rs"]
mod replay;

pub use replay::emulation_replay;

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

fn fail(reason: &'static str, a: u32) -> SelfTestFailure {
    SelfTestFailure {
        reason,
        a: u64::from(a),
        b: 0,
    }
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
    // The API negotiation tries an older version after a refusal only, never after a failed
    // exchange (no answer, a garbled or out-of-turn one).
    let outcomes: [(MbxError, Option<ApiVersion>); 5] = [
        (
            MbxError::Nack {
                msg: MsgId::ApiNegotiate,
            },
            Some(ApiVersion::V1_6),
        ),
        (
            MbxError::Timeout {
                phase: MbxPhase::Reply,
                waited_us: 20_000,
            },
            None,
        ),
        (MbxError::Empty, None),
        (
            MbxError::NotClearToSend {
                msg: MsgId::ApiNegotiate,
            },
            None,
        ),
        (
            MbxError::ReplyMismatch {
                expected: MsgId::ApiNegotiate,
                got: 1,
            },
            None,
        ),
    ];
    for (i, (e, next)) in outcomes.iter().enumerate() {
        let mut n = ApiNegotiation::new(ApiVersion::V1_7);
        let go_on = n.failed(e);
        ensure(
            go_on == next.is_some() && (!go_on || n.current() == *next),
            "API negotiation moved on after a failed exchange, or not after a NACK",
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
}
