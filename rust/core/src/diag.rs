//! `ethtool -t`: the offline register test and the link test, as ixgbevf runs them
//! (`ixgbevf_reg_test`, `ixgbevf_link_test`), over the self-emulation layer.

use super::emul::{Emul, EmulError, RegisterIo};
use super::regs::{vflinks, Reg};

/// Names of the tests, in result order (ixgbevf's strings, so scripts read both alike).
pub const TEST_NAMES: [&str; 2] = ["Register test  (offline)", "Link test   (on/offline)"];

/// Queue-0 ring registers the register test writes and reads back, with the bits the
/// hardware keeps (ixgbevf's `reg_test_vf`, without the enable and tail rows, which would
/// start a queue on garbage).
pub const REG_TEST: [(Reg, u32); 6] = [
    (Reg::VFRDBAL, 0xFFFF_FF80),
    (Reg::VFRDBAH, 0xFFFF_FFFF),
    (Reg::VFRDLEN, 0x000F_FF80),
    (Reg::VFTDBAL, 0xFFFF_FF80),
    (Reg::VFTDBAH, 0xFFFF_FFFF),
    (Reg::VFTDLEN, 0x000F_FF80),
];

/// The patterns written (ixgbevf's `register_test_patterns`).
pub const PATTERNS: [u32; 4] = [0x5A5A_5A5A, 0xA5A5_A5A5, 0x0000_0000, 0xFFFF_FFFF];

/// Why the register test failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegTestError {
    /// A register did not keep a pattern.
    Mismatch {
        /// The register (queue 0).
        reg: Reg,
        /// The pattern written, masked.
        wrote: u32,
        /// What came back, masked.
        read: u32,
    },
    /// The layer refused an access, or the device read all ones.
    Access(EmulError),
    /// The device read all ones: it is gone.
    Gone,
}

/// Writes each pattern to each register of [`REG_TEST`] and reads it back. The queues must
/// be disabled. Afterwards each register holds 0 (what a ring-less queue holds after reset).
pub fn register_test<I: RegisterIo>(emul: &mut Emul<I>) -> Result<(), RegTestError> {
    let r = run_patterns(emul);
    for (reg, _) in REG_TEST {
        emul.write(reg, 0, 0).map_err(RegTestError::Access)?;
    }
    r
}

fn run_patterns<I: RegisterIo>(emul: &mut Emul<I>) -> Result<(), RegTestError> {
    for (reg, mask) in REG_TEST {
        for p in PATTERNS {
            emul.write(reg, 0, p & mask).map_err(RegTestError::Access)?;
            let got = emul.read(reg, 0).map_err(RegTestError::Access)?;
            if got == u32::MAX && p & mask != u32::MAX {
                return Err(RegTestError::Gone);
            }
            if got & mask != p & mask {
                return Err(RegTestError::Mismatch {
                    reg,
                    wrote: p & mask,
                    read: got & mask,
                });
            }
        }
    }
    Ok(())
}

/// The link test: VFLINKS says the link is up (and the device answers).
pub fn link_test(links: u32) -> bool {
    links != u32::MAX && links & vflinks::LINK_UP != 0
}

#[cfg(test)]
mod tests {
    use super::super::mac::MAC_82599;
    use super::super::regs::vteitr;
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Keeps the bits of `keep` per offset; everything else reads 0.
    struct Masked {
        regs: RefCell<HashMap<u32, u32>>,
        keep: u32,
    }

    impl RegisterIo for Masked {
        fn read32(&self, offset: u32) -> u32 {
            *self.regs.borrow().get(&offset).unwrap_or(&0)
        }
        fn write32(&self, offset: u32, value: u32) {
            self.regs.borrow_mut().insert(offset, value & self.keep);
        }
    }

    #[test]
    fn a_device_that_keeps_the_bits_passes_and_is_left_zeroed() {
        let io = Masked {
            regs: RefCell::default(),
            keep: u32::MAX,
        };
        let mut e = Emul::new(&io, &MAC_82599);
        assert_eq!(register_test(&mut e), Ok(()));
        assert!(io.regs.borrow().values().all(|v| *v == 0));
        assert_eq!(e.log().value(Reg::VFRDBAL, 0), Some(0));
    }

    #[test]
    fn a_stuck_bit_fails_with_the_register_named() {
        let io = Masked {
            regs: RefCell::default(),
            keep: !0x100,
        };
        let mut e = Emul::new(&io, &MAC_82599);
        assert_eq!(
            register_test(&mut e),
            Err(RegTestError::Mismatch {
                reg: Reg::VFRDBAL,
                wrote: 0xA5A5_A580,
                read: 0xA5A5_A480
            })
        );
    }

    #[test]
    fn link_test_reads_link_up_and_refuses_all_ones() {
        assert!(link_test(vflinks::LINK_UP));
        assert!(!link_test(0));
        assert!(!link_test(u32::MAX));
    }

    #[test]
    fn eitr_from_usecs_matches_ixgbevf() {
        // ixgbevf's default 20k interrupts/s: itr 200, written with CNT_WDIS.
        assert_eq!(vteitr::from_usecs(50), Some(200 | vteitr::CNT_WDIS));
        assert_eq!(vteitr::from_usecs(0), Some(vteitr::CNT_WDIS));
        assert_eq!(vteitr::from_usecs(1022), Some(0xFF8 | vteitr::CNT_WDIS));
        assert_eq!(vteitr::from_usecs(1023), None);
    }
}
