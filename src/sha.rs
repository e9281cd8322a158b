//! FIPS 180-4 SHA-256, SHA-384 and SHA-512, and RFC 2104 HMAC-SHA-256,
//! written compactly: rolled loops, because these run only at login (ID-token
//! and JWKS verification, key derivation) and size matters more than speed in
//! the module.
//!
//! There are two compression engines, one on 32-bit words (SHA-256) and one on
//! 64-bit words (SHA-384 and SHA-512, which differ only in the initial value
//! and the output length). Block buffering and padding are shared by both and
//! work on the parts of a message in place, without concatenating them.

/// SHA-512's round constants: the first 64 bits of the fractional parts of the
/// cube roots of the first 80 primes. SHA-256's constants are the first 32 bits
/// of the same numbers, i.e. the high halves of the first 64 of these, so they
/// are not stored twice.
const K: [u64; 80] = [
    0x428A_2F98_D728_AE22,
    0x7137_4491_23EF_65CD,
    0xB5C0_FBCF_EC4D_3B2F,
    0xE9B5_DBA5_8189_DBBC,
    0x3956_C25B_F348_B538,
    0x59F1_11F1_B605_D019,
    0x923F_82A4_AF19_4F9B,
    0xAB1C_5ED5_DA6D_8118,
    0xD807_AA98_A303_0242,
    0x1283_5B01_4570_6FBE,
    0x2431_85BE_4EE4_B28C,
    0x550C_7DC3_D5FF_B4E2,
    0x72BE_5D74_F27B_896F,
    0x80DE_B1FE_3B16_96B1,
    0x9BDC_06A7_25C7_1235,
    0xC19B_F174_CF69_2694,
    0xE49B_69C1_9EF1_4AD2,
    0xEFBE_4786_384F_25E3,
    0x0FC1_9DC6_8B8C_D5B5,
    0x240C_A1CC_77AC_9C65,
    0x2DE9_2C6F_592B_0275,
    0x4A74_84AA_6EA6_E483,
    0x5CB0_A9DC_BD41_FBD4,
    0x76F9_88DA_8311_53B5,
    0x983E_5152_EE66_DFAB,
    0xA831_C66D_2DB4_3210,
    0xB003_27C8_98FB_213F,
    0xBF59_7FC7_BEEF_0EE4,
    0xC6E0_0BF3_3DA8_8FC2,
    0xD5A7_9147_930A_A725,
    0x06CA_6351_E003_826F,
    0x1429_2967_0A0E_6E70,
    0x27B7_0A85_46D2_2FFC,
    0x2E1B_2138_5C26_C926,
    0x4D2C_6DFC_5AC4_2AED,
    0x5338_0D13_9D95_B3DF,
    0x650A_7354_8BAF_63DE,
    0x766A_0ABB_3C77_B2A8,
    0x81C2_C92E_47ED_AEE6,
    0x9272_2C85_1482_353B,
    0xA2BF_E8A1_4CF1_0364,
    0xA81A_664B_BC42_3001,
    0xC24B_8B70_D0F8_9791,
    0xC76C_51A3_0654_BE30,
    0xD192_E819_D6EF_5218,
    0xD699_0624_5565_A910,
    0xF40E_3585_5771_202A,
    0x106A_A070_32BB_D1B8,
    0x19A4_C116_B8D2_D0C8,
    0x1E37_6C08_5141_AB53,
    0x2748_774C_DF8E_EB99,
    0x34B0_BCB5_E19B_48A8,
    0x391C_0CB3_C5C9_5A63,
    0x4ED8_AA4A_E341_8ACB,
    0x5B9C_CA4F_7763_E373,
    0x682E_6FF3_D6B2_B8A3,
    0x748F_82EE_5DEF_B2FC,
    0x78A5_636F_4317_2F60,
    0x84C8_7814_A1F0_AB72,
    0x8CC7_0208_1A64_39EC,
    0x90BE_FFFA_2363_1E28,
    0xA450_6CEB_DE82_BDE9,
    0xBEF9_A3F7_B2C6_7915,
    0xC671_78F2_E372_532B,
    0xCA27_3ECE_EA26_619C,
    0xD186_B8C7_21C0_C207,
    0xEADA_7DD6_CDE0_EB1E,
    0xF57D_4F7F_EE6E_D178,
    0x06F0_67AA_7217_6FBA,
    0x0A63_7DC5_A2C8_98A6,
    0x113F_9804_BEF9_0DAE,
    0x1B71_0B35_131C_471B,
    0x28DB_77F5_2304_7D84,
    0x32CA_AB7B_40C7_2493,
    0x3C9E_BE0A_15C9_BEBC,
    0x431D_67C4_9C10_0D4C,
    0x4CC5_D4BE_CB3E_42B6,
    0x597F_299C_FC65_7E2A,
    0x5FCB_6FAB_3AD6_FAEC,
    0x6C44_198C_4A47_5817,
];

