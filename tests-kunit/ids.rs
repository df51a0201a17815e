// SPDX-License-Identifier: GPL-2.0

//! The ids compsc_vf binds are ixgbevf's, and each selects the right MAC and variant.

#[kernel::prelude::kunit_tests(compsc_vf_ids)]
mod tests {
    use crate::compsc_core::mac::{lookup_pci, MacType, PCI_IDS};

    /// ixgbevf's device ids (defines.h) with the MAC each selects and whether it is the
    /// Hyper-V variant (ixgbevf_pci_tbl and ixgbevf_info_tbl).
    const IXGBEVF: [(u16, u16, MacType, bool); 11] = [
        (0x10ED, 0, MacType::M82599, false),
        (0x152E, 0, MacType::M82599, true),
        (0x1515, 0, MacType::X540, false),
        (0x1530, 0, MacType::X540, true),
        (0x1565, 0, MacType::X550, false),
        (0x1564, 0, MacType::X550, true),
        (0x15A8, 0, MacType::X550EmX, false),
        (0x15A9, 0, MacType::X550EmX, true),
        (0x15C5, 0, MacType::X550EmA, false),
        (0x57AD, 0x00FF, MacType::E610, true),
        (0x57AD, 0x0001, MacType::E610, false),
    ];

    #[test]
    fn every_ixgbevf_id_selects_its_mac() {
        for (device, sub, mac, hyperv) in IXGBEVF {
            let id = lookup_pci(device, sub);
            assert!(id.is_some());
            if let Some(id) = id {
                assert!(id.info.mac == mac);
                assert_eq!(id.hyperv, hyperv);
            }
        }
    }

    #[test]
    fn nothing_else_is_bound() {
        assert!(lookup_pci(0x1234, 0).is_none());
        assert!(lookup_pci(0x10EC, 0).is_none());
        // One table row per ixgbevf row: nothing extra, nothing missing.
        assert_eq!(PCI_IDS.len(), IXGBEVF.len());
    }
}
