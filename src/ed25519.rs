//! Verify-only Ed25519 (RFC 8032 §5.1.7), for `EdDSA` ID-token signatures:
//! public-key import with its checks, and verification of a 64-byte
//! signature over a message.
//!
//! It runs once per login on public data, so it is written for small code, not
//! speed, and it is not constant time: it must never sign or hold a secret.
//! Field elements are sixteen signed 16-bit limbs (as in `TweetNaCl`), whose
//! products fit WebAssembly's native 64-bit multiply; points use extended
//! twisted-Edwards coordinates and one complete addition formula, which also
//! doubles; scalars are reduced mod L by shift-and-subtract.
//!
//! The verdicts are those of `ed25519_dalek::VerifyingKey::verify_strict`,
//! which this replaced: S must be below L, neither A nor R may have small
//! order, R must be the canonical encoding of [S]B − [k]A with
//! k = SHA-512(R ‖ A ‖ M) mod L (the cofactorless equation), and A must be
//! canonical (see [`VerifyingKey::from_bytes`]).

/// An element of GF(2^255 − 19): limb `i` weighs 2^(16·i). Limbs may be
/// negative or exceed 16 bits between operations; [`mul`] and [`to_bytes`]
/// carry them back.
type Fe = [i64; 16];

const ONE: Fe = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// d = −121665/121666, the curve constant.
const D: Fe = [
    0x78a3, 0x1359, 0x4dca, 0x75eb, 0xd8ab, 0x4141, 0x0a4d, 0x0070, 0xe898, 0x7779, 0x4079, 0x8cc7,
    0xfe73, 0x2b6f, 0x6cee, 0x5203,
];

/// 2·d, for the addition formula.
const D2: Fe = [
    0xf159, 0x26b2, 0x9b94, 0xebd6, 0xb156, 0x8283, 0x149a, 0x00e0, 0xd130, 0xeef3, 0x80f2, 0x198e,
    0xfce7, 0x56df, 0xd9dc, 0x2406,
];

/// A square root of −1: 2^((p − 1)/4).
const SQRT_M1: Fe = [
    0xa0b0, 0x4a0e, 0x1b27, 0xc4ee, 0xe478, 0xad2f, 0x1806, 0x2f43, 0xd7a7, 0x3dfb, 0x0099, 0x2b4d,
    0xdf0b, 0x4fc1, 0x2480, 0x2b83,
];

/// p = 2^255 − 19 in the same limbs, every one below 2^16.
const P: Fe = [
    0xffed, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
    0xffff, 0xffff, 0xffff, 0x7fff,
];

/// The base point B (RFC 8032 §5.1): y = 4/5 and x even.
const BASE_X: Fe = [
    0xd51a, 0x8f25, 0x2d60, 0xc956, 0xa7b2, 0x9525, 0xc760, 0x692c, 0xdc5c, 0xfdd6, 0xe231, 0xc0a4,
    0x53fe, 0xcd6e, 0x36d3, 0x2169,
];
const BASE_Y: Fe = [
    0x6658, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666, 0x6666,
    0x6666, 0x6666, 0x6666, 0x6666,
];

/// The group order L = 2^252 + 27742317777372353535851937790883648493, as
/// 32-bit words, least significant first.
const L: Scalar = [
    0x5cf5_d3ed,
    0x5812_631a,
    0xa2f7_9cd6,
    0x14de_f9de,
    0,
    0,
    0,
    0x1000_0000,
];

/// A number below 2^256 in 32-bit words, least significant first.
type Scalar = [u32; 8];

/// A validated public key: the canonical encoding of a curve point that does
/// not have small order, and that point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    encoding: [u8; 32],
    /// −A, which verification adds.
    minus_a: Point,
}

