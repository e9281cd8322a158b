//! Verify-only RSA (RFC 8017) for RS256/384/512 (RSASSA-PKCS1-v1_5) and
//! PS256/384/512 (RSASSA-PSS with MGF1 of the same hash and a salt as long as
//! the hash, RFC 7518 §3.5) ID-token signatures: public-key import with its
//! checks, the public operation `s^e mod n`, and both encoding checks.
//!
//! It runs once per login on public data (key, token and signature), so it is
//! written for small code, not speed, and it is not constant time: it must
//! never sign, decrypt or hold a secret. Numbers are little-endian `u32` limbs,
//! as many as the modulus needs; the power is left-to-right square-and-multiply
//! on Montgomery multiplication. Encodings are compared whole — the expected
//! PKCS#1 v1.5 block is built, never parsed — so there is no ASN.1 here.

use std::cmp::Ordering;
use std::fmt;

use crate::montgomery::neg_inverse;

/// Moduli below this are too weak (RFC 7518 §3.3 requires 2048 bits).
pub const MIN_BITS: usize = 2048;
/// Moduli above this are refused: the bound `src/jwk.rs` gives the `rsa`
/// crate (whose own default is 4096), because some providers use 8192.
pub const MAX_BITS: usize = 8192;
/// The `rsa` crate's largest public exponent, `RsaPublicKey::MAX_PUB_EXPONENT`.
const MAX_EXPONENT: u64 = (1 << 33) - 1;

/// The hash of a JWS algorithm: SHA-256 for RS256/PS256, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// The hash of the concatenated `parts`.
    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Self::Sha256 => crate::sha::sha256_parts(parts).to_vec(),
            Self::Sha384 => crate::sha::sha384_parts(parts).to_vec(),
            Self::Sha512 => crate::sha::sha512_parts(parts).to_vec(),
        }
    }

    /// The DER of `DigestInfo` up to the digest itself (RFC 8017 §9.2 note 1):
    /// SEQUENCE { SEQUENCE { OID 2.16.840.1.101.3.4.2.x, NULL }, OCTET STRING }.
    fn digest_info_prefix(self) -> [u8; 19] {
        let (id, len) = match self {
            Self::Sha256 => (1, 32),
            Self::Sha384 => (2, 48),
            Self::Sha512 => (3, 64),
        };
        [
            0x30,
            17 + len,
            0x30,
            0x0d,
            0x06,
            0x09,
            0x60,
            0x86,
            0x48,
            0x01,
            0x65,
            0x03,
            0x04,
            0x02,
            id,
            0x05,
            0x00,
            0x04,
            len,
        ]
    }

    /// MGF1 (RFC 8017 B.2.1): `len` bytes of Hash(seed || counter) blocks.
    fn mgf1(self, seed: &[u8], len: usize) -> Vec<u8> {
        (0u32..)
            .flat_map(|counter| self.digest(&[seed, &counter.to_be_bytes()]))
            .take(len)
            .collect()
    }
}

/// Why [`RsaKey::new`] refused a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRejected {
    /// The modulus has this many bits, outside [`MIN_BITS`]`..=`[`MAX_BITS`].
    ModulusSize(usize),
    EvenModulus,
    /// Even, below 3, or above 2^33 − 1.
    Exponent,
}

impl fmt::Display for KeyRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ModulusSize(bits) => write!(
                f,
                "RSA modulus of {bits} bits is outside {MIN_BITS}-{MAX_BITS}"
            ),
            Self::EvenModulus => f.write_str("invalid RSA key (even modulus)"),
            Self::Exponent => f.write_str("invalid RSA key (unusable exponent)"),
        }
    }
}

/// An RSA public key that passed [`RsaKey::new`]'s checks.
#[derive(Clone)]
pub struct RsaKey {
    /// n, least significant limb first; the top limb is not zero.
    n: Vec<u32>,
    /// −n⁻¹ mod 2^32, for Montgomery reduction.
    n_inv: u32,
    /// R² mod n (R = 2^(32·limbs)), which puts a number in Montgomery form.
    r2: Vec<u32>,
    e: u64,
    bits: usize,
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKey")
            .field("bits", &self.bits)
            .field("e", &self.e)
            .finish_non_exhaustive()
    }
}

