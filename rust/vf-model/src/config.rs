//! PCI configuration space of the VF, emulated by the model (vfio-user leaves config space
//! to the server): identity, two 64-bit memory BARs, and a capability list built from
//! entries, so a vendor-specific capability (id 0x09) can be appended by pushing one more.
//!
//! QEMU sizes BARs the usual way (write all ones, read the mask back) and keeps its own
//! copy of MSI-X state; our copy only has to answer consistently.

use crate::regs::{BAR0_SIZE, BAR3_SIZE, NUM_VECTORS};

/// Size of the config region (PCIe extended config space; no extended capabilities).
pub const CONFIG_SIZE: usize = 4096;
/// MSI-X capability offset.
pub const MSIX_CAP: usize = 0x70;
/// Where extra (vendor-specific) capabilities start.
const EXTRA_CAP: usize = 0x40;
/// PCI Express capability offset.
pub const PCIE_CAP: usize = 0xA0;
/// Where a Hyper-V VF finds its MAC in (extended) config space.
pub const HV_MAC_OFFSET: usize = 0x201;
/// Offset of the MSI-X PBA inside BAR3 (the table starts at 0).
pub const PBA_OFFSET: u64 = 0x2000;

/// One capability of the standard list.
pub struct Capability {
    /// Capability id (0x11 MSI-X, 0x10 PCI Express, 0x09 vendor specific).
    pub id: u8,
    /// Bytes after the id/next header.
    pub body: Vec<u8>,
    /// Writable bits for each byte of `body`.
    pub wmask: Vec<u8>,
}

/// Something a config write asked of the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigEvent {
    /// Nothing beyond the register update.
    None,
    /// PCIe Device Control "Initiate Function Level Reset".
    Flr,
}

/// The config space bytes with per-byte write masks.
pub struct ConfigSpace {
    bytes: Vec<u8>,
    wmask: Vec<u8>,
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

impl ConfigSpace {
    /// An 82599-family VF: vendor 0x8086, `device_id`, class Ethernet controller,
    /// BAR0 and BAR3 64-bit non-prefetchable of 16 KiB, MSI-X with 3 vectors in BAR3,
    /// PCI Express endpoint with FLR, plus `extra` capabilities after those.
    pub fn new(device_id: u16, extra: Vec<Capability>) -> Self {
        let mut b = vec![0u8; CONFIG_SIZE];
        let mut w = vec![0u8; CONFIG_SIZE];
        put16(&mut b, 0x00, 0x8086);
        put16(&mut b, 0x02, device_id);
        // Command: memory space, bus master, parity, SERR, INTx disable are writable.
        put16(&mut w, 0x04, 0x0546);
        // Status: capabilities list.
        put16(&mut b, 0x06, 0x0010);
        b[0x08] = 0x01; // revision
        b[0x09] = 0x00; // prog-if
        b[0x0A] = 0x00; // subclass: Ethernet
        b[0x0B] = 0x02; // class: network
                        // BAR0 and BAR3: 64-bit memory, non-prefetchable.
        for (bar, size) in [(0x10usize, BAR0_SIZE), (0x1C, BAR3_SIZE)] {
            put32(&mut b, bar, 0x4);
            // CAST: BAR sizes are below 4 GiB.
            put32(&mut w, bar, !(size as u32 - 1));
            put32(&mut w, bar + 4, 0xFFFF_FFFF);
        }
        put16(&mut b, 0x2C, 0x8086);
        put16(&mut b, 0x2E, device_id);
        w[0x3C] = 0xFF; // interrupt line; pin 0: no INTx

        // Extra capabilities (the doorbell) take 0x40..0x70, before MSI-X: the space after
        // the PCI Express capability is too short for a 48-byte one.
        let mut list: Vec<(usize, Capability)> = Vec::new();
        let mut at = EXTRA_CAP;
        for cap in extra {
            let len = 2 + cap.body.len();
            assert!(
                at + len <= MSIX_CAP,
                "extra capabilities must fit 0x40..0x70"
            );
            list.push((at, cap));
            at = align4(at + len);
        }
        list.push((MSIX_CAP, msix_cap()));
        list.push((PCIE_CAP, pcie_cap()));
        // CAST: capability offsets are below 0x100.
        b[0x34] = list[0].0 as u8;
        for i in 0..list.len() {
            let next = list.get(i + 1).map_or(0, |(a, _)| *a);
            let (at, cap) = &list[i];
            let at = *at;
            b[at] = cap.id;
            // CAST: as above.
            b[at + 1] = next as u8;
            b[at + 2..at + 2 + cap.body.len()].copy_from_slice(&cap.body);
            w[at + 2..at + 2 + cap.wmask.len()].copy_from_slice(&cap.wmask);
        }
        ConfigSpace { bytes: b, wmask: w }
    }

