//! The saved record: everything the restore needs, in one fixed-size, versioned,
//! checksummed little-endian byte array that the driver keeps in guest memory and a
//! hypervisor may read (its address and length are published in the doorbell capability).
//!
//! Layout (all little endian):
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `"CSVF"` |
//! | 4..6 | version ([`VERSION`]) |
//! | 6..8 | header length ([`HEADER_BYTES`]) |
//! | 8..12 | total length ([`RECORD_BYTES`]) |
//! | 12..16 | CRC-32 (IEEE) of the whole record with this field zero |
//! | 16..20 | register table fingerprint ([`regs::TABLE_FINGERPRINT`]) |
//! | 20..24 | doorbell sequence number the record answers |
//! | 24 | source MAC type code |
//! | 25..28 | reserved, zero |
//! | then | self-emulation log, counters, PF state, Tx rings, Rx rings |
//!
//! A record from another table layout, a newer version, a truncated or corrupted copy is
//! refused by [`SavedState::decode_into`] with the reason.

use core::ops::Range;

use super::counters::{Counters, CountersDecodeError, COUNTERS_BYTES};
use super::emul::{copy_bytes, le32, EmulLog, LogDecodeError, LOG_BYTES};
use super::mac::MacType;
use super::pf::{PfDecodeError, PfState, PF_BYTES};
use super::regs::{self, LOGGED_QUEUES};

/// `"CSVF"` read as a little-endian u32.
pub const MAGIC: u32 = u32::from_le_bytes(*b"CSVF");
/// Layout version; bump on any change to the layout or the register table.
pub const VERSION: u16 = 1;
/// Bytes before the first section.
pub const HEADER_BYTES: usize = 28;
/// Bytes of one [`RingSnapshot`].
pub const RING_BYTES: usize = 8;
/// Queue slots per direction (the log's queue bound).
pub const RING_SLOTS: usize = LOGGED_QUEUES as usize;
/// Fewest descriptors ixgbevf configures in a ring (`IXGBEVF_MIN_TXD`/`_RXD`).
pub const MIN_RING_COUNT: u16 = 64;
/// Most descriptors ixgbevf configures in a ring (`IXGBEVF_MAX_TXD`/`_RXD`).
pub const MAX_RING_COUNT: u16 = 4096;
/// Ring sizes are multiples of this (`IXGBE_REQ_TX_DESCRIPTOR_MULTIPLE`, ethtool.c:253-255;
/// VFRDLEN/VFTDLEN bits 6:0 are zero, anatomy §1c).
pub const RING_COUNT_MULTIPLE: u16 = 8;
/// Bytes of the whole record.
pub const RECORD_BYTES: usize =
    HEADER_BYTES + LOG_BYTES + COUNTERS_BYTES + PF_BYTES + 2 * RING_SLOTS * RING_BYTES;

const LOG_AT: usize = HEADER_BYTES;
const COUNTERS_AT: usize = LOG_AT + LOG_BYTES;
const PF_AT: usize = COUNTERS_AT + COUNTERS_BYTES;
const TX_AT: usize = PF_AT + PF_BYTES;
const RX_AT: usize = TX_AT + RING_SLOTS * RING_BYTES;

// The record must fit the doorbell's 4 KiB budget for two queue pairs.
const _: () = assert!(RECORD_BYTES <= 4096);

/// A descriptor ring at freeze time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingSnapshot {
    /// Descriptors in the ring (0 = slot unused).
    pub count: u16,
    /// Hardware head collected after DMA stopped: the oldest descriptor not done.
    pub head: u16,
    /// The driver's `next_to_use` (the tail it last wrote).
    pub next_to_use: u16,
    /// The queue was enabled before the freeze.
    pub enabled: bool,
}

/// How to move a ring onto a fresh queue whose head starts at 0 (anatomy §4e, "Ring rebase
/// recipe"): rotate the descriptor array and buffer info left by `rotate_by`, then write
/// head 0 and tail `tail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingRebase {
    /// Rotate left by this many entries.
    pub rotate_by: u16,
    /// Descriptors outstanding, the new tail.
    pub tail: u16,
}

