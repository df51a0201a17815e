//! The VF register map: one row per register the driver touches, with its CompSC class.
//!
//! This table is the single source of truth for register facts. The self-emulation layer
//! (`emul`) decides what to log from a row's [`Access`] and [`Class`], the restore plan
//! (`plan`) decides what to write back from the same rows, and the driver ties its typed
//! register definitions to [`RegDesc::offset`] with compile-time assertions.
//!
//! Facts come from docs/reference/ixgbevf-anatomy.md §1 (ixgbevf/regs.h offsets, driver usage, datasheet
//! semantics). Rows are added when the driver needs them, not as a datasheet dump.

/// How the device behaves when the register is read or written.
///
/// The datasheet semantics matter to CompSC because a read that changes state (read-clear)
/// may never be issued while saving, and a write whose value cannot be read back
/// (write-only, set/clear pairs) survives only in the self-emulation log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Plain read-write; reads have no side effect.
    ReadWrite,
    /// Read-only status or hardware-owned value; writes are ignored or not issued.
    ReadOnly,
    /// Write-only state: a read does not return what was written (VTEIMC).
    WriteOnly,
    /// A write triggers an action and the bits self-clear; nothing persists (VFCTRL).
    Command {
        /// Bits that reset the VF when written as 1 (VFCTRL.RST).
        reset: u32,
    },
    /// Reading clears the bits in `bits`. If `w1c`, writing 1 also clears them (VTEICR);
    /// otherwise writes act on the other bits only (VFMAILBOX: VFU, REQ and ACK pulses).
    ReadClear {
        /// Bits a read clears.
        bits: u32,
        /// Whether writing 1 to a bit of `bits` clears it.
        w1c: bool,
    },
    /// Writing 1 sets bits of this register's mask; a read returns the mask, which the
    /// hardware may also clear by itself (VTEIMS with VTEIAM auto-mask).
    WriteOneToSet,
    /// Writing 1 clears bits of the mask held by `of` (VTEIMC clears VTEIMS).
    WriteOneToClear {
        /// The register whose mask this write clears.
        of: Reg,
    },
    /// Writing 1 sets cause bits of `of`, raising the interrupt if unmasked; a read returns
    /// those causes without clearing them (VTEICS, ethtool.c:163-164).
    WriteOneToSetOf {
        /// The register whose bits this write sets.
        of: Reg,
    },
}

impl Access {
    /// True when reading the register can destroy state, so save code must never read it.
    pub const fn read_has_side_effect(self) -> bool {
        matches!(self, Access::ReadClear { .. })
    }

    /// True when a read does not return the value the driver last wrote.
    pub const fn hides_written_value(self) -> bool {
        matches!(
            self,
            Access::WriteOnly
                | Access::Command { .. }
                | Access::ReadClear { .. }
                | Access::WriteOneToClear { .. }
                | Access::WriteOneToSetOf { .. }
        )
    }
}

/// The CompSC class of a register: which technique carries it to the destination VF.
///
/// See design.md, "What it is", and ixgbevf-anatomy.md §0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// No state to move; re-sample on the destination.
    Static,
    /// Side-effect-free configuration; the log keeps the last written value, the restore
    /// writes it back.
    ReadBack,
    /// Write-only, read-clear or hardware-modified: only the self-emulation log knows the
    /// driver's view; the restore re-creates the effect.
    Logged,
    /// State outside the BAR or owned by hardware (reset, heads, queue-enable handshake):
    /// the restore re-runs the sequence.
    Replayed,
    /// Free-running counter: continuity comes from a software base (`counters`).
    Counter,
}

/// Which MACs implement a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Every supported MAC.
    All,
    /// Only MACs whose VF owns its RSS configuration (X550 and later, anatomy §1g).
    VfRss,
}

