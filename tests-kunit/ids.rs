// SPDX-License-Identifier: GPL-2.0

//! The id table binds what ixgbevf binds, and each id selects the right board.

#[kernel::prelude::kunit_tests(compsc_vf_ids)]
mod tests {
    use crate::ids::{board, E610_HV_SUBDEVICE, E610_VF, IDS};

    /// ixgbevf's device ids (defines.h), as its own table lists them.
    const IXGBEVF_IDS: [u16; 10] = [
        0x10ED, 0x152E, 0x1515, 0x1530, 0x1565, 0x1564, 0x15A8, 0x15A9, 0x15C5, 0x57AD,
    ];

    #[test]
    fn every_ixgbevf_id_is_bound() {
        for id in IXGBEVF_IDS {
            assert!(IDS.iter().any(|(d, _)| *d == id));
        }
        assert_eq!(IDS.len(), IXGBEVF_IDS.len());
    }

    #[test]
    fn ids_are_unique() {
        for (i, (a, _)) in IDS.iter().enumerate() {
            for (b, _) in IDS.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn hyperv_variants() {
        for id in [0x152E_u16, 0x1530, 0x1564, 0x15A9] {
            assert!(board(id, 0).map(|b| b.hyperv) == Some(true));
        }
        for id in [0x10ED_u16, 0x1515, 0x1565, 0x15A8, 0x15C5] {
            assert!(board(id, 0).map(|b| b.hyperv) == Some(false));
        }
    }

    #[test]
    fn e610_subsystem_selects_hyperv() {
        assert!(board(E610_VF, E610_HV_SUBDEVICE).map(|b| b.hyperv) == Some(true));
        assert!(board(E610_VF, 0x0001).map(|b| b.hyperv) == Some(false));
        assert!(board(0x1234, 0).is_none());
    }
}
