//! Arbitrary bytes as a VRRP advertisement and as events for a router
//! (`dataplane::ha::vrrp::fuzz::advert`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dataplane::ha::vrrp::fuzz::advert(data);
});