/// Whether a row is per queue (stride 0x40 over the queue index) or an ordinary array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexing {
    /// One register, or an array indexed by something other than a queue.
    Plain,
    /// Indexed by Rx queue (`reg_idx`): the log keeps only [`LOGGED_QUEUES`] instances.
    RxQueue,
    /// Indexed by Tx queue (`reg_idx`): the log keeps only [`LOGGED_QUEUES`] instances.
    TxQueue,
}

/// Queue indices the self-emulation log keeps per queue register.
///
/// compsc_vf configures at most two Rx/Tx queue pairs (ixgbevf's `IXGBEVF_MAX_RSS_QUEUES 2`,
/// ixgbevf.h:133) plus one XDP Tx ring per Rx queue, whose `reg_idx` continue after the Tx
/// rings (main.c:2778-2989): Tx indices 0..3, Rx 0..1. The hardware has 8; an access to a
/// queue index at or above this bound is refused by the log rather than silently lost.
pub const LOGGED_QUEUES: u32 = 4;

/// Every register the driver uses, in table order. The discriminant is the row index.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    /// VF control: RST (bit 26) resets the VF.
    VFCTRL,
    /// VF status; also the flush read.
    VFSTATUS,
    /// Link status mirrored from the PF.
    VFLINKS,
    /// Free-running timer (ethtool register dump only).
    VFFRTIMER,
    /// Rx memory wrap diagnostic (ethtool register dump only).
    VFRXMEMWRAP,
    /// Interrupt cause: read-clear.
    VTEICR,
    /// Interrupt cause set.
    VTEICS,
    /// Interrupt mask set / read mask.
    VTEIMS,
    /// Interrupt mask clear.
    VTEIMC,
    /// Interrupt auto-clear enable.
    VTEIAC,
    /// Interrupt auto-mask enable.
    VTEIAM,
    /// Interrupt throttle, per MSI-X vector.
    VTEITR,
    /// Queue-to-vector mapping, one register per queue pair.
    VTIVAR,
    /// Mailbox-cause-to-vector mapping.
    VTIVAR_MISC,
    /// Packet split Rx type.
    VFPSRTYPE,
    /// Mailbox memory, 16 dwords shared with the PF.
    VFMBMEM,
    /// Mailbox control: VFU lock, REQ/ACK pulses, read-clear PFSTS/PFACK/RSTD.
    VFMAILBOX,
    /// Rx descriptor base, low.
    VFRDBAL,
    /// Rx descriptor base, high.
    VFRDBAH,
    /// Rx descriptor ring length in bytes.
    VFRDLEN,
    /// Rx DCA control.
    VFDCA_RXCTRL,
    /// Rx descriptor head, hardware-owned.
    VFRDH,
    /// Rx split and buffer size control.
    VFSRRCTL,
    /// Rx descriptor tail.
    VFRDT,
    /// Rx descriptor control: ENABLE handshake, VME, RLPML.
    VFRXDCTL,
    /// Good packets received.
    VFGPRC,
    /// Good octets received, bits 31:0.
    VFGORC_LSB,
    /// Good octets received, bits 35:32.
    VFGORC_MSB,
    /// Multicast packets received.
    VFMPRC,
    /// Tx descriptor base, low.
    VFTDBAL,
    /// Tx descriptor base, high.
    VFTDBAH,
    /// Tx descriptor ring length in bytes.
    VFTDLEN,
    /// Tx DCA control.
    VFDCA_TXCTRL,
    /// Tx descriptor head, hardware-owned.
    VFTDH,
    /// Tx descriptor tail.
    VFTDT,
    /// Tx descriptor control: ENABLE handshake, SWFLSH, thresholds.
    VFTXDCTL,
    /// Tx head write-back address, low.
    VFTDWBAL,
    /// Tx head write-back address, high.
    VFTDWBAH,
    /// Good packets transmitted.
    VFGPTC,
    /// Good octets transmitted, bits 31:0.
    VFGOTC_LSB,
    /// Good octets transmitted, bits 35:32.
    VFGOTC_MSB,
    /// RSS control (X550 and later).
    VFMRQC,
    /// RSS random key, 10 dwords (X550 and later).
    VFRSSRK,
    /// RSS redirection table, 16 dwords of 4 entries (X550 and later).
    VFRETA,
}

