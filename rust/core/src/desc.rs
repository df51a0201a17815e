//! Advanced Rx and Tx descriptors and ring arithmetic (anatomy §8; 82599 datasheet 7.1.6,
//! 7.2.3): what the driver writes for the device and how it reads what the device wrote back.
//!
//! Descriptors are two little-endian 64-bit words. The driver keeps them in DMA-coherent
//! memory and moves them as `[u64; 2]`; everything here is pure arithmetic on those words, so
//! the host tests and the module share it. A write-back is untrusted input: its length is
//! bounded by the buffer the driver posted, and unknown bits are ignored.

/// Bytes of one descriptor.
pub const DESC_BYTES: u32 = 16;

/// Tx command and status bits (ixgbevf defines.h `IXGBE_ADVTXD_*`, `IXGBE_TXD_CMD_*`).
pub mod tx {
    /// End of packet.
    pub const CMD_EOP: u32 = 1 << 24;
    /// Insert the Ethernet FCS.
    pub const CMD_IFCS: u32 = 1 << 25;
    /// Report status: the device writes DD back when the descriptor is done.
    pub const CMD_RS: u32 = 1 << 27;
    /// Extended (advanced) descriptor.
    pub const CMD_DEXT: u32 = 1 << 29;
    /// Advanced data descriptor type.
    pub const DTYP_DATA: u32 = 0x3 << 20;
    /// Descriptor done, in the write-back's status word.
    pub const STAT_DD: u32 = 1;
    /// Shift of the payload length in `olinfo_status`.
    pub const PAYLEN_SHIFT: u32 = 14;
    /// Largest buffer one data descriptor carries (the 16-bit length field).
    pub const MAX_DATA_PER_DESC: u32 = 1 << 14;
}

/// Rx status bits of the advanced write-back (`IXGBE_RXD_STAT_*`, `IXGBE_RXDADV_ERR_*`).
pub mod rx {
    /// Descriptor done.
    pub const STAT_DD: u32 = 0x01;
    /// End of packet.
    pub const STAT_EOP: u32 = 0x02;
    /// A VLAN tag was stripped into the descriptor.
    pub const STAT_VP: u32 = 0x08;
    /// Frame errors that make the frame unusable: CE, LE, PE, OSE, USE
    /// (`IXGBE_RXDADV_ERR_FRAME_ERR_MASK`).
    pub const ERR_FRAME: u32 = 0x0100_0000 | 0x0200_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000;
}

/// An advanced Tx data descriptor for one buffer of a frame.
///
/// `paylen` is the whole frame's length; the device takes it from the first descriptor.
pub fn tx_data(addr: u64, len: u16, eop: bool, paylen: u32) -> [u64; 2] {
    let mut cmd = tx::DTYP_DATA | tx::CMD_DEXT | tx::CMD_IFCS | u32::from(len);
    if eop {
        cmd |= tx::CMD_EOP | tx::CMD_RS;
    }
    // PAYLEN is 18 bits; a longer frame cannot be described (the caller checks).
    let olinfo = (paylen & 0x3_FFFF) << tx::PAYLEN_SHIFT;
    [addr, u64::from(cmd) | u64::from(olinfo) << 32]
}

/// Whether the device wrote back DD for a Tx descriptor (the status is the high half of
/// the second word).
pub fn tx_done(desc: [u64; 2]) -> bool {
    let [_, hi] = desc;
    (hi >> 32) as u32 & tx::STAT_DD != 0
}

/// The Rx read format: the buffer's bus address (no header split).
pub fn rx_read(addr: u64) -> [u64; 2] {
    [addr, 0]
}

/// What the device wrote back for one Rx descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxWriteback {
    /// Status and error bits.
    pub status: u32,
    /// Bytes written to this descriptor's buffer, as reported (unchecked).
    pub len: u16,
    /// The stripped VLAN tag, valid when [`rx::STAT_VP`] is set.
    pub vlan: u16,
    /// The RSS hash.
    pub rss: u32,
}

impl RxWriteback {
    /// Decodes a descriptor; `None` until the device set DD.
    pub fn decode(desc: [u64; 2]) -> Option<RxWriteback> {
        let [lo, hi] = desc;
        // CAST: each field is the named slice of the 64-bit word.
        let status = hi as u32;
        if status & rx::STAT_DD == 0 {
            return None;
        }
        Some(RxWriteback {
            status,
            len: (hi >> 32) as u16,
            vlan: (hi >> 48) as u16,
            rss: (lo >> 32) as u32,
        })
    }

    /// Whether this descriptor ends the frame.
    pub fn eop(&self) -> bool {
        self.status & rx::STAT_EOP != 0
    }

