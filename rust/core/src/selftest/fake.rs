//! A fake VF register file with the datasheet's reset, read-clear and interrupt
//! semantics, for the emulation replay check.

use core::cell::Cell;

use super::super::emul::RegisterIo;
use super::super::record::RING_SLOTS;
use super::super::regs::{self, dctl, vfctrl, TABLE};
use super::XorShift;

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
pub(super) struct FakeVf {
    pub(super) cells: [Cell<u32>; regs::LOG_WORDS],
    heads: [Cell<u32>; 2 * RING_SLOTS],
}

impl FakeVf {
    pub(super) fn new() -> Self {
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

    pub(super) fn at(&self, offset: u32) -> u32 {
        self.cell(offset).map_or(0, Cell::get)
    }

    /// The device raises interrupt causes.
    pub(super) fn raise(&self, bits: u32) {
        if let Some(c) = self.cell(0x100) {
            c.set(c.get() | (bits & 7));
        }
    }

    /// MSI-X vectors fire: VTEIAM auto-masks, VTEIAC auto-clears.
    pub(super) fn fire(&self, bits: u32) {
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
    pub(super) fn swap(&self, rng: &mut XorShift) {
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
