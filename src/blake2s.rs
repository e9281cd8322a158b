//! Keyed BLAKE2s-256 (RFC 7693), the MAC behind every signed cookie.
//!
//! Checking the session MAC is most of the cost of an authenticated request,
//! so it matters which MAC it is. Keyed BLAKE2s is a PRF in a single pass (no
//! HMAC outer hash), its compression does a third of SHA-256's work per
//! 64-byte block, and it uses only 32-bit words, which WebAssembly runs
//! natively. The key block is absorbed once when the key is made; each MAC
//! then starts from that saved state, so a ~200-byte session costs four
//! compressions.

/// The initialisation vector (shared with SHA-256).
const IV: [u32; 8] = [
    0x6A09_E667,
    0xBB67_AE85,
    0x3C6E_F372,
    0xA54F_F53A,
    0x510E_527F,
    0x9B05_688C,
    0x1F83_D9AB,
    0x5BE0_CD19,
];

/// Message word order for each of the ten rounds.
const SIGMA: [[usize; 16]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

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
            for &byte in *part {
                if filled == BLOCK {
                    // A full block is compressed only once more input follows:
                    // the last block must carry the final flag.
                    counter += BLOCK as u64;
                    compress(&mut h, &buffer, counter, false);
                    filled = 0;
                }
                if let Some(slot) = buffer.get_mut(filled) {
                    *slot = byte;
                }
                filled += 1;
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

#[inline]
#[allow(clippy::many_single_char_names)]
fn g(v: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize, x: u32, y: u32) {
    // Indices are the fixed constants below, all < 16; `get`-free indexing
    // keeps this hot loop branch-free.
    #[allow(clippy::indexing_slicing)]
    {
        v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
        v[d] = (v[d] ^ v[a]).rotate_right(16);
        v[c] = v[c].wrapping_add(v[d]);
        v[b] = (v[b] ^ v[c]).rotate_right(12);
        v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
        v[d] = (v[d] ^ v[a]).rotate_right(8);
        v[c] = v[c].wrapping_add(v[d]);
        v[b] = (v[b] ^ v[c]).rotate_right(7);
    }
}

/// The compression function F: `counter` is the byte count so far including
/// this block; `last` marks the final block.
#[allow(clippy::indexing_slicing)] // every index is a constant or a SIGMA entry < 16
fn compress(h: &mut [u32; 8], block: &[u8; BLOCK], counter: u64, last: bool) {
    let mut m = [0u32; 16];
    for (word, chunk) in m.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    let mut v = [0u32; 16];
    v[..8].copy_from_slice(h);
    v[8..].copy_from_slice(&IV);
    #[allow(clippy::cast_possible_truncation)] // split into low and high words
    {
        v[12] ^= counter as u32;
        v[13] ^= (counter >> 32) as u32;
    }
    if last {
        v[14] = !v[14];
    }
    for s in &SIGMA {
        g(&mut v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
        g(&mut v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
        g(&mut v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
        g(&mut v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
        g(&mut v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
        g(&mut v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
        g(&mut v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
        g(&mut v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for i in 0..8 {
        h[i] ^= v[i] ^ v[i + 8];
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