impl VerifyingKey {
    /// The key encoded by `bytes` (RFC 8032 §5.1.2), or `None` if it is not
    /// a canonical encoding of a curve point (y ≥ p, or x = 0 with the sign
    /// bit set), or the point has small order (order 1, 2, 4 or 8).
    ///
    /// `ed25519_dalek::VerifyingKey::from_bytes` accepts all of these except
    /// the non-points, but its `verify_strict` then rejects every signature
    /// under a small-order key. A non-canonical key that is not of small
    /// order (y ≥ p decoding to y − p) is accepted there, and a signature
    /// under it would need its discrete logarithm, which nobody knows; this
    /// refuses it up front.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        let point = decompress(bytes)?;
        if is_small_order(&point) {
            return None;
        }
        Some(Self {
            encoding: *bytes,
            minus_a: point.negate(),
        })
    }

    /// The key's 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.encoding
    }

    /// Whether `signature` (`R ‖ S`, RFC 8032 §5.1.6) signs `message` under
    /// this key, with the checks of `ed25519_dalek`'s `verify_strict`: S must
    /// be below L, R must be the canonical encoding of [S]B − [k]A and must
    /// not have small order.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let (r, s) = signature.split_at(32);
        let s = scalar(s);
        if !sub(&s, &L).1 {
            return false;
        }
        let hash = crate::sha::sha512_parts(&[r, &self.encoding, message]);
        let k = reduce(&hash);
        let base = Point::base();
        let both = base.add(&self.minus_a);
        // [S]B + [k](−A), most significant bit first (both are below 2^253),
        // adding B, −A or B − A for each pair of bits.
        let mut sum = Point::IDENTITY;
        for index in (0..253).rev() {
            sum = sum.add(&sum);
            let term = match (bit(&s, index), bit(&k, index)) {
                (true, true) => &both,
                (true, false) => &base,
                (false, true) => &self.minus_a,
                (false, false) => continue,
            };
            sum = sum.add(term);
        }
        // Equal encodings make R canonical and equal to the sum, so checking
        // the sum's order checks R's.
        sum.encode().as_slice() == r && !is_small_order(&sum)
    }
}

/// A point (X : Y : Z : T) in extended coordinates: x = X/Z, y = Y/Z,
/// x·y = T/Z.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Point {
    x: Fe,
    y: Fe,
    z: Fe,
    t: Fe,
}

impl Point {
    const IDENTITY: Self = Self {
        x: [0; 16],
        y: ONE,
        z: ONE,
        t: [0; 16],
    };

    fn base() -> Self {
        Self {
            x: BASE_X,
            y: BASE_Y,
            z: ONE,
            t: mul(&BASE_X, &BASE_Y),
        }
    }

    /// `self + other` by add-2008-hwcd-3, complete on this curve (a = −1, d
    /// not a square), so it also doubles and adds the identity.
    #[expect(
        clippy::many_single_char_names,
        reason = "the names of add-2008-hwcd-3"
    )]
    fn add(&self, other: &Self) -> Self {
        let a = mul(&sub_fe(&self.y, &self.x), &sub_fe(&other.y, &other.x));
        let b = mul(&add_fe(&self.y, &self.x), &add_fe(&other.y, &other.x));
        let c = mul(&mul(&self.t, &other.t), &D2);
        let d = mul(&self.z, &add_fe(&other.z, &other.z));
        let (e, f, g, h) = (
            sub_fe(&b, &a),
            sub_fe(&d, &c),
            add_fe(&d, &c),
            add_fe(&b, &a),
        );
        Self {
            x: mul(&e, &f),
            y: mul(&g, &h),
            z: mul(&f, &g),
            t: mul(&e, &h),
        }
    }

    fn negate(&self) -> Self {
        Self {
            x: sub_fe(&[0; 16], &self.x),
            y: self.y,
            z: self.z,
            t: sub_fe(&[0; 16], &self.t),
        }
    }

    /// The canonical encoding (RFC 8032 §5.1.2): y, with x's parity in the
    /// top bit.
    fn encode(&self) -> [u8; 32] {
        let z_inv = invert(&self.z);
        let mut out = to_bytes(&mul(&self.y, &z_inv));
        let x_odd = to_bytes(&mul(&self.x, &z_inv))[0] & 1;
        if let Some(last) = out.last_mut() {
            *last |= x_odd << 7;
        }
        out
    }
}

/// Whether [8]P is the identity, that is whether P has order 1, 2, 4 or 8.
fn is_small_order(point: &Point) -> bool {
    let mut q = point.add(point);
    q = q.add(&q);
    q = q.add(&q);
    // The identity is (0 : Z : Z : 0); X = 0 alone also holds for (0, −1),
    // so compare Y with Z too.
    is_zero(&q.x) && to_bytes(&q.y) == to_bytes(&q.z)
}

/// The point encoded by `bytes` (RFC 8032 §5.1.3), or `None` if the
/// encoding is not canonical or is not a point.
fn decompress(bytes: &[u8; 32]) -> Option<Point> {
    let sign = bytes.last().is_some_and(|last| last >> 7 == 1);
    let mut y_bytes = *bytes;
    if let Some(last) = y_bytes.last_mut() {
        *last &= 0x7f;
    }
    let y = from_bytes(&y_bytes);
    if to_bytes(&y) != y_bytes {
        return None;
    }
    // x² = u/v with u = y² − 1, v = d·y² + 1; candidate x = u·v³·(u·v⁷)^((p−5)/8).
    let y2 = mul(&y, &y);
    let u = sub_fe(&y2, &ONE);
    let v = add_fe(&mul(&D, &y2), &ONE);
    let v3 = mul(&mul(&v, &v), &v);
    let v7 = mul(&mul(&v3, &v3), &v);
    let mut x = mul(&mul(&u, &v3), &pow(&mul(&u, &v7), &P_MINUS_5_OVER_8));
    let vx2 = to_bytes(&mul(&v, &mul(&x, &x)));
    if vx2 == to_bytes(&sub_fe(&[0; 16], &u)) {
        x = mul(&x, &SQRT_M1);
    } else if vx2 != to_bytes(&u) {
        return None;
    }
    let x_odd = to_bytes(&x)[0] & 1 == 1;
    if x_odd != sign {
        if is_zero(&x) {
            return None;
        }
        x = sub_fe(&[0; 16], &x);
    }
    Some(Point {
        t: mul(&x, &y),
        x,
        y,
        z: ONE,
    })
}

