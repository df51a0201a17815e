//! The VF's interrupt block: VTEICR/VTEICS/VTEIMS/VTEIMC/VTEIAC/VTEIAM, the IVAR maps and
//! the throttle registers, and how causes become MSI-X messages.
//!
//! On the 82599 VF in MSI-X mode each VTEICR bit is the cause of the vector with the same
//! index (queue and mailbox causes are routed to a vector by VTIVAR/VTIVAR_MISC first). A
//! vector fires when a cause is raised while its VTEIMS bit is set, or when VTEIMS unmasks
//! a vector whose cause is pending. When it fires, VTEIAC clears its cause bit (auto-clear)
//! and VTEIAM clears its mask bit (auto-mask), which is what ixgbevf relies on: it programs
//! both to its whole vector mask and re-arms each vector with VTEIMS after NAPI.

use crate::regs::{IVAR_VALID, NUM_VECTORS};

/// Bits of VTEICR/VTEIMS that exist: one per vector.
pub const VECTOR_MASK: u32 = (1 << NUM_VECTORS) - 1;
/// Bits of VTEITR that hold state: the interval (11:3) and LLI moderation (15).
pub const EITR_MASK: u32 = 0x0000_8FF8;

/// Where the model delivers MSI-X messages.
pub trait IrqSink: Send {
    /// Signals `vector`. Returns false if nothing is attached to it, so the message is
    /// left pending (the PBA bit stays set).
    fn fire(&mut self, vector: usize) -> bool;
    /// Attaches (or with None detaches) what delivers `vector`; sinks with nothing to
    /// attach ignore it.
    fn attach(&mut self, vector: usize, target: Option<std::fs::File>) {
        let _ = (vector, target);
    }
}

/// MSI-X delivery through the eventfds QEMU passes with SET_IRQS.
#[derive(Default)]
pub struct EventFdSink {
    fds: [Option<std::fs::File>; NUM_VECTORS],
}

impl IrqSink for EventFdSink {
    fn fire(&mut self, vector: usize) -> bool {
        use std::io::Write;
        match self.fds.get_mut(vector).and_then(Option::as_mut) {
            // An eventfd write only fails when the counter would overflow, i.e. when the
            // consumer is gone; the message is then as good as delivered.
            Some(f) => {
                let _ = f.write(&1u64.to_ne_bytes());
                true
            }
            None => false,
        }
    }

    fn attach(&mut self, vector: usize, target: Option<std::fs::File>) {
        if let Some(slot) = self.fds.get_mut(vector) {
            *slot = target;
        }
    }
}

/// A sink that records what fired, for tests and for a device with no transport yet.
#[derive(Default, Debug)]
pub struct RecordingSink {
    /// Every vector fired, in order.
    pub fired: Vec<usize>,
}

impl IrqSink for RecordingSink {
    fn fire(&mut self, vector: usize) -> bool {
        self.fired.push(vector);
        true
    }
}

/// Interrupt registers of one VF. All of them are reset by a VF reset.
#[derive(Clone, Debug, Default)]
pub struct Interrupts {
    eicr: u32,
    eims: u32,
    eiac: u32,
    eiam: u32,
    eitr: [u32; NUM_VECTORS],
    ivar: [u32; 4],
    ivar_misc: u32,
    pba: u32,
    fired: u64,
}

/// Which cause of a queue an IVAR entry routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueCause {
    /// Rx descriptor write-back.
    Rx,
    /// Tx descriptor write-back.
    Tx,
}

impl Interrupts {
    /// VTEICR read: returns the causes and clears them (read-clear).
    pub fn read_eicr(&mut self) -> u32 {
        std::mem::take(&mut self.eicr)
    }

    /// VTEICR write: write-1-to-clear.
    pub fn write_eicr(&mut self, v: u32) {
        self.eicr &= !v;
    }

    /// VTEICS read: the causes, without clearing them.
    pub fn peek_eicr(&self) -> u32 {
        self.eicr
    }

    /// VTEICS write: sets causes, which fire their vectors if unmasked.
    pub fn write_eics(&mut self, v: u32, sink: &mut dyn IrqSink) {
        self.raise(v & VECTOR_MASK, sink);
    }