impl RsaKey {
    /// The key with big-endian modulus `n` and exponent `e` (a JWK's decoded
    /// `n` and `e`; leading zero bytes are ignored). Refused, as by the `rsa`
    /// crate's `RsaPublicKey::new_with_max_size(n, e, MAX_BITS)` plus the
    /// [`MIN_BITS`] floor: a modulus outside [`MIN_BITS`]`..=`[`MAX_BITS`]
    /// bits or even; an exponent that is even, below 3 or above 2^33 − 1. (The
    /// crate's other rule, e < n, always holds then.)
    pub fn new(n: &[u8], e: &[u8]) -> Result<Self, KeyRejected> {
        let bits = bit_length(n);
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(KeyRejected::ModulusSize(bits));
        }
        let n = strip_zeros(n);
        if n.last().is_none_or(|low| low & 1 == 0) {
            return Err(KeyRejected::EvenModulus);
        }
        let e = strip_zeros(e);
        if e.len() > 8 {
            return Err(KeyRejected::Exponent);
        }
        let e = e.iter().fold(0, |acc, &byte| acc << 8 | u64::from(byte));
        if !(3..=MAX_EXPONENT).contains(&e) || e & 1 == 0 {
            return Err(KeyRejected::Exponent);
        }
        Ok(Self::with_modulus(limbs(n), e, bits))
    }

    /// The key for the odd modulus `n` (limbs, the top one not zero), with
    /// its Montgomery constants.
    fn with_modulus(n: Vec<u32>, e: u64, bits: usize) -> Self {
        let mut key = Self {
            r2: Vec::new(),
            n_inv: neg_inverse(n.first().copied().unwrap_or(1)),
            n,
            e,
            bits,
        };
        // R² mod n by doubling 1 once per bit of R²: a few milliseconds for
        // 8192 bits, once per key rather than once per signature.
        let mut r2 = one(key.n.len());
        for _ in 0..64 * key.n.len() {
            r2 = key.double(r2);
        }
        key.r2 = r2;
        key
    }

    /// The modulus length in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// RSASSA-PKCS1-v1_5-VERIFY (RFC 8017 §8.2.2) of `signature` over
    /// `message`: the encoded message must equal, byte for byte,
    /// `0x00 0x01 FF…FF 0x00 || DigestInfo || Hash(message)` (§9.2).
    pub fn verify_pkcs1v15(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        let Some(em) = self.encoded_message(signature) else {
            return false;
        };
        let prefix = hash.digest_info_prefix();
        let digest = hash.digest(&[message]);
        // At least 8 bytes of 0xff (§9.2 step 3); always so from 2048 bits.
        let Some(padding) = em
            .len()
            .checked_sub(3 + prefix.len() + digest.len())
            .filter(|&len| len >= 8)
        else {
            return false;
        };
        let mut expected = vec![0x00, 0x01];
        expected.resize(2 + padding, 0xff);
        expected.push(0x00);
        expected.extend_from_slice(&prefix);
        expected.extend_from_slice(&digest);
        em == expected
    }

    /// RSASSA-PSS-VERIFY (RFC 8017 §8.1.2) of `signature` over `message`,
    /// with MGF1 of `hash` and a salt exactly as long as the hash.
    pub fn verify_pss(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        self.check_pss(hash, message, signature).is_some()
    }

    /// EMSA-PSS-VERIFY (§9.1.2) on the encoded message; `None` is
    /// "inconsistent".
    fn check_pss(&self, hash: Hash, message: &[u8], signature: &[u8]) -> Option<()> {
        let em = self.encoded_message(signature)?;
        // emBits = modBits − 1, so emLen is k − 1 when modBits ≡ 1 (mod 8);
        // I2OSP(m, emLen) (§8.1.2 step 2c) then needs m's top byte to be zero.
        let em_bits = self.bits - 1;
        let em_len = em_bits.div_ceil(8);
        let (top, em) = em.split_at_checked(em.len() - em_len)?;
        if top.iter().any(|&byte| byte != 0) {
            return None;
        }
        let m_hash = hash.digest(&[message]);
        let h_len = m_hash.len();
        // Steps 3–5: emLen ≥ 2·hLen + 2 (sLen = hLen), the 0xbc trailer, and
        // EM = maskedDB || H || 0xbc.
        let (masked_db, rest) = em.split_at_checked(em_len.checked_sub(h_len + 1)?)?;
        let (h, trailer) = rest.split_at_checked(h_len)?;
        if em_len < 2 * h_len + 2 || trailer != [0xbc] {
            return None;
        }
        // Step 6: the leftmost 8·emLen − emBits bits of maskedDB are zero.
        let kept = 0xff_u8 >> (8 * em_len - em_bits);
        if masked_db.first()? & !kept != 0 {
            return None;
        }
        // Steps 7–9: DB = maskedDB ⊕ MGF1(H), those leftmost bits cleared.
        let mut db: Vec<u8> = masked_db
            .iter()
            .zip(hash.mgf1(h, masked_db.len()))
            .map(|(masked, mask)| masked ^ mask)
            .collect();
        if let Some(first) = db.first_mut() {
            *first &= kept;
        }
        // Steps 10–11: DB = zeros || 0x01 || salt, the salt hLen bytes long.
        let (zeros, rest) = db.split_at_checked(db.len().checked_sub(h_len + 1)?)?;
        let (&one, salt) = rest.split_first()?;
        if one != 0x01 || zeros.iter().any(|&byte| byte != 0) {
            return None;
        }
        // Steps 12–14: H = Hash(0x00 × 8 || mHash || salt).
        (hash.digest(&[&[0; 8], &m_hash, salt]) == h).then_some(())
    }

    /// RSAVP1 (§5.2.2) with the length check of §8.1.2 and §8.2.2 step 1:
    /// `s^e mod n` as k big-endian bytes, or `None` when the signature is not
    /// k bytes long or not below n.
    fn encoded_message(&self, signature: &[u8]) -> Option<Vec<u8>> {
        let k = self.bits.div_ceil(8);
        if signature.len() != k {
            return None;
        }
        let s = limbs(signature);
        if cmp(&s, &self.n) != Ordering::Less {
            return None;
        }
        Some(be_bytes(&self.pow(&s), k))
    }

    /// `s^e mod n`, for `s < n` with as many limbs as n.
    fn pow(&self, s: &[u32]) -> Vec<u32> {
        let base = self.mul(s, &self.r2);
        let mut acc = base.clone();
        // The bits of e after its top one (e ≥ 3, so there is one at least).
        for index in (0..self.e.checked_ilog2().unwrap_or(0)).rev() {
            acc = self.mul(&acc, &acc);
            if (self.e >> index) & 1 == 1 {
                acc = self.mul(&acc, &base);
            }
        }
        self.mul(&acc, &one(self.n.len()))
    }

    /// `2a mod n`, for `a < n`.
    fn double(&self, mut a: Vec<u32>) -> Vec<u32> {
        let mut carry = 0;
        for limb in &mut a {
            let out = *limb >> 31;
            *limb = *limb << 1 | carry;
            carry = out;
        }
        // With a carry the true value is above 2^(32·limbs) > n, and the
        // difference taken mod 2^(32·limbs) is right.
        if carry == 1 || cmp(&a, &self.n) != Ordering::Less {
            sub_assign(&mut a, &self.n);
        }
        a
    }

    /// `a·b/R mod n` (CIOS Montgomery multiplication), for `a, b < n` with as
    /// many limbs as n.
    fn mul(&self, a: &[u32], b: &[u32]) -> Vec<u32> {
        let mut t = vec![0; self.n.len()];
        // The limb above t. Between rounds t < 2n, so it is 0 or 1; within a
        // round it stays below 2^34.
        let mut high = 0u64;
        for &word in b {
            high += mul_add(&mut t, a, word);
            // Add the multiple of n that clears the low limb, then drop it.
            let q = t.first().copied().unwrap_or(0).wrapping_mul(self.n_inv);
            high += mul_add(&mut t, &self.n, q);
            t.remove(0);
            t.push(low(high));
            high >>= 32;
        }
        if high != 0 || cmp(&t, &self.n) != Ordering::Less {
            sub_assign(&mut t, &self.n);
        }
        t
    }
}