/// Why a ring cannot be rebased.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The head read from the device is not inside the ring.
    HeadOutOfRange {
        /// Head read.
        head: u16,
        /// Ring size.
        count: u16,
    },
    /// The saved `next_to_use` is not inside the ring.
    TailOutOfRange {
        /// Saved value.
        next_to_use: u16,
        /// Ring size.
        count: u16,
    },
}

impl RingSnapshot {
    /// The rebase for this ring. The head is a device value and is checked.
    pub fn rebase(&self) -> Result<RingRebase, RingError> {
        let count = self.count;
        if self.head >= count {
            return Err(RingError::HeadOutOfRange {
                head: self.head,
                count,
            });
        }
        if self.next_to_use >= count {
            return Err(RingError::TailOutOfRange {
                next_to_use: self.next_to_use,
                count,
            });
        }
        // Both are below `count`: the tail is the distance from head to next_to_use around
        // the ring, below `count`. The checked arithmetic cannot fail after the checks above.
        let head_out_of_range = RingError::HeadOutOfRange {
            head: self.head,
            count,
        };
        let tail = match self.next_to_use.checked_sub(self.head) {
            Some(tail) => tail,
            None => count
                .checked_sub(self.head)
                .and_then(|to_end| to_end.checked_add(self.next_to_use))
                .ok_or(head_out_of_range)?,
        };
        Ok(RingRebase {
            rotate_by: self.head,
            tail,
        })
    }

    fn encode(&self, out: &mut [u8]) {
        let [c0, c1] = self.count.to_le_bytes();
        let [h0, h1] = self.head.to_le_bytes();
        let [n0, n1] = self.next_to_use.to_le_bytes();
        let b: [u8; RING_BYTES] = [c0, c1, h0, h1, n0, n1, u8::from(self.enabled), 0];
        for (d, s) in out.iter_mut().zip(b) {
            *d = s;
        }
    }

    fn decode(b: &[u8]) -> Option<RingSnapshot> {
        let w = le32(b.get(..4)?);
        let x = le32(b.get(4..8)?);
        let enabled = match (x >> 16) & 0xFFFF {
            0 => false,
            1 => true,
            _ => return None,
        };
        // CAST: each is masked to 16 bits.
        let s = RingSnapshot {
            count: (w & 0xFFFF) as u16,
            head: (w >> 16) as u16,
            next_to_use: (x & 0xFFFF) as u16,
            enabled,
        };
        // An unused slot is all zero; a used one must be a ring ixgbevf could configure
        // (the driver rotates arrays of `count` entries on restore), with its tail inside.
        let unused = s == RingSnapshot::default();
        let size_ok = (MIN_RING_COUNT..=MAX_RING_COUNT).contains(&s.count)
            && s.count % RING_COUNT_MULTIPLE == 0;
        (unused || (size_ok && s.next_to_use < s.count)).then_some(s)
    }
}

/// Everything saved at freeze.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedState {
    /// The source VF's generation.
    pub mac: MacType,
    /// The doorbell sequence number this record answers.
    pub seq: u32,
    /// Self-emulation log (logged and read-back registers).
    pub log: EmulLog,
    /// Counter continuity state after the final update.
    pub counters: Counters,
    /// Guest-requested PF state.
    pub pf: PfState,
    /// Tx rings by register index.
    pub tx: [RingSnapshot; RING_SLOTS],
    /// Rx rings by register index.
    pub rx: [RingSnapshot; RING_SLOTS],
}

impl SavedState {
    /// An empty record for `mac`.
    pub fn new(mac: MacType) -> Self {
        SavedState {
            mac,
            seq: 0,
            log: EmulLog::default(),
            counters: Counters::default(),
            pf: PfState::default(),
            tx: [RingSnapshot::default(); RING_SLOTS],
            rx: [RingSnapshot::default(); RING_SLOTS],
        }
    }
}

