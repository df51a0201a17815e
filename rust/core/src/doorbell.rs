//! The migration doorbell (docs/doorbell.md, version 1): the layout of the vendor-specific PCI
//! capability the hypervisor emulates in the VF's config space, and the guest's state machine
//! that decides what each command means in each state.
//!
//! Everything the hypervisor writes is untrusted: an unknown command, a sequence number that
//! does not move forward, or a command that makes no sense in the current state is answered
//! with a status and a reason, never acted on.

/// PCI capability id of a vendor-specific capability.
pub const CAP_ID: u8 = 0x09;
/// Bytes of the capability, header included.
pub const CAP_LEN: u8 = 0x30;
/// Layout version this driver implements.
pub const VERSION: u8 = 1;
/// `"CSVF"` little endian: tells this capability from another vendor-specific one.
pub const SIGNATURE: u32 = u32::from_le_bytes(*b"CSVF");

/// Field offsets from the capability's start.
pub mod off {
    /// u8: capability id (0x09).
    pub const ID: u8 = 0x00;
    /// u8: next capability.
    pub const NEXT: u8 = 0x01;
    /// u8: capability length ([`super::CAP_LEN`]).
    pub const LEN: u8 = 0x02;
    /// u8: layout version ([`super::VERSION`]).
    pub const VERSION: u8 = 0x03;
    /// u32: [`super::SIGNATURE`].
    pub const SIGNATURE: u8 = 0x04;
    /// u32, hypervisor-written: the doorbell. Bits 7:0 the command ([`super::Command`]),
    /// bits 31:8 its sequence number, one more than the last (24 bits, wrapping). One
    /// dword, so a command and its number are always read together.
    pub const DOORBELL: u8 = 0x08;
    /// u32: reserved, reads 0.
    pub const RESERVED0: u8 = 0x0C;
    /// u32, guest-written: the status ([`super::Status`]).
    pub const STATUS: u8 = 0x10;
    /// u32, guest-written: the sequence number the status answers (bits 23:0).
    pub const ACK_SEQ: u8 = 0x14;
    /// u32, guest-written: why the status is ERROR ([`super::Reason`]), else 0.
    pub const REASON: u8 = 0x18;
    /// u32 × 2, guest-written: guest-physical address of the saved record.
    pub const RECORD_LO: u8 = 0x1C;
    /// See [`RECORD_LO`].
    pub const RECORD_HI: u8 = 0x20;
    /// u32, guest-written: bytes of the saved record.
    pub const RECORD_LEN: u8 = 0x24;
    /// u32, guest-written: microseconds the last command took in the guest.
    pub const ELAPSED_US: u8 = 0x28;
    /// u32: reserved, reads 0.
    pub const RESERVED: u8 = 0x2C;
}

/// A command from the hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Nothing asked (the reset value).
    None,
    /// A migration starts: make every page the VF writes visible to the dirty log.
    Prepare,
    /// Stop VF DMA, dirty what it wrote, save the state; answer FROZEN.
    Freeze,
    /// On the destination: rebuild the VF from the saved state; answer RESTORED.
    Restore,
    /// The migration failed: resume on the source VF; answer RUNNING.
    Abort,
    /// Reserved for replication (Remus-style checkpoints); refused in version 1.
    Checkpoint,
    /// Reserved for replication; refused in version 1.
    Commit,
}

impl Command {
    /// The command for a wire value; `None` for values version 1 does not define.
    pub fn from_wire(v: u32) -> Option<Command> {
        Some(match v {
            0 => Command::None,
            1 => Command::Prepare,
            2 => Command::Freeze,
            3 => Command::Restore,
            4 => Command::Abort,
            5 => Command::Checkpoint,
            6 => Command::Commit,
            _ => return None,
        })
    }

    /// The wire value.
    pub const fn wire(self) -> u32 {
        self as u32
    }
}

/// The guest's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Normal operation.
    Running = 0,
    /// PREPARE done: pages the VF writes are being dirtied.
    Prepared = 1,
    /// FREEZE done: VF DMA stopped, pages dirtied, record saved. The vCPUs may stop.
    Frozen = 2,
    /// RESTORE done: the VF carries traffic again.
    Restored = 3,
    /// A command was refused or failed; [`Reason`] says why.
    Error = 4,
    /// A command is being carried out.
    Busy = 5,
}