/// SHA-256's initial value: the first 32 bits of the fractional parts of the
/// square roots of the first 8 primes (BLAKE2s starts from it too).
pub(crate) const IV_256: [u32; 8] = [
    0x6A09_E667,
    0xBB67_AE85,
    0x3C6E_F372,
    0xA54F_F53A,
    0x510E_527F,
    0x9B05_688C,
    0x1F83_D9AB,
    0x5BE0_CD19,
];

/// SHA-512's initial value: the first 64 bits of the same square roots.
const IV_512: [u64; 8] = [
    0x6A09_E667_F3BC_C908,
    0xBB67_AE85_84CA_A73B,
    0x3C6E_F372_FE94_F82B,
    0xA54F_F53A_5F1D_36F1,
    0x510E_527F_ADE6_82D1,
    0x9B05_688C_2B3E_6C1F,
    0x1F83_D9AB_FB41_BD6B,
    0x5BE0_CD19_137E_2179,
];

/// SHA-384's initial value: the ninth to sixteenth primes' square roots.
const IV_384: [u64; 8] = [
    0xCBBB_9D5D_C105_9ED8,
    0x629A_292A_367C_D507,
    0x9159_015A_3070_DD17,
    0x152F_ECD8_F70E_5939,
    0x6733_2667_FFC0_0B31,
    0x8EB4_4A87_6858_1511,
    0xDB0C_2E0D_64F9_8FA7,
    0x47B5_481D_BEFA_4FA4,
];

/// Block sizes in bytes (SHA-256's is also HMAC-SHA-256's key block).
const BLOCK_256: usize = 64;
const BLOCK_512: usize = 128;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha256_parts(&[data])
}

/// SHA-384 of `data`.
pub fn sha384(data: &[u8]) -> [u8; 48] {
    sha384_parts(&[data])
}

/// SHA-512 of `data`.
pub fn sha512(data: &[u8]) -> [u8; 64] {
    sha512_parts(&[data])
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut state = IV_256;
    absorb(parts, BLOCK_256, &mut |block| {
        compress_256(&mut state, block);
    });
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// SHA-384 of the concatenation of `parts`: SHA-512's engine from another
/// initial value, cut to 48 bytes.
pub fn sha384_parts(parts: &[&[u8]]) -> [u8; 48] {
    let full = sha512_engine(parts, IV_384);
    let mut out = [0u8; 48];
    for (slot, byte) in out.iter_mut().zip(full) {
        *slot = byte;
    }
    out
}

/// SHA-512 of the concatenation of `parts`.
pub fn sha512_parts(parts: &[&[u8]]) -> [u8; 64] {
    sha512_engine(parts, IV_512)
}

/// HMAC-SHA-256 (RFC 2104) of `data` under `key`; a key longer than the
/// 64-byte block is hashed first.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let hashed;
    let key = if key.len() > BLOCK_256 {
        hashed = sha256(key);
        hashed.as_slice()
    } else {
        key
    };
    let mut padded = [0u8; BLOCK_256];
    for (slot, byte) in padded.iter_mut().zip(key) {
        *slot = *byte;
    }
    let inner = sha256_parts(&[&padded.map(|byte| byte ^ 0x36), data]);
    sha256_parts(&[&padded.map(|byte| byte ^ 0x5C), &inner])
}

