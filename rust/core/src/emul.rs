//! The self-emulation layer: every register access of the driver goes through [`Emul`],
//! which keeps the effect of each access in a fixed-size log ([`EmulLog`]).
//!
//! CompSC's point (design.md): write-only registers, set/clear pairs and read-clear bits
//! cannot be recovered by reading the device at save time, so the driver's view of them must
//! be recorded as it happens. This generalises ixgbevf's VFMAILBOX stash
//! (`ixgbevf_read_mailbox_vf`, mbx.c:58-66) to every row of [`regs::TABLE`] whose class is
//! read-back or logged. What to record is decided by the row's [`Access`], never by naming a
//! register here; the two exceptions, the MSI-X auto-mask/auto-clear and the VF reset, are
//! hardware actions that no access describes and are documented where they are emulated.
//!
//! The log never allocates, holds no pointers, and is encoded little endian by
//! [`EmulLog::encode`] into the saved record.

use super::mac::MacInfo;
use super::regs::{self, Access, Hot, Reg, RegError};

/// Reaches the VF's BAR0. Implemented over the mapped BAR by the driver and by fakes in
/// tests; the core never touches hardware any other way.
pub trait RegisterIo {
    /// Reads the 32-bit register at `offset`.
    fn read32(&self, offset: u32) -> u32;
    /// Writes the 32-bit register at `offset`.
    fn write32(&self, offset: u32, value: u32);
}

impl<T: RegisterIo + ?Sized> RegisterIo for &T {
    fn read32(&self, offset: u32) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&self, offset: u32, value: u32) {
        (**self).write32(offset, value)
    }
}

/// Words of the "written since reset" bitmap.
const WRITTEN_WORDS: usize = regs::LOG_WORDS.div_ceil(32);

/// Bytes of an encoded [`EmulLog`].
pub const LOG_BYTES: usize = 4 * (regs::LOG_WORDS + WRITTEN_WORDS);

/// The self-emulation log: one word per logged register instance plus a bit saying whether
/// the driver wrote it since the last VF reset.
///
/// For a plain row the word is the last value written; for a write-1-to-set mask (VTEIMS)
/// it is the mask the driver intends; for a read-clear row (VTEICR, VFMAILBOX) it is the set
/// of bits read from hardware and not yet consumed by the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulLog {
    words: [u32; regs::LOG_WORDS],
    written: [u32; WRITTEN_WORDS],
}

impl Default for EmulLog {
    fn default() -> Self {
        EmulLog {
            words: [0; regs::LOG_WORDS],
            written: [0; WRITTEN_WORDS],
        }
    }
}

/// Why an access was refused. A refused access has no effect on hardware or log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmulError {
    /// The index is out of the row's range.
    Index(RegError),
    /// This MAC does not implement the register (VFRETA on 82599).
    NotImplemented {
        /// The register.
        reg: Reg,
    },
    /// The register is read-only.
    NotWritable {
        /// The register.
        reg: Reg,
    },
    /// The queue index is beyond what the log keeps ([`regs::LOGGED_QUEUES`]).
    NotLogged {
        /// The register.
        reg: Reg,
        /// The index.
        index: u32,
    },
    /// A read-clear register read as all ones: the device is gone (ixgbevf_read_reg), and
    /// the value must not be stashed as if every cause were pending.
    AllOnes {
        /// The register.
        reg: Reg,
    },
    /// A per-packet handle was asked for a row whose writes must go through the log.
    NotHot {
        /// The register.
        reg: Reg,
    },
    /// A re-arm handle was asked for bits the driver never unmasked through the log.
    NotIntended {
        /// The register.
        reg: Reg,
        /// The bits asked for.
        bits: u32,
    },
}

impl From<RegError> for EmulError {
    fn from(e: RegError) -> Self {
        EmulError::Index(e)
    }
}

/// Why an encoded log was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogDecodeError {
    /// Not exactly [`LOG_BYTES`] bytes.
    Length {
        /// Bytes given.
        got: usize,
    },
    /// A "written" bit is set past the last word.
    StrayWrittenBit,
    /// A word no sequence of accesses can leave in the log: bits outside the register's
    /// width or a read-clear row's clearing bits, a value for an instance never written, or
    /// a "written" mark on a read-clear stash.
    Word {
        /// The register.
        reg: Reg,
        /// The instance.
        index: u32,
        /// The word found.
        value: u32,
        /// Whether its "written" bit was set.
        written: bool,
    },
}

