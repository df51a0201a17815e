//! The abort plan (doorbell ABORT after FREEZE): resume the rings and Tx on the same VF.

use super::super::record::SavedState;
use super::super::regs::{Reg, VTEICR_VECTOR_BITS};
use super::{resume_queue, ring_at, RestoreError, Step};

/// The abort plan (doorbell ABORT after FREEZE): resume on the same VF. Registers and PF
/// state are intact; each ring is rebased from the collected head and re-enabled with its
/// logged configuration, then Tx restarts and every vector is kicked.
#[derive(Clone, Debug)]
pub struct Abort {
    ring: usize,
    rebased: bool,
    tail: u8,
}

impl Abort {
    /// Starts an abort.
    pub fn new() -> Self {
        Abort {
            ring: 0,
            rebased: false,
            tail: 0,
        }
    }

    /// The next step, `Ok(None)` when done.
    pub fn next(&mut self, saved: &SavedState) -> Result<Option<Step>, RestoreError> {
        while let Some((dir, queue, snap)) = ring_at(saved, self.ring) {
            if snap.count == 0 {
                self.ring = self.ring.saturating_add(1);
                continue;
            }
            if !self.rebased {
                self.rebased = true;
                let rebase = snap
                    .rebase()
                    .map_err(|err| RestoreError::Ring { dir, queue, err })?;
                return Ok(Some(Step::RebaseRing { dir, queue, rebase }));
            }
            self.rebased = false;
            self.ring = self.ring.saturating_add(1);
            return Ok(Some(resume_queue(
                saved,
                saved.mac.info(),
                dir,
                queue,
                snap.enabled,
            )));
        }
        let tail = [
            Step::StartTxStack,
            Step::Write {
                reg: Reg::VTEICS,
                index: 0,
                value: VTEICR_VECTOR_BITS,
            },
        ];
        let step = tail.get(usize::from(self.tail)).copied();
        self.tail = self.tail.saturating_add(1);
        Ok(step)
    }
}

impl Default for Abort {
    fn default() -> Self {
        Abort::new()
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::mac::MacType;
    use super::super::testing::saved;
    use super::*;
    #[test]
    fn abort_resumes_rings_then_tx() {
        let s = saved(MacType::X540);
        let mut a = Abort::new();
        let steps: Vec<_> = std::iter::from_fn(|| a.next(&s).unwrap()).collect();
        assert_eq!(
            steps
                .iter()
                .filter(|s| matches!(s, Step::RebaseRing { .. }))
                .count(),
            4
        );
        assert_eq!(
            steps
                .iter()
                .filter(|s| matches!(s, Step::EnableQueue { .. }))
                .count(),
            4
        );
        assert!(!steps
            .iter()
            .any(|s| matches!(s, Step::Mailbox(_) | Step::WaitResetDone)));
        assert_eq!(steps[steps.len() - 2], Step::StartTxStack);
        assert!(matches!(
            steps.last(),
            Some(Step::Write {
                reg: Reg::VTEICS,
                ..
            })
        ));
    }
}
