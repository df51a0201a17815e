// SPDX-License-Identifier: GPL-2.0

//! The core's logic checks (`rust/core/src/selftest.rs`), run inside the kernel: the same code
//! the host runs, compiled with the kernel's flags (overflow checks on, no std, kernel stack).

#[kernel::prelude::kunit_tests(compsc_vf_core)]
mod tests {
    use crate::compsc_core::selftest::{SelfTestFailure, ALL};
    use kernel::prelude::*;

    /// Runs the named check; a failure is printed with its reason and values, then asserted.
    fn run(name: &str) -> bool {
        let Some((_, check)) = ALL.iter().find(|(n, _)| *n == name) else {
            pr_err!("compsc_vf_core: no selftest named {}\n", name);
            return false;
        };
        match check() {
            Ok(()) => true,
            Err(SelfTestFailure { reason, a, b }) => {
                pr_err!(
                    "compsc_vf_core: {}: {} (a={:#x}, b={:#x})\n",
                    name,
                    reason,
                    a,
                    b
                );
                false
            }
        }
    }

    #[test]
    fn every_selftest_has_a_case() {
        // One #[test] below per entry of ALL; a new check must get its case here.
        assert_eq!(ALL.len(), 7);
    }

    #[test]
    fn register_table() {
        assert!(run("register_table"));
    }

    #[test]
    fn emulation_replay() {
        assert!(run("emulation_replay"));
    }

    #[test]
    fn counter_wrap() {
        assert!(run("counter_wrap"));
    }

    #[test]
    fn mailbox_round_trip() {
        assert!(run("mailbox_round_trip"));
    }

    #[test]
    fn mailbox_rejects() {
        assert!(run("mailbox_rejects"));
    }

    #[test]
    fn record_round_trip() {
        assert!(run("record_round_trip"));
    }

    #[test]
    fn restore_plan_order() {
        assert!(run("restore_plan_order"));
    }
}