    /// Reads `data.len()` bytes at `offset`; bytes past the end read as zero.
    pub fn read(&self, offset: u64, data: &mut [u8]) {
        for (i, d) in data.iter_mut().enumerate() {
            *d = usize::try_from(offset)
                .ok()
                .and_then(|o| o.checked_add(i))
                .and_then(|o| self.bytes.get(o))
                .copied()
                .unwrap_or(0);
        }
    }

    /// Puts the VF's permanent MAC at 0x201..0x207, read-only, where the Hyper-V variants'
    /// drivers read it (`IXGBE_HV_RESET_OFFSET`, ixgbevf_hv_reset_hw_vf): under Hyper-V the
    /// host publishes the address in config space instead of answering VF_RESET.
    pub fn set_hv_mac(&mut self, mac: [u8; 6]) {
        for (i, b) in mac.iter().enumerate() {
            self.bytes[HV_MAC_OFFSET + i] = *b;
            self.wmask[HV_MAC_OFFSET + i] = 0;
        }
    }

    /// Writes through the write masks. Returns what the write asked of the device.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> ConfigEvent {
        let mut ev = ConfigEvent::None;
        for (i, &v) in data.iter().enumerate() {
            let Some(o) = usize::try_from(offset).ok().and_then(|o| o.checked_add(i)) else {
                break;
            };
            if o >= CONFIG_SIZE {
                break;
            }
            // Device Control byte 1, bit 7: Initiate FLR. Reads as 0.
            if o == PCIE_CAP + 9 && v & 0x80 != 0 {
                ev = ConfigEvent::Flr;
            }
            self.bytes[o] = (self.bytes[o] & !self.wmask[o]) | (v & self.wmask[o]);
        }
        ev
    }

    /// The byte at `at` (0 past the end).
    pub fn read8(&self, at: usize) -> u8 {
        self.bytes.get(at).copied().unwrap_or(0)
    }

    /// The little-endian dword at `at` (0 past the end).
    pub fn read32(&self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        self.read(at as u64, &mut b);
        u32::from_le_bytes(b)
    }

    /// Writes a dword without the guest's write mask: the hypervisor's own write into a
    /// capability it emulates. Ignored past the end.
    pub fn set32(&mut self, at: usize, v: u32) {
        if let Some(dst) = at
            .checked_add(4)
            .and_then(|end| self.bytes.get_mut(at..end))
        {
            dst.copy_from_slice(&v.to_le_bytes());
        }
    }

    /// A swap to another VF model: the device and subsystem ids change, as a destination of
    /// another generation presents them.
    pub fn set_device_id(&mut self, device_id: u16) {
        put16(&mut self.bytes, 0x02, device_id);
        put16(&mut self.bytes, 0x2E, device_id);
    }

    /// Whether MSI-X is enabled in the capability's message control.
    pub fn msix_enabled(&self) -> bool {
        self.bytes[MSIX_CAP + 3] & 0x80 != 0
    }

    /// An FLR resets the function's config registers that software wrote.
    pub fn flr(&mut self) {
        put16(&mut self.bytes, 0x04, 0);
        self.bytes[MSIX_CAP + 3] &= !0xC0;
        put16(&mut self.bytes, PCIE_CAP + 8, 0);
    }
}

fn align4(x: usize) -> usize {
    (x + 3) & !3
}

fn msix_cap() -> Capability {
    let mut body = vec![0u8; 10];
    // Message control: table size N-1; enable (15) and function mask (14) writable.
    // CAST: 3 vectors.
    put16(&mut body, 0, NUM_VECTORS as u16 - 1);
    put32(&mut body, 2, 3); // table: BIR 3, offset 0
                            // CAST: PBA offset fits in 32 bits.
    put32(&mut body, 6, PBA_OFFSET as u32 | 3); // PBA: BIR 3
    let mut wmask = vec![0u8; 10];
    wmask[1] = 0xC0;
    Capability {
        id: 0x11,
        body,
        wmask,
    }
}