/// (p − 5)/8 = 2^252 − 3, little-endian.
const P_MINUS_5_OVER_8: [u8; 32] = {
    let mut bytes = [0xff; 32];
    bytes[0] = 0xfd;
    bytes[31] = 0x0f;
    bytes
};

/// p − 2 = 2^255 − 21, little-endian.
const P_MINUS_2: [u8; 32] = {
    let mut bytes = [0xff; 32];
    bytes[0] = 0xeb;
    bytes[31] = 0x7f;
    bytes
};

fn add_fe(a: &Fe, b: &Fe) -> Fe {
    let mut out = *a;
    for (limb, other) in out.iter_mut().zip(b) {
        *limb += other;
    }
    out
}

fn sub_fe(a: &Fe, b: &Fe) -> Fe {
    let mut out = *a;
    for (limb, other) in out.iter_mut().zip(b) {
        *limb -= other;
    }
    out
}

fn mul(a: &Fe, b: &Fe) -> Fe {
    let mut wide = [0i64; 32];
    for (shift, x) in a.iter().enumerate() {
        if let Some(row) = wide.get_mut(shift..shift + 16) {
            for (slot, y) in row.iter_mut().zip(b) {
                *slot += x * y;
            }
        }
    }
    // 2^256 ≡ 38 (mod p).
    let (low, high) = wide.split_at(16);
    let mut out = [0; 16];
    for ((limb, lo), hi) in out.iter_mut().zip(low).zip(high) {
        *limb = lo + 38 * hi;
    }
    carry(&mut out);
    carry(&mut out);
    out
}

/// Brings limbs 1–15 into [0, 2^16), folding the carry out of limb 15 into
/// limb 0 (2^256 ≡ 38).
fn carry(a: &mut Fe) {
    let mut c = 0;
    for limb in a.iter_mut() {
        *limb += c;
        c = *limb >> 16;
        *limb -= c << 16;
    }
    if let Some(first) = a.first_mut() {
        *first += 38 * c;
    }
}

/// `a` raised to the little-endian exponent `e` (below 2^255).
fn pow(a: &Fe, e: &[u8; 32]) -> Fe {
    let mut out = ONE;
    for index in (0..255).rev() {
        out = mul(&out, &out);
        if e.get(index / 8)
            .is_some_and(|byte| byte >> (index % 8) & 1 == 1)
        {
            out = mul(&out, a);
        }
    }
    out
}

/// a^(p − 2), the inverse of a non-zero `a`; zero maps to zero.
fn invert(a: &Fe) -> Fe {
    pow(a, &P_MINUS_2)
}

fn is_zero(a: &Fe) -> bool {
    to_bytes(a) == [0; 32]
}

/// The little-endian bytes of a 255-bit number (the top bit of the last
/// byte is ignored), not reduced.
fn from_bytes(bytes: &[u8; 32]) -> Fe {
    let mut out = [0; 16];
    for (limb, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *limb = pair
            .iter()
            .rev()
            .fold(0, |acc, &byte| acc << 8 | i64::from(byte));
    }
    if let Some(last) = out.last_mut() {
        *last &= 0x7fff;
    }
    out
}

/// The canonical little-endian encoding of `a`, fully reduced below p.
fn to_bytes(a: &Fe) -> [u8; 32] {
    let mut t = *a;
    carry(&mut t);
    carry(&mut t);
    carry(&mut t);
    // Now 0 ≤ t < 2^256 < 3p: subtract p at most twice.
    for _ in 0..2 {
        let mut m = [0; 16];
        let mut borrow = 0;
        for ((out, limb), p) in m.iter_mut().zip(&t).zip(&P) {
            let diff = limb - p - borrow;
            borrow = (diff >> 16) & 1;
            *out = diff & 0xffff;
        }
        if borrow == 0 {
            t = m;
        }
    }
    let mut out = [0; 32];
    for (pair, limb) in out.chunks_exact_mut(2).zip(&t) {
        pair.copy_from_slice(&low_u16(*limb).to_le_bytes());
    }
    out
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "keeps the low 16 bits"
)]
fn low_u16(limb: i64) -> u16 {
    limb as u16
}

