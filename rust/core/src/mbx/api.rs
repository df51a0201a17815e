//! Mailbox API versions: their wire values, the order ixgbevf negotiates them in, what
//! each one allows, and the VF feature bits they imply.

use super::MbxError;

/// Mailbox API version, ordered so that `>=` means "has at least the features of".
///
/// The wire values are not ordered (2.0 sits between 1.0 and 1.1), hence the explicit
/// mapping (mbx.h:61-73). Solaris' 2.0 is never sent by ixgbevf and is not represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiVersion {
    /// API 1.0.
    V1_0,
    /// API 1.1: GET_QUEUES, jumbo on 82599.
    V1_1,
    /// API 1.2: GET_RETA, GET_RSS_KEY, UPDATE_XCAST_MODE (no PROMISC), GET_LINK_STATE.
    V1_2,
    /// API 1.3: PROMISC xcast mode.
    V1_3,
    /// API 1.4: IPsec implied.
    V1_4,
    /// API 1.5: ESX mailbox implied; the Linux PF refuses it.
    V1_5,
    /// API 1.6: GET_PF_LINK_STATE.
    V1_6,
    /// API 1.7: FEATURES_NEGOTIATE.
    V1_7,
}

impl ApiVersion {
    /// Versions in the order ixgbevf tries them (main.c:2322-2346), newest first.
    pub const NEGOTIATION_ORDER: [ApiVersion; 8] = [
        ApiVersion::V1_7,
        ApiVersion::V1_6,
        ApiVersion::V1_5,
        ApiVersion::V1_4,
        ApiVersion::V1_3,
        ApiVersion::V1_2,
        ApiVersion::V1_1,
        ApiVersion::V1_0,
    ];

    /// The `ixgbe_pfvf_api_rev` value sent on the wire.
    pub const fn wire(self) -> u32 {
        match self {
            ApiVersion::V1_0 => 0,
            ApiVersion::V1_1 => 2,
            ApiVersion::V1_2 => 3,
            ApiVersion::V1_3 => 4,
            ApiVersion::V1_4 => 5,
            ApiVersion::V1_5 => 6,
            ApiVersion::V1_6 => 7,
            ApiVersion::V1_7 => 8,
        }
    }

    /// The version for a wire value; `None` for 2.0, `unknown` and garbage.
    pub fn from_wire(value: u32) -> Option<ApiVersion> {
        ApiVersion::NEGOTIATION_ORDER
            .iter()
            .copied()
            .find(|v| v.wire() == value)
    }

    /// True when the Linux PF accepts this version (ixgbe_negotiate_vf_api: not 1.5).
    pub const fn linux_pf_accepts(self) -> bool {
        !matches!(self, ApiVersion::V1_5)
    }

    /// True when GET_QUEUES is allowed (ixgbe_get_vf_queues gate).
    pub fn has_get_queues(self) -> bool {
        self >= ApiVersion::V1_1
    }

    /// True when GET_RETA / GET_RSS_KEY / GET_LINK_STATE / UPDATE_XCAST_MODE are allowed.
    pub fn has_query_messages(self) -> bool {
        self >= ApiVersion::V1_2
    }

    /// True when xcast mode PROMISC may be requested (the VF blocks it on 1.2, vf.c:545-579).
    pub fn has_promisc(self) -> bool {
        self >= ApiVersion::V1_3
    }

    /// True when GET_PF_LINK_STATE is allowed.
    pub fn has_pf_link_state(self) -> bool {
        self >= ApiVersion::V1_6
    }

    /// True when FEATURES_NEGOTIATE is allowed; before 1.7 features are implied.
    pub fn has_features_negotiate(self) -> bool {
        self >= ApiVersion::V1_7
    }

    /// True when the 82599 PF lets the VF use jumbo frames (ixgbe_set_vf_lpe, API >= 1.1).
    pub fn allows_82599_jumbo(self) -> bool {
        self >= ApiVersion::V1_1
    }

