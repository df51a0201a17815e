// SPDX-License-Identifier: GPL-2.0

//! The PCI ids compsc_vf binds: exactly those of the upstream ixgbevf
//! (`drivers/net/ethernet/intel/ixgbevf/defines.h`, `ixgbevf_pci_tbl`).

/// Which VF a PCI id names: its MAC generation and whether it runs under Hyper-V (no PF
/// mailbox; the MAC comes from config space), as ixgbevf's `board_*` table says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Board {
    /// The device name printed at probe.
    pub(crate) name: &'static str,
    /// Hyper-V variant: no mailbox, API forced to 1.0.
    pub(crate) hyperv: bool,
}

/// E610 VF and its Hyper-V variant share device id 0x57AD; Hyper-V is told by subsystem
/// device 0x00FF (ixgbevf matches it with `PCI_VDEVICE_SUB`, which the Rust id table lacks).
pub(crate) const E610_VF: u16 = 0x57AD;
/// The subsystem device id that marks the Hyper-V E610 VF.
pub(crate) const E610_HV_SUBDEVICE: u16 = 0x00FF;

/// Every device id with its board, in ixgbevf's order.
pub(crate) const IDS: [(u16, Board); 10] = [
    (0x10ED, Board { name: "82599 VF", hyperv: false }),
    (0x152E, Board { name: "82599 VF (Hyper-V)", hyperv: true }),
    (0x1515, Board { name: "X540 VF", hyperv: false }),
    (0x1530, Board { name: "X540 VF (Hyper-V)", hyperv: true }),
    (0x1565, Board { name: "X550 VF", hyperv: false }),
    (0x1564, Board { name: "X550 VF (Hyper-V)", hyperv: true }),
    (0x15A8, Board { name: "X550EM_x VF", hyperv: false }),
    (0x15A9, Board { name: "X550EM_x VF (Hyper-V)", hyperv: true }),
    (0x15C5, Board { name: "X550EM_a VF", hyperv: false }),
    (E610_VF, Board { name: "E610 VF", hyperv: false }),
];

/// The Hyper-V E610 board, chosen at probe by subsystem device id.
pub(crate) const E610_HV: Board = Board { name: "E610 VF (Hyper-V)", hyperv: true };

/// The board for a probed device: the id table's entry, refined by the subsystem id for E610.
pub(crate) fn board(device: u16, subsystem_device: u16) -> Option<Board> {
    if device == E610_VF && subsystem_device == E610_HV_SUBDEVICE {
        return Some(E610_HV);
    }
    IDS.iter().find(|(id, _)| *id == device).map(|(_, b)| *b)
}
