//! Arbitrary control-request payloads (`dataplane::control::fuzz::request`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dataplane::control::fuzz::request(data);
});