    /// Whether the device flagged the frame as bad.
    pub fn frame_error(&self) -> bool {
        self.status & rx::ERR_FRAME != 0
    }

    /// The length to use: what the device reported, or `None` when it is zero or larger
    /// than the buffer the driver posted (a hostile or broken device).
    pub fn checked_len(&self, buf_len: u32) -> Option<u32> {
        let len = u32::from(self.len);
        (len != 0 && len <= buf_len).then_some(len)
    }
}

/// A descriptor ring's size and index arithmetic. The count is a power of two, so indices
/// wrap with a mask and never overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingSize {
    count: u32,
}

impl RingSize {
    /// Smallest ring the driver accepts (ixgbevf `IXGBEVF_MIN_TXD`/`RXD`).
    pub const MIN: u32 = 64;
    /// Largest ring (`IXGBEVF_MAX_TXD`/`RXD`).
    pub const MAX: u32 = 4096;

    /// A ring of `count` descriptors, if it is a power of two within [`Self::MIN`] and
    /// [`Self::MAX`].
    pub fn new(count: u32) -> Option<RingSize> {
        (count.is_power_of_two() && (Self::MIN..=Self::MAX).contains(&count))
            .then_some(RingSize { count })
    }

    /// Descriptors in the ring.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Bytes of descriptor memory (the VFxDLEN value).
    pub fn bytes(&self) -> u32 {
        self.count.saturating_mul(DESC_BYTES)
    }

    /// The index after `i`.
    pub fn next(&self, i: u32) -> u32 {
        i.wrapping_add(1) & self.count.wrapping_sub(1)
    }

    /// `i` reduced into the ring (for indices from outside, such as a device head).
    pub fn wrap(&self, i: u32) -> u32 {
        i & self.count.wrapping_sub(1)
    }

    /// Descriptors the producer may still fill, keeping one slot empty so that a full ring
    /// is told apart from an empty one (ixgbevf's `IXGBE_DESC_UNUSED`).
    pub fn unused(&self, next_to_use: u32, next_to_clean: u32) -> u32 {
        next_to_clean.wrapping_sub(next_to_use).wrapping_sub(1) & self.count.wrapping_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_descriptor_carries_length_and_end_of_packet() {
        let [addr, w] = tx_data(0x1234_5000, 1514, true, 1514);
        assert_eq!(addr, 0x1234_5000);
        let cmd = w as u32;
        assert_eq!(cmd & 0xFFFF, 1514);
        assert_ne!(cmd & tx::CMD_EOP, 0);
        assert_ne!(cmd & tx::CMD_RS, 0);
        assert_eq!(cmd & tx::DTYP_DATA, tx::DTYP_DATA);
        assert_eq!((w >> 32) as u32 >> tx::PAYLEN_SHIFT, 1514);
        let [_, mid] = tx_data(0, 100, false, 1514);
        assert_eq!(mid as u32 & (tx::CMD_EOP | tx::CMD_RS), 0);
        assert!(!tx_done([addr, w]));
        assert!(tx_done([0, 1 << 32]));
    }

    #[test]
    fn rx_writeback_is_decoded_and_its_length_bounded() {
        assert_eq!(RxWriteback::decode([0, 0]), None);
        let wb = RxWriteback::decode([0xAB << 32, 3 | 60 << 32 | 5 << 48]).unwrap();
        assert!(wb.eop());
        assert_eq!((wb.len, wb.vlan, wb.rss), (60, 5, 0xAB));
        assert_eq!(wb.checked_len(2048), Some(60));
        let huge = RxWriteback::decode([0, 1 | 0xFFFF << 32]).unwrap();
        assert_eq!(huge.checked_len(2048), None);
        assert!(!huge.eop());
        let empty = RxWriteback::decode([0, 3]).unwrap();
        assert_eq!(empty.checked_len(2048), None);
        let bad = RxWriteback::decode([0, 3 | 1 << 24]).unwrap();
        assert!(bad.frame_error());
    }

    #[test]
    fn ring_arithmetic_wraps_and_keeps_a_slot_free() {
        assert_eq!(RingSize::new(100), None);
        assert_eq!(RingSize::new(32), None);
        assert_eq!(RingSize::new(8192), None);
        let r = RingSize::new(512).unwrap();
        assert_eq!(r.bytes(), 8192);
        assert_eq!(r.next(511), 0);
        assert_eq!(r.wrap(0xFFFF_FFFF), 511);
        assert_eq!(r.unused(0, 0), 511);
        assert_eq!(r.unused(10, 11), 0);
        assert_eq!(r.unused(511, 0), 0);
        assert_eq!(r.unused(5, 2), 508);
    }
}
