//! Runs the fuzz body over a few thousand pseudo-random inputs on every `cargo test`.

#[path = "../fuzz/body.rs"]
mod body;

#[test]
fn fuzz_body_over_pseudo_random_inputs() {
    let mut x: u64 = 0x0123_4567_89AB_CDEF;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..4000usize {
        let len = (next() % 1200) as usize;
        let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if let Some(first) = data.first_mut() {
            *first = (i % body::DECODERS.len()) as u8;
        }
        body::fuzz_one(&data);
    }
    // Edge lengths.
    for sel in 0..body::DECODERS.len() as u8 {
        body::fuzz_one(&[sel]);
        body::fuzz_one(&[sel, 0xFF]);
    }
    body::fuzz_one(&[]);
}
