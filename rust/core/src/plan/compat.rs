//! Compatibility from data: what the saved state needs from a destination VF, checked
//! before a restore starts and again while its API is negotiated.

use super::super::mac::{MacInfo, PciId};
use super::super::mbx::{ApiVersion, XcastMode};
use super::super::record::SavedState;
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