/// One row of the register table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegDesc {
    /// The register this row describes; equals its position in [`TABLE`].
    pub reg: Reg,
    /// Datasheet name.
    pub name: &'static str,
    /// Offset of instance 0 in BAR0.
    pub offset: u32,
    /// Implemented bits counted from bit 0 (32 for full registers, 4 for the counter MSBs).
    pub width: u8,
    /// Number of instances in hardware.
    pub count: u32,
    /// Distance between instances, in bytes (0 when `count` is 1).
    pub stride: u32,
    /// Whether the index is a queue index.
    pub indexing: Indexing,
    /// Device semantics.
    pub access: Access,
    /// CompSC class.
    pub class: Class,
    /// Which MACs implement it.
    pub presence: Presence,
    /// The value survives a VF reset (VFLR or VFCTRL.RST): the 82599 Specification Update's
    /// list (anatomy §1i). A destination VF may hold a previous tenant's value here, so the
    /// restore writes these explicitly. That VFCTRL.RST spares the same registers as VFLR
    /// is an assumption (anatomy §1a, [DS]); the tests' fake device encodes it too.
    pub survives_reset: bool,
    /// Whether the per-packet path may write it through a [`Hot`] handle, without the log.
    pub hot: Hot,
}

/// Whether a register is written on the per-packet path (tail bumps, interrupt re-arm), and
/// why the log can do without that write.
///
/// The per-packet path pays nothing for CompSC: such a write goes straight to the BAR through
/// a handle the self-emulation layer issued once (`emul::HotReg`), with no lock and no table
/// walk. That is sound only where the write adds nothing the restore needs; this column says
/// why, per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hot {
    /// Control path only: every write goes through the log.
    No,
    /// A ring tail: the restore rebuilds it from the driver's ring snapshot (next to use),
    /// never from a logged value.
    RingTail,
    /// A write-1-to-set re-arm of mask bits the driver already intends (logged when the
    /// control path set the mask): it undoes the hardware's auto-mask and changes no intent.
    Rearm,
}

use Access::{ReadOnly, ReadWrite, WriteOneToSet};
use Class::{Counter, Logged, ReadBack, Replayed, Static};

/// Queue register stride (ixgbevf/regs.h:22-40, `0x40 * (x)`).
const Q: u32 = 0x40;
/// Hardware queue count per VF register block (regs.h: x = 0..7).
const HW_QUEUES: u32 = 8;

const fn row(reg: Reg, name: &'static str, offset: u32, access: Access, class: Class) -> RegDesc {
    RegDesc {
        reg,
        name,
        offset,
        width: 32,
        count: 1,
        stride: 0,
        indexing: Indexing::Plain,
        access,
        class,
        presence: Presence::All,
        survives_reset: false,
        hot: Hot::No,
    }
}

const fn array(
    reg: Reg,
    name: &'static str,
    offset: u32,
    count: u32,
    access: Access,
    class: Class,
) -> RegDesc {
    RegDesc {
        count,
        stride: 4,
        ..row(reg, name, offset, access, class)
    }
}

const fn queue(reg: Reg, name: &'static str, offset: u32, access: Access, class: Class) -> RegDesc {
    RegDesc {
        count: HW_QUEUES,
        stride: Q,
        indexing: if offset < 0x2000 {
            Indexing::RxQueue
        } else {
            Indexing::TxQueue
        },
        ..row(reg, name, offset, access, class)
    }
}

const fn rss(row: RegDesc) -> RegDesc {
    RegDesc {
        presence: Presence::VfRss,
        ..row
    }
}

const fn sticky(row: RegDesc) -> RegDesc {
    RegDesc {
        survives_reset: true,
        ..row
    }
}

const fn nibble(row: RegDesc) -> RegDesc {
    RegDesc { width: 4, ..row }
}

const fn hot(hot: Hot, row: RegDesc) -> RegDesc {
    RegDesc { hot, ..row }
}