/// A 256-bit number from its 32 little-endian bytes (the caller checks the
/// length).
fn scalar(bytes: &[u8]) -> Scalar {
    let mut out = [0; 8];
    for (word, chunk) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *word = chunk
            .iter()
            .rev()
            .fold(0, |acc, &byte| acc << 8 | u32::from(byte));
    }
    out
}

/// `a − b` (mod 2^256) and whether it borrowed, that is whether `a < b`.
fn sub(a: &Scalar, b: &Scalar) -> (Scalar, bool) {
    let mut out = [0; 8];
    let mut borrow = false;
    for ((word, x), y) in out.iter_mut().zip(a).zip(b) {
        let (diff, b1) = x.overflowing_sub(*y);
        let (diff, b2) = diff.overflowing_sub(u32::from(borrow));
        *word = diff;
        borrow = b1 || b2;
    }
    (out, borrow)
}

/// A little-endian number of any length, reduced mod L by shift-and-subtract
/// (one bit at a time; the remainder stays below 2L < 2^254).
fn reduce(bytes: &[u8]) -> Scalar {
    let mut rem: Scalar = [0; 8];
    for byte in bytes.iter().rev() {
        for index in (0..8).rev() {
            let mut carry = u32::from(byte >> index & 1);
            for word in &mut rem {
                let next = *word >> 31;
                *word = *word << 1 | carry;
                carry = next;
            }
            let (diff, borrow) = sub(&rem, &L);
            if !borrow {
                rem = diff;
            }
        }
    }
    rem
}

fn bit(a: &Scalar, index: usize) -> bool {
    a.get(index / 32)
        .is_some_and(|word| (word >> (index % 32)) & 1 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(n: i64) -> Fe {
        let mut out = [0; 16];
        out[0] = n;
        out
    }

    #[test]
    fn constants_are_what_they_claim() {
        // d·121666 = −121665
        assert_eq!(
            to_bytes(&mul(&D, &small(121_666))),
            to_bytes(&small(-121_665))
        );
        assert_eq!(to_bytes(&D2), to_bytes(&add_fe(&D, &D)));
        assert_eq!(to_bytes(&mul(&SQRT_M1, &SQRT_M1)), to_bytes(&small(-1)));
        assert_eq!(to_bytes(&P), [0; 32]);
        let l_bytes: Vec<u8> = L.iter().flat_map(|word| word.to_le_bytes()).collect();
        assert_eq!(reduce(&l_bytes), [0; 8]);
        let mut l_plus_one = L;
        l_plus_one[0] += 1;
        let l_plus_one: Vec<u8> = l_plus_one.iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(reduce(&l_plus_one), [1, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn field_inverse_and_canonical_bytes() {
        for value in [small(2), small(-7), small(121_666), D, SQRT_M1] {
            assert_eq!(to_bytes(&mul(&value, &invert(&value))), to_bytes(&ONE));
        }
        assert!(is_zero(&invert(&P)));
        assert!(is_zero(&invert(&[0; 16])));
        // p + 1 is 1, and it is not the canonical encoding of anything.
        let mut p_plus_1 = [0xff; 32];
        p_plus_1[0] = 0xee;
        p_plus_1[31] = 0x7f;
        assert_eq!(to_bytes(&from_bytes(&p_plus_1)), to_bytes(&ONE));
    }

    #[test]
    fn base_point_has_order_l() {
        // B's encoding, RFC 8032 §5.1: 4/5 = 0x6666…6658.
        let mut encoding = [0x66; 32];
        encoding[0] = 0x58;
        let base = decompress(&encoding).unwrap();
        assert_eq!(to_bytes(&base.x), to_bytes(&BASE_X));
        assert_eq!(to_bytes(&base.t), to_bytes(&Point::base().t));
        assert_eq!(base.encode(), encoding);
        assert_eq!(to_bytes(&mul(&BASE_Y, &small(5))), to_bytes(&small(4)));
        assert!(!is_small_order(&base));
        let mut sum = Point::IDENTITY;
        for index in (0..253).rev() {
            sum = sum.add(&sum);
            if bit(&L, index) {
                sum = sum.add(&base);
            }
        }
        assert_eq!(sum.encode(), Point::IDENTITY.encode());
        assert!(is_small_order(&Point::IDENTITY));
        // B + (−B) = identity; 2B by addition is 2B.
        assert_eq!(base.add(&base.negate()).encode(), Point::IDENTITY.encode());
        assert_eq!(
            base.add(&base).encode(),
            base.add(&Point::IDENTITY).add(&base).encode()
        );
    }
}
