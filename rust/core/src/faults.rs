//! The device faults the driver counts, and when it says so in the kernel log.
//!
//! The data path only counts (a relaxed add on the queue's own counter); the service task
//! sums the counts, hands them to [`FaultLog::review`] and prints what it returns. A fault is
//! reported the first time it is seen, then at most once per [`FaultLog::REPEAT_MS`] with how
//! many happened since the last report, so a device that keeps misbehaving cannot flood the
//! log, and a person reading it still learns that it goes on.

/// A kind of misbehaviour the driver detects in what the device or the PF gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// An Rx write-back with a length of zero or beyond the posted buffer: frame dropped.
    RxBadLength,
    /// An Rx write-back whose status contradicts its packet type: the frame goes up without
    /// the device's checksum verdict.
    RxBadStatus,
    /// A frame spanning more buffers than an skb holds (no end of packet): dropped.
    RxChainOverflow,
    /// A mailbox message that is not a well-formed answer or PF message.
    MbxBadMessage,
    /// More mailbox-vector interrupts in one service pass than the mailbox explains.
    IrqStorm,
}

/// Every fault, in the order of the counts [`FaultLog::review`] takes.
pub const FAULTS: [Fault; 5] = [
    Fault::RxBadLength,
    Fault::RxBadStatus,
    Fault::RxChainOverflow,
    Fault::MbxBadMessage,
    Fault::IrqStorm,
];

impl Fault {
    /// What the log line says happened, and what the driver did about it.
    pub fn describe(self) -> &'static str {
        match self {
            Fault::RxBadLength => {
                "Rx descriptors with a length of 0 or beyond the buffer (frames dropped)"
            }
            Fault::RxBadStatus => {
                "Rx descriptors whose status contradicts the packet type (checksum left to the stack)"
            }
            Fault::RxChainOverflow => {
                "Rx frames spanning more buffers than a frame may (no end of packet; dropped)"
            }
            Fault::MbxBadMessage => "malformed or mismatched mailbox messages from the PF (ignored)",
            Fault::IrqStorm => "seconds with mailbox interrupts beyond any mailbox activity (an interrupt storm)",
        }
    }

    /// The `ethtool -S` name of its counter.
    pub const fn stat_name(self) -> &'static str {
        match self {
            Fault::RxBadLength => "rx_bad_length",
            Fault::RxBadStatus => "rx_bad_status",
            Fault::RxChainOverflow => "rx_chain_overflow",
            Fault::MbxBadMessage => "mbx_bad_messages",
            Fault::IrqStorm => "irq_storms",
        }
    }
}

/// Mailbox-vector interrupts per second above which they are a storm. The mailbox explains
/// a few per exchange (the PF's reply, its ack, a control message): a reset that replays
/// every request makes a few dozen, far below this.
pub const STORM_IRQS_PER_SEC: u64 = 250;

/// Measures the mailbox vector's interrupt rate over windows of at least a second.
#[derive(Clone, Copy, Debug, Default)]
pub struct StormMeter {
    /// Start of the current window and the vector's count then; `None` before the first look.
    window: Option<(u64, u64)>,
}

impl StormMeter {
    /// Takes the vector's running `count` at `now_ms`; true when a window of a second or
    /// more just ended above [`STORM_IRQS_PER_SEC`] (once per such window).
    pub fn observe(&mut self, now_ms: u64, count: u64) -> bool {
        let Some((start, base)) = self.window else {
            self.window = Some((now_ms, count));
            return false;
        };
        let elapsed = now_ms.saturating_sub(start);
        if elapsed < 1000 {
            return false;
        }
        self.window = Some((now_ms, count));
        // A count below the base (counters restarted) is no storm.
        let per_sec = count
            .checked_sub(base)
            .and_then(|n| n.saturating_mul(1000).checked_div(elapsed))
            .unwrap_or(0);
        per_sec > STORM_IRQS_PER_SEC
    }
}

/// One line to print: the fault, how many since the last line, and the total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// Which fault.
    pub fault: Fault,
    /// How many since the last line about it.
    pub new: u64,
    /// How many since the driver bound the device.
    pub total: u64,
}