/// VTEICR bits: one per MSI-X vector, 3 vectors (anatomy §1b, `IXGBE_VF_IRQ_CLEAR_MASK`).
pub const VTEICR_VECTOR_BITS: u32 = 0x7;
/// VFMAILBOX bits that a read clears: PFSTS | PFACK | RSTD (`IXGBE_VFMAILBOX_R2C_BITS`).
pub const VFMAILBOX_R2C_BITS: u32 = 0xB0;

/// The register table. Order equals [`Reg`] order (checked at compile time below).
#[rustfmt::skip]
pub const TABLE: [RegDesc; 44] = [
    // §1a general. VFCTRL is a command: RST self-clears; its effect is replayed by the
    // restore plan's VF reset, so there is nothing to log.
    row(Reg::VFCTRL, "VFCTRL", 0x0000, Access::Command { reset: vfctrl::RST }, Replayed),
    row(Reg::VFSTATUS, "VFSTATUS", 0x0008, ReadOnly, Static),
    row(Reg::VFLINKS, "VFLINKS", 0x0010, ReadOnly, Static),
    row(Reg::VFFRTIMER, "VFFRTIMER", 0x0048, ReadOnly, Static),
    row(Reg::VFRXMEMWRAP, "VFRXMEMWRAP", 0x3190, ReadOnly, Static),
    // §1b interrupts.
    row(Reg::VTEICR, "VTEICR", 0x0100, Access::ReadClear { bits: VTEICR_VECTOR_BITS, w1c: true }, Logged),
    row(Reg::VTEICS, "VTEICS", 0x0104, Access::WriteOneToSetOf { of: Reg::VTEICR }, Replayed),
    hot(Hot::Rearm, row(Reg::VTEIMS, "VTEIMS", 0x0108, WriteOneToSet, Logged)),
    row(Reg::VTEIMC, "VTEIMC", 0x010C, Access::WriteOneToClear { of: Reg::VTEIMS }, Logged),
    row(Reg::VTEIAC, "VTEIAC", 0x0110, ReadWrite, ReadBack),
    row(Reg::VTEIAM, "VTEIAM", 0x0114, ReadWrite, ReadBack),
    // Hardware changes the counter bits, so only the written value (the log) is restorable.
    array(Reg::VTEITR, "VTEITR", 0x0820, 3, ReadWrite, Logged),
    array(Reg::VTIVAR, "VTIVAR", 0x0120, 4, ReadWrite, ReadBack),
    row(Reg::VTIVAR_MISC, "VTIVAR_MISC", 0x0140, ReadWrite, ReadBack),
    sticky(row(Reg::VFPSRTYPE, "VFPSRTYPE", 0x0300, ReadWrite, ReadBack)),
    // §1f mailbox.
    array(Reg::VFMBMEM, "VFMBMEM", 0x0200, 16, ReadWrite, Static),
    row(Reg::VFMAILBOX, "VFMAILBOX", 0x02FC, Access::ReadClear { bits: VFMAILBOX_R2C_BITS, w1c: false }, Logged),
    // §1c receive rings.
    queue(Reg::VFRDBAL, "VFRDBAL", 0x1000, ReadWrite, ReadBack),
    queue(Reg::VFRDBAH, "VFRDBAH", 0x1004, ReadWrite, ReadBack),
    queue(Reg::VFRDLEN, "VFRDLEN", 0x1008, ReadWrite, ReadBack),
    sticky(queue(Reg::VFDCA_RXCTRL, "VFDCA_RXCTRL", 0x100C, ReadWrite, ReadBack)),
    sticky(queue(Reg::VFRDH, "VFRDH", 0x1010, ReadWrite, Replayed)),
    sticky(queue(Reg::VFSRRCTL, "VFSRRCTL", 0x1014, ReadWrite, ReadBack)),
    hot(Hot::RingTail, sticky(queue(Reg::VFRDT, "VFRDT", 0x1018, ReadWrite, Logged))),
    sticky(queue(Reg::VFRXDCTL, "VFRXDCTL", 0x1028, ReadWrite, ReadBack)),
    // §1e statistics, receive side (inside the queue-0 block, between queue rows).
    row(Reg::VFGPRC, "VFGPRC", 0x101C, ReadOnly, Counter),
    row(Reg::VFGORC_LSB, "VFGORC_LSB", 0x1020, ReadOnly, Counter),
    nibble(row(Reg::VFGORC_MSB, "VFGORC_MSB", 0x1024, ReadOnly, Counter)),
    row(Reg::VFMPRC, "VFMPRC", 0x1034, ReadOnly, Counter),
    // §1d transmit rings.
    queue(Reg::VFTDBAL, "VFTDBAL", 0x2000, ReadWrite, ReadBack),
    queue(Reg::VFTDBAH, "VFTDBAH", 0x2004, ReadWrite, ReadBack),
    queue(Reg::VFTDLEN, "VFTDLEN", 0x2008, ReadWrite, ReadBack),
    sticky(queue(Reg::VFDCA_TXCTRL, "VFDCA_TXCTRL", 0x200C, ReadWrite, ReadBack)),
    sticky(queue(Reg::VFTDH, "VFTDH", 0x2010, ReadWrite, Replayed)),
    hot(Hot::RingTail, sticky(queue(Reg::VFTDT, "VFTDT", 0x2018, ReadWrite, Logged))),
    sticky(queue(Reg::VFTXDCTL, "VFTXDCTL", 0x2028, ReadWrite, ReadBack)),
    sticky(queue(Reg::VFTDWBAL, "VFTDWBAL", 0x2038, ReadWrite, ReadBack)),
    sticky(queue(Reg::VFTDWBAH, "VFTDWBAH", 0x203C, ReadWrite, ReadBack)),
    row(Reg::VFGPTC, "VFGPTC", 0x201C, ReadOnly, Counter),
    row(Reg::VFGOTC_LSB, "VFGOTC_LSB", 0x2020, ReadOnly, Counter),
    nibble(row(Reg::VFGOTC_MSB, "VFGOTC_MSB", 0x2024, ReadOnly, Counter)),
    // §1g RSS, X550 and later only.
    rss(row(Reg::VFMRQC, "VFMRQC", 0x3000, ReadWrite, ReadBack)),
    rss(array(Reg::VFRSSRK, "VFRSSRK", 0x3100, 10, ReadWrite, ReadBack)),
    rss(array(Reg::VFRETA, "VFRETA", 0x3200, 16, ReadWrite, ReadBack)),
];

