//! Register state of one Rx or Tx queue: ring base and length, head and tail, descriptor
//! control with its asynchronous ENABLE handshake.
//!
//! ENABLE does not take effect when written: the register keeps reading the old state until
//! the queue has actually started or stopped (a few microseconds on hardware; the driver
//! polls). The head is owned by the device while the queue runs: a head write is honoured
//! only while the queue is disabled with no enable pending. Which registers survive a VF
//! reset follows the 82599 Specification Update ("not reset by VFLR").

use std::time::{Duration, Instant};

use crate::regs::{DCTL_ENABLE, TXDCTL_SWFLSH};

/// Ring base low: bits 6:0 are zero (128-byte alignment).
const BAL_MASK: u32 = 0xFFFF_FF80;
/// Ring length: bits 19:7 (multiples of 128 bytes, up to 1 MiB - 128).
const LEN_MASK: u32 = 0x000F_FF80;
/// Head and tail: 16 bits.
const PTR_MASK: u32 = 0xFFFF;

/// Registers of one queue (the Tx-only and Rx-only ones are simply unused on the other).
#[derive(Clone, Debug, Default)]
pub struct Queue {
    /// Descriptor ring base, low.
    pub bal: u32,
    /// Descriptor ring base, high.
    pub bah: u32,
    /// Ring length in bytes.
    pub len: u32,
    /// DCA control.
    pub dca: u32,
    /// Head: next descriptor the device processes.
    pub head: u32,
    /// Tail: one past the last descriptor software handed over.
    pub tail: u32,
    /// SRRCTL (Rx only).
    pub srrctl: u32,
    /// RSCCTL (Rx only; RSC is unavailable to VFs, the value is only stored).
    pub rscctl: u32,
    /// Head write-back address, low (Tx only).
    pub wbal: u32,
    /// Head write-back address, high (Tx only).
    pub wbah: u32,
    /// RXDCTL/TXDCTL without ENABLE (configuration bits).
    dctl: u32,
    /// The queue is running.
    enabled: bool,
    /// A requested ENABLE change and when it completes.
    pending: Option<(bool, Instant)>,
    /// Head writes ignored because the queue was running.
    pub ignored_head_writes: u64,
}

impl Queue {
    /// Ring base as a 64-bit guest address.
    pub fn base(&self) -> u64 {
        (u64::from(self.bah) << 32) | u64::from(self.bal)
    }

    /// Number of 16-byte descriptors in the ring.
    pub fn count(&self) -> u32 {
        self.len / 16
    }

    /// Completes an ENABLE change whose time has come.
    pub fn tick(&mut self, now: Instant) {
        if let Some((target, at)) = self.pending {
            if now >= at {
                self.enabled = target;
                self.pending = None;
            }
        }
    }

    /// Whether the queue is running (after `tick`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// RXDCTL/TXDCTL read.
    pub fn dctl(&self) -> u32 {
        self.dctl | if self.enabled { DCTL_ENABLE } else { 0 }
    }

    /// RXDCTL/TXDCTL write. `delay` is how long the ENABLE change takes. SWFLSH (Tx) is a
    /// self-clearing command: write-backs are never held back in this model, so there is
    /// nothing left to flush and it reads back as 0.
    pub fn write_dctl(&mut self, now: Instant, v: u32, delay: Duration) {
        self.tick(now);
        self.dctl = v & !(DCTL_ENABLE | TXDCTL_SWFLSH);
        let want = v & DCTL_ENABLE != 0;
        let target_now = self.pending.map_or(self.enabled, |(t, _)| t);
        if want != target_now {
            self.pending = Some((want, now + delay));
        }
        self.tick(now);
    }

    /// Head write: honoured only while the queue is stopped with no enable pending.
    pub fn write_head(&mut self, now: Instant, v: u32) -> bool {
        self.tick(now);
        if self.enabled || self.pending.is_some() {
            self.ignored_head_writes += 1;
            return false;
        }
        self.head = v & PTR_MASK;
        true
    }

    /// Tail write.
    pub fn write_tail(&mut self, v: u32) {
        self.tail = v & PTR_MASK;
    }

    /// Base-low write.
    pub fn write_bal(&mut self, v: u32) {
        self.bal = v & BAL_MASK;
    }

    /// Length write.
    pub fn write_len(&mut self, v: u32) {
        self.len = v & LEN_MASK;
    }

    /// VF reset: the queue stops; base and length return to 0; head, tail, SRRCTL, the
    /// descriptor-control configuration bits, DCA and head write-back are not reset.
    pub fn vf_reset(&mut self) {
        self.enabled = false;
        self.pending = None;
        self.bal = 0;
        self.bah = 0;
        self.len = 0;
        self.rscctl = 0;
    }

    /// Loads registers a previous tenant left behind (for a swap to a "used" VF).
    pub fn seed_stale(&mut self, junk: u32) {
        self.head = junk & 0x3F8;
        self.tail = (junk >> 8) & 0x3F8;
        self.srrctl = junk & 0x1000_3F03;
        self.dctl = junk & 0x407F_7F7F & !DCTL_ENABLE;
        self.dca = junk & 0x2200;
        self.wbal = junk & 0xFFFF_FFFC;
        self.wbah = junk.rotate_left(7);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_is_asynchronous() {
        let t = Instant::now();
        let d = Duration::from_micros(100);
        let mut q = Queue::default();
        q.write_dctl(t, DCTL_ENABLE | 0x20, d);
        assert_eq!(q.dctl(), 0x20, "ENABLE not visible at once");
        q.tick(t + Duration::from_micros(50));
        assert!(!q.enabled());
        q.tick(t + d);
        assert_eq!(q.dctl(), DCTL_ENABLE | 0x20);
        // Disabling is asynchronous too.
        q.write_dctl(t + d, 0x20, d);
        assert!(q.enabled());
        q.tick(t + d * 2);
        assert!(!q.enabled());
        // SWFLSH self-clears.
        q.write_dctl(t + d * 2, TXDCTL_SWFLSH, d);
        assert_eq!(q.dctl(), 0);
    }

    #[test]
    fn head_writes_only_while_disabled() {
        let t = Instant::now();
        let d = Duration::from_micros(10);
        let mut q = Queue::default();
        assert!(q.write_head(t, 5));
        assert_eq!(q.head, 5);
        q.write_dctl(t, DCTL_ENABLE, d);
        assert!(!q.write_head(t, 0), "refused while the enable is pending");
        assert!(!q.write_head(t + d, 0), "refused while running");
        assert_eq!(q.head, 5);
        assert_eq!(q.ignored_head_writes, 2);
        q.write_dctl(t + d, 0, d);
        assert!(q.write_head(t + d * 2, 0));
        assert_eq!(q.head, 0);
    }

    #[test]
    fn vf_reset_keeps_the_persistent_registers() {
        let t = Instant::now();
        let mut q = Queue::default();
        q.write_bal(0x1234_5680);
        q.write_len(0x1000);
        q.write_head(t, 3);
        q.write_tail(9);
        q.srrctl = 0x0200_0402;
        q.wbal = 0x1000;
        q.write_dctl(t, DCTL_ENABLE | 0x0008_2020, Duration::ZERO);
        assert!(q.enabled());
        q.vf_reset();
        assert_eq!((q.bal, q.len), (0, 0));
        assert_eq!(
            (q.head, q.tail, q.srrctl, q.wbal),
            (3, 9, 0x0200_0402, 0x1000)
        );
        assert_eq!(q.dctl(), 0x0008_2020, "configuration kept, ENABLE cleared");
    }
}