impl EmulLog {
    /// The log word of `reg[index]`, if the row keeps one for that index.
    fn slot(reg: Reg, index: u32) -> Option<usize> {
        let desc = reg.desc();
        if index >= desc.logged_count() {
            return None;
        }
        let base = regs::LOG_BASE.get(reg as usize)?;
        usize::try_from(u32::from(*base).checked_add(index)?).ok()
    }

    fn word_mut(&mut self, slot: usize) -> Option<&mut u32> {
        self.words.get_mut(slot)
    }

    fn set_written(&mut self, slot: usize, written: bool) {
        if let Some(w) = self.written.get_mut(slot / 32) {
            let bit = 1u32 << (slot % 32);
            if written {
                *w |= bit;
            } else {
                *w &= !bit;
            }
        }
    }

    fn is_written(&self, slot: usize) -> bool {
        self.written
            .get(slot / 32)
            .is_some_and(|w| w & (1 << (slot % 32)) != 0)
    }

    /// The value the driver last wrote to `reg[index]` (or the mask it intends), if it wrote
    /// one since the last VF reset. `None` for rows without a log word.
    pub fn value(&self, reg: Reg, index: u32) -> Option<u32> {
        let slot = Self::slot(reg, index)?;
        if !self.is_written(slot) {
            return None;
        }
        self.words.get(slot).copied()
    }

    /// Read-clear bits of `reg` read from hardware and not yet consumed (0 for other rows).
    pub fn pending(&self, reg: Reg) -> u32 {
        match reg.desc().access {
            Access::ReadClear { .. } => Self::slot(reg, 0)
                .and_then(|s| self.words.get(s).copied())
                .unwrap_or(0),
            _ => 0,
        }
    }

    /// Consumes read-clear bits: returns which of `bits` were pending and clears them, as
    /// ixgbevf's `ixgbevf_check_for_msg_vf` + `ixgbevf_clear_msg_vf` pair does.
    pub fn consume(&mut self, reg: Reg, bits: u32) -> u32 {
        if !matches!(reg.desc().access, Access::ReadClear { .. }) {
            return 0;
        }
        match Self::slot(reg, 0).and_then(|s| self.word_mut(s)) {
            Some(w) => {
                let hit = *w & bits;
                *w &= !bits;
                hit
            }
            None => 0,
        }
    }

    /// Records the effect of a write that the device accepted.
    fn note_write(&mut self, reg: Reg, index: u32, value: u32) {
        let desc = reg.desc();
        match desc.access {
            Access::ReadWrite | Access::WriteOnly => {
                if let Some(slot) = Self::slot(reg, index) {
                    if let Some(w) = self.word_mut(slot) {
                        *w = value & desc.value_mask();
                    }
                    self.set_written(slot, true);
                }
            }
            Access::WriteOneToSet => {
                if let Some(slot) = Self::slot(reg, index) {
                    if let Some(w) = self.word_mut(slot) {
                        *w |= value & desc.value_mask();
                    }
                    self.set_written(slot, true);
                }
            }
            Access::WriteOneToClear { of } => {
                if let Some(slot) = Self::slot(of, index) {
                    if let Some(w) = self.word_mut(slot) {
                        *w &= !value;
                    }
                    self.set_written(slot, true);
                }
            }
            Access::ReadClear { w1c: true, .. } => {
                if let Some(w) = Self::slot(reg, index).and_then(|s| self.word_mut(s)) {
                    *w &= !value;
                }
            }
            Access::Command { reset } => {
                if value & reset != 0 {
                    self.note_vf_reset();
                }
            }
            Access::ReadClear { w1c: false, .. }
            | Access::WriteOneToSetOf { .. }
            | Access::ReadOnly => {}
        }
    }