// The table must be indexed by `Reg`: a row out of place is a build error, not a wrong
// register at run time.
#[allow(clippy::indexing_slicing, reason = "evaluated at compile time")]
const _: () = {
    let mut i = 0;
    while i < TABLE.len() {
        assert!(TABLE[i].reg as usize == i, "TABLE row out of Reg order");
        i += 1;
    }
};

/// Bits of VFCTRL (anatomy §1a, defines.h:36).
pub mod vfctrl {
    /// VF soft reset; self-clearing.
    pub const RST: u32 = 1 << 26;
}

/// Fields of VTEITR, the interrupt throttle of one MSI-X vector (anatomy §1b).
pub mod vteitr {
    /// The interval field, bits 11:3, in units of about 2 µs; ixgbevf keeps "usecs << 2"
    /// in it (`IXGBE_MAX_EITR`).
    pub const INTERVAL_MASK: u32 = 0x0FF8;
    /// Do not write the counter bits with this write (`IXGBE_EITR_CNT_WDIS`).
    pub const CNT_WDIS: u32 = 1 << 31;
    /// The largest interval `ethtool -C rx-usecs` can ask for (`IXGBE_MAX_EITR >> 2`).
    pub const MAX_USECS: u32 = INTERVAL_MASK >> 2;

    /// The VTEITR value for an interval of `usecs` µs (0: no throttling), as ixgbevf writes
    /// it; `None` above [`MAX_USECS`].
    pub const fn from_usecs(usecs: u32) -> Option<u32> {
        if usecs > MAX_USECS {
            return None;
        }
        // usecs <= 1022, so the shift cannot overflow.
        Some(((usecs << 2) & INTERVAL_MASK) | CNT_WDIS)
    }
}

