//! Arbitrary frames through the whole worker path (`dataplane::fixtures::fuzz::worker_path`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dataplane::fixtures::fuzz::worker_path(data);
});
