//! Arbitrary bytes as a connection-sync message and as replay-window events
//! (`dataplane::ha::sync::fuzz::run`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dataplane::ha::sync::fuzz::run(data);
});
