//! Hashing shared by the modules below `worker`: [`KeyHasher`], the hasher of the fast path's maps
//! (services, VIPs, local addresses, real servers, neighbours, NAT owners). A leaf module, so that
//! `lb` and `net` both use it without one importing the other.

use std::hash::Hasher;

/// A small, fast hasher for fixed-size keys of the fast path (an FxHash-style multiply-rotate). The
/// maps it serves are built by the control side from trusted configuration, so flooding is not a concern.
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}
