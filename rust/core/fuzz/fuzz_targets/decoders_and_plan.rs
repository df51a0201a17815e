//! cargo-fuzz target over the mailbox decoders, the record decoder, the plans and the
//! mailbox state machine.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../body.rs"]
mod body;

fuzz_target!(|data: &[u8]| body::fuzz_one(data));