    /// A VF reset returns every register that does not survive it to its default, so the
    /// driver's earlier writes no longer describe the device. Read-clear stashes stay: they
    /// are bits the driver has read and still owes a handler, not device state.
    pub fn note_vf_reset(&mut self) {
        for desc in regs::TABLE.iter() {
            if desc.survives_reset || matches!(desc.access, Access::ReadClear { .. }) {
                continue;
            }
            for index in 0..desc.logged_count() {
                if let Some(slot) = Self::slot(desc.reg, index) {
                    if let Some(w) = self.word_mut(slot) {
                        *w = 0;
                    }
                    self.set_written(slot, false);
                }
            }
        }
    }

    /// Records a read of a read-clear register: the bits it cleared move to the stash.
    /// Returns what the driver sees: hardware bits plus the stash, as ixgbevf does.
    fn note_read_clear(&mut self, reg: Reg, bits: u32, raw: u32) -> u32 {
        match Self::slot(reg, 0).and_then(|s| self.word_mut(s)) {
            Some(w) => {
                *w |= raw & bits;
                raw | *w
            }
            None => raw,
        }
    }

    /// Clears the stash of a read-clear row; used on the destination, where the source's
    /// mailbox bits (PFSTS, PFACK, RSTD) describe a PF that is no longer there (anatomy §1f:
    /// "the shadow must be zeroed on the destination").
    pub fn clear_pending(&mut self, reg: Reg) -> u32 {
        self.consume(reg, u32::MAX)
    }

    /// Encodes the log, little endian: words, then the written bitmap.
    pub fn encode(&self, out: &mut [u8; LOG_BYTES]) {
        for (chunk, w) in out
            .chunks_exact_mut(4)
            .zip(self.words.iter().chain(self.written.iter()))
        {
            copy_bytes(chunk, &w.to_le_bytes());
        }
    }

    /// Decodes a log written by [`EmulLog::encode`].
    pub fn decode(bytes: &[u8]) -> Result<EmulLog, LogDecodeError> {
        if bytes.len() != LOG_BYTES {
            return Err(LogDecodeError::Length { got: bytes.len() });
        }
        let mut log = EmulLog::default();
        let mut it = bytes.chunks_exact(4).map(le32);
        for (w, v) in log
            .words
            .iter_mut()
            .chain(log.written.iter_mut())
            .zip(&mut it)
        {
            *w = v;
        }
        let spare = WRITTEN_WORDS * 32 - regs::LOG_WORDS;
        if spare > 0 {
            let last = log.written.last().copied().unwrap_or(0);
            if last >> (32 - spare) != 0 {
                return Err(LogDecodeError::StrayWrittenBit);
            }
        }
        log.check_words()?;
        Ok(log)
    }

