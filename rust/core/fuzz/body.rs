//! The fuzz body, shared by the cargo-fuzz target and by a `cargo test` that feeds it
//! pseudo-random inputs, so it runs on every test pass without nightly.
//!
//! Every input must leave the decoders with a value or an error, the plans with a finite
//! step list, and the mailbox machine with a result: never a panic, never a hang.

use compsc_core::emul::{Emul, RegisterIo};
use compsc_core::mac::{MacType, PCI_IDS};
use compsc_core::mbx::{ApiVersion, MacAddr, McList, PfMessage, Request, XcastMode, MBX_WORDS};
use compsc_core::mbx_vf::{Budget, Poll, Transaction};
use compsc_core::plan::{Abort, Freeze, Restore, Step};
use compsc_core::record::{crc32, SavedState, RECORD_BYTES};
use compsc_core::regs::TABLE_FINGERPRINT;
use std::cell::Cell;

fn words(data: &[u8]) -> Vec<u32> {
    data.chunks(4)
        .map(|c| {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(b)
        })
        .collect()
}

fn requests() -> Vec<Request> {
    let mut v = vec![
        Request::Reset,
        Request::SetMacAddr(MacAddr([2, 0, 0, 0, 0, 1])),
        Request::SetMulticast(McList::new(&[1, 2]).unwrap_or_default()),
        Request::SetVlan { vid: 3, add: true },
        Request::SetLpe { max_frame: 1518 },
        Request::SetMacvlan {
            index: 1,
            mac: MacAddr([2, 0, 0, 0, 0, 2]),
        },
        Request::GetQueues,
        Request::GetReta,
        Request::GetRssKey,
        Request::UpdateXcastMode(XcastMode::Multi),
        Request::GetLinkState,
        Request::GetPfLinkState,
        Request::FeaturesNegotiate(1),
    ];
    v.extend(ApiVersion::NEGOTIATION_ORDER.map(Request::ApiNegotiate));
    v
}

/// A device whose every read comes from the fuzz input.
struct Hostile<'a> {
    data: &'a [u8],
    at: Cell<usize>,
}

impl RegisterIo for Hostile<'_> {
    fn read32(&self, _offset: u32) -> u32 {
        let i = self.at.get();
        self.at.set(i + 4);
        let mut b = [0u8; 4];
        for (k, d) in b.iter_mut().enumerate() {
            *d = self
                .data
                .get((i + k) % self.data.len().max(1))
                .copied()
                .unwrap_or(0);
        }
        u32::from_le_bytes(b)
    }
    fn write32(&self, _: u32, _: u32) {}
}