/// Why a command was refused or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// No error.
    None = 0,
    /// The command value is not defined by version 1.
    UnknownCommand = 1,
    /// The command makes no sense in the current state (RESTORE without FREEZE...).
    BadState = 2,
    /// The sequence number did not move forward.
    StaleSeq = 3,
    /// CHECKPOINT and COMMIT are reserved.
    Reserved = 4,
    /// The saved record failed its checks (magic, version, CRC, layout).
    BadRecord = 5,
    /// The destination VF cannot take this record (another generation, too few queues).
    Incompatible = 6,
    /// The device did not do what the step needed (reset, queue stop, mailbox).
    DeviceFailed = 7,
    /// ABORT found a VF that does not hold the state FREEZE left (a destination VF, or a
    /// source VF reset since): nothing changed; RESTORE is the command for that VF.
    NotSameVf = 8,
}

/// Where the guest is in a migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Running, not migrating.
    Running,
    /// PREPARE seen.
    Prepared,
    /// FREEZE done; waiting for RESTORE (destination) or ABORT (source).
    Frozen,
}

/// What the driver must do for a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing new: the command was already answered (same sequence number).
    None,
    /// NONE with a new sequence number: answer with the current status, change nothing.
    Nop,
    /// Start dirtying device-written pages.
    Prepare,
    /// Freeze.
    Freeze,
    /// Restore onto the (new) VF.
    Restore,
    /// Resume on the same VF.
    Abort,
    /// Answer ERROR with this reason and change nothing.
    Refuse(Reason),
}

/// Bits of the sequence number in the doorbell dword.
pub const SEQ_BITS: u32 = 24;
/// The largest sequence number (they wrap to 0).
pub const SEQ_MASK: u32 = (1 << SEQ_BITS) - 1;

/// What a walk of the VF's capability list found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// No vendor-specific capability with [`SIGNATURE`]: no doorbell.
    Nothing,
    /// Ours, but a version or length this driver does not speak.
    Unsupported {
        /// Config offset of the capability.
        at: u8,
        /// Its version byte.
        version: u8,
        /// Its length byte.
        len: u8,
    },
    /// A doorbell this driver speaks, at config offset `at`.
    Doorbell {
        /// Config offset of the capability.
        at: u8,
    },
}

/// Walks the standard capability list of a config space (reads through `read8` and
/// `read32`, `None` when a read fails) for the doorbell. Every byte is the hypervisor's, so
/// the walk stays inside the first 256 bytes, stops after 48 hops (a longer list is a loop)
/// and checks the capability fits.
pub fn locate(read8: impl Fn(u8) -> Option<u8>, read32: impl Fn(u8) -> Option<u32>) -> Found {
    let mut at = read8(0x34).unwrap_or(0);
    for _ in 0..48 {
        if !(0x40..=0xF0).contains(&at) {
            break;
        }
        // In range: `at` + 4 <= 0xF4 fits a u8.
        let sig = read32(at.saturating_add(off::SIGNATURE));
        if read8(at) == Some(CAP_ID) && sig == Some(SIGNATURE) {
            let len = read8(at.saturating_add(off::LEN)).unwrap_or(0);
            let version = read8(at.saturating_add(off::VERSION)).unwrap_or(0);
            let end = u16::from(at).checked_add(u16::from(len));
            if version != VERSION || len < CAP_LEN || end.is_none_or(|e| e > 0x100) {
                return Found::Unsupported { at, version, len };
            }
            return Found::Doorbell { at };
        }
        at = read8(at.saturating_add(1)).unwrap_or(0);
    }
    Found::Nothing
}

/// Splits the doorbell dword into (command, sequence number).
pub const fn split(doorbell: u32) -> (u32, u32) {
    (doorbell & 0xFF, doorbell >> 8)
}

/// The guest's side of the doorbell: the phase and the last sequence number answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Doorbell {
    phase: Phase,
    /// The last sequence number accepted (the order is checked against it).
    last_seq: Option<u32>,
    /// The last sequence number answered, accepted or refused: read again, it is not news.
    last_seen: Option<u32>,
}

impl Default for Doorbell {
    fn default() -> Self {
        Doorbell {
            phase: Phase::Running,
            last_seq: None,
            last_seen: None,
        }
    }
}

