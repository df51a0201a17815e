//! Per-MAC differences as data: one [`MacInfo`] per VF generation, and the PCI id table.
//!
//! ixgbevf scatters these as `mac.type` tests (anatomy §5); here each difference is a field
//! whose doc comment cites where upstream makes the distinction. Code asks a field, never
//! "is this an 82599".

use super::mbx::ApiVersion;
use super::regs::Presence;

/// VF generation, in ixgbevf's `enum ixgbe_mac_type` order (vf.h:51-61).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MacType {
    /// 82599 VF.
    M82599,
    /// X540 VF.
    X540,
    /// X550 VF.
    X550,
    /// X550EM_x VF.
    X550EmX,
    /// X550EM_a VF.
    X550EmA,
    /// E610 VF.
    E610,
}

impl MacType {
    /// Every MAC type, oldest first.
    pub const ALL: [MacType; 6] = [
        MacType::M82599,
        MacType::X540,
        MacType::X550,
        MacType::X550EmX,
        MacType::X550EmA,
        MacType::E610,
    ];

    /// The facts for this MAC.
    pub const fn info(self) -> &'static MacInfo {
        match self {
            MacType::M82599 => &MAC_82599,
            MacType::X540 => &MAC_X540,
            MacType::X550 => &MAC_X550,
            MacType::X550EmX => &MAC_X550EM_X,
            MacType::X550EmA => &MAC_X550EM_A,
            MacType::E610 => &MAC_E610,
        }
    }

    /// Stable code stored in the saved record.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The MAC type for a record code.
    pub fn from_code(code: u8) -> Option<MacType> {
        MacType::ALL.iter().copied().find(|m| m.code() == code)
    }
}

/// Who owns the RSS configuration of the VF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RssOwner {
    /// The PF; the VF may only query it (GET_RETA / GET_RSS_KEY), 82599 and X540.
    Pf,
    /// The VF programs VFMRQC/VFRSSRK/VFRETA itself, X550 and later (main.c:2036-2037).
    Vf,
}

/// What differs between VF generations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacInfo {
    /// The generation.
    pub mac: MacType,
    /// Name as ixgbevf's probe banner prints it (main.c:4746-4760).
    pub name: &'static str,
    /// RSS ownership.
    pub rss_owner: RssOwner,
    /// RSS redirection entries the VF sees: 128 from the PF query, 64 in VFRETA.
    pub reta_entries: u16,
    /// RXDCTL.RLPML is honoured ("does not work on 82599", main.c:1978).
    pub rlpml_works: bool,
    /// Extra VFLINKS re-reads 100 µs apart before trusting link up (vf.c:774-784).
    pub link_settle_polls: u8,
    /// The PF may grant xcast PROMISC (ixgbe_sriov.c:1215-1216 refuses it on 82599).
    pub promisc_allowed: bool,
    /// From this API on, link comes from GET_PF_LINK_STATE, not VFLINKS (vf.c:861-865).
    pub link_from_pf_since: Option<ApiVersion>,
    /// Largest max frame (MTU + 18) under API 1.0: 1522 on 82599, else 9728 (main.c:4706).
    pub max_frame_api10: u32,
}

impl MacInfo {
    /// True when this MAC implements registers with the given presence.
    pub const fn implements(&self, presence: Presence) -> bool {
        match presence {
            Presence::All => true,
            Presence::VfRss => matches!(self.rss_owner, RssOwner::Vf),
        }
    }

    /// True when link state comes over the mailbox for a session at `api`.
    pub fn link_from_pf(&self, api: ApiVersion) -> bool {
        self.link_from_pf_since.is_some_and(|since| api >= since)
    }

    /// Largest max frame the PF may grant at `api`.
    pub fn max_frame(&self, api: ApiVersion) -> u32 {
        if api >= ApiVersion::V1_1 {
            MAX_FRAME
        } else {
            self.max_frame_api10
        }
    }
}

/// Largest max frame any PF accepts (ixgbe_set_vf_lpe: 9728).
pub const MAX_FRAME: u32 = 9728;
/// Smallest max frame any PF accepts (ixgbe_set_vf_lpe: `ETH_MIN_MTU`, 68).
pub const MIN_FRAME: u32 = 68;

/// The 82599 VF.
pub const MAC_82599: MacInfo = MacInfo {
    mac: MacType::M82599,
    name: "82599",
    rss_owner: RssOwner::Pf,
    reta_entries: 128,
    rlpml_works: false,
    link_settle_polls: 5,
    promisc_allowed: false,
    link_from_pf_since: None,
    max_frame_api10: 1522,
};

/// The X540 VF.
pub const MAC_X540: MacInfo = MacInfo {
    mac: MacType::X540,
    name: "X540",
    rss_owner: RssOwner::Pf,
    reta_entries: 128,
    rlpml_works: true,
    link_settle_polls: 0,
    promisc_allowed: true,
    link_from_pf_since: None,
    max_frame_api10: MAX_FRAME,
};

