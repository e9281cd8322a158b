//! Keyed BLAKE2s-256 (RFC 7693), the MAC behind every signed cookie.
//!
//! Checking the session MAC is most of the cost of an authenticated request,
//! so it matters which MAC it is. Keyed BLAKE2s is a PRF in a single pass (no
//! HMAC outer hash), its compression does a third of SHA-256's work per
//! 64-byte block, and it uses only 32-bit words, which WebAssembly runs
//! natively. The key block is absorbed once when the key is made; each MAC
//! then starts from that saved state, so a ~200-byte session costs four
//! compressions.

/// The initialisation vector: SHA-256's initial hash value (RFC 7693 §2.6).
const IV: [u32; 8] = crate::sha::IV_256;

const BLOCK: usize = 64;
pub const OUT_BYTES: usize = 32;
/// Digest length and key length as the parameter block stores them.
const OUT_PARAM: u32 = 32;

/// The hash state after the key block: the starting point of every MAC.
/// `Debug` never shows it.
#[derive(Clone)]
pub struct KeyedState {
    h: [u32; 8],
    /// The key block itself, needed only for an empty message (where the key
    /// block is also the final block).
    key_block: [u8; BLOCK],
    /// Bytes of key (0 only in tests, for the unkeyed test vectors).
    key_len: usize,
}

impl KeyedState {
    /// Absorbs a key of 1 to 32 bytes (longer keys are cut to 32; callers pass
    /// exactly 32 derived bytes).
    pub fn new(key: &[u8]) -> Self {
        let key = key.get(..key.len().min(32)).unwrap_or_default();
        let mut key_block = [0u8; BLOCK];
        for (slot, byte) in key_block.iter_mut().zip(key) {
            *slot = *byte;
        }
        let mut h = initial_state(key.len());
        if !key.is_empty() {
            compress(&mut h, &key_block, BLOCK as u64, false);
        }
        Self {
            h,
            key_block,
            key_len: key.len(),
        }
    }

    /// The 32-byte MAC of the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; OUT_BYTES] {
        let total: usize = parts.iter().map(|part| part.len()).sum();
        let key_bytes = if self.key_len == 0 { 0 } else { BLOCK as u64 };
        if total == 0 {
            // The key block (all zero when unkeyed) is the only, final block.
            let mut h = initial_state(self.key_len);
            compress(&mut h, &self.key_block, key_bytes, true);
            return output(&h);
        }
        let mut h = self.h;
        let mut counter = key_bytes;
        let mut buffer = [0u8; BLOCK];
        let mut filled = 0usize;
        for part in parts {
            let mut rest = *part;
            while !rest.is_empty() {
                if filled == BLOCK {
                    // A full block is compressed only once more input follows:
                    // the last block must carry the final flag.
                    counter += BLOCK as u64;
                    compress(&mut h, &buffer, counter, false);
                    filled = 0;
                }
                let take = rest.len().min(BLOCK - filled);
                let (head, tail) = rest.split_at(take);
                if let Some(slot) = buffer.get_mut(filled..filled + take) {
                    slot.copy_from_slice(head);
                }
                filled += take;
                rest = tail;
            }
        }
        for slot in buffer.iter_mut().skip(filled) {
            *slot = 0;
        }
        counter += filled as u64;
        compress(&mut h, &buffer, counter, true);
        output(&h)
    }
}

impl std::fmt::Debug for KeyedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedState([redacted])")
    }
}

fn initial_state(key_len: usize) -> [u32; 8] {
    let mut h = IV;
    // Parameter block: digest length 32, key length, fanout 1, depth 1.
    let key_len = u32::try_from(key_len).unwrap_or(OUT_PARAM).min(OUT_PARAM);
    h[0] ^= 0x0101_0000 ^ (key_len << 8) ^ OUT_PARAM;
    h
}

