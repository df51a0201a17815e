//! BAR0 offsets and bit fields of the 82599 VF that the model implements.
//!
//! Offsets and bits follow the 82599 datasheet's VF register chapter as far as the in-tree
//! ixgbevf driver (regs.h, defines.h, mbx.h) confirms them. They are written here
//! independently of the driver crate under test, on purpose.

/// Size of BAR0 (CSR space) and of BAR3 (MSI-X table and PBA), 16 KiB each.
pub const BAR0_SIZE: u64 = 0x4000;
/// Size of BAR3.
pub const BAR3_SIZE: u64 = 0x4000;

/// Number of MSI-X vectors of the VF.
pub const NUM_VECTORS: usize = 3;
/// Number of queue register sets the VF BAR exposes (Rx and Tx each).
pub const NUM_QUEUES: usize = 8;
/// Stride between queue register sets.
pub const QUEUE_STRIDE: u64 = 0x40;

// General registers.
/// VF control: bit 26 is the self-clearing VF soft reset.
pub const VFCTRL: u64 = 0x0000;
/// VF status, read-only.
pub const VFSTATUS: u64 = 0x0008;
/// VF link status, read-only, mirrors the PF link.
pub const VFLINKS: u64 = 0x0010;
/// Free-running timer, read-only.
pub const VFFRTIMER: u64 = 0x0048;
/// Rx packet buffer wrap-around counter, read-only diagnostic.
pub const VFRXMEMWRAP: u64 = 0x3190;

// Interrupt registers.
/// Extended interrupt cause: read-clear and write-1-to-clear.
pub const VTEICR: u64 = 0x0100;
/// Cause set: writing 1 sets VTEICR bits; reads return VTEICR without clearing.
pub const VTEICS: u64 = 0x0104;
/// Mask set/read.
pub const VTEIMS: u64 = 0x0108;
/// Mask clear, write-only.
pub const VTEIMC: u64 = 0x010C;
/// Auto-clear enable.
pub const VTEIAC: u64 = 0x0110;
/// Auto-mask enable.
pub const VTEIAM: u64 = 0x0114;
/// Interrupt throttle, one per vector.
pub const VTEITR0: u64 = 0x0820;
/// Queue-to-vector map, 4 registers covering queue pairs.
pub const VTIVAR0: u64 = 0x0120;
/// Mailbox-cause-to-vector map.
pub const VTIVAR_MISC: u64 = 0x0140;
/// Packet split receive type (one per VF).
pub const VFPSRTYPE: u64 = 0x0300;

// Mailbox.
/// Mailbox message memory, 16 dwords.
pub const VFMBMEM: u64 = 0x0200;
/// Mailbox control/status.
pub const VFMAILBOX: u64 = 0x02FC;
/// Number of dwords in the mailbox buffer.
pub const MBX_WORDS: usize = 16;

// Per-queue registers: base + QUEUE_STRIDE * queue.
/// Rx descriptor base, low.
pub const VFRDBAL: u64 = 0x1000;
/// Rx descriptor base, high.
pub const VFRDBAH: u64 = 0x1004;
/// Rx ring length in bytes.
pub const VFRDLEN: u64 = 0x1008;
/// Rx DCA control.
pub const VFDCA_RXCTRL: u64 = 0x100C;
/// Rx head, owned by the device.
pub const VFRDH: u64 = 0x1010;
/// Split and replication receive control.
pub const VFSRRCTL: u64 = 0x1014;
/// Rx tail, owned by software.
pub const VFRDT: u64 = 0x1018;
/// Rx descriptor control (ENABLE handshake, VLAN strip).
pub const VFRXDCTL: u64 = 0x1028;
/// Rx RSC control (unused: RSC is off in SR-IOV mode).
pub const VFRSCCTL: u64 = 0x102C;
/// Tx descriptor base, low.
pub const VFTDBAL: u64 = 0x2000;
/// Tx descriptor base, high.
pub const VFTDBAH: u64 = 0x2004;
/// Tx ring length in bytes.
pub const VFTDLEN: u64 = 0x2008;
/// Tx DCA control.
pub const VFDCA_TXCTRL: u64 = 0x200C;
/// Tx head, owned by the device.
pub const VFTDH: u64 = 0x2010;
/// Tx tail, owned by software.
pub const VFTDT: u64 = 0x2018;
/// Tx descriptor control (ENABLE handshake, SWFLSH, thresholds).
pub const VFTXDCTL: u64 = 0x2028;
/// Tx head write-back address, low (bit 0 enables).
pub const VFTDWBAL: u64 = 0x2038;
/// Tx head write-back address, high.
pub const VFTDWBAH: u64 = 0x203C;

// Statistics (per VF, in the queue-0 slots).
/// Good packets received, 32-bit.
pub const VFGPRC: u64 = 0x101C;
/// Good octets received, low 32 bits of 36.
pub const VFGORC_LSB: u64 = 0x1020;
/// Good octets received, high 4 bits of 36.
pub const VFGORC_MSB: u64 = 0x1024;
/// Multicast packets received, 32-bit.
pub const VFMPRC: u64 = 0x1034;
/// Good packets transmitted, 32-bit.
pub const VFGPTC: u64 = 0x201C;
/// Good octets transmitted, low 32 bits of 36.
pub const VFGOTC_LSB: u64 = 0x2020;
/// Good octets transmitted, high 4 bits of 36.
pub const VFGOTC_MSB: u64 = 0x2024;