/// Bits of VFLINKS (defines.h:39-43).
pub mod vflinks {
    /// Link is up.
    pub const LINK_UP: u32 = 1 << 30;
    /// Speed field shift (bits 29:28).
    pub const SPEED_SHIFT: u32 = 28;
    /// Speed field mask after shifting.
    pub const SPEED_MASK: u32 = 0x3;
}

/// Bits of VFMAILBOX (ixgbevf/mbx.h:15-23, anatomy §3b).
pub mod vfmailbox {
    /// VF requests the PF's attention (write-only pulse).
    pub const REQ: u32 = 0x01;
    /// VF acknowledges a PF message (write-only pulse).
    pub const ACK: u32 = 0x02;
    /// VF holds the buffer.
    pub const VFU: u32 = 0x04;
    /// PF holds the buffer.
    pub const PFU: u32 = 0x08;
    /// PF wrote a message (read-clear).
    pub const PFSTS: u32 = 0x10;
    /// PF acknowledged the VF message (read-clear).
    pub const PFACK: u32 = 0x20;
    /// PF reset in progress (read-only).
    pub const RSTI: u32 = 0x40;
    /// PF reset done (read-clear).
    pub const RSTD: u32 = 0x80;
}

/// Bits of VFRXDCTL and VFTXDCTL (defines.h:58-61, anatomy §1c-d).
pub mod dctl {
    /// Queue enable; an asynchronous handshake owned by hardware.
    pub const ENABLE: u32 = 1 << 25;
    /// Tx: software flush of descriptor write-backs (self-clearing).
    pub const SWFLSH: u32 = 1 << 26;
    /// Rx: VLAN strip.
    pub const VME: u32 = 1 << 30;
    /// Rx: large packet max length enable (not honoured on 82599).
    pub const RLPML_EN: u32 = 1 << 15;
    /// Rx: large packet max length field.
    pub const RLPML_MASK: u32 = 0x3FFF;
}

/// Why a register instance cannot be addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegError {
    /// `index` is not below the row's count.
    IndexOutOfRange {
        /// The register.
        reg: Reg,
        /// The index asked for.
        index: u32,
    },
}

impl Reg {
    /// Every register, in table order.
    #[allow(clippy::indexing_slicing, reason = "evaluated at compile time")]
    pub const ALL: [Reg; TABLE.len()] = {
        let mut all = [Reg::VFCTRL; TABLE.len()];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].reg;
            i += 1;
        }
        all
    };

    /// The table row of this register.
    pub const fn desc(self) -> &'static RegDesc {
        // `Reg` discriminants are 0..TABLE.len() and the const block above checks that
        // TABLE[i].reg == i, so the row is always found; the fallback only keeps the lookup
        // free of a bounds-check panic.
        match TABLE.split_at_checked(self as usize) {
            Some((_, [row, ..])) => row,
            _ => &TABLE[0],
        }
    }

    /// The BAR0 offset of instance `index`.
    pub const fn offset(self, index: u32) -> Result<u32, RegError> {
        self.desc().offset(index)
    }
}

impl RegDesc {
    /// The BAR0 offset of instance `index`, or an error if the row has no such instance.
    pub const fn offset(&self, index: u32) -> Result<u32, RegError> {
        if index >= self.count {
            return Err(RegError::IndexOutOfRange {
                reg: self.reg,
                index,
            });
        }
        // index < count <= 16 and stride <= 0x40 cannot overflow (the table test checks every
        // instance lies in the 16 KiB BAR), but the arithmetic is checked all the same: in the
        // kernel an overflow would be a BUG().
        let out_of_range = RegError::IndexOutOfRange {
            reg: self.reg,
            index,
        };
        match index.checked_mul(self.stride) {
            Some(delta) => match self.offset.checked_add(delta) {
                Some(offset) => Ok(offset),
                None => Err(out_of_range),
            },
            None => Err(out_of_range),
        }
    }