impl Doorbell {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Decides what `command`/`seq` (as [`split`] from the doorbell dword) asks. A sequence
    /// number equal to the last answered one (accepted or refused) is the same ring read
    /// again: nothing to do. One that is not ahead of the last accepted one (wrapping, within
    /// half the space) is stale and refused. A destination's hypervisor continues the
    /// source's numbering (docs/doorbell.md).
    pub fn decide(&mut self, command: u32, seq: u32) -> Action {
        if self.last_seen == Some(seq) {
            return Action::None;
        }
        self.last_seen = Some(seq);
        if let Some(last) = self.last_seq {
            let ahead = seq.wrapping_sub(last) & SEQ_MASK;
            if ahead == 0 || ahead > SEQ_MASK / 2 {
                return Action::Refuse(Reason::StaleSeq);
            }
        }
        self.last_seq = Some(seq);
        let Some(cmd) = Command::from_wire(command) else {
            return Action::Refuse(Reason::UnknownCommand);
        };
        match (cmd, self.phase) {
            (Command::None, _) => Action::Nop,
            (Command::Checkpoint | Command::Commit, _) => Action::Refuse(Reason::Reserved),
            (Command::Prepare, Phase::Running | Phase::Prepared) => Action::Prepare,
            (Command::Freeze, Phase::Running | Phase::Prepared) => Action::Freeze,
            (Command::Restore | Command::Abort, Phase::Frozen) => {
                if cmd == Command::Restore {
                    Action::Restore
                } else {
                    Action::Abort
                }
            }
            (Command::Abort, Phase::Prepared) => Action::Abort,
            _ => Action::Refuse(Reason::BadState),
        }
    }

    /// Records that an action completed (or failed and left the VF as before).
    pub fn done(&mut self, action: Action, ok: bool) {
        self.phase = match (action, ok) {
            (Action::Prepare, true) => Phase::Prepared,
            (Action::Freeze, true) => Phase::Frozen,
            (Action::Restore | Action::Abort, true) => Phase::Running,
            // A failed restore leaves the VF frozen: the hypervisor may retry or abort.
            _ => self.phase,
        };
    }