    /// VTEIMS read: the current mask (1 = enabled).
    pub fn eims(&self) -> u32 {
        self.eims
    }

    /// VTEIMS write: enables vectors; a pending cause on a newly enabled vector fires.
    pub fn write_eims(&mut self, v: u32, sink: &mut dyn IrqSink) {
        let newly = v & VECTOR_MASK & !self.eims;
        self.eims |= v & VECTOR_MASK;
        self.fire(newly & self.eicr, sink);
    }

    /// VTEIMC write: disables vectors.
    pub fn write_eimc(&mut self, v: u32) {
        self.eims &= !v;
    }

    /// VTEIAC value.
    pub fn eiac(&self) -> u32 {
        self.eiac
    }

    /// VTEIAC write.
    pub fn write_eiac(&mut self, v: u32) {
        self.eiac = v & VECTOR_MASK;
    }

    /// VTEIAM value.
    pub fn eiam(&self) -> u32 {
        self.eiam
    }

    /// VTEIAM write.
    pub fn write_eiam(&mut self, v: u32) {
        self.eiam = v & VECTOR_MASK;
    }

    /// VTEITR(vector) value: interval and moderation bits; the hardware counters read 0.
    pub fn eitr(&self, vector: usize) -> u32 {
        self.eitr[vector]
    }

    /// VTEITR(vector) write. CNT_WDIS (bit 31) is a write-only control and is not kept.
    pub fn write_eitr(&mut self, vector: usize, v: u32) {
        self.eitr[vector] = v & EITR_MASK;
    }

    /// VTIVAR(index) value.
    pub fn ivar(&self, index: usize) -> u32 {
        self.ivar[index]
    }

    /// VTIVAR(index) write: four 8-bit entries (Rx even, Tx even, Rx odd, Tx odd).
    pub fn write_ivar(&mut self, index: usize, v: u32) {
        self.ivar[index] = v & 0x8383_8383;
    }

    /// VTIVAR_MISC value.
    pub fn ivar_misc(&self) -> u32 {
        self.ivar_misc
    }

    /// VTIVAR_MISC write: byte 0 routes the mailbox cause.
    pub fn write_ivar_misc(&mut self, v: u32) {
        self.ivar_misc = v & 0x83;
    }

    /// Pending-bit array as BAR3 shows it.
    pub fn pba(&self) -> u32 {
        self.pba
    }

    /// Number of MSI-X messages sent since creation.
    pub fn fired_count(&self) -> u64 {
        self.fired
    }

    /// The vector a queue cause is routed to, if its IVAR entry is valid.
    pub fn queue_vector(&self, queue: usize, cause: QueueCause) -> Option<usize> {
        let shift = 16 * (queue as u32 & 1) + if cause == QueueCause::Tx { 8 } else { 0 };
        entry_vector((self.ivar[queue / 2] >> shift) & 0xFF)
    }

    /// The vector the mailbox cause is routed to, if VTIVAR_MISC is valid.
    pub fn mailbox_vector(&self) -> Option<usize> {
        entry_vector(self.ivar_misc & 0xFF)
    }

    /// Raises the causes in `bits` (one per vector); unmasked vectors fire.
    pub fn raise(&mut self, bits: u32, sink: &mut dyn IrqSink) {
        let bits = bits & VECTOR_MASK;
        self.eicr |= bits;
        self.fire(bits & self.eims, sink);
    }

    /// Retries vectors whose message was left pending because nothing was attached.
    pub fn retry_pending(&mut self, sink: &mut dyn IrqSink) {
        let pending = self.pba & self.eicr & self.eims;
        self.fire(pending, sink);
    }

    fn fire(&mut self, vectors: u32, sink: &mut dyn IrqSink) {
        for v in 0..NUM_VECTORS {
            let bit = 1u32 << v;
            if vectors & bit == 0 {
                continue;
            }
            if !sink.fire(v) {
                // Held in the PBA: the cause and the mask stay as they are, so the
                // message can still go out when a target is attached.
                self.pba |= bit;
                continue;
            }
            self.pba &= !bit;
            self.fired += 1;
            // Auto-clear and auto-mask act when the message is sent.
            if self.eiac & bit != 0 {
                self.eicr &= !bit;
            }
            if self.eiam & bit != 0 {
                self.eims &= !bit;
            }
        }
    }
}

