//! The hypervisor's half of the migration doorbell (docs/doorbell.md, version 1), as a test
//! hypervisor presents it: the vendor-specific capability in the VF's config space, the
//! control-socket commands that ring it, and the status the guest wrote back.
//!
//! Written from the specification, not from the driver's code: the offsets are repeated here
//! on purpose, so a misreading on one side cannot pass unnoticed on both.

use crate::config::{Capability, ConfigSpace};

/// Vendor-specific capability id.
pub const CAP_ID: u8 = 0x09;
/// Capability length in bytes, header included.
const CAP_LEN: u8 = 0x30;
/// "CSVF", little endian.
const SIGNATURE: u32 = u32::from_le_bytes(*b"CSVF");

/// Field offsets from the capability start (docs/doorbell.md, "Layout").
/// Bits 7:0 the command, 31:8 the sequence number.
const DOORBELL: usize = 0x08;
const STATUS: usize = 0x10;
const ACK_SEQ: usize = 0x14;
const REASON: usize = 0x18;
const RECORD_LO: usize = 0x1C;
const RECORD_HI: usize = 0x20;
const RECORD_LEN: usize = 0x24;
const ELAPSED_US: usize = 0x28;

/// Command names and their wire values.
pub const COMMANDS: [(&str, u8); 7] = [
    ("none", 0),
    ("prepare", 1),
    ("freeze", 2),
    ("restore", 3),
    ("abort", 4),
    ("checkpoint", 5),
    ("commit", 6),
];

/// Status names by wire value.
const STATUSES: [&str; 6] = ["running", "prepared", "frozen", "restored", "error", "busy"];

/// The capability as the hypervisor presents it at boot: version 1, no command, status
/// RUNNING. The guest may write the status block (0x10..0x2C); the command block is the
/// hypervisor's, read-only to the guest.
pub fn capability() -> Capability {
    // `body` starts after the id/next header, at capability offset 2.
    let mut body = vec![0u8; usize::from(CAP_LEN) - 2];
    body[0] = CAP_LEN;
    body[1] = 1;
    body[2..6].copy_from_slice(&SIGNATURE.to_le_bytes());
    let mut wmask = vec![0u8; body.len()];
    for b in &mut wmask[STATUS - 2..ELAPSED_US + 4 - 2] {
        *b = 0xFF;
    }
    Capability {
        id: CAP_ID,
        body,
        wmask,
    }
}

/// What the guest last wrote back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestStatus {
    /// Status name ("frozen", ...), or "unknown(N)".
    pub status: u32,
    /// The sequence number answered.
    pub ack_seq: u32,
    /// Reason code when the status is ERROR.
    pub reason: u32,
    /// Guest-physical address and length of the saved record.
    pub record: (u64, u32),
    /// Microseconds the guest spent on the command.
    pub elapsed_us: u32,
}

impl GuestStatus {
    /// The status name.
    pub fn status_name(&self) -> String {
        STATUSES
            .get(self.status as usize)
            .map_or_else(|| format!("unknown({})", self.status), |s| (*s).to_owned())
    }
}

/// The doorbell capability's offset in `cfg`, if present.
pub fn find(cfg: &ConfigSpace) -> Option<usize> {
    let mut at = cfg.read8(0x34) as usize;
    for _ in 0..48 {
        if !(0x40..=0xFC).contains(&at) {
            return None;
        }
        if cfg.read8(at) == CAP_ID && cfg.read32(at + 4) == SIGNATURE {
            return Some(at);
        }
        at = cfg.read8(at + 1) as usize;
    }
    None
}

/// Sequence numbers are 24 bits.
pub const SEQ_MASK: u32 = 0xFF_FFFF;

/// Writes `command` (8 bits) with sequence number `seq` (24 bits) in one dword (the
/// hypervisor's write: no write mask).
pub fn ring(cfg: &mut ConfigSpace, at: usize, command: u8, seq: u32) {
    cfg.set32(at + DOORBELL, u32::from(command) | (seq & SEQ_MASK) << 8);
}

/// The last sequence number rung.
pub fn last_seq(cfg: &ConfigSpace, at: usize) -> u32 {
    cfg.read32(at + DOORBELL) >> 8
}

/// What the guest wrote back.
pub fn status(cfg: &ConfigSpace, at: usize) -> GuestStatus {
    GuestStatus {
        status: cfg.read32(at + STATUS),
        ack_seq: cfg.read32(at + ACK_SEQ),
        reason: cfg.read32(at + REASON),
        record: (
            u64::from(cfg.read32(at + RECORD_LO)) | u64::from(cfg.read32(at + RECORD_HI)) << 32,
            cfg.read32(at + RECORD_LEN),
        ),
        elapsed_us: cfg.read32(at + ELAPSED_US),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_writes_only_the_status_block() {
        let mut cfg = ConfigSpace::new(0x10ED, vec![capability()]);
        let at = find(&cfg).expect("capability listed");
        assert_eq!(cfg.read8(at + 2), CAP_LEN);
        assert_eq!(cfg.read8(at + 3), 1);
        ring(&mut cfg, at, 2, 7);
        // The guest cannot change the doorbell...
        cfg.write((at + DOORBELL) as u64, &[0, 9, 0, 0]);
        assert_eq!(
            (cfg.read32(at + DOORBELL) & 0xFF, last_seq(&cfg, at)),
            (2, 7)
        );
        // ...and answers in the status block.
        cfg.write((at + STATUS) as u64, &2u32.to_le_bytes());
        cfg.write((at + ACK_SEQ) as u64, &7u32.to_le_bytes());
        cfg.write((at + RECORD_LEN) as u64, &1234u32.to_le_bytes());
        let s = status(&cfg, at);
        assert_eq!(
            (s.status_name().as_str(), s.ack_seq, s.record.1),
            ("frozen", 7, 1234)
        );
        // Nothing past the capability is writable through it.
        cfg.write((at + 0x2C) as u64, &[0xFF; 4]);
        assert_eq!(cfg.read32(at + 0x2C), 0);
    }
}