// Bits.
/// VFCTRL.RST.
pub const CTRL_RST: u32 = 1 << 26;
/// VFLINKS.LINK_UP.
pub const LINKS_UP: u32 = 1 << 30;
/// VFLINKS speed field value for 10 Gb/s (bits 29:28 = 11b).
pub const LINKS_SPEED_10G: u32 = 3 << 28;

/// VFMAILBOX.REQ: VF posted a message (write pulse).
pub const MBX_REQ: u32 = 1 << 0;
/// VFMAILBOX.ACK: VF consumed the PF message (write pulse).
pub const MBX_ACK: u32 = 1 << 1;
/// VFMAILBOX.VFU: VF owns the buffer.
pub const MBX_VFU: u32 = 1 << 2;
/// VFMAILBOX.PFU: PF owns the buffer (read-only to the VF).
pub const MBX_PFU: u32 = 1 << 3;
/// VFMAILBOX.PFSTS: PF wrote a message (read-clear).
pub const MBX_PFSTS: u32 = 1 << 4;
/// VFMAILBOX.PFACK: PF acknowledged the VF message (read-clear).
pub const MBX_PFACK: u32 = 1 << 5;
/// VFMAILBOX.RSTI: reset in progress (read-only).
pub const MBX_RSTI: u32 = 1 << 6;
/// VFMAILBOX.RSTD: reset done (read-clear).
pub const MBX_RSTD: u32 = 1 << 7;
/// The read-clear bits of VFMAILBOX.
pub const MBX_R2C: u32 = MBX_PFSTS | MBX_PFACK | MBX_RSTD;

/// RXDCTL/TXDCTL.ENABLE.
pub const DCTL_ENABLE: u32 = 1 << 25;
/// TXDCTL.SWFLSH: flush pending write-backs, self-clearing.
pub const TXDCTL_SWFLSH: u32 = 1 << 26;
/// RXDCTL.VME: strip VLAN tags.
pub const RXDCTL_VME: u32 = 1 << 30;
/// SRRCTL.BSIZEPKT field (1 KiB units), bits 6:0.
pub const SRRCTL_BSIZEPKT_MASK: u32 = 0x7F;
/// SRRCTL.DESCTYPE field, bits 27:25.
pub const SRRCTL_DESCTYPE_MASK: u32 = 0x7 << 25;
/// SRRCTL.DESCTYPE = advanced one buffer.
pub const SRRCTL_DESCTYPE_ADV_ONEBUF: u32 = 1 << 25;
/// SRRCTL.DROP_EN.
pub const SRRCTL_DROP_EN: u32 = 1 << 28;
/// TDWBAL.HEAD_WB_EN.
pub const TDWBAL_HEAD_WB_EN: u32 = 1 << 0;
/// IVAR entry valid bit.
pub const IVAR_VALID: u32 = 0x80;
/// PSRTYPE.RQPL field, bits 30:29 (RSS queues per pool: 0 = 1, 1 = 2, 2 = 4).
pub const PSRTYPE_RQPL_SHIFT: u32 = 29;

/// What a BAR0 offset names, decoded once so the register file can dispatch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    /// A register with no queue index.
    Global(u64),
    /// A per-queue Rx register: (offset of queue 0, queue index).
    Rx(u64, usize),
    /// A per-queue Tx register: (offset of queue 0, queue index).
    Tx(u64, usize),
    /// VFMBMEM word.
    MbxMem(usize),
    /// VTEITR(vector).
    Eitr(usize),
    /// VTIVAR(index).
    Ivar(usize),
}

/// Decodes a dword-aligned BAR0 offset.
pub fn decode(offset: u64) -> Reg {
    match offset {
        // The per-VF counters live in queue 0's slots; they win over the queue decode.
        VFGPRC | VFGORC_LSB | VFGORC_MSB | VFMPRC | VFGPTC | VFGOTC_LSB | VFGOTC_MSB => {
            Reg::Global(offset)
        }
        0x1000..=0x11FF => Reg::Rx(
            0x1000 + offset % QUEUE_STRIDE,
            (offset - 0x1000) as usize / 0x40,
        ),
        0x2000..=0x21FF => Reg::Tx(
            0x2000 + offset % QUEUE_STRIDE,
            (offset - 0x2000) as usize / 0x40,
        ),
        0x0200..=0x023F => Reg::MbxMem(((offset - VFMBMEM) / 4) as usize),
        0x0820..=0x0828 => Reg::Eitr(((offset - VTEITR0) / 4) as usize),
        0x0120..=0x012C => Reg::Ivar(((offset - VTIVAR0) / 4) as usize),
        _ => Reg::Global(offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_queue_registers() {
        assert_eq!(decode(0x1000 + 0x40 * 3 + 0x18), Reg::Rx(VFRDT, 3));
        assert_eq!(decode(0x2000 + 0x40 * 7 + 0x28), Reg::Tx(VFTXDCTL, 7));
        assert_eq!(decode(VFGPRC), Reg::Global(VFGPRC));
        assert_eq!(decode(VFGOTC_MSB), Reg::Global(VFGOTC_MSB));
        // Queue 1's counter slot is not a counter: only queue 0's slot is.
        assert_eq!(decode(VFGPRC + 0x40), Reg::Rx(VFGPRC, 1));
        assert_eq!(decode(0x23C), Reg::MbxMem(15));
        assert_eq!(decode(0x828), Reg::Eitr(2));
        assert_eq!(decode(0x12C), Reg::Ivar(3));
        assert_eq!(decode(VFMAILBOX), Reg::Global(VFMAILBOX));
    }
}