fn entry_vector(entry: u32) -> Option<usize> {
    if entry & IVAR_VALID == 0 {
        return None;
    }
    // CAST: masked to 2 bits.
    let v = (entry & 0x3) as usize;
    (v < NUM_VECTORS).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eicr_read_clears_and_w1c() {
        let mut i = Interrupts::default();
        let mut s = RecordingSink::default();
        i.write_eics(0b101, &mut s);
        assert_eq!(i.peek_eicr(), 0b101, "EICS read does not clear");
        assert_eq!(i.peek_eicr(), 0b101);
        i.write_eicr(0b001);
        assert_eq!(i.read_eicr(), 0b100);
        assert_eq!(i.read_eicr(), 0, "read cleared");
        assert!(s.fired.is_empty(), "masked vectors do not fire");
    }

    #[test]
    fn auto_clear_and_auto_mask() {
        let mut i = Interrupts::default();
        let mut s = RecordingSink::default();
        i.write_eiam(0b011);
        i.write_eiac(0b001);
        i.write_eims(0b111, &mut s);
        i.raise(0b011, &mut s);
        assert_eq!(s.fired, vec![0, 1]);
        // Vector 0: auto-cleared and auto-masked. Vector 1: masked, cause kept.
        assert_eq!(i.peek_eicr(), 0b010);
        assert_eq!(i.eims(), 0b100);
        // A new cause on a masked vector does not fire...
        i.raise(0b001, &mut s);
        assert_eq!(s.fired, vec![0, 1]);
        // ...until VTEIMS re-enables it.
        i.write_eims(0b001, &mut s);
        assert_eq!(s.fired, vec![0, 1, 0]);
        // Vector 2 has neither: it stays enabled and its cause stays set.
        i.raise(0b100, &mut s);
        i.raise(0b100, &mut s);
        assert_eq!(s.fired, vec![0, 1, 0, 2, 2]);
        assert_eq!(i.eims() & 0b100, 0b100);
        i.write_eimc(0b100);
        assert_eq!(i.eims() & 0b100, 0);
    }

    #[test]
    fn ivar_routing() {
        let mut i = Interrupts::default();
        // Queue 1 Rx -> vector 1, queue 1 Tx -> vector 0, queue 0 Rx invalid.
        i.write_ivar(0, (0x81 << 16) | (0x80 << 24));
        i.write_ivar_misc(0x82);
        assert_eq!(i.queue_vector(1, QueueCause::Rx), Some(1));
        assert_eq!(i.queue_vector(1, QueueCause::Tx), Some(0));
        assert_eq!(i.queue_vector(0, QueueCause::Rx), None);
        assert_eq!(i.mailbox_vector(), Some(2));
        // Vector 3 does not exist on the VF.
        i.write_ivar_misc(0x83);
        assert_eq!(i.mailbox_vector(), None);
    }

    #[test]
    fn unattached_vector_stays_pending() {
        struct Nothing;
        impl IrqSink for Nothing {
            fn fire(&mut self, _: usize) -> bool {
                false
            }
        }
        let mut i = Interrupts::default();
        i.write_eims(0b1, &mut Nothing);
        i.raise(0b1, &mut Nothing);
        assert_eq!(i.pba(), 0b1);
        let mut s = RecordingSink::default();
        i.retry_pending(&mut s);
        assert_eq!(s.fired, vec![0]);
        assert_eq!(i.pba(), 0);
        // With auto-clear and auto-mask on (as ixgbevf programs them), a message held
        // for lack of a target keeps its cause and mask until it really goes out.
        i.write_eiac(0b1);
        i.write_eiam(0b1);
        i.write_eims(0b1, &mut s);
        i.raise(0b1, &mut Nothing);
        assert_eq!((i.pba(), i.peek_eicr(), i.eims()), (0b1, 0b1, 0b1));
        i.retry_pending(&mut s);
        assert_eq!(s.fired, vec![0, 0]);
        assert_eq!((i.pba(), i.peek_eicr(), i.eims()), (0, 0, 0));
    }
}