/// The number 1 in `len` limbs.
fn one(len: usize) -> Vec<u32> {
    let mut one = vec![0; len];
    if let Some(low) = one.first_mut() {
        *low = 1;
    }
    one
}

/// Bits of a big-endian number, leading zero bytes ignored (0 for zero): a
/// modulus must have [`MIN_BITS`]`..=`[`MAX_BITS`] of them.
fn bit_length(n: &[u8]) -> usize {
    let n = strip_zeros(n);
    n.first().map_or(0, |top| {
        8 * n.len() - usize::try_from(top.leading_zeros()).unwrap_or_default()
    })
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|&&byte| byte == 0).count();
    bytes.get(zeros..).unwrap_or_default()
}

/// Big-endian bytes as limbs, least significant first.
fn limbs(bytes: &[u8]) -> Vec<u32> {
    bytes
        .rchunks(4)
        .map(|chunk| {
            chunk
                .iter()
                .fold(0, |acc, &byte| acc << 8 | u32::from(byte))
        })
        .collect()
}

/// The low `len` bytes of a number, big-endian.
fn be_bytes(limbs: &[u32], len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = limbs
        .iter()
        .flat_map(|limb| limb.to_le_bytes())
        .take(len)
        .collect();
    bytes.reverse();
    bytes
}