    /// Mask of the implemented bits.
    pub const fn value_mask(&self) -> u32 {
        match 1u32.checked_shl(self.width as u32) {
            // bit >= 1: the subtraction cannot wrap.
            Some(bit) => bit.wrapping_sub(1),
            None => u32::MAX,
        }
    }

    /// True when the self-emulation log keeps a word per instance of this row.
    ///
    /// Read-back and logged rows keep one, except a write-1-to-clear row, whose effect
    /// lands in the word of the register it clears.
    pub const fn has_log_word(&self) -> bool {
        matches!(self.class, Class::ReadBack | Class::Logged)
            && !matches!(self.access, Access::WriteOneToClear { .. })
    }

    /// How many instances the log keeps: all of them, or [`LOGGED_QUEUES`] for queue rows.
    pub const fn logged_count(&self) -> u32 {
        if !self.has_log_word() {
            0
        } else if !matches!(self.indexing, Indexing::Plain) && self.count > LOGGED_QUEUES {
            LOGGED_QUEUES
        } else {
            self.count
        }
    }
}

/// Number of 32-bit words the self-emulation log keeps for the whole table.
#[allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    reason = "evaluated at compile time"
)]
pub const LOG_WORDS: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < TABLE.len() {
        n += TABLE[i].logged_count() as usize;
        i += 1;
    }
    n
};

/// First log word of each row (meaningful only where `has_log_word`).
#[allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    reason = "evaluated at compile time"
)]
pub const LOG_BASE: [u16; TABLE.len()] = {
    let mut base = [0u16; TABLE.len()];
    let mut n = 0u32;
    let mut i = 0;
    while i < TABLE.len() {
        base[i] = n as u16;
        n += TABLE[i].logged_count();
        i += 1;
    }
    base
};

/// A fingerprint of the table (offsets, counts, classes), stored in the saved record so a
/// record written under a different table layout is refused rather than misread.
#[allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    reason = "evaluated at compile time"
)]
pub const TABLE_FINGERPRINT: u32 = {
    // FNV-1a over the fields that decide the log layout.
    let mut h: u32 = 0x811C_9DC5;
    let mut i = 0;
    while i < TABLE.len() {
        let r = &TABLE[i];
        let fields = [
            r.offset,
            r.count,
            r.stride,
            r.logged_count(),
            r.class as u32,
        ];
        let mut f = 0;
        while f < fields.len() {
            let mut b = 0;
            while b < 4 {
                h ^= (fields[f] >> (8 * b)) & 0xFF;
                h = h.wrapping_mul(0x0100_0193);
                b += 1;
            }
            f += 1;
        }
        i += 1;
    }
    h
};