/// What was last reported of each fault.
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultLog {
    reported: [u64; FAULTS.len()],
    at_ms: [Option<u64>; FAULTS.len()],
}

impl FaultLog {
    /// At most one line per fault in this many milliseconds.
    pub const REPEAT_MS: u64 = 60_000;

    /// The lines to print now, given each fault's total (in [`FAULTS`] order) and a
    /// monotonic time. A total that went backwards (counters restarted) reports nothing
    /// and starts over from it.
    pub fn review(
        &mut self,
        now_ms: u64,
        totals: &[u64; FAULTS.len()],
    ) -> [Option<Report>; FAULTS.len()] {
        let mut out = [None; FAULTS.len()];
        let rows = FAULTS
            .iter()
            .zip(totals)
            .zip(self.reported.iter_mut().zip(self.at_ms.iter_mut()))
            .zip(out.iter_mut());
        for (((fault, &total), (reported, at_ms)), line) in rows {
            let last = *reported;
            if total < last {
                *reported = total;
                continue;
            }
            if total == last {
                continue;
            }
            let due = match *at_ms {
                None => true,
                Some(at) => now_ms.saturating_sub(at) >= Self::REPEAT_MS,
            };
            if due {
                *line = Some(Report {
                    fault: *fault,
                    new: total.saturating_sub(last),
                    total,
                });
                *reported = total;
                *at_ms = Some(now_ms);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(r: &[Option<Report>]) -> Vec<(Fault, u64, u64)> {
        r.iter()
            .flatten()
            .map(|r| (r.fault, r.new, r.total))
            .collect()
    }

    #[test]
    fn first_at_once_then_once_a_minute_with_the_count() {
        let mut log = FaultLog::default();
        assert!(lines(&log.review(0, &[0; 5])).is_empty());
        assert_eq!(
            lines(&log.review(2_000, &[3, 0, 0, 0, 0])),
            [(Fault::RxBadLength, 3, 3)]
        );
        // More within the minute: nothing printed, nothing forgotten.
        assert!(lines(&log.review(4_000, &[50, 0, 0, 0, 0])).is_empty());
        assert!(lines(&log.review(61_999, &[90, 0, 0, 0, 0])).is_empty());
        assert_eq!(
            lines(&log.review(62_000, &[100, 0, 0, 0, 0])),
            [(Fault::RxBadLength, 97, 100)]
        );
        // Another fault is on its own clock.
        assert_eq!(
            lines(&log.review(63_000, &[100, 0, 0, 1, 0])),
            [(Fault::MbxBadMessage, 1, 1)]
        );
    }

    #[test]
    fn quiet_fault_and_restarted_counts_print_nothing() {
        let mut log = FaultLog::default();
        log.review(0, &[5, 0, 0, 0, 0]);
        assert!(lines(&log.review(120_000, &[5, 0, 0, 0, 0])).is_empty());
        assert!(lines(&log.review(240_000, &[1, 0, 0, 0, 0])).is_empty());
        assert_eq!(
            lines(&log.review(360_000, &[4, 0, 0, 0, 0])),
            [(Fault::RxBadLength, 3, 4)]
        );
    }

    #[test]
    fn storm_is_a_rate_over_a_second_or_more() {
        let mut m = StormMeter::default();
        assert!(!m.observe(0, 0));
        // Frequent looks within the window decide nothing, however many interrupts.
        assert!(!m.observe(10, 5_000));
        assert!(!m.observe(999, 5_000));
        // 5000 in a second: a storm, reported once for that window.
        assert!(m.observe(1_000, 5_000));
        assert!(!m.observe(1_500, 5_000));
        // A quiet second after it, then a slow two seconds with a reset's worth.
        assert!(!m.observe(2_000, 5_000));
        assert!(!m.observe(4_000, 5_060));
        // Exactly the threshold is not a storm; one more is.
        assert!(!m.observe(5_000, 5_060 + STORM_IRQS_PER_SEC));
        assert!(m.observe(6_000, 5_061 + 2 * STORM_IRQS_PER_SEC));
        // A count that went backwards (counters restarted) is no storm.
        assert!(!m.observe(7_000, 3));
    }
}