/// Why a record was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Shorter or longer than [`RECORD_BYTES`].
    Length {
        /// Bytes given.
        got: usize,
    },
    /// Not a compsc_vf record.
    BadMagic {
        /// The first word.
        found: u32,
    },
    /// Written by a newer (or unknown) layout.
    Version {
        /// The version found.
        found: u16,
    },
    /// The header's own lengths disagree with this layout.
    HeaderLength {
        /// Header length found.
        header: u16,
        /// Total length found.
        total: u32,
    },
    /// The CRC does not match: torn or corrupted.
    Checksum {
        /// CRC stored.
        stored: u32,
        /// CRC computed.
        computed: u32,
    },
    /// Written under another register table.
    Fingerprint {
        /// Fingerprint found.
        found: u32,
    },
    /// Reserved header bytes 25..28 are not zero.
    Reserved {
        /// Bytes 25..28 read as a little-endian number.
        found: u32,
    },
    /// Unknown MAC type code.
    Mac {
        /// Code found.
        code: u8,
    },
    /// The log section is invalid.
    Log(LogDecodeError),
    /// The counters section is invalid.
    Counters(CountersDecodeError),
    /// The PF state section is invalid.
    Pf(PfDecodeError),
    /// A ring slot is invalid.
    Ring {
        /// Tx (true) or Rx.
        tx: bool,
        /// Slot index.
        index: usize,
    },
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`), so a hypervisor can check a record
/// with any standard library.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32_parts(&[bytes])
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = out.get_mut(at..at.saturating_add(bytes.len())) {
        copy_bytes(dst, bytes);
    }
}

/// The bytes of ring slot `index` in the section at `base`; `None` only on overflow, which
/// the slot bound (`RING_SLOTS`) rules out.
fn ring_range(base: usize, index: usize) -> Option<Range<usize>> {
    let at = index.checked_mul(RING_BYTES)?.checked_add(base)?;
    Some(at..at.checked_add(RING_BYTES)?)
}

/// `len` bytes at `at`, or nothing if they are not all there.
fn section(bytes: &[u8], at: usize, len: usize) -> &[u8] {
    at.checked_add(len)
        .and_then(|end| bytes.get(at..end))
        .unwrap_or(&[])
}

impl SavedState {
    /// Encodes the record.
    pub fn encode(&self, out: &mut [u8; RECORD_BYTES]) {
        out.fill(0);
        put(out, 0, &MAGIC.to_le_bytes());
        put(out, 4, &VERSION.to_le_bytes());
        // CAST: both constants are far below the field widths.
        put(out, 6, &(HEADER_BYTES as u16).to_le_bytes());
        put(out, 8, &(RECORD_BYTES as u32).to_le_bytes());
        put(out, 16, &regs::TABLE_FINGERPRINT.to_le_bytes());
        put(out, 20, &self.seq.to_le_bytes());
        put(out, 24, &[self.mac.code()]);
        let mut log = [0u8; LOG_BYTES];
        self.log.encode(&mut log);
        put(out, LOG_AT, &log);
        let mut counters = [0u8; COUNTERS_BYTES];
        self.counters.encode(&mut counters);
        put(out, COUNTERS_AT, &counters);
        let mut pf = [0u8; PF_BYTES];
        self.pf.encode(&mut pf);
        put(out, PF_AT, &pf);
        for (i, r) in self.tx.iter().enumerate() {
            if let Some(dst) = ring_range(TX_AT, i).and_then(|at| out.get_mut(at)) {
                r.encode(dst);
            }
        }
        for (i, r) in self.rx.iter().enumerate() {
            if let Some(dst) = ring_range(RX_AT, i).and_then(|at| out.get_mut(at)) {
                r.encode(dst);
            }
        }
        let crc = crc32(out.as_slice());
        put(out, 12, &crc.to_le_bytes());
    }

    /// Checks the header and checksum of an encoded record without decoding the sections.
    pub fn check(bytes: &[u8]) -> Result<(), RecordError> {
        let word = |at: usize| le32(section(bytes, at, 4));
        let magic = word(0);
        if bytes.len() < HEADER_BYTES {
            return Err(RecordError::Length { got: bytes.len() });
        }
        if magic != MAGIC {
            return Err(RecordError::BadMagic { found: magic });
        }
        // CAST: masked to 16 bits.
        let version = (word(4) & 0xFFFF) as u16;
        if version != VERSION {
            return Err(RecordError::Version { found: version });
        }
        let header = (word(4) >> 16) as u16;
        let total = word(8);
        if usize::from(header) != HEADER_BYTES || total as usize != RECORD_BYTES {
            return Err(RecordError::HeaderLength { header, total });
        }
        if bytes.len() != RECORD_BYTES {
            return Err(RecordError::Length { got: bytes.len() });
        }
        let stored = word(12);
        // CRC over the record with the CRC field read as zero.
        // The length was checked above; the fallback only avoids a panic path.
        let (head, rest) = bytes.split_at_checked(12).unwrap_or((bytes, &[]));
        let tail = rest.get(4..).unwrap_or(&[]);
        let computed = crc32_parts(&[head, &[0; 4], tail]);
        if stored != computed {
            return Err(RecordError::Checksum { stored, computed });
        }
        let fp = word(16);
        if fp != regs::TABLE_FINGERPRINT {
            return Err(RecordError::Fingerprint { found: fp });
        }
        // Reserved bytes must be zero: a later version may give them a meaning, and a record
        // that sets them was not written by this one.
        let reserved = word(24) >> 8;
        if reserved != 0 {
            return Err(RecordError::Reserved { found: reserved });
        }
        Ok(())
    }

    /// Decodes a record into `self`. On error `self` may be partly overwritten and must
    /// not be used; the header and checksum are checked before anything is written.
    pub fn decode_into(&mut self, bytes: &[u8]) -> Result<(), RecordError> {
        SavedState::check(bytes)?;
        let section = |at: usize, len: usize| section(bytes, at, len);
        let ring = |base: usize, index: usize| {
            ring_range(base, index)
                .and_then(|at| bytes.get(at))
                .unwrap_or(&[])
        };
        let code = bytes.get(24).copied().unwrap_or(0xFF);
        self.mac = MacType::from_code(code).ok_or(RecordError::Mac { code })?;
        self.seq = le32(section(20, 4));
        self.log = EmulLog::decode(section(LOG_AT, LOG_BYTES)).map_err(RecordError::Log)?;
        self.counters = Counters::decode(section(COUNTERS_AT, COUNTERS_BYTES))
            .map_err(RecordError::Counters)?;
        self.pf = PfState::decode(section(PF_AT, PF_BYTES)).map_err(RecordError::Pf)?;
        for (index, r) in self.tx.iter_mut().enumerate() {
            *r = RingSnapshot::decode(ring(TX_AT, index))
                .ok_or(RecordError::Ring { tx: true, index })?;
        }
        for (index, r) in self.rx.iter_mut().enumerate() {
            *r = RingSnapshot::decode(ring(RX_AT, index))
                .ok_or(RecordError::Ring { tx: false, index })?;
        }
        Ok(())
    }
}

/// CRC-32 of the concatenation of `parts`, bit by bit (no table: the record is about
/// 1 KiB and is checksummed once per migration).
fn crc32_parts(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for b in part.iter() {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                let mask = (crc & 1).wrapping_neg();
                crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
            }
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::super::mbx::{Reply, Request};
    use super::*;

    fn sample() -> SavedState {
        let mut s = SavedState::new(MacType::X540);
        s.seq = 7;
        s.pf.note(&Request::SetVlan { vid: 3, add: true }, &Reply::Ack)
            .unwrap();
        s.tx[0] = RingSnapshot {
            count: 1024,
            head: 1000,
            next_to_use: 10,
            enabled: true,
        };
        s.rx[1] = RingSnapshot {
            count: 512,
            head: 5,
            next_to_use: 4,
            enabled: true,
        };
        s
    }

    #[test]
    fn size_is_reported() {
        println!("saved record: {RECORD_BYTES} bytes");
    }

    #[test]
    fn crc_matches_zlib() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_parts(&[b"1234", b"56789"]), 0xCBF4_3926);
    }

    #[test]
    fn round_trip() {
        let s = sample();
        let mut b = [0u8; RECORD_BYTES];
        s.encode(&mut b);
        let mut d = SavedState::new(MacType::M82599);
        assert_eq!(d.decode_into(&b), Ok(()));
        assert_eq!(d, s);
    }

    #[test]
    fn corrupt_records_are_refused() {
        let mut b = [0u8; RECORD_BYTES];
        sample().encode(&mut b);
        let mut d = SavedState::new(MacType::M82599);
        let reseal = |b: &mut [u8; RECORD_BYTES]| {
            b[12..16].fill(0);
            let c = crc32(b.as_slice());
            b[12..16].copy_from_slice(&c.to_le_bytes());
        };
        // (mutation, expected error)
        type Mutation = Box<dyn Fn(&mut [u8; RECORD_BYTES])>;
        let cases: Vec<(Mutation, RecordError)> = vec![
            (
                Box::new(|b| b[0] = b'X'),
                RecordError::BadMagic {
                    found: u32::from_le_bytes(*b"XSVF"),
                },
            ),
            (Box::new(|b| b[4] = 2), RecordError::Version { found: 2 }),
            (
                Box::new(|b| b[8] = 0),
                RecordError::HeaderLength {
                    header: HEADER_BYTES as u16,
                    total: (RECORD_BYTES & !0xFF) as u32,
                },
            ),
            (
                Box::new(|b| b[100] ^= 1),
                RecordError::Checksum {
                    stored: 0,
                    computed: 0,
                },
            ),
            (
                Box::new(move |b| {
                    b[16] ^= 1;
                    reseal(b)
                }),
                RecordError::Fingerprint {
                    found: regs::TABLE_FINGERPRINT ^ 1,
                },
            ),
            (
                Box::new(move |b| {
                    b[24] = 9;
                    reseal(b)
                }),
                RecordError::Mac { code: 9 },
            ),
            (
                Box::new(move |b| {
                    b[26] = 1;
                    reseal(b)
                }),
                RecordError::Reserved { found: 0x100 },
            ),
            (
                Box::new(move |b| {
                    b[TX_AT + 6] = 5;
                    reseal(b)
                }),
                RecordError::Ring { tx: true, index: 0 },
            ),
            // Ring sizes ixgbevf never configures: not a multiple of 8, below 64, above 4096.
            (
                Box::new(move |b| {
                    b[RX_AT + RING_BYTES..RX_AT + RING_BYTES + 2]
                        .copy_from_slice(&513u16.to_le_bytes());
                    reseal(b)
                }),
                RecordError::Ring {
                    tx: false,
                    index: 1,
                },
            ),
            (
                Box::new(move |b| {
                    b[TX_AT..TX_AT + 6].copy_from_slice(&[32, 0, 1, 0, 2, 0]);
                    reseal(b)
                }),
                RecordError::Ring { tx: true, index: 0 },
            ),
            (
                Box::new(move |b| {
                    b[TX_AT..TX_AT + 2].copy_from_slice(&4104u16.to_le_bytes());
                    reseal(b)
                }),
                RecordError::Ring { tx: true, index: 0 },
            ),
        ];
        for (i, (mutate, want)) in cases.iter().enumerate() {
            let mut c = b;
            mutate(&mut c);
            let got = d.decode_into(&c);
            match (got, want) {
                (Err(RecordError::Checksum { .. }), RecordError::Checksum { .. }) => {}
                (got, want) => assert_eq!(got, Err(*want), "case {i}"),
            }
        }
        assert_eq!(
            d.decode_into(&b[..100]),
            Err(RecordError::Length { got: 100 })
        );
        assert!(matches!(
            d.decode_into(&[]),
            Err(RecordError::Length { got: 0 })
        ));
    }

    #[test]
    fn ring_rebase() {
        let cases = [
            (
                RingSnapshot {
                    count: 8,
                    head: 6,
                    next_to_use: 2,
                    enabled: true,
                },
                Ok(RingRebase {
                    rotate_by: 6,
                    tail: 4,
                }),
            ),
            (
                RingSnapshot {
                    count: 8,
                    head: 2,
                    next_to_use: 2,
                    enabled: true,
                },
                Ok(RingRebase {
                    rotate_by: 2,
                    tail: 0,
                }),
            ),
            (
                RingSnapshot {
                    count: 8,
                    head: 8,
                    next_to_use: 2,
                    enabled: true,
                },
                Err(RingError::HeadOutOfRange { head: 8, count: 8 }),
            ),
            (
                RingSnapshot {
                    count: 8,
                    head: 0,
                    next_to_use: 9,
                    enabled: true,
                },
                Err(RingError::TailOutOfRange {
                    next_to_use: 9,
                    count: 8,
                }),
            ),
            (
                RingSnapshot {
                    count: 0,
                    head: 0,
                    next_to_use: 0,
                    enabled: false,
                },
                Err(RingError::HeadOutOfRange { head: 0, count: 0 }),
            ),
        ];
        for (snap, want) in cases {
            assert_eq!(snap.rebase(), want, "{snap:?}");
        }
    }
}