/// The X550 VF.
pub const MAC_X550: MacInfo = MacInfo {
    mac: MacType::X550,
    name: "X550",
    rss_owner: RssOwner::Vf,
    reta_entries: 64,
    rlpml_works: true,
    link_settle_polls: 0,
    promisc_allowed: true,
    link_from_pf_since: None,
    max_frame_api10: MAX_FRAME,
};

/// The X550EM_x VF (upstream's banner prints "82599" for it; we name it).
pub const MAC_X550EM_X: MacInfo = MacInfo {
    mac: MacType::X550EmX,
    name: "X550EM_x",
    ..MAC_X550
};

/// The X550EM_a VF.
pub const MAC_X550EM_A: MacInfo = MacInfo {
    mac: MacType::X550EmA,
    name: "X550EM_a",
    ..MAC_X550
};

/// The E610 VF.
pub const MAC_E610: MacInfo = MacInfo {
    mac: MacType::E610,
    name: "E610",
    link_from_pf_since: Some(ApiVersion::V1_6),
    ..MAC_X550
};

/// One PCI id the driver binds (vendor 0x8086), as ixgbevf's `ixgbevf_pci_tbl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciId {
    /// Device id.
    pub device: u16,
    /// Subsystem device id, when the entry matches on it.
    pub subdevice: Option<u16>,
    /// The MAC facts.
    pub info: &'static MacInfo,
    /// Hyper-V variant: no PF mailbox (vf.c:1142-1159), so nothing can be replayed.
    pub hyperv: bool,
}

/// Intel's PCI vendor id.
pub const PCI_VENDOR_INTEL: u16 = 0x8086;

const fn id(device: u16, info: &'static MacInfo, hyperv: bool) -> PciId {
    PciId {
        device,
        subdevice: None,
        info,
        hyperv,
    }
}

/// Every VF id (defines.h:8-20, main.c:66-104). The E610 Hyper-V entry matches on the
/// subdevice and is listed first, as upstream does with `PCI_VDEVICE_SUB`.
pub const PCI_IDS: [PciId; 11] = [
    id(0x10ED, &MAC_82599, false),
    id(0x152E, &MAC_82599, true),
    id(0x1515, &MAC_X540, false),
    id(0x1530, &MAC_X540, true),
    id(0x1565, &MAC_X550, false),
    id(0x1564, &MAC_X550, true),
    id(0x15A8, &MAC_X550EM_X, false),
    id(0x15A9, &MAC_X550EM_X, true),
    id(0x15C5, &MAC_X550EM_A, false),
    PciId {
        subdevice: Some(0x00FF),
        ..id(0x57AD, &MAC_E610, true)
    },
    id(0x57AD, &MAC_E610, false),
];

/// The table entry for a device, first match wins.
pub fn lookup_pci(device: u16, subdevice: u16) -> Option<&'static PciId> {
    PCI_IDS
        .iter()
        .find(|p| p.device == device && p.subdevice.is_none_or(|s| s == subdevice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_lookup() {
        let cases = [
            (0x10ED, 0, Some((MacType::M82599, false))),
            (0x1530, 0, Some((MacType::X540, true))),
            (0x57AD, 0x00FF, Some((MacType::E610, true))),
            (0x57AD, 0x0001, Some((MacType::E610, false))),
            (0x1234, 0, None),
        ];
        for (dev, sub, want) in cases {
            assert_eq!(
                lookup_pci(dev, sub).map(|p| (p.info.mac, p.hyperv)),
                want,
                "{dev:x}"
            );
        }
    }

    #[test]
    fn generation_facts() {
        for m in MacType::ALL {
            let i = m.info();
            assert_eq!(i.mac, m);
            assert_eq!(MacType::from_code(m.code()), Some(m));
            // VF-owned RSS uses the 64-entry VFRETA, PF-owned the 128-entry query.
            let want = if i.rss_owner == RssOwner::Vf { 64 } else { 128 };
            assert_eq!(i.reta_entries, want, "{}", i.name);
            assert_eq!(i.implements(Presence::VfRss), m >= MacType::X550);
            assert_eq!(i.rlpml_works, m != MacType::M82599);
        }
        assert!(MAC_E610.link_from_pf(ApiVersion::V1_6));
        assert!(!MAC_E610.link_from_pf(ApiVersion::V1_4));
        assert!(!MAC_X550.link_from_pf(ApiVersion::V1_7));
        assert_eq!(MAC_82599.max_frame(ApiVersion::V1_0), 1522);
        assert_eq!(MAC_82599.max_frame(ApiVersion::V1_1), MAX_FRAME);
        assert_eq!(MacType::from_code(6), None);
    }
}
