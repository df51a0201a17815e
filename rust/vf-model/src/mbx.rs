//! The mailbox hardware between the VF and the PF: VFMAILBOX bits, the shared 16-dword
//! buffer, buffer ownership (VFU/PFU) and the reset indications (RSTI/RSTD).
//!
//! This is the register level only; what the PF does with messages is in `pf.rs`.
//! Semantics (82599 datasheet, mailbox section, as the ixgbe/ixgbevf drivers use them):
//! - REQ and ACK are write pulses towards the PF; they read as 0.
//! - A VF write of VFU takes the buffer only if the PF does not hold it (PFU); writing
//!   VFU = 0 releases it. The driver checks by reading back.
//! - PFSTS, PFACK and RSTD are cleared by a read of VFMAILBOX; RSTI is read-only.
//! - The PF takes the buffer only when the VF does not hold it, and never waits.

use std::time::{Duration, Instant};

use crate::regs::{
    MBX_ACK, MBX_PFACK, MBX_PFSTS, MBX_PFU, MBX_REQ, MBX_RSTD, MBX_RSTI, MBX_VFU, MBX_WORDS,
};

/// The longest a reset indication is held: longer than any driver waits, short enough
/// that `Instant` arithmetic cannot overflow.
pub const MAX_RESET_HOLD: Duration = Duration::from_secs(3600);

/// What a VF write to VFMAILBOX asks of the PF.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VfSignals {
    /// REQ was written: a message is in the buffer.
    pub req: bool,
    /// ACK was written: the VF consumed the PF's message.
    pub ack: bool,
}

/// Why a PF-side mailbox operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PfMbxError {
    /// The VF holds the buffer (VFU), so the PF cannot lock it; the Linux PF gives up.
    VfOwnsBuffer,
}

/// Mailbox registers of one VF.
#[derive(Clone, Debug)]
pub struct Mailbox {
    mem: [u32; MBX_WORDS],
    vfu: bool,
    pfu: bool,
    pfsts: bool,
    pfack: bool,
    rstd: bool,
    /// RSTI is asserted until this instant (a reset in progress).
    rsti_until: Option<Instant>,
    /// VF writes to VFMBMEM dropped because the VF did not own the buffer.
    dropped_writes: u64,
}

impl Mailbox {
    /// A mailbox as a VF finds it when the PF has finished its own reset: RSTD pending.
    pub fn new() -> Self {
        Mailbox {
            mem: [0; MBX_WORDS],
            vfu: false,
            pfu: false,
            pfsts: false,
            pfack: false,
            rstd: true,
            rsti_until: None,
            dropped_writes: 0,
        }
    }

    /// Asserts RSTI for `hold` (at most `MAX_RESET_HOLD`), after which RSTD is set and
    /// RSTI drops. Ownership and pending status are cleared: a reset ends any transaction.
    pub fn begin_reset(&mut self, now: Instant, hold: Duration) {
        self.vfu = false;
        self.pfu = false;
        self.pfsts = false;
        self.pfack = false;
        self.rstd = false;
        // `Instant + Duration` panics on overflow; the hold comes from the control socket.
        let hold = hold.min(MAX_RESET_HOLD);
        self.rsti_until = Some(now.checked_add(hold).unwrap_or(now));
    }

    /// Moves an expired RSTI to RSTD. Called before every access.
    pub fn tick(&mut self, now: Instant) {
        if let Some(t) = self.rsti_until {
            if now >= t {
                self.rsti_until = None;
                self.rstd = true;
            }
        }
    }

    /// Whether a reset is still in progress.
    pub fn rsti(&self) -> bool {
        self.rsti_until.is_some()
    }

    /// The register value without side effects (for logs and tests).
    pub fn peek(&self) -> u32 {
        let mut v = 0;
        for (on, bit) in [
            (self.vfu, MBX_VFU),
            (self.pfu, MBX_PFU),
            (self.pfsts, MBX_PFSTS),
            (self.pfack, MBX_PFACK),
            (self.rsti(), MBX_RSTI),
            (self.rstd, MBX_RSTD),
        ] {
            if on {
                v |= bit;
            }
        }
        v
    }

    /// VF read of VFMAILBOX: returns the bits and clears PFSTS, PFACK and RSTD.
    pub fn vf_read(&mut self, now: Instant) -> u32 {
        self.tick(now);
        let v = self.peek();
        self.pfsts = false;
        self.pfack = false;
        self.rstd = false;
        v
    }