fn sha512_engine(parts: &[&[u8]], iv: [u64; 8]) -> [u8; 64] {
    let mut state = iv;
    absorb(parts, BLOCK_512, &mut |block| {
        compress_512(&mut state, block);
    });
    let mut out = [0u8; 64];
    for (chunk, word) in out.chunks_exact_mut(8).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Feeds the padded concatenation of `parts` to `compress`, one `block_len`
/// block (64 or 128 bytes) at a time. Whole blocks inside a part are passed
/// straight from it; only blocks that straddle parts, and the final padded
/// block(s), go through a small buffer. The padding is a 1 bit, zeros, and the
/// message length in bits as a big-endian field of `block_len / 8` bytes
/// (64 bits for SHA-256, 128 bits for SHA-384/512). Taking `compress` as a
/// trait object keeps a single copy of this code for both engines.
fn absorb(parts: &[&[u8]], block_len: usize, compress: &mut dyn FnMut(&[u8])) {
    let mut buffer = [0u8; BLOCK_512];
    let mut filled = 0usize;
    let mut bytes: u128 = 0;
    for part in parts {
        bytes = bytes.wrapping_add(part.len() as u128);
        let mut rest = *part;
        while !rest.is_empty() {
            if filled == 0 && rest.len() >= block_len {
                let (block, tail) = rest.split_at(block_len);
                compress(block);
                rest = tail;
                continue;
            }
            let take = rest.len().min(block_len - filled);
            let (head, tail) = rest.split_at(take);
            if let Some(slot) = buffer.get_mut(filled..filled + take) {
                slot.copy_from_slice(head);
            }
            filled += take;
            rest = tail;
            if filled == block_len {
                compress(buffer.get(..block_len).unwrap_or_default());
                filled = 0;
            }
        }
    }

    let length_len = block_len / 8;
    if let Some(slot) = buffer.get_mut(filled) {
        *slot = 0x80;
    }
    filled += 1;
    if filled > block_len - length_len {
        // No room for the length: pad out this block and use one more.
        for slot in buffer.iter_mut().take(block_len).skip(filled) {
            *slot = 0;
        }
        compress(buffer.get(..block_len).unwrap_or_default());
        filled = 0;
    }
    for slot in buffer.iter_mut().take(block_len).skip(filled) {
        *slot = 0;
    }
    // The bit length, modulo 2^64 for SHA-256 (FIPS 180-4 caps its messages
    // below 2^64 bits) and 2^128 for SHA-384/512: the low `length_len` bytes.
    let bits = bytes.wrapping_mul(8).to_be_bytes();
    let field = bits.get(bits.len() - length_len..).unwrap_or_default();
    if let Some(slot) = buffer.get_mut(block_len - length_len..block_len) {
        slot.copy_from_slice(field);
    }
    compress(buffer.get(..block_len).unwrap_or_default());
}

/// Defines a compression function over `$word`s: one round per constant in
/// `$constants` (64 or 80), with the rotation amounts of the big sigmas
/// (`big0` on `a`, `big1` on `e`) and the (rotate, rotate, shift) amounts of
/// the small sigmas of the message schedule (`small0`, `small1`).
/// The message schedule is a 16-word window: each round reads its word from
/// the front, appends the word 16 rounds ahead and slides the window (the last
/// 16 appended words are never used; computing them is simpler than not).
macro_rules! compress {
    (
        $name:ident, $word:ty, $constants:expr,
        big0: $b0:literal, $b1:literal, $b2:literal;
        big1: $c0:literal, $c1:literal, $c2:literal;
        small0: $s0:literal, $s1:literal, $s2:literal;
        small1: $t0:literal, $t1:literal, $t2:literal;
    ) => {
        // The working variables keep their FIPS 180-4 names.
        #[allow(clippy::many_single_char_names)]
        fn $name(state: &mut [$word; 8], block: &[u8]) {
            let mut w: [$word; 16] = [0; 16];
            let size = core::mem::size_of::<$word>();
            for (word, chunk) in w.iter_mut().zip(block.chunks_exact(size)) {
                *word = <$word>::from_be_bytes(chunk.try_into().unwrap_or_default());
            }
            let mut v = *state;
            for k in $constants {
                let [a, b, c, d, e, f, g, h] = v;
                let t1 = h
                    .wrapping_add(e.rotate_right($c0) ^ e.rotate_right($c1) ^ e.rotate_right($c2))
                    .wrapping_add((e & f) ^ (!e & g))
                    .wrapping_add(k)
                    .wrapping_add(w[0]);
                let t2 = (a.rotate_right($b0) ^ a.rotate_right($b1) ^ a.rotate_right($b2))
                    .wrapping_add((a & b) ^ (a & c) ^ (b & c));
                v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];

                let (x, y) = (w[1], w[14]);
                let next = (y.rotate_right($t0) ^ y.rotate_right($t1) ^ (y >> $t2))
                    .wrapping_add(w[9])
                    .wrapping_add(x.rotate_right($s0) ^ x.rotate_right($s1) ^ (x >> $s2))
                    .wrapping_add(w[0]);
                w.copy_within(1.., 0);
                w[15] = next;
            }
            for (word, add) in state.iter_mut().zip(v) {
                *word = word.wrapping_add(add);
            }
        }
    };
}

compress! {
    compress_256, u32,
    // The high halves of SHA-512's first 64 constants; the shift leaves 32
    // bits, so the conversion never fails.
    K.iter().take(64).map(|k| u32::try_from(k >> 32).unwrap_or_default()),
    big0: 2, 13, 22;
    big1: 6, 11, 25;
    small0: 7, 18, 3;
    small1: 17, 19, 10;
}