    /// Checks every word against what [`EmulLog::note_write`], the read-clear stash and
    /// [`EmulLog::note_vf_reset`] can produce, so a decoded log never hands the restore a
    /// value the driver could not have written (the record is untrusted input).
    fn check_words(&self) -> Result<(), LogDecodeError> {
        for desc in regs::TABLE.iter() {
            for index in 0..desc.logged_count() {
                let Some(slot) = Self::slot(desc.reg, index) else {
                    continue;
                };
                let value = self.words.get(slot).copied().unwrap_or(0);
                let written = self.is_written(slot);
                let possible = match desc.access {
                    Access::ReadClear { bits, .. } => !written && value & !bits == 0,
                    _ if written => value & !desc.value_mask() == 0,
                    _ => value == 0,
                };
                if !possible {
                    return Err(LogDecodeError::Word {
                        reg: desc.reg,
                        index,
                        value,
                        written,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Copies `src` into `dst` byte by byte, up to the shorter of the two: `copy_from_slice`
/// without its length-mismatch panic. Callers pass equal lengths.
pub(crate) fn copy_bytes(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// A little-endian word from up to 4 bytes (missing bytes read as 0).
pub(crate) fn le32(bytes: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    for (d, s) in b.iter_mut().zip(bytes) {
        *d = *s;
    }
    u32::from_le_bytes(b)
}

/// A per-packet register write the self-emulation layer allowed ([`Emul::hot`]): a ring tail
/// bump or an interrupt re-arm. Copyable, so each queue keeps its own and no context shares
/// a lock with another to reach the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HotReg {
    offset: u32,
    /// The fixed value of a re-arm; 0 for a tail, whose value is given per write.
    value: u32,
}

impl HotReg {
    /// Writes a ring tail.
    pub fn write_tail<I: RegisterIo>(&self, io: &I, tail: u32) {
        io.write32(self.offset, tail);
    }

    /// Re-arms the vector bits this handle was issued for.
    pub fn rearm<I: RegisterIo>(&self, io: &I) {
        io.write32(self.offset, self.value);
    }

    /// The BAR0 offset written (for diagnostics and tests).
    pub fn offset(&self) -> u32 {
        self.offset
    }
}

/// The access wrapper: the driver's only way to its registers.
pub struct Emul<I> {
    io: I,
    mac: &'static MacInfo,
    log: EmulLog,
    counts: AccessCounts,
}

/// What went through the layer since probe (for `ethtool -S` and debugfs): the control
/// path's accesses only, since the per-packet path's [`HotReg`] writes bypass it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccessCounts {
    /// Register reads issued.
    pub reads: u64,
    /// Register writes issued.
    pub writes: u64,
    /// Accesses refused before reaching the device (bad index, read-only, not logged, a
    /// read-clear register reading all ones).
    pub refused: u64,
}

impl<I: RegisterIo> Emul<I> {
    /// A wrapper with an empty log, for a VF just probed.
    pub fn new(io: I, mac: &'static MacInfo) -> Self {
        Emul::with_log(io, mac, EmulLog::default())
    }

    /// A wrapper over an existing log: the log decoded from a saved record, or kept across a
    /// freeze that was aborted.
    pub fn with_log(io: I, mac: &'static MacInfo, log: EmulLog) -> Self {
        Emul {
            io,
            mac,
            log,
            counts: AccessCounts::default(),
        }
    }

    /// Accesses since this wrapper was made.
    pub fn counts(&self) -> AccessCounts {
        self.counts
    }

    /// The log.
    pub fn log(&self) -> &EmulLog {
        &self.log
    }

    /// The log, for the restore (stash clearing) and for consuming read-clear bits.
    pub fn log_mut(&mut self) -> &mut EmulLog {
        &mut self.log
    }

    /// The register access underneath.
    pub fn io(&self) -> &I {
        &self.io
    }

    /// The MAC this VF is.
    pub fn mac(&self) -> &'static MacInfo {
        self.mac
    }

    /// Switches to another MAC type after a swap to a compatible but different VF.
    pub fn set_mac(&mut self, mac: &'static MacInfo) {
        self.mac = mac;
    }

    fn check(&self, reg: Reg, index: u32) -> Result<u32, EmulError> {
        let desc = reg.desc();
        if !self.mac.implements(desc.presence) {
            return Err(EmulError::NotImplemented { reg });
        }
        Ok(desc.offset(index)?)
    }

    /// Reads `reg[index]`. A read-clear register's cleared bits go to the stash and the
    /// result includes the stash, so no read loses a cause.
    pub fn read(&mut self, reg: Reg, index: u32) -> Result<u32, EmulError> {
        let r = self.read_counted(reg, index);
        self.count(r.is_ok(), true);
        r
    }

    /// Counts an access: issued reads or writes, or refusals.
    fn count(&mut self, ok: bool, read: bool) {
        let c = match (ok, read) {
            (false, _) => &mut self.counts.refused,
            (true, true) => &mut self.counts.reads,
            (true, false) => &mut self.counts.writes,
        };
        *c = c.wrapping_add(1);
    }

    fn read_counted(&mut self, reg: Reg, index: u32) -> Result<u32, EmulError> {
        let offset = self.check(reg, index)?;
        let raw = self.io.read32(offset);
        match reg.desc().access {
            Access::ReadClear { bits, .. } => {
                if raw == u32::MAX {
                    return Err(EmulError::AllOnes { reg });
                }
                Ok(self.log.note_read_clear(reg, bits, raw))
            }
            _ => Ok(raw),
        }
    }

    /// Writes `reg[index]` and records the effect. Refused writes touch nothing.
    pub fn write(&mut self, reg: Reg, index: u32, value: u32) -> Result<(), EmulError> {
        let r = self.write_counted(reg, index, value);
        self.count(r.is_ok(), false);
        r
    }

    fn write_counted(&mut self, reg: Reg, index: u32, value: u32) -> Result<(), EmulError> {
        let offset = self.check(reg, index)?;
        let desc = reg.desc();
        if desc.access == Access::ReadOnly {
            return Err(EmulError::NotWritable { reg });
        }
        // A row whose effect lands in a log word must have that word for this index.
        let logged_reg = match desc.access {
            Access::WriteOneToClear { of } => Some(of),
            _ if desc.has_log_word() && !desc.access.read_has_side_effect() => Some(reg),
            _ => None,
        };
        if let Some(target) = logged_reg {
            if EmulLog::slot(target, index).is_none() {
                return Err(EmulError::NotLogged { reg, index });
            }
        }
        self.io.write32(offset, value);
        self.log.note_write(reg, index, value);
        Ok(())
    }

    /// Writes the bits of `set` and clears those of `clear` in `reg[index]`, starting from
    /// the logged value when there is one, else from a read (read-modify-write as ixgbevf's
    /// `ixgbevf_set_ivar` and the RXDCTL/TXDCTL updates do).
    pub fn modify(&mut self, reg: Reg, index: u32, clear: u32, set: u32) -> Result<u32, EmulError> {
        let old = match self.log.value(reg, index) {
            Some(v) if !reg.desc().access.hides_written_value() => v,
            _ => self.read(reg, index)?,
        };
        let new = (old & !clear) | set;
        self.write(reg, index, new)?;
        Ok(new)
    }

    /// Emulates what hardware does when MSI-X vectors in `vectors` fire: VTEIAM auto-masks
    /// them in VTEIMS and VTEIAC auto-clears their VTEICR causes ("EIAM disabled interrupts
    /// (on this vector) for us", main.c:1550). The driver calls this from its MSI-X handler so
    /// the logged mask keeps matching the device; its NAPI re-arm (a VTEIMS write) sets the
    /// bit again.
    pub fn note_msix(&mut self, vectors: u32) {
        let eiam = self.log.value(Reg::VTEIAM, 0).unwrap_or(0);
        let eiac = self.log.value(Reg::VTEIAC, 0).unwrap_or(0);
        if let Some(w) = EmulLog::slot(Reg::VTEIMS, 0).and_then(|s| self.log.word_mut(s)) {
            *w &= !(vectors & eiam);
        }
        if let Some(w) = EmulLog::slot(Reg::VTEICR, 0).and_then(|s| self.log.word_mut(s)) {
            *w &= !(vectors & eiac);
        }
    }

    /// Issues the per-packet path's handle for `reg[index]`: a plain BAR write with no lock,
    /// no log and no table walk, for the rows whose [`Hot`] column says the log can do
    /// without the write. Called once per ring or vector on the control path; the offset is
    /// resolved and checked here, so the handle's write cannot reach another register.
    ///
    /// For a [`Hot::Rearm`] row, `bits` must already be in the intended mask the log keeps
    /// (the control path unmasked them), so re-arming them changes no intent. For a
    /// [`Hot::RingTail`] row, `bits` is ignored and the queue must be one the log keeps, so
    /// that the freeze plan's ring snapshot covers it.
    pub fn hot(&self, reg: Reg, index: u32, bits: u32) -> Result<HotReg, EmulError> {
        let offset = self.check(reg, index)?;
        match reg.desc().hot {
            Hot::No => Err(EmulError::NotHot { reg }),
            Hot::RingTail if index >= reg.desc().logged_count() => {
                Err(EmulError::NotLogged { reg, index })
            }
            Hot::RingTail => Ok(HotReg { offset, value: 0 }),
            Hot::Rearm => {
                let intended = self.log.value(reg, index).unwrap_or(0);
                if bits == 0 || bits & !intended != 0 {
                    return Err(EmulError::NotIntended { reg, bits });
                }
                Ok(HotReg {
                    offset,
                    value: bits,
                })
            }
        }
    }

    /// Gives back the register access and the log.
    pub fn into_parts(self) -> (I, EmulLog) {
        (self.io, self.log)
    }
}

#[cfg(test)]
mod tests {
    use super::super::mac::{MAC_82599, MAC_X550};
    use super::super::regs::{vfctrl, vfmailbox, LOGGED_QUEUES};
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Minimal device: plain storage, VTEICR read-clear, VTEIMS/VTEIMC mask pair.
    #[derive(Default)]
    struct Fake {
        regs: RefCell<HashMap<u32, u32>>,
        log: RefCell<Vec<(bool, u32, u32)>>,
    }

    impl RegisterIo for Fake {
        fn read32(&self, offset: u32) -> u32 {
            let mut regs = self.regs.borrow_mut();
            let v = *regs.get(&offset).unwrap_or(&0);
            match offset {
                0x100 => {
                    regs.insert(0x100, 0);
                }
                0x2FC => {
                    regs.insert(0x2FC, v & !0xB0);
                }
                _ => {}
            }
            self.log.borrow_mut().push((false, offset, v));
            v
        }
        fn write32(&self, offset: u32, value: u32) {
            self.log.borrow_mut().push((true, offset, value));
            let mut regs = self.regs.borrow_mut();
            match offset {
                0x108 => *regs.entry(0x108).or_default() |= value,
                0x10C => *regs.entry(0x108).or_default() &= !value,
                _ => {
                    regs.insert(offset, value);
                }
            }
        }
    }

    #[test]
    fn accesses_are_counted_and_hot_writes_are_not() {
        let fake = Fake::default();
        let mut e = Emul::new(&fake, &MAC_82599);
        e.write(Reg::VFRDLEN, 0, 0x2000).unwrap();
        e.read(Reg::VFRDLEN, 0).unwrap();
        assert!(e.write(Reg::VFLINKS, 0, 1).is_err());
        assert!(e.read(Reg::VFRETA, 0).is_err());
        let tail = e.hot(Reg::VFTDT, 0, 0).unwrap();
        tail.write_tail(e.io(), 3);
        assert_eq!(
            e.counts(),
            AccessCounts {
                reads: 1,
                writes: 1,
                refused: 2
            }
        );
    }

    #[test]
    fn hot_handles_only_for_rows_the_log_can_do_without() {
        let fake = Fake::default();
        let mut e = Emul::new(&fake, &MAC_82599);
        // Tails: a plain write of the given value at the queue's offset, nothing logged.
        let tail = e.hot(Reg::VFTDT, 1, 0).unwrap();
        assert_eq!(tail.offset(), 0x2018 + 0x40);
        tail.write_tail(e.io(), 17);
        assert_eq!(fake.log.borrow().last(), Some(&(true, 0x2058, 17)));
        assert_eq!(e.log().value(Reg::VFTDT, 1), None);
        assert_eq!(
            e.hot(Reg::VFRDT, LOGGED_QUEUES, 0),
            Err(EmulError::NotLogged {
                reg: Reg::VFRDT,
                index: LOGGED_QUEUES
            })
        );
        // Control-path rows never get one.
        assert_eq!(
            e.hot(Reg::VFCTRL, 0, 0),
            Err(EmulError::NotHot { reg: Reg::VFCTRL })
        );
        assert_eq!(
            e.hot(Reg::VTEIAM, 0, 1),
            Err(EmulError::NotHot { reg: Reg::VTEIAM })
        );
        // A re-arm only of bits the control path unmasked through the log.
        assert_eq!(
            e.hot(Reg::VTEIMS, 0, 0b01),
            Err(EmulError::NotIntended {
                reg: Reg::VTEIMS,
                bits: 0b01
            })
        );
        e.write(Reg::VTEIMS, 0, 0b11).unwrap();
        let rearm = e.hot(Reg::VTEIMS, 0, 0b01).unwrap();
        assert!(e.hot(Reg::VTEIMS, 0, 0b100).is_err());
        assert!(e.hot(Reg::VTEIMS, 0, 0).is_err());
        e.write(Reg::VTEIMC, 0, 0b01).unwrap();
        rearm.rearm(e.io());
        assert_eq!(fake.log.borrow().last(), Some(&(true, 0x108, 0b01)));
        // The re-arm changed no intent: the log still says what the control path left.
        assert_eq!(e.log().value(Reg::VTEIMS, 0), Some(0b10));
    }

    #[test]
    fn mask_pair_is_folded_into_one_word() {
        let fake = Fake::default();
        let mut e = Emul::new(&fake, &MAC_82599);
        e.write(Reg::VTEIMS, 0, 0b101).unwrap();
        e.write(Reg::VTEIMC, 0, 0b001).unwrap();
        e.write(Reg::VTEIMS, 0, 0b010).unwrap();
        assert_eq!(e.log().value(Reg::VTEIMS, 0), Some(0b110));
        assert_eq!(e.log().value(Reg::VTEIMC, 0), None, "no word of its own");
    }

    #[test]
    fn read_clear_bits_survive_until_consumed() {
        let fake = Fake::default();
        fake.regs
            .borrow_mut()
            .insert(0x2FC, vfmailbox::PFSTS | vfmailbox::PFU);
        let mut e = Emul::new(&fake, &MAC_82599);
        assert_eq!(
            e.read(Reg::VFMAILBOX, 0),
            Ok(vfmailbox::PFSTS | vfmailbox::PFU)
        );
        // Hardware has cleared PFSTS; the stash still reports it.
        assert_eq!(
            e.read(Reg::VFMAILBOX, 0),
            Ok(vfmailbox::PFSTS | vfmailbox::PFU)
        );
        assert_eq!(
            e.log_mut().consume(Reg::VFMAILBOX, vfmailbox::PFSTS),
            vfmailbox::PFSTS
        );
        assert_eq!(e.read(Reg::VFMAILBOX, 0), Ok(vfmailbox::PFU));
        fake.regs.borrow_mut().insert(0x100, u32::MAX);
        assert_eq!(
            e.read(Reg::VTEICR, 0),
            Err(EmulError::AllOnes { reg: Reg::VTEICR })
        );
        assert_eq!(e.log().pending(Reg::VTEICR), 0);
    }

    #[test]
    fn refused_accesses_touch_nothing() {
        let fake = Fake::default();
        let mut e = Emul::new(&fake, &MAC_82599);
        let cases = [
            (
                Reg::VFRETA,
                0,
                EmulError::NotImplemented { reg: Reg::VFRETA },
            ),
            (Reg::VFGPRC, 0, EmulError::NotWritable { reg: Reg::VFGPRC }),
            (
                Reg::VFRDT,
                LOGGED_QUEUES,
                EmulError::NotLogged {
                    reg: Reg::VFRDT,
                    index: LOGGED_QUEUES,
                },
            ),
            (
                Reg::VTEITR,
                3,
                EmulError::Index(RegError::IndexOutOfRange {
                    reg: Reg::VTEITR,
                    index: 3,
                }),
            ),
        ];
        for (reg, index, err) in cases {
            assert_eq!(e.write(reg, index, 1), Err(err));
        }
        assert!(fake.log.borrow().is_empty());
        assert_eq!(e.log(), &EmulLog::default());
        // Heads are replayed, not logged: any queue index may be written.
        assert_eq!(e.write(Reg::VFRDH, 7, 0), Ok(()));
        let mut x = Emul::new(&fake, &MAC_X550);
        assert_eq!(x.write(Reg::VFRETA, 15, 0x0101_0101), Ok(()));
    }

    #[test]
    fn vf_reset_forgets_only_what_reset_clears() {
        let fake = Fake::default();
        let mut e = Emul::new(&fake, &MAC_82599);
        e.write(Reg::VFRDBAL, 0, 0x1000).unwrap();
        e.write(Reg::VFSRRCTL, 0, 0x0200_0402).unwrap();
        e.write(Reg::VTEIMS, 0, 7).unwrap();
        fake.regs.borrow_mut().insert(0x100, 0b10);
        e.read(Reg::VTEICR, 0).unwrap();
        e.write(Reg::VFCTRL, 0, vfctrl::RST).unwrap();
        assert_eq!(e.log().value(Reg::VFRDBAL, 0), None);
        assert_eq!(e.log().value(Reg::VTEIMS, 0), None);
        assert_eq!(
            e.log().value(Reg::VFSRRCTL, 0),
            Some(0x0200_0402),
            "survives VFLR"
        );
        assert_eq!(e.log().pending(Reg::VTEICR), 0b10, "owed to the driver");
    }

    #[test]
    fn msix_auto_mask_and_clear_follow_eiam_eiac() {
        let fake = Fake::default();
        let mut e = Emul::new(&fake, &MAC_82599);
        e.write(Reg::VTEIAM, 0, 0b011).unwrap();
        e.write(Reg::VTEIAC, 0, 0b001).unwrap();
        e.write(Reg::VTEIMS, 0, 0b111).unwrap();
        fake.regs.borrow_mut().insert(0x100, 0b111);
        e.read(Reg::VTEICR, 0).unwrap();
        e.note_msix(0b101);
        assert_eq!(e.log().value(Reg::VTEIMS, 0), Some(0b110));
        assert_eq!(e.log().pending(Reg::VTEICR), 0b110);
    }

    #[test]
    fn modify_uses_the_log_not_a_read() {
        let fake = Fake::default();
        let mut e = Emul::new(&fake, &MAC_82599);
        e.write(Reg::VTIVAR, 1, 0x0000_8180).unwrap();
        fake.log.borrow_mut().clear();
        assert_eq!(
            e.modify(Reg::VTIVAR, 1, 0xFF00_0000, 0x8100_0000),
            Ok(0x8100_8180)
        );
        assert!(
            fake.log.borrow().iter().all(|(w, _, _)| *w),
            "no read issued"
        );
    }

    #[test]
    fn log_round_trips_and_rejects_corruption() {
        let fake = Fake::default();
        let mut e = Emul::new(&fake, &MAC_X550);
        e.write(Reg::VFRSSRK, 9, 0xDEAD_BEEF).unwrap();
        e.write(Reg::VFTDT, 3, 17).unwrap();
        let mut bytes = [0u8; LOG_BYTES];
        e.log().encode(&mut bytes);
        assert_eq!(EmulLog::decode(&bytes).as_ref(), Ok(e.log()));
        assert_eq!(
            EmulLog::decode(&bytes[1..]),
            Err(LogDecodeError::Length { got: LOG_BYTES - 1 })
        );
        // Words no access can produce. Byte offset of a word: 4 * its slot; the "written"
        // bitmap follows the words.
        let word_at =
            |reg: Reg, index: u32| 4 * (usize::from(regs::LOG_BASE[reg as usize]) + index as usize);
        let written_at = |reg: Reg, index: u32| {
            let slot = usize::from(regs::LOG_BASE[reg as usize]) + index as usize;
            (
                4 * regs::LOG_WORDS + 4 * (slot / 32) + (slot % 32) / 8,
                1u8 << (slot % 8),
            )
        };
        type Mutation<'a> = Box<dyn Fn(&mut [u8; LOG_BYTES]) + 'a>;
        let cases: Vec<(Mutation, LogDecodeError)> = vec![
            // A VTEICR stash bit beyond the three vectors.
            (
                Box::new(|b| b[word_at(Reg::VTEICR, 0)] = 0x08),
                LogDecodeError::Word {
                    reg: Reg::VTEICR,
                    index: 0,
                    value: 0x08,
                    written: false,
                },
            ),
            // A VFMAILBOX stash holding a bit that a read does not clear (VFU).
            (
                Box::new(|b| b[word_at(Reg::VFMAILBOX, 0)] = 0x04),
                LogDecodeError::Word {
                    reg: Reg::VFMAILBOX,
                    index: 0,
                    value: 0x04,
                    written: false,
                },
            ),
            // A read-clear stash marked as written.
            (
                Box::new(|b| {
                    let (at, bit) = written_at(Reg::VTEICR, 0);
                    b[at] |= bit;
                }),
                LogDecodeError::Word {
                    reg: Reg::VTEICR,
                    index: 0,
                    value: 0,
                    written: true,
                },
            ),
            // A value for a register never written.
            (
                Box::new(|b| b[word_at(Reg::VTEIAM, 0)] = 0x07),
                LogDecodeError::Word {
                    reg: Reg::VTEIAM,
                    index: 0,
                    value: 0x07,
                    written: false,
                },
            ),
        ];
        for (mutate, want) in cases {
            let mut c = bytes;
            mutate(&mut c);
            assert_eq!(EmulLog::decode(&c), Err(want));
        }
        if regs::LOG_WORDS % 32 != 0 {
            let last = LOG_BYTES - 1;
            bytes[last] |= 0x80;
            assert_eq!(
                EmulLog::decode(&bytes),
                Err(LogDecodeError::StrayWrittenBit)
            );
        }
    }
}
