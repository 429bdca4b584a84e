//! A tiny FNV-1a hasher: fast, dependency-free and deterministic (the same bytes
//! always give the same hash, unlike `std`'s randomly seeded `RandomState`). The
//! engine uses it to intern names in hot loops and to derive stable analysis ids.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits.
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(OFFSET)
    }
}

impl Fnv64 {
    /// Continues from a state [`Hasher::finish`] returned.
    pub fn from_state(state: u64) -> Self {
        Fnv64(state)
    }

    /// Feeds an `i64` (little-endian bytes).
    pub fn write_i64_le(&mut self, v: i64) {
        self.write(&v.to_le_bytes());
    }

    /// Feeds a string followed by a 0xff separator, so `("ab","c")` and `("a","bc")`
    /// hash differently (0xff never occurs in UTF-8).
    pub fn write_str_sep(&mut self, s: &str) {
        self.write(s.as_bytes());
        self.write(&[0xff]);
    }
}

impl Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
        self.0 = h;
    }
}

/// A `HashMap` keyed with FNV-1a. Never iterate it for output: its order is not
/// meaningful. The engine only uses it for lookups.
pub type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv64>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // Published FNV-1a 64 test vectors.
        let h = |s: &str| {
            let mut f = Fnv64::default();
            f.write(s.as_bytes());
            f.finish()
        };
        assert_eq!(h(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(h("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(h("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn separator_distinguishes_splits() {
        let mut a = Fnv64::default();
        a.write_str_sep("ab");
        a.write_str_sep("c");
        let mut b = Fnv64::default();
        b.write_str_sep("a");
        b.write_str_sep("bc");
        assert_ne!(a.finish(), b.finish());
    }
}
