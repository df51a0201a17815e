//! Compatibility from data: what the saved state needs from a destination VF, checked
//! before a restore starts and again while its API is negotiated.

use super::super::emul::{Emul, EmulError, RegisterIo};
use super::super::mac::{MacInfo, PciId};
use super::super::mbx::{ApiVersion, XcastMode};
use super::super::record::SavedState;
use super::super::regs::Reg;
use super::{rings_in_use, Dir, Refusal};

/// The lowest API the saved state can live with on `dst`.
pub fn min_api(saved: &SavedState, dst: &MacInfo) -> ApiVersion {
    let mut need = ApiVersion::V1_0;
    let mut raise = |v: ApiVersion| need = need.max(v);
    match saved.pf.xcast {
        Some(XcastMode::Promisc) => raise(ApiVersion::V1_3),
        Some(_) => raise(ApiVersion::V1_2),
        None => {}
    }
    if rings_in_use(saved, Dir::Rx).count_ones() > 1
        || rings_in_use(saved, Dir::Tx).count_ones() > 1
    {
        raise(ApiVersion::V1_1);
    }
    if saved.pf.max_frame.is_some_and(|f| f > dst.max_frame_api10) {
        raise(ApiVersion::V1_1);
    }
    need
}

/// Checks, from data alone, whether the saved state can live on `dst`.
pub fn check_compatible(saved: &SavedState, dst: &PciId) -> Result<(), Refusal> {
    if dst.hyperv {
        return Err(Refusal::NoMailbox);
    }
    let src = saved.mac.info();
    let dst = dst.info;
    if src.rss_owner != dst.rss_owner && rings_in_use(saved, Dir::Rx).count_ones() > 1 {
        return Err(Refusal::RssOwnerDiffers {
            src: src.name,
            dst: dst.name,
        });
    }
    if saved.pf.xcast == Some(XcastMode::Promisc) && !dst.promisc_allowed {
        return Err(Refusal::PromiscUnsupported { dst: dst.name });
    }
    if let Some(f) = saved.pf.max_frame {
        let limit = dst.max_frame(ApiVersion::V1_7);
        if f > limit {
            return Err(Refusal::FrameTooLarge {
                max_frame: f,
                limit,
            });
        }
    }
    Ok(())
}

/// Queue 0's ring base and length registers: what a FREEZE leaves on its VF, and what a
/// fresh or reset VF does not hold.
const FROZEN_MARKS: [Reg; 6] = [
    Reg::VFRDBAL,
    Reg::VFRDBAH,
    Reg::VFRDLEN,
    Reg::VFTDBAL,
    Reg::VFTDBAH,
    Reg::VFTDLEN,
];

/// Whether the VF behind `emul` still holds what the log says the driver wrote to it, as the
/// VF a FREEZE stopped does. ABORT resumes on that VF without a reset; a VF that reads back
/// otherwise was reset since or is another VF (ABORT rung on a destination), and must be
/// restored instead. Registers the driver never wrote prove nothing and are skipped.
pub fn holds_frozen_state<I: RegisterIo>(emul: &mut Emul<I>) -> Result<bool, EmulError> {
    for reg in FROZEN_MARKS {
        if let Some(v) = emul.log().value(reg, 0) {
            if emul.read(reg, 0)? != v {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::super::super::mac::MAC_82599;
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Regs(RefCell<HashMap<u32, u32>>);

    impl RegisterIo for Regs {
        fn read32(&self, offset: u32) -> u32 {
            *self.0.borrow().get(&offset).unwrap_or(&0)
        }
        fn write32(&self, offset: u32, value: u32) {
            self.0.borrow_mut().insert(offset, value);
        }
    }

    #[test]
    fn the_frozen_vf_is_recognised_and_a_fresh_one_is_not() {
        let src = Regs::default();
        let mut e = Emul::new(&src, &MAC_82599);
        assert_eq!(
            holds_frozen_state(&mut e),
            Ok(true),
            "nothing written: nothing to tell"
        );
        e.write(Reg::VFRDBAL, 0, 0x1234_5000).unwrap();
        e.write(Reg::VFRDLEN, 0, 0x2000).unwrap();
        assert_eq!(holds_frozen_state(&mut e), Ok(true));
        // The same log over another VF (a destination), whose rings were never set.
        let (_, log) = e.into_parts();
        let dst = Regs::default();
        let mut e = Emul::with_log(&dst, &MAC_82599, log);
        assert_eq!(holds_frozen_state(&mut e), Ok(false));
    }
}
