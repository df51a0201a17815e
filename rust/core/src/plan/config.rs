//! The configuration rows a restore writes back from the saved log, stage by stage.

use super::super::mac::MacInfo;
use super::super::record::SavedState;
use super::super::regs::{self, Access, Class, Indexing, Reg};
use super::{Dir, Step};

/// True when a row's logged value is written back by the generic configuration stages:
/// read-back or logged rows with a plain value, except the enable handshakes, the tails
/// (rebased) and the interrupt mask and causes (written last).
fn is_plain_config(desc: &regs::RegDesc) -> bool {
    matches!(desc.class, Class::ReadBack | Class::Logged)
        && matches!(desc.access, Access::ReadWrite | Access::WriteOnly)
        && !matches!(
            desc.reg,
            Reg::VFTXDCTL | Reg::VFRXDCTL | Reg::VFTDT | Reg::VFRDT
        )
}

/// True for the MSI-X routing and moderation rows that ixgbevf programs only once the
/// rings run (`ixgbevf_configure_msix` and `ixgbevf_irq_enable` in `ixgbevf_up_complete`,
/// anatomy §4c step 6 and §7.3 step 8), after every ring is enabled.
fn is_interrupt_config(reg: Reg) -> bool {
    matches!(
        reg,
        Reg::VTIVAR | Reg::VTIVAR_MISC | Reg::VTEITR | Reg::VTEIAM | Reg::VTEIAC
    )
}

/// Which configuration rows a configuration stage writes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ConfigRows {
    /// Per-VF rows written before the rings (VFPSRTYPE, the X550 RSS registers), as
    /// `ixgbevf_configure_rx` does before `ixgbevf_configure_rx_ring`.
    Device,
    /// The interrupt routing rows, written after the rings ([`is_interrupt_config`]).
    Interrupt,
    /// The rows of one ring.
    Queue(Dir),
}

impl ConfigRows {
    fn contains(self, desc: &regs::RegDesc) -> bool {
        let indexing = match self {
            ConfigRows::Device | ConfigRows::Interrupt => Indexing::Plain,
            ConfigRows::Queue(dir) => dir.indexing(),
        };
        desc.indexing == indexing
            && is_plain_config(desc)
            && match self {
                ConfigRows::Device => !is_interrupt_config(desc.reg),
                ConfigRows::Interrupt => is_interrupt_config(desc.reg),
                ConfigRows::Queue(_) => true,
            }
    }
}

/// The next configuration write of `rows` at or after `(row, index)`, restricted to
/// `queue` for queue rows: the logged value, or 0 for a reset-surviving register the driver
/// never wrote (a fresh VF may hold a previous tenant's value there, anatomy §1i).
pub(super) fn next_config_write(
    saved: &SavedState,
    dst: &MacInfo,
    rows: ConfigRows,
    queue: u8,
    cursor: &mut (usize, u32),
) -> Option<Step> {
    let per_queue = matches!(rows, ConfigRows::Queue(_));
    while let Some(desc) = regs::TABLE.get(cursor.0) {
        let here = *cursor;
        cursor.1 = cursor.1.saturating_add(1);
        let count = if per_queue { 1 } else { desc.logged_count() };
        if cursor.1 >= count {
            *cursor = (cursor.0.saturating_add(1), 0);
        }
        if !rows.contains(desc) || !dst.implements(desc.presence) || here.1 >= count {
            continue;
        }
        let index = if per_queue { u32::from(queue) } else { here.1 };
        let value = match saved.log.value(desc.reg, index) {
            Some(v) => v,
            None if desc.survives_reset => 0,
            None => continue,
        };
        return Some(Step::Write {
            reg: desc.reg,
            index,
            value,
        });
    }
    None
}
