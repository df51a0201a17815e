//! The freeze plan (doorbell FREEZE, on the source): stop Tx, stop Rx DMA, drain, stop Tx
//! DMA, collect heads, final counter update, mark pages dirty, seal the record.

use super::super::record::{SavedState, RING_SLOTS};
use super::{disable_value, rings, Dir, Step};

/// The freeze plan (doorbell FREEZE on the source). Before the first step the driver
/// copies its live log, PF state and ring `count`/`next_to_use`/`enabled` into the record:
/// the disable writes below change the live log, and an abort restores from the record.
#[derive(Clone, Debug)]
pub struct Freeze {
    i: usize,
}

impl Freeze {
    /// Starts a freeze.
    pub fn new() -> Self {
        Freeze { i: 0 }
    }

    /// The next step, `None` when done.
    pub fn next(&mut self, saved: &SavedState) -> Option<Step> {
        const R: usize = RING_SLOTS;
        loop {
            let i = self.i;
            // A bounded cursor: the plan ends after 4 * RING_SLOTS + 4 steps.
            self.i = self.i.saturating_add(1);
            let used =
                |dir: Dir, slot: usize| rings(saved, dir).get(slot).is_some_and(|s| s.count > 0);
            // CAST: slots are below RING_SLOTS (4).
            let q = |slot: usize| slot as u8;
            let step = match i {
                0 => Some(Step::StopTxStack),
                // Stop Rx DMA first: nothing new lands in guest memory after this.
                i if i <= R => {
                    // Each arm's guard and the arms before it bound i from below, so the
                    // subtractions below never saturate.
                    let s = i.saturating_sub(1);
                    used(Dir::Rx, s).then(|| Step::DisableQueue {
                        dir: Dir::Rx,
                        queue: q(s),
                        value: disable_value(saved, Dir::Rx, q(s)),
                    })
                }
                i if i == R + 1 => Some(Step::DrainRx),
                // Tx: SWFLSH disables the queue and flushes batched DD write-backs.
                i if i <= 2 * R + 1 => {
                    let s = i.saturating_sub(R + 2);
                    used(Dir::Tx, s).then(|| Step::DisableQueue {
                        dir: Dir::Tx,
                        queue: q(s),
                        value: disable_value(saved, Dir::Tx, q(s)),
                    })
                }
                i if i <= 4 * R + 1 => {
                    let k = i.saturating_sub(2 * R + 2);
                    let (dir, s) = match k.checked_sub(R) {
                        None => (Dir::Tx, k),
                        Some(s) => (Dir::Rx, s),
                    };
                    used(dir, s).then(|| Step::CollectHead { dir, queue: q(s) })
                }
                i if i == 4 * R + 2 => Some(Step::UpdateCounters),
                i if i == 4 * R + 3 => Some(Step::MarkDirty),
                i if i == 4 * R + 4 => Some(Step::Seal),
                _ => return None,
            };
            if let Some(s) = step {
                return Some(s);
            }
        }
    }
}

impl Default for Freeze {
    fn default() -> Self {
        Freeze::new()
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::mac::MacType;
    use super::super::super::regs::dctl;
    use super::super::testing::{pos, saved};
    use super::*;
    #[test]
    fn freeze_order() {
        let s = saved(MacType::X540);
        let mut f = Freeze::new();
        let steps: Vec<_> = std::iter::from_fn(|| f.next(&s)).collect();
        let last_dma_stop = steps
            .iter()
            .rposition(|s| matches!(s, Step::DisableQueue { .. }))
            .unwrap();
        let rx_stop = pos(&steps, |s| {
            matches!(s, Step::DisableQueue { dir: Dir::Rx, .. })
        });
        let tx_stop = pos(&steps, |s| {
            matches!(s, Step::DisableQueue { dir: Dir::Tx, .. })
        });
        let drain = pos(&steps, |s| *s == Step::DrainRx);
        let heads = pos(&steps, |s| matches!(s, Step::CollectHead { .. }));
        let dirty = pos(&steps, |s| *s == Step::MarkDirty);
        assert_eq!(steps[0], Step::StopTxStack);
        assert!(rx_stop < drain && drain < tx_stop && last_dma_stop < heads && heads < dirty);
        assert_eq!(steps.last(), Some(&Step::Seal));
        assert_eq!(
            steps
                .iter()
                .filter(|s| matches!(s, Step::CollectHead { .. }))
                .count(),
            4
        );
        assert!(steps.contains(&Step::DisableQueue {
            dir: Dir::Tx,
            queue: 1,
            value: dctl::SWFLSH
        }));
    }
}