/// Compares numbers with the same number of limbs.
fn cmp(a: &[u32], b: &[u32]) -> Ordering {
    a.iter().rev().cmp(b.iter().rev())
}

/// `a −= b` modulo 2^(32·limbs).
fn sub_assign(a: &mut [u32], b: &[u32]) {
    let mut borrow = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (diff, under) = x.overflowing_sub(y);
        let (diff, under_again) = diff.overflowing_sub(u32::from(borrow));
        *x = diff;
        borrow = under || under_again;
    }
}

/// `t += a · word`, returning the carry limb.
fn mul_add(t: &mut [u32], a: &[u32], word: u32) -> u64 {
    let mut carry = 0u64;
    for (limb, &x) in t.iter_mut().zip(a) {
        // At most (2^32 − 1) + (2^32 − 1)² + (2^32 − 1) = 2^64 − 1.
        let wide = u64::from(*limb) + u64::from(x) * u64::from(word) + carry;
        *limb = low(wide);
        carry = wide >> 32;
    }
    carry
}

#[expect(clippy::cast_possible_truncation, reason = "keeps the low word")]
fn low(wide: u64) -> u32 {
    wide as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// A key over any odd modulus, without [`RsaKey::new`]'s size rules, so
    /// the arithmetic can be checked against `u128` on small numbers.
    fn small_key(n: u64, e: u64) -> RsaKey {
        let bits = 64 - usize::try_from(n.leading_zeros()).unwrap();
        RsaKey::with_modulus(limbs(&n.to_be_bytes()), e, bits)
    }

    /// A `bits`-bit odd number: top bit and low bit set.
    fn odd_modulus(bits: usize) -> Vec<u8> {
        let mut n = vec![0x5a; bits.div_ceil(8)];
        n[0] = 1 << ((bits + 7) % 8);
        *n.last_mut().unwrap() |= 1;
        n
    }

    fn pow_u128(base: u64, mut e: u64, n: u64) -> u64 {
        let (n, mut base, mut acc) = (u128::from(n), u128::from(base), 1u128);
        base %= n;
        while e > 0 {
            if e & 1 == 1 {
                acc = acc * base % n;
            }
            base = base * base % n;
            e >>= 1;
        }
        u64::try_from(acc).unwrap()
    }

    #[test]
    fn pow_matches_u128_arithmetic() {
        // A small deterministic generator (xorshift64*).
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        for round in 0..2000 {
            // Odd moduli of every size up to 64 bits, including 2^64 − 1.
            let n = match round {
                0 => u64::MAX,
                1 => (1 << 63) + 1,
                _ => (next() >> (round % 62)) | 1,
            };
            if n < 3 {
                continue;
            }
            let key = small_key(n, (next() >> (round % 31 + 30)) | 3);
            let s = next() % n;
            let got = key.pow(&limbs(&s.to_be_bytes()));
            let want = pow_u128(s, key.e, n);
            assert_eq!(got, limbs(&want.to_be_bytes()), "{s}^{} mod {n}", key.e);
        }
    }

    #[test]
    fn big_endian_round_trip() {
        let bytes: Vec<u8> = (1..=11).collect();
        let limbs = limbs(&bytes);
        assert_eq!(limbs, [0x0809_0a0b, 0x0405_0607, 0x0001_0203]);
        assert_eq!(be_bytes(&limbs, 11), bytes);
        assert_eq!(be_bytes(&limbs, 12)[..2], [0, 1]);
        assert_eq!(cmp(&[1, 2], &[2, 1]), Ordering::Greater);
        assert_eq!(cmp(&[2, 1], &[1, 2]), Ordering::Less);
    }

    #[test]
    fn key_size_rules() {
        for bits in [MIN_BITS, 3072, 4096, MAX_BITS] {
            let key = RsaKey::new(&odd_modulus(bits), &[1, 0, 1]).unwrap();
            assert_eq!(key.bits(), bits);
        }
        for bits in [1024, MIN_BITS - 1, MAX_BITS + 1, 16384] {
            assert!(
                RsaKey::new(&odd_modulus(bits), &[1, 0, 1]).err()
                    == Some(KeyRejected::ModulusSize(bits)),
                "{bits}"
            );
        }
        // Leading zero bytes do not count.
        let mut padded = vec![0, 0];
        padded.extend(odd_modulus(MIN_BITS));
        assert_eq!(RsaKey::new(&padded, &[3]).unwrap().bits(), MIN_BITS);
        let mut padded = vec![0];
        padded.extend(odd_modulus(MAX_BITS + 1));
        assert_eq!(
            RsaKey::new(&padded, &[3]).err(),
            Some(KeyRejected::ModulusSize(MAX_BITS + 1))
        );
        // Even, empty and zero moduli.
        let mut even = odd_modulus(MIN_BITS);
        *even.last_mut().unwrap() ^= 1;
        assert_eq!(
            RsaKey::new(&even, &[3]).err(),
            Some(KeyRejected::EvenModulus)
        );
        assert_eq!(
            RsaKey::new(&[], &[3]).err(),
            Some(KeyRejected::ModulusSize(0))
        );
        assert_eq!(
            RsaKey::new(&[0; 256], &[3]).err(),
            Some(KeyRejected::ModulusSize(0))
        );
    }

    #[test]
    fn exponent_rules() {
        let n = odd_modulus(MIN_BITS);
        let accepted: [&[u8]; 6] = [
            &[3],
            &[1, 0, 1],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1],
            &[1, 0xff, 0xff, 0xff, 0xff],
            &[0, 1, 0xff, 0xff, 0xff, 0xff],
            &[0xff, 0xff, 0xff, 0xff],
        ];
        for e in accepted {
            assert!(RsaKey::new(&n, e).is_ok(), "{e:?}");
        }
        let refused: [&[u8]; 9] = [
            &[],
            &[0],
            &[1],
            &[2],
            &[0, 4],
            &[1, 0, 0],
            &[2, 0, 0, 0, 1],
            &[1, 0, 0, 0, 0, 0, 0, 0, 1],
            &[0xff; 8],
        ];
        for e in refused {
            assert!(RsaKey::new(&n, e).is_err(), "{e:?}");
        }
    }

    #[test]
    fn digest_info_prefixes_are_rfc_8017s() {
        // RFC 8017 §9.2 note 1, as printed there.
        let hex = |h: Hash| crate::crypto::hex(&h.digest_info_prefix());
        assert_eq!(hex(Hash::Sha256), "3031300d060960864801650304020105000420");
        assert_eq!(hex(Hash::Sha384), "3041300d060960864801650304020205000430");
        assert_eq!(hex(Hash::Sha512), "3051300d060960864801650304020305000440");
    }

    #[test]
    fn mgf1_counts_from_zero() {
        let mask = Hash::Sha256.mgf1(b"seed", 40);
        assert_eq!(mask[..32], Sha256::digest(b"seed\0\0\0\0")[..]);
        assert_eq!(mask[32..], Sha256::digest(b"seed\0\0\0\x01")[..8]);
    }
}