/// Runs a plan to its end, answering mailbox steps with replies decoded from `data`.
fn drive_restore(saved: &SavedState, data: &[u8]) {
    let w = words(data);
    for (n, dst) in PCI_IDS.iter().enumerate() {
        let Ok(mut plan) = Restore::new(saved, dst) else {
            continue;
        };
        let mut k = n;
        for _ in 0..10_000 {
            match plan.next(saved) {
                Ok(Some(Step::Mailbox(req))) => {
                    let len = w.get(k).map_or(0, |x| (*x as usize) % (MBX_WORDS + 2));
                    let start = (k + 1).min(w.len());
                    let end = (start + len).min(w.len());
                    let reply = req.decode_reply(&w[start..end]);
                    k = end;
                    if plan.mailbox_done(saved, &req, reply).is_err() {
                        break;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
    let mut f = Freeze::new();
    let mut n = 0;
    while f.next(saved).is_some() {
        n += 1;
        assert!(n < 1000, "freeze does not end");
    }
    let mut a = Abort::new();
    let mut n = 0;
    while let Ok(Some(_)) = a.next(saved) {
        n += 1;
        assert!(n < 1000, "abort does not end");
    }
}

/// What each value of an input's first byte (modulo the length) feeds the rest to, in
/// order: `cargo xtask fuzz` checks that the corpus holds inputs for every one.
pub const DECODERS: [&str; 7] = [
    "mailbox messages and replies",
    "saved record and restore plan",
    "restore, freeze and abort plans",
    "mailbox transaction against a hostile device",
    "log, counters and PF state sections",
    "Rx and Tx descriptor write-backs",
    "doorbell capability walk and commands, health verdicts",
];

/// Descriptor write-backs as the data path reads them: every question it asks of one.
fn descriptors(rest: &[u8]) {
    let w = words(rest);
    for pair in w.chunks(4) {
        let q = |i: usize| u64::from(pair.get(i).copied().unwrap_or(0));
        let d = [q(0) | q(1) << 32, q(2) | q(3) << 32];
        let _ = compsc_core::desc::tx_done(d);
        if let Some(wb) = compsc_core::desc::RxWriteback::decode(d) {
            let _ = (
                wb.eop(),
                wb.frame_error(),
                wb.vlan(),
                wb.hash(),
                wb.nonsense(),
            );
            let _ = (wb.checksum(), wb.trusted_checksum());
            for buf in [0, 1, 2048, 3072, u32::MAX] {
                if let Some(len) = wb.checked_len(buf) {
                    assert!(
                        len != 0 && len <= buf,
                        "checked_len gave {len} for a {buf}-byte buffer"
                    );
                }
            }
        }
    }
}

/// The doorbell: a config space from the input walked for the capability, then the input's
/// dwords rung as doorbell values, each answered as the driver would.
fn doorbell(rest: &[u8]) {
    use compsc_core::doorbell::{self, Doorbell, Reason};
    let mut space = [0u8; 256];
    for (d, x) in space.iter_mut().zip(rest.iter()) {
        *d = *x;
    }
    let read8 = |o: u8| space.get(usize::from(o)).copied();
    let read32 = |o: u8| {
        let o = usize::from(o);
        space
            .get(o..o.checked_add(4)?)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if let doorbell::Found::Unsupported { at, .. } | doorbell::Found::Doorbell { at } =
        doorbell::locate(read8, read32)
    {
        assert!(
            (0x40..=0xF0).contains(&at),
            "capability outside the list range: {at:#x}"
        );
    }
    let mut bell = Doorbell::default();
    for (i, v) in words(rest).into_iter().enumerate() {
        let (cmd, seq) = doorbell::split(v);
        let action = bell.decide(cmd, seq);
        // Odd positions fail what was asked, as a destination that cannot take a record.
        let ok = i % 2 == 0;
        let outcome = if ok { Ok(()) } else { Err(Reason::BadRecord) };
        let _ = bell.status(action, outcome);
        bell.done(action, ok);
        let links = v.rotate_left(7);
        let msg = compsc_core::mbx::PfMessage::decode(v).ok();
        let _ = compsc_core::mbx_vf::health(links, v, msg);
    }
}

/// One fuzz input.
pub fn fuzz_one(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match usize::from(selector) % DECODERS.len() {
        5 => descriptors(rest),
        6 => doorbell(rest),
        0 => {
            let w = words(rest);
            let _ = Request::decode(&w);
            for req in requests() {
                let _ = req.decode_reply(&w);
            }
            let _ = PfMessage::decode(w.first().copied().unwrap_or(0));
        }
        1 => {
            // The record as given, and resealed so the sections are parsed.
            let mut s = SavedState::new(MacType::M82599);
            let _ = s.decode_into(rest);
            let mut b = vec![0u8; RECORD_BYTES];
            for (d, x) in b.iter_mut().zip(rest.iter().cycle()) {
                *d = *x;
            }
            b[0..4].copy_from_slice(b"CSVF");
            b[4..6].copy_from_slice(&1u16.to_le_bytes());
            b[6..8].copy_from_slice(&28u16.to_le_bytes());
            b[8..12].copy_from_slice(&(RECORD_BYTES as u32).to_le_bytes());
            b[16..20].copy_from_slice(&TABLE_FINGERPRINT.to_le_bytes());
            b[24] %= 6;
            b[12..16].fill(0);
            let c = crc32(&b);
            b[12..16].copy_from_slice(&c.to_le_bytes());
            if s.decode_into(&b).is_ok() {
                drive_restore(&s, rest);
            }
        }
        2 => {
            // A valid record with fuzzed plan answers.
            let mut s =
                SavedState::new(MacType::ALL[usize::from(rest.first().copied().unwrap_or(0)) % 6]);
            for (i, r) in s.tx.iter_mut().chain(s.rx.iter_mut()).enumerate() {
                let b = rest.get(1 + i).copied().unwrap_or(0);
                r.count = u16::from(b % 4) * 64;
                r.head = u16::from(b);
                r.next_to_use = u16::from(b / 2) % r.count.max(1);
                r.enabled = b & 1 == 1;
            }
            drive_restore(&s, rest);
        }
        3 => {
            // The mailbox machine against a device that returns anything.
            let dev = Hostile {
                data: rest,
                at: Cell::new(0),
            };
            let mut emul = Emul::new(&dev, MacType::X540.info());
            let reqs = requests();
            let req = reqs[usize::from(rest.first().copied().unwrap_or(0)) % reqs.len()];
            let mut t = Transaction::new(req, Budget::IXGBEVF);
            let mut elapsed = 0;
            for _ in 0..20_000 {
                match t.poll(&mut emul, elapsed) {
                    Poll::Wait { us } => elapsed = us,
                    Poll::Done(_) => return,
                }
            }
            panic!("mailbox transaction never finished");
        }
        // 4 (the modulo leaves nothing else).
        _ => {
            let _ = compsc_core::emul::EmulLog::decode(rest);
            let _ = compsc_core::counters::Counters::decode(rest);
            let _ = compsc_core::pf::PfState::decode(rest);
        }
    }
}
