//! Base64 (RFC 4648): the URL-safe alphabet without padding for cookies, JWTs
//! and JWKs, and the standard padded alphabet for Basic credentials.
//!
//! Decoding is strict, as it must be for signed and MAC-protected text: no padding, no
//! whitespace, no characters outside the alphabet, and the unused low bits of
//! the last character must be zero, so each byte string has exactly one
//! encoding. Written here rather than taken from the `base64` crate, whose
//! generic engine was several times the size of these few loops.

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Marks a byte that is not in the alphabet.
const INVALID: u8 = 0xff;

/// Each byte's 6-bit value in the URL-safe alphabet, or [`INVALID`].
#[expect(
    clippy::cast_possible_truncation,
    clippy::indexing_slicing,
    reason = "evaluated at compile time, where an out-of-range index cannot build"
)]
const URL_SAFE_VALUES: [u8; 256] = {
    let mut values = [INVALID; 256];
    let mut index = 0;
    while index < 64 {
        values[URL_SAFE[index] as usize] = index as u8;
        index += 1;
    }
    values
};

/// URL-safe alphabet, no padding.
pub fn encode_url(data: &[u8]) -> String {
    encode(data, URL_SAFE, false)
}

/// Standard alphabet, padded with `=`.
pub fn encode_standard(data: &[u8]) -> String {
    encode(data, STANDARD, true)
}

fn encode(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    // The mask keeps the index in range, so the fallback is never taken.
    let symbol =
        |bits: u32| char::from(alphabet.get((bits & 63) as usize).copied().unwrap_or(b'A'));
    let mut chunks = data.chunks_exact(3);
    for chunk in &mut chunks {
        if let [a, b, c] = *chunk {
            let bits = u32::from_be_bytes([0, a, b, c]);
            out.extend([
                symbol(bits >> 18),
                symbol(bits >> 12),
                symbol(bits >> 6),
                symbol(bits),
            ]);
        }
    }
    match *chunks.remainder() {
        [a] => {
            let bits = u32::from_be_bytes([0, a, 0, 0]);
            out.extend([symbol(bits >> 18), symbol(bits >> 12)]);
            if pad {
                out.push_str("==");
            }
        }
        [a, b] => {
            let bits = u32::from_be_bytes([0, a, b, 0]);
            out.extend([symbol(bits >> 18), symbol(bits >> 12), symbol(bits >> 6)]);
            if pad {
                out.push('=');
            }
        }
        _ => {}
    }
    out
}

/// The 6-bit value of one URL-safe character, or [`INVALID`].
fn value(byte: u8) -> u8 {
    // A `u8` always indexes a 256-entry table: the fallback is never taken.
    URL_SAFE_VALUES
        .get(usize::from(byte))
        .copied()
        .unwrap_or(INVALID)
}

/// Decodes URL-safe base64 without padding; `None` unless `text` is the
/// canonical encoding of some byte string.
pub fn decode_url(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    let tail = text.len() % 4;
    // One character holds only six bits: never a whole byte.
    if tail == 1 {
        return None;
    }
    let mut out = vec![0; text.len() / 4 * 3 + tail.saturating_sub(1)];
    // Valid values are below 64 and INVALID has the top bit set: OR-ing every
    // value together and checking once keeps the loop free of branches.
    let mut seen = 0u8;
    let (whole, partial) = out.split_at_mut(text.len() / 4 * 3);
    for (chars, bytes) in text.chunks_exact(4).zip(whole.chunks_exact_mut(3)) {
        if let ([a, b, c, d], [first, second, third]) = (chars, bytes) {
            let (a, b, c, d) = (value(*a), value(*b), value(*c), value(*d));
            seen |= a | b | c | d;
            *first = a << 2 | b >> 4;
            *second = b << 4 | c >> 2;
            *third = c << 6 | d & 63;
        }
    }
    let mut bits = |chars: &[u8]| {
        chars.iter().fold(0u32, |bits, &char| {
            let value = value(char);
            seen |= value;
            bits << 6 | u32::from(value & 63)
        })
    };
    let remainder = text.chunks_exact(4).remainder();
    match partial {
        [] => {}
        [only] => {
            let [_, _, first, unused] = (bits(remainder) << 4).to_be_bytes();
            // The last character's unused bits must be zero (canonical form).
            if unused != 0 {
                return None;
            }
            *only = first;
        }
        [first_out, second_out] => {
            let [_, first, second, unused] = (bits(remainder) << 6).to_be_bytes();
            if unused != 0 {
                return None;
            }
            *first_out = first;
            *second_out = second;
        }
        _ => return None,
    }
    (seen & INVALID_BIT == 0).then_some(out)
}

/// Set in [`INVALID`], clear in every 6-bit value.
const INVALID_BIT: u8 = 0x80;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_vectors() {
        for (data, standard, url) in [
            ("", "", ""),
            ("f", "Zg==", "Zg"),
            ("fo", "Zm8=", "Zm8"),
            ("foo", "Zm9v", "Zm9v"),
            ("foob", "Zm9vYg==", "Zm9vYg"),
            ("fooba", "Zm9vYmE=", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
        ] {
            assert_eq!(encode_standard(data.as_bytes()), standard);
            assert_eq!(encode_url(data.as_bytes()), url);
            assert_eq!(decode_url(url).as_deref(), Some(data.as_bytes()));
        }
        assert_eq!(encode_url(&[0xfb, 0xff]), "-_8");
        assert_eq!(encode_standard(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn refuses_everything_but_the_canonical_encoding() {
        for text in [
            "Zg==", "Zg=", "Zm8=", "Z", "Zm9vY", "Zh", "Zm9", "Zm+v", "Zm/v", "Zm9v ", " Zm9v",
            "Zm\n9v", "Zm9v\0", "Zm9é",
        ] {
            assert_eq!(decode_url(text), None, "{text:?}");
        }
    }

    /// Every length from 0 to 200 with random bytes, and random strings over
    /// a mixed alphabet: the `base64` crate's strict URL-safe engine agrees.
    #[test]
    fn agrees_with_the_base64_crate() {
        use base64::engine::general_purpose::{STANDARD as THEIRS_STANDARD, URL_SAFE_NO_PAD};
        use base64::Engine as _;
        let mut rng = crate::testing::XorShift::new(0x0123_4567_89ab_cdef);
        for length in 0..200 {
            let data = rng.bytes(length);
            let url = encode_url(&data);
            assert_eq!(url, URL_SAFE_NO_PAD.encode(&data));
            assert_eq!(encode_standard(&data), THEIRS_STANDARD.encode(&data));
            assert_eq!(decode_url(&url), Some(data));
        }
        let alphabet = b"AQgw/+_-=Zz09 .\xc3\xa9";
        for _ in 0..50_000 {
            let length = rng.below(12);
            let bytes: Vec<u8> = (0..length)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            assert_eq!(
                decode_url(&text),
                URL_SAFE_NO_PAD.decode(&text).ok(),
                "{text:?}"
            );
        }
    }
}