    /// VF write of VFMAILBOX.
    pub fn vf_write(&mut self, now: Instant, v: u32) -> VfSignals {
        self.tick(now);
        if v & MBX_VFU != 0 {
            if !self.pfu {
                self.vfu = true;
            }
        } else {
            self.vfu = false;
        }
        VfSignals {
            req: v & MBX_REQ != 0,
            ack: v & MBX_ACK != 0,
        }
    }

    /// VF read of VFMBMEM[i].
    pub fn vf_read_mem(&self, i: usize) -> u32 {
        self.mem[i]
    }

    /// VF write of VFMBMEM[i]: takes effect only while the VF owns the buffer.
    pub fn vf_write_mem(&mut self, i: usize, v: u32) -> bool {
        if self.vfu {
            self.mem[i] = v;
            true
        } else {
            self.dropped_writes += 1;
            false
        }
    }

    /// VF writes to the buffer dropped for lack of ownership.
    pub fn dropped_writes(&self) -> u64 {
        self.dropped_writes
    }

    /// PF obtains the buffer (PFMAILBOX.PFU), failing if the VF holds it.
    fn pf_lock(&mut self) -> Result<(), PfMbxError> {
        if self.vfu {
            return Err(PfMbxError::VfOwnsBuffer);
        }
        self.pfu = true;
        Ok(())
    }

    /// PF reads the VF's message and acknowledges it (PFMAILBOX.ACK sets the VF's PFACK).
    pub fn pf_read(&mut self) -> Result<[u32; MBX_WORDS], PfMbxError> {
        self.pf_lock()?;
        let msg = self.mem;
        self.pfu = false;
        self.pfack = true;
        Ok(msg)
    }

    /// PF writes a message of `words.len()` dwords and sets the VF's PFSTS.
    pub fn pf_write(&mut self, words: &[u32]) -> Result<(), PfMbxError> {
        self.pf_lock()?;
        for (slot, w) in self.mem.iter_mut().zip(words) {
            *slot = *w;
        }
        self.pfu = false;
        self.pfsts = true;
        Ok(())
    }

    /// PF clears the whole buffer (ixgbe_vf_clear_mbx on VF_RESET).
    pub fn pf_clear(&mut self) {
        self.mem = [0; MBX_WORDS];
    }
}

impl Default for Mailbox {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_clears_status_bits_but_not_rsti() {
        let t = Instant::now();
        let mut m = Mailbox::new();
        assert_eq!(m.vf_read(t), MBX_RSTD);
        assert_eq!(m.vf_read(t), 0);
        m.begin_reset(t, Duration::from_millis(1));
        assert_eq!(m.vf_read(t), MBX_RSTI);
        assert_eq!(m.vf_read(t), MBX_RSTI, "RSTI is not read-clear");
        let later = t + Duration::from_millis(1);
        assert_eq!(m.vf_read(later), MBX_RSTD);
        assert_eq!(m.vf_read(later), 0);
        m.pf_write(&[0x100]).unwrap();
        m.pf_read().unwrap();
        assert_eq!(m.vf_read(later), MBX_PFSTS | MBX_PFACK);
        assert_eq!(m.vf_read(later), 0);
    }

    #[test]
    fn absurd_reset_hold_is_bounded() {
        let t = Instant::now();
        let mut m = Mailbox::new();
        m.begin_reset(t, Duration::MAX);
        assert_eq!(m.vf_read(t), MBX_RSTI);
        assert_eq!(m.vf_read(t + MAX_RESET_HOLD), MBX_RSTD);
    }

    #[test]
    fn ownership() {
        let t = Instant::now();
        let mut m = Mailbox::new();
        assert!(!m.vf_write_mem(0, 1), "no write without VFU");
        assert_eq!(m.dropped_writes(), 1);
        m.vf_write(t, MBX_VFU);
        assert_eq!(m.vf_read(t) & MBX_VFU, MBX_VFU);
        assert!(m.vf_write_mem(0, 7));
        assert_eq!(m.pf_read(), Err(PfMbxError::VfOwnsBuffer));
        assert_eq!(m.pf_write(&[1]), Err(PfMbxError::VfOwnsBuffer));
        let s = m.vf_write(t, MBX_REQ);
        assert!(s.req && !s.ack);
        assert_eq!(
            m.vf_read(t) & MBX_VFU,
            0,
            "REQ without VFU releases the buffer"
        );
        assert_eq!(m.pf_read().unwrap()[0], 7);
        assert_eq!(m.vf_read(t), MBX_PFACK);
        // The PF holding the buffer blocks the VF's VFU.
        m.pfu = true;
        m.vf_write(t, MBX_VFU);
        assert_eq!(m.vf_read(t), MBX_PFU);
    }
}