compress! {
    compress_512, u64, K,
    big0: 28, 34, 39;
    big1: 14, 18, 41;
    small0: 1, 8, 7;
    small1: 19, 61, 6;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hex;
    use crate::testing::XorShift;

    const TWO_BLOCK_448: &[u8] = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    const TWO_BLOCK_896: &[u8] = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn\
        hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

    /// (message, SHA-256, SHA-384, SHA-512) from the NIST examples.
    fn nist_vectors() -> Vec<(Vec<u8>, &'static str, &'static str, &'static str)> {
        vec![
            (
                b"abc".to_vec(),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
                 8086072ba1e7cc2358baeca134c825a7",
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                 2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
            (
                Vec::new(),
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da\
                 274edebfe76f65fbd51ad2f14898b95b",
                "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
                 47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
            ),
            (
                TWO_BLOCK_448.to_vec(),
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
                "3391fdddfc8dc7393707a65b1b4709397cf8b1d162af05abfe8f450de5f36bc6\
                 b0455a8520bc4e6f5fe95b1fe3c8452b",
                "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335\
                 96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445",
            ),
            (
                TWO_BLOCK_896.to_vec(),
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
                "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712\
                 fcc7c71a557e2db966c3e9fa91746039",
                "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018\
                 501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
            ),
            (
                vec![b'a'; 1_000_000],
                "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
                "9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b\
                 07b8b3dc38ecc4ebae97ddd87f3d8985",
                "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb\
                 de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b",
            ),
        ]
    }

    #[test]
    fn matches_the_nist_examples() {
        for (message, h256, h384, h512) in nist_vectors() {
            let len = message.len();
            assert_eq!(hex(&sha256(&message)), h256, "SHA-256, {len} bytes");
            assert_eq!(hex(&sha384(&message)), h384, "SHA-384, {len} bytes");
            assert_eq!(hex(&sha512(&message)), h512, "SHA-512, {len} bytes");
        }
    }

    #[test]
    fn matches_rfc4231() {
        let long_key = [0xAA; 131];
        let cases: [(&[u8], &[u8], &str); 6] = [
            (
                &[0x0B; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xAA; 20],
                &[0xDD; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                &[
                    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D,
                    0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
                ],
                &[0xCD; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                &long_key,
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                &long_key,
                b"This is a test using a larger than block-size key and a larger than \
                  block-size data. The key needs to be hashed before being used by the \
                  HMAC algorithm.",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (number, (key, data, tag)) in cases.into_iter().enumerate() {
            assert_eq!(hex(&hmac_sha256(key, data)), tag, "case index {number}");
        }
    }

    /// Splits `data` at up to three random points (parts may be empty).
    fn split<'a>(rng: &mut XorShift, data: &'a [u8]) -> Vec<&'a [u8]> {
        let mut cuts: Vec<usize> = (0..rng.below(4))
            .map(|_| rng.below(data.len() + 1))
            .collect();
        cuts.sort_unstable();
        let mut parts = Vec::new();
        let mut start = 0;
        for cut in cuts {
            parts.push(&data[start..cut]);
            start = cut;
        }
        parts.push(&data[start..]);
        parts
    }

    #[test]
    fn matches_the_sha2_crate_at_every_length_and_split() {
        use ::sha2::Digest as _;
        let mut rng = XorShift::new(0x9E37_79B9_7F4A_7C15);
        for len in 0..=300 {
            let data = rng.bytes(len);
            let want_256: [u8; 32] = ::sha2::Sha256::digest(&data).into();
            let want_384: [u8; 48] = ::sha2::Sha384::digest(&data).into();
            let want_512: [u8; 64] = ::sha2::Sha512::digest(&data).into();
            assert_eq!(sha256(&data), want_256, "SHA-256, {len} bytes");
            assert_eq!(sha384(&data), want_384, "SHA-384, {len} bytes");
            assert_eq!(sha512(&data), want_512, "SHA-512, {len} bytes");
            for _ in 0..4 {
                let parts = split(&mut rng, &data);
                let lens: Vec<usize> = parts.iter().map(|part| part.len()).collect();
                assert_eq!(sha256_parts(&parts), want_256, "SHA-256, parts {lens:?}");
                assert_eq!(sha384_parts(&parts), want_384, "SHA-384, parts {lens:?}");
                assert_eq!(sha512_parts(&parts), want_512, "SHA-512, parts {lens:?}");
            }
        }
    }

    #[test]
    fn no_parts_is_the_empty_message() {
        assert_eq!(sha256_parts(&[]), sha256(b""));
        assert_eq!(sha384_parts(&[]), sha384(b""));
        assert_eq!(sha512_parts(&[]), sha512(b""));
    }

    #[test]
    fn hmac_matches_the_hmac_crate_for_every_key_length() {
        use hmac::{Hmac, Mac as _};
        let mut rng = XorShift::new(0x2545_F491_4F6C_DD1D);
        for key_len in 0..=200 {
            let key = rng.bytes(key_len);
            let data_len = rng.below(300);
            let data = rng.bytes(data_len);
            let mut reference = Hmac::<::sha2::Sha256>::new_from_slice(&key).unwrap();
            reference.update(&data);
            let want: [u8; 32] = reference.finalize().into_bytes().into();
            assert_eq!(hmac_sha256(&key, &data), want, "key of {key_len} bytes");
        }
    }
}