fn pcie_cap() -> Capability {
    // PCI Express capability, version 2, endpoint: 0x3C bytes in all.
    let mut body = vec![0u8; 0x3A];
    put16(&mut body, 0, 0x0002); // version 2, device/port type 0 (endpoint)
                                 // Device capabilities: 512-byte max payload, role-based error reporting, FLR.
    put32(&mut body, 2, 0x1000_8002);
    let mut wmask = vec![0u8; 0x3A];
    // Device control: error reporting enables, relaxed ordering, max payload/read request,
    // no snoop; bit 15 (FLR) is a command, not stored.
    put16(&mut wmask, 6, 0x7CFF);
    Capability {
        id: 0x10,
        body,
        wmask,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r32(c: &ConfigSpace, at: u64) -> u32 {
        let mut b = [0u8; 4];
        c.read(at, &mut b);
        u32::from_le_bytes(b)
    }

    fn w32(c: &mut ConfigSpace, at: u64, v: u32) -> ConfigEvent {
        c.write(at, &v.to_le_bytes())
    }

    #[test]
    fn identity_and_bar_sizing() {
        let mut c = ConfigSpace::new(0x10ED, vec![]);
        assert_eq!(r32(&c, 0), 0x10ED_8086);
        assert_eq!(r32(&c, 8) >> 8, 0x02_0000);
        w32(&mut c, 0x10, 0xFFFF_FFFF);
        assert_eq!(r32(&c, 0x10), 0xFFFF_C004, "16 KiB, 64-bit memory");
        w32(&mut c, 0x14, 0xFFFF_FFFF);
        assert_eq!(r32(&c, 0x14), 0xFFFF_FFFF);
        w32(&mut c, 0x10, 0xFEB0_0000);
        assert_eq!(r32(&c, 0x10), 0xFEB0_0004);
        w32(&mut c, 0x18, 0xFFFF_FFFF);
        assert_eq!(r32(&c, 0x18), 0, "BAR2 is not implemented");
        w32(&mut c, 0x0, 0);
        assert_eq!(r32(&c, 0), 0x10ED_8086, "ids are read-only");
    }

    #[test]
    fn hyperv_mac_sits_read_only_at_0x201() {
        let mut c = ConfigSpace::new(0x152E, vec![]);
        c.set_hv_mac([2, 0, 0, 0xe2, 0xe0, 1]);
        let mut m = [0u8; 6];
        c.read(0x201, &mut m);
        assert_eq!(m, [2, 0, 0, 0xe2, 0xe0, 1]);
        c.write(0x201, &[0xff; 6]);
        c.read(0x201, &mut m);
        assert_eq!(m, [2, 0, 0, 0xe2, 0xe0, 1], "read-only");
        let mut ext = [0u8; 4];
        c.read(0x100, &mut ext);
        assert_eq!(
            ext, [0; 4],
            "no extended capability: the list ends at 0x100"
        );
    }

    #[test]
    fn capability_chain_and_extra_vendor_cap() {
        let vendor = Capability {
            id: 0x09,
            body: vec![0x10, 1, 2, 3, 4, 5],
            wmask: vec![0; 6],
        };
        let mut c = ConfigSpace::new(0x10ED, vec![vendor]);
        let mut seen = vec![];
        let mut at = {
            let mut b = [0u8];
            c.read(0x34, &mut b);
            b[0]
        };
        while at != 0 {
            let mut h = [0u8; 2];
            c.read(u64::from(at), &mut h);
            seen.push((at, h[0]));
            at = h[1];
        }
        assert_eq!(seen, vec![(0x40, 0x09), (0x70, 0x11), (0xA0, 0x10)]);
        let plain = ConfigSpace::new(0x10ED, vec![]);
        assert_eq!(
            plain.read8(0x34),
            0x70,
            "without extras the list starts at MSI-X"
        );
        // MSI-X: 3 vectors, table in BAR3 at 0, PBA in BAR3 at 0x2000.
        assert_eq!(r32(&c, 0x70) >> 16, 2);
        assert_eq!(r32(&c, 0x74), 3);
        assert_eq!(r32(&c, 0x78), 0x2003);
        w32(&mut c, 0x70, 0xC000_0000);
        assert!(c.msix_enabled());
        assert_eq!(r32(&c, 0x70) >> 16, 0xC002, "table size is read-only");
        // FLR is a command bit.
        assert_eq!(c.write(0xA8, &0x8000u16.to_le_bytes()), ConfigEvent::Flr);
        assert_eq!(r32(&c, 0xA8) & 0x8000, 0);
        c.flr();
        assert!(!c.msix_enabled());
    }
}