fn output(h: &[u32; 8]) -> [u8; OUT_BYTES] {
    let mut out = [0u8; OUT_BYTES];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// The compression function F: `counter` is the byte count so far including
/// this block; `last` marks the final block. The working vector lives in
/// sixteen locals and the ten rounds are written out with literal message
/// indexes, so the hot code has no table walk and no bounds checks.
fn compress(h: &mut [u32; 8], block: &[u8; BLOCK], counter: u64, last: bool) {
    let mut m = [0u32; 16];
    for (word, chunk) in m.iter_mut().zip(block.chunks_exact(4)) {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(chunk);
        *word = u32::from_le_bytes(bytes);
    }
    let [mut v0, mut v1, mut v2, mut v3, mut v4, mut v5, mut v6, mut v7] = *h;
    let [mut v8, mut v9, mut v10, mut v11, mut v12, mut v13, mut v14, mut v15] = IV;
    #[allow(clippy::cast_possible_truncation)] // split into low and high words
    {
        v12 ^= counter as u32;
        v13 ^= (counter >> 32) as u32;
    }
    if last {
        v14 = !v14;
    }
    macro_rules! g {
        ($a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $y:expr) => {
            $a = $a.wrapping_add($b).wrapping_add($x);
            $d = ($d ^ $a).rotate_right(16);
            $c = $c.wrapping_add($d);
            $b = ($b ^ $c).rotate_right(12);
            $a = $a.wrapping_add($b).wrapping_add($y);
            $d = ($d ^ $a).rotate_right(8);
            $c = $c.wrapping_add($d);
            $b = ($b ^ $c).rotate_right(7);
        };
    }
    // One invocation per row of RFC 7693's message schedule SIGMA.
    macro_rules! round {
        ($s0:literal, $s1:literal, $s2:literal, $s3:literal, $s4:literal, $s5:literal,
         $s6:literal, $s7:literal, $s8:literal, $s9:literal, $s10:literal, $s11:literal,
         $s12:literal, $s13:literal, $s14:literal, $s15:literal) => {
            g!(v0, v4, v8, v12, m[$s0], m[$s1]);
            g!(v1, v5, v9, v13, m[$s2], m[$s3]);
            g!(v2, v6, v10, v14, m[$s4], m[$s5]);
            g!(v3, v7, v11, v15, m[$s6], m[$s7]);
            g!(v0, v5, v10, v15, m[$s8], m[$s9]);
            g!(v1, v6, v11, v12, m[$s10], m[$s11]);
            g!(v2, v7, v8, v13, m[$s12], m[$s13]);
            g!(v3, v4, v9, v14, m[$s14], m[$s15]);
        };
    }
    round!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    round!(14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3);
    round!(11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4);
    round!(7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8);
    round!(9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13);
    round!(2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9);
    round!(12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11);
    round!(13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10);
    round!(6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5);
    round!(10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0);
    let mixed = [
        v0 ^ v8,
        v1 ^ v9,
        v2 ^ v10,
        v3 ^ v11,
        v4 ^ v12,
        v5 ^ v13,
        v6 ^ v14,
        v7 ^ v15,
    ];
    for (state, mix) in h.iter_mut().zip(mixed) {
        *state ^= mix;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hex;

    fn unkeyed(data: &[u8]) -> [u8; OUT_BYTES] {
        KeyedState::new(&[]).mac(&[data])
    }

    #[test]
    fn matches_rfc7693_appendix_b() {
        assert_eq!(
            hex(&unkeyed(b"abc")),
            "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982"
        );
    }

    #[test]
    fn matches_the_reference_implementation_keyed_and_in_parts() {
        use blake2::digest::{FixedOutput, Mac};
        let key: Vec<u8> = (0u8..32).collect();
        let state = KeyedState::new(&key);
        let message: Vec<u8> = (0..300u16).map(|i| (i * 7 + 3).to_le_bytes()[0]).collect();
        for len in 0..=message.len() {
            let data = &message[..len];
            let mut reference = blake2::Blake2sMac256::new_from_slice(&key).unwrap();
            reference.update(data);
            let expected: [u8; 32] = reference.finalize_fixed().into();
            assert_eq!(state.mac(&[data]), expected, "length {len}");
            let split = len / 3;
            assert_eq!(
                state.mac(&[&data[..split], &[], &data[split..]]),
                expected,
                "length {len} in parts"
            );
        }
    }

    #[test]
    fn short_keys_match_the_reference_too() {
        use blake2::digest::{FixedOutput, Mac};
        for key_len in [1usize, 16, 31] {
            let key = vec![0xA5; key_len];
            let mut reference = blake2::Blake2sMac256::new_from_slice(&key).unwrap();
            reference.update(b"payload");
            let expected: [u8; 32] = reference.finalize_fixed().into();
            assert_eq!(KeyedState::new(&key).mac(&[b"payload"]), expected);
        }
    }
}