    /// The status to publish after `action` finished with `outcome` (and
    /// [`Doorbell::done`]): a failed step reports its reason.
    pub fn status(&self, action: Action, outcome: Result<(), Reason>) -> (Status, Reason) {
        match (action, outcome) {
            (Action::Refuse(r), _) => (Status::Error, r),
            (_, Err(r)) => (Status::Error, r),
            (Action::Prepare, Ok(())) => (Status::Prepared, Reason::None),
            (Action::Freeze, Ok(())) => (Status::Frozen, Reason::None),
            (Action::Restore, Ok(())) => (Status::Restored, Reason::None),
            (Action::Abort, Ok(())) => (Status::Running, Reason::None),
            (Action::None | Action::Nop, Ok(())) => match self.phase {
                Phase::Running => (Status::Running, Reason::None),
                Phase::Prepared => (Status::Prepared, Reason::None),
                Phase::Frozen => (Status::Frozen, Reason::None),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    /// A config space of 256 bytes with `caps` (offset, bytes) laid in and chained.
    fn space(caps: &[(u8, &[u8])]) -> [u8; 256] {
        let mut c = [0u8; 256];
        c[0x34] = caps.first().map_or(0, |(a, _)| *a);
        for (i, (at, bytes)) in caps.iter().enumerate() {
            let a = usize::from(*at);
            c[a..a + bytes.len()].copy_from_slice(bytes);
            c[a + 1] = caps.get(i + 1).map_or(0, |(n, _)| *n);
        }
        c
    }

    fn walk(c: &[u8; 256]) -> Found {
        locate(
            |o| c.get(usize::from(o)).copied(),
            |o| {
                let o = usize::from(o);
                c.get(o..o + 4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            },
        )
    }

    #[test]
    fn locate_finds_ours_behind_others_and_refuses_what_it_cannot_speak() {
        let ours = [CAP_ID, 0, CAP_LEN, VERSION, b'C', b'S', b'V', b'F'];
        let msix = [0x11u8, 0, 0, 0];
        let other_vendor = [CAP_ID, 0, 0x10, 1, b'X', b'Y', b'Z', b'W'];
        let c = space(&[(0x50, &msix), (0x60, &other_vendor), (0x80, &ours)]);
        assert_eq!(walk(&c), Found::Doorbell { at: 0x80 });
        let v2 = [CAP_ID, 0, CAP_LEN, 2, b'C', b'S', b'V', b'F'];
        assert_eq!(
            walk(&space(&[(0x40, &v2)])),
            Found::Unsupported {
                at: 0x40,
                version: 2,
                len: CAP_LEN
            }
        );
        // Too short, and running past config space.
        let short = [CAP_ID, 0, 0x10, VERSION, b'C', b'S', b'V', b'F'];
        assert!(matches!(
            walk(&space(&[(0x40, &short)])),
            Found::Unsupported { .. }
        ));
        assert!(matches!(
            walk(&space(&[(0xF0, &ours)])),
            Found::Unsupported { .. }
        ));
        assert_eq!(walk(&space(&[(0x50, &msix)])), Found::Nothing);
    }

    #[test]
    fn locate_survives_loops_and_failed_reads() {
        // A list pointing at itself ends after the hop limit.
        let mut c = space(&[(0x40, &[0x11, 0, 0, 0])]);
        c[0x41] = 0x40;
        assert_eq!(walk(&c), Found::Nothing);
        assert_eq!(locate(|_| None, |_| None), Found::Nothing);
        // All ones (a gone device): 0xFF is outside the list's range.
        assert_eq!(locate(|_| Some(0xFF), |_| Some(u32::MAX)), Found::Nothing);
    }

    use super::*;

    #[test]
    fn a_migration_runs_prepare_freeze_restore() {
        let mut d = Doorbell::default();
        assert_eq!(d.decide(1, 1), Action::Prepare);
        d.done(Action::Prepare, true);
        assert_eq!(d.decide(1, 1), Action::None, "same ring read twice");
        assert_eq!(d.decide(2, 2), Action::Freeze);
        d.done(Action::Freeze, true);
        assert_eq!(d.phase(), Phase::Frozen);
        assert_eq!(d.decide(3, 3), Action::Restore);
        d.done(Action::Restore, true);
        assert_eq!(d.phase(), Phase::Running);
        assert_eq!(
            d.status(Action::Restore, Ok(())),
            (Status::Restored, Reason::None)
        );
        assert_eq!(d.decide(0, 4), Action::Nop, "NONE is answered");
        assert_eq!(
            d.status(Action::Nop, Ok(())),
            (Status::Running, Reason::None)
        );
    }

    #[test]
    fn abuse_is_refused_with_a_reason() {
        let mut d = Doorbell::default();
        assert_eq!(
            d.decide(3, 1),
            Action::Refuse(Reason::BadState),
            "RESTORE unfrozen"
        );
        assert_eq!(
            d.decide(4, 2),
            Action::Refuse(Reason::BadState),
            "ABORT unfrozen"
        );
        assert_eq!(d.decide(99, 3), Action::Refuse(Reason::UnknownCommand));
        assert_eq!(d.decide(5, 4), Action::Refuse(Reason::Reserved));
        assert_eq!(d.decide(6, 5), Action::Refuse(Reason::Reserved));
        assert_eq!(
            d.decide(2, 4),
            Action::Refuse(Reason::StaleSeq),
            "seq backwards"
        );
        assert_eq!(d.decide(2, 6), Action::Freeze);
        d.done(Action::Freeze, true);
        assert_eq!(
            d.decide(2, 7),
            Action::Refuse(Reason::BadState),
            "FREEZE twice"
        );
        assert_eq!(d.decide(3, 8), Action::Restore);
        d.done(Action::Restore, false);
        assert_eq!(d.phase(), Phase::Frozen, "a failed restore stays frozen");
        assert_eq!(
            d.status(Action::Restore, Err(Reason::BadRecord)),
            (Status::Error, Reason::BadRecord),
            "a failed step reports its own reason"
        );
        assert_eq!(d.decide(4, 9), Action::Abort);
        d.done(Action::Abort, true);
        assert_eq!(
            d.decide(4, 10),
            Action::Refuse(Reason::BadState),
            "ABORT after resume"
        );
        assert_eq!(
            d.status(Action::Refuse(Reason::StaleSeq), Ok(())),
            (Status::Error, Reason::StaleSeq)
        );
    }

    #[test]
    fn sequence_numbers_wrap_at_24_bits() {
        let mut d = Doorbell::default();
        assert_eq!(split(2 | SEQ_MASK << 8), (2, SEQ_MASK));
        assert_eq!(d.decide(1, SEQ_MASK), Action::Prepare);
        d.done(Action::Prepare, true);
        assert_eq!(d.decide(2, 0), Action::Freeze);
        d.done(Action::Freeze, true);
        assert_eq!(d.decide(3, SEQ_MASK - 3), Action::Refuse(Reason::StaleSeq));
    }
}