    /// The features implied by this version when FEATURES_NEGOTIATE is not available
    /// (ixgbevf_set_features, main.c:2304-2320).
    pub const fn implied_features(self) -> u32 {
        match self {
            ApiVersion::V1_4 => FEATURE_IPSEC,
            ApiVersion::V1_5 => FEATURE_ESX_MBX,
            _ => 0,
        }
    }
}

/// VF feature bit: IPsec offload (`IXGBEVF_PF_SUP_IPSEC`).
pub const FEATURE_IPSEC: u32 = 1 << 0;
/// VF feature bit: the ESX mailbox flavour (`IXGBEVF_PF_SUP_ESX_MBX`).
pub const FEATURE_ESX_MBX: u32 = 1 << 1;

/// The API negotiation policy, the one every negotiation uses (probe, reset, restore): the
/// versions newest first, none above `max`, none the Linux PF refuses (1.5). Only the PF's
/// refusal (a NACK) moves on to the next version. ixgbevf's `ixgbevf_negotiate_api` also
/// moves on after an exchange that failed (no answer, a garbled one); a fault that passes
/// (a PF still coming out of its reset, a lost or overwritten reply) would then settle the
/// session on an older API for good, and on an 82599 running jumbo frames API 1.0 means no
/// Rx at all. Here such a failure ends the negotiation, and the caller's reset is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiNegotiation {
    next: usize,
    max: ApiVersion,
}

impl ApiNegotiation {
    /// A negotiation that proposes nothing newer than `max`.
    pub fn new(max: ApiVersion) -> Self {
        ApiNegotiation { next: 0, max }
    }

    /// The version to propose now, `None` when every candidate was refused. Does not move
    /// on: [`Self::refused`] does.
    pub fn current(&mut self) -> Option<ApiVersion> {
        while let Some(v) = ApiVersion::NEGOTIATION_ORDER.get(self.next).copied() {
            if v <= self.max && v.linux_pf_accepts() {
                return Some(v);
            }
            self.next = self.next.saturating_add(1);
        }
        None
    }

    /// The PF refused the current version: move to the next.
    pub fn refused(&mut self) {
        self.next = self.next.saturating_add(1);
    }

    /// The exchange for the current version failed with `e`. Returns whether to go on: a
    /// NACK is a refusal ([`Self::refused`]); anything else ends the negotiation.
    pub fn failed(&mut self, e: &MbxError) -> bool {
        let refusal = matches!(e, MbxError::Nack { .. });
        if refusal {
            self.refused();
        }
        refusal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_policy_newest_first_capped_and_never_1_5() {
        let mut n = ApiNegotiation::new(ApiVersion::V1_7);
        let mut tried = Vec::new();
        while let Some(v) = n.current() {
            tried.push(v);
            n.refused();
        }
        assert_eq!(
            tried,
            [
                ApiVersion::V1_7,
                ApiVersion::V1_6,
                ApiVersion::V1_4,
                ApiVersion::V1_3,
                ApiVersion::V1_2,
                ApiVersion::V1_1,
                ApiVersion::V1_0
            ]
        );
        let mut capped = ApiNegotiation::new(ApiVersion::V1_5);
        assert_eq!(capped.current(), Some(ApiVersion::V1_4));
        assert_eq!(
            capped.current(),
            Some(ApiVersion::V1_4),
            "current does not move on"
        );
    }

    #[test]
    fn api_wire_values_and_pf_acceptance() {
        let wire: Vec<u32> = ApiVersion::NEGOTIATION_ORDER
            .iter()
            .map(|v| v.wire())
            .collect();
        assert_eq!(wire, [8, 7, 6, 5, 4, 3, 2, 0]);
        assert_eq!(ApiVersion::from_wire(1), None, "2.0 is not offered");
        assert_eq!(ApiVersion::from_wire(9), None, "unknown");
        assert!(!ApiVersion::V1_5.linux_pf_accepts());
        assert!(ApiVersion::V1_6.has_pf_link_state() && !ApiVersion::V1_5.has_pf_link_state());
    }
}
