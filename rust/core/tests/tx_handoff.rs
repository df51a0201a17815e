//! A host model of the Tx ring's two contexts, run on real threads: xmit (the producer,
//! under the stack's Tx queue lock) and the NAPI poll's clean (the consumer). They share
//! only `next_to_use` and `next_to_clean` (each written by one side with Release, read by
//! the other with Acquire) and the queue's stopped flag, with the stop/wake double check of
//! the driver's xmit (ixgbevf's `maybe_stop_tx`). The ring arithmetic is rust/core's
//! `RingSize`, the same the driver uses.
//!
//! What must hold under every interleaving the scheduler produces: frames complete in the
//! order they were queued, each exactly once; the producer never overwrites a slot the
//! consumer has not released; and a stopped queue is always woken (no lost wake-up, which
//! would stall the queue for ever).

use compsc_core::desc::RingSize;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Descriptors a frame may need at most (the driver's `TX_WORST_CASE` is 19 of 512; here
/// the ring is small so that it fills often).
const WORST: u32 = 5;
const FRAMES: u64 = 300_000;

struct Ring {
    size: RingSize,
    /// Per descriptor: the frame id + 1 written there (0: free).
    slots: Vec<AtomicU64>,
    next_to_use: AtomicU32,
    next_to_clean: AtomicU32,
    stopped: AtomicBool,
    stops: AtomicU64,
}

impl Ring {
    fn unused(&self) -> u32 {
        self.size.unused(
            self.next_to_use.load(Ordering::Relaxed),
            self.next_to_clean.load(Ordering::Acquire),
        )
    }
}

fn run(size: u32) {
    let size = RingSize::new(size).unwrap();
    let ring = Arc::new(Ring {
        size,
        slots: (0..size.count()).map(|_| AtomicU64::new(0)).collect(),
        next_to_use: AtomicU32::new(0),
        next_to_clean: AtomicU32::new(0),
        stopped: AtomicBool::new(false),
        stops: AtomicU64::new(0),
    });
    let deadline = Instant::now() + Duration::from_secs(60);

    let producer = {
        let r = ring.clone();
        std::thread::spawn(move || {
            let mut id = 0u64;
            let mut seed = 0x2545_F491_4F6C_DD1Du64;
            while id < FRAMES {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let need = 1 + (seed % u64::from(WORST)) as u32;
                if r.unused() < need {
                    // Stop, then look again: a completion between the check and the stop
                    // would otherwise leave the queue stopped for ever.
                    r.stopped.store(true, Ordering::Relaxed);
                    r.stops.fetch_add(1, Ordering::Relaxed);
                    fence(Ordering::SeqCst);
                    if r.unused() < need {
                        // The stack does not call xmit on a stopped queue: wait for the wake.
                        while r.stopped.load(Ordering::Acquire) {
                            assert!(Instant::now() < deadline, "queue stopped and never woken");
                            std::hint::spin_loop();
                        }
                        continue;
                    }
                    r.stopped.store(false, Ordering::Relaxed);
                }
                let mut i = r.next_to_use.load(Ordering::Relaxed);
                for _ in 0..need {
                    let slot = &r.slots[r.size.wrap(i) as usize];
                    assert_eq!(slot.load(Ordering::Relaxed), 0, "overwrote a slot in use");
                    slot.store(id + 1, Ordering::Relaxed);
                    i = r.size.next(i);
                }
                // Publish: the consumer's Acquire load of next_to_use sees the slots.
                r.next_to_use.store(i, Ordering::Release);
                id += 1;
            }
        })
    };

    let consumer = {
        let r = ring.clone();
        std::thread::spawn(move || {
            let mut expect = 0u64;
            while expect < FRAMES {
                assert!(
                    Instant::now() < deadline,
                    "consumer starved at frame {expect}"
                );
                let ntu = r.next_to_use.load(Ordering::Acquire);
                let mut i = r.next_to_clean.load(Ordering::Relaxed);
                while i != ntu {
                    let slot = &r.slots[r.size.wrap(i) as usize];
                    let got = slot.load(Ordering::Relaxed);
                    assert!(got != 0, "published slot {i} empty");
                    // Frames come back in order; a frame's descriptors are consecutive.
                    if got != expect + 1 {
                        assert_eq!(got, expect + 2, "frame out of order at slot {i}");
                        expect += 1;
                    }
                    slot.store(0, Ordering::Relaxed);
                    i = r.size.next(i);
                }
                if i == ntu && ntu != r.next_to_clean.load(Ordering::Relaxed) {
                    // The frame at the end is complete (all its descriptors were published).
                    r.next_to_clean.store(i, Ordering::Release);
                    fence(Ordering::SeqCst);
                    // The driver's wake: only with room for two worst-case frames.
                    if r.stopped.load(Ordering::Relaxed) && r.unused() >= 2 * WORST {
                        r.stopped.store(false, Ordering::Release);
                    }
                }
                let done_all = r.next_to_clean.load(Ordering::Relaxed)
                    == r.next_to_use.load(Ordering::Acquire);
                if done_all && expect + 1 == FRAMES && ntu == i {
                    break;
                }
                if done_all {
                    std::hint::spin_loop();
                }
            }
        })
    };

    producer.join().expect("producer");
    consumer.join().expect("consumer");
    assert!(
        ring.stops.load(Ordering::Relaxed) > 0,
        "the ring never filled: the stop/wake path was not exercised"
    );
}

#[test]
fn xmit_and_clean_hand_slots_over_without_loss_or_lost_wakeups_64() {
    run(64);
}

#[test]
fn xmit_and_clean_hand_slots_over_without_loss_or_lost_wakeups_128() {
    run(128);
}