/// The register and index at a BAR0 offset, if the table has one there.
///
/// Linear over the table: for diagnostics and tests, never for the data path, which names
/// registers by [`Reg`].
pub fn lookup(offset: u32) -> Option<(Reg, u32)> {
    TABLE.iter().find_map(|r| {
        let delta = offset.checked_sub(r.offset)?;
        let index = match (delta.checked_div(r.stride), delta.checked_rem(r.stride)) {
            (Some(index), Some(0)) => index,
            // A single-instance row (stride 0) matches its own offset only.
            (None, _) if delta == 0 => 0,
            _ => return None,
        };
        (index < r.count).then_some((r.reg, index))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Size of the VF's CSR BAR ([DS] 16 KiB).
    const BAR0_LEN: u32 = 0x4000;

    fn instances() -> impl Iterator<Item = (Reg, u32, u32)> {
        TABLE
            .iter()
            .flat_map(|r| (0..r.count).map(move |i| (r.reg, i, r.offset(i).unwrap())))
    }

    #[test]
    fn rows_do_not_overlap() {
        let all: Vec<_> = instances().collect();
        for (a, (ra, ia, oa)) in all.iter().enumerate() {
            assert_eq!(oa % 4, 0, "{ra:?}[{ia}] misaligned");
            assert!(*oa + 4 <= BAR0_LEN, "{ra:?}[{ia}] outside BAR0");
            for (rb, ib, ob) in &all[a + 1..] {
                assert_ne!(oa, ob, "{ra:?}[{ia}] overlaps {rb:?}[{ib}]");
            }
        }
    }

    #[test]
    fn write_only_and_read_clear_rows_are_logged() {
        for r in &TABLE {
            if matches!(
                r.access,
                Access::WriteOnly | Access::ReadClear { .. } | Access::WriteOneToClear { .. }
            ) {
                assert_eq!(r.class, Class::Logged, "{} must be logged", r.name);
            }
        }
    }

    #[test]
    fn set_clear_pairs_point_at_a_logged_mask() {
        for r in &TABLE {
            if let Access::WriteOneToClear { of } = r.access {
                assert_eq!(of.desc().access, Access::WriteOneToSet, "{}", r.name);
                assert!(of.desc().has_log_word());
            }
        }
    }

    #[test]
    fn counters_are_read_only_and_have_no_log_word() {
        for r in TABLE.iter().filter(|r| r.class == Class::Counter) {
            assert_eq!(r.access, Access::ReadOnly, "{}", r.name);
            assert!(!r.has_log_word());
        }
    }

    #[test]
    fn offsets_match_ixgbevf_regs_h() {
        // (register, index, offset) from ixgbevf/regs.h via anatomy §1.
        let cases = [
            (Reg::VFCTRL, 0, 0x0000),
            (Reg::VTEICR, 0, 0x0100),
            (Reg::VTEITR, 2, 0x0828),
            (Reg::VTIVAR, 3, 0x012C),
            (Reg::VFMBMEM, 15, 0x023C),
            (Reg::VFMAILBOX, 0, 0x02FC),
            (Reg::VFRDT, 1, 0x1058),
            (Reg::VFRXDCTL, 7, 0x11E8),
            (Reg::VFTDWBAH, 3, 0x20FC),
            (Reg::VFGOTC_MSB, 0, 0x2024),
            (Reg::VFRETA, 15, 0x323C),
        ];
        for (reg, index, offset) in cases {
            assert_eq!(reg.offset(index), Ok(offset), "{reg:?}[{index}]");
            assert_eq!(lookup(offset), Some((reg, index)));
        }
        assert_eq!(
            Reg::VFRETA.offset(16),
            Err(RegError::IndexOutOfRange {
                reg: Reg::VFRETA,
                index: 16
            })
        );
        assert_eq!(lookup(0x0004), None);
    }

    #[test]
    fn log_layout_is_dense_and_in_range() {
        let mut covered = [false; LOG_WORDS];
        for r in &TABLE {
            for i in 0..r.logged_count() {
                let w = (LOG_BASE[r.reg as usize] as u32 + i) as usize;
                assert!(!covered[w], "{} word {w} shared", r.name);
                covered[w] = true;
            }
        }
        assert!(covered.iter().all(|c| *c));
    }

    #[test]
    fn queue_rows_sit_in_their_block() {
        for r in &TABLE {
            let block = match r.indexing {
                Indexing::RxQueue => 0x1000,
                Indexing::TxQueue => 0x2000,
                Indexing::Plain => continue,
            };
            assert_eq!(r.offset & !0x3F, block, "{}", r.name);
            assert_eq!((r.stride, r.count), (0x40, 8), "{}", r.name);
        }
    }

    #[test]
    fn read_clear_rows_are_flagged_as_side_effecting() {
        let rc: Vec<_> = TABLE
            .iter()
            .filter(|r| r.access.read_has_side_effect())
            .map(|r| r.name)
            .collect();
        assert_eq!(rc, ["VTEICR", "VFMAILBOX"]);
    }
}
