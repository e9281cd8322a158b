//! Verify-only ECDSA on NIST P-256 and P-384 (FIPS 186-4 §6.4, SEC 1 §4.1.4),
//! for ES256 and ES384 ID-token signatures: public-key import with its checks,
//! and verification of a raw `r || s` signature over a digest the caller made.
//!
//! It runs once per login on public data, so it is written for small code, not
//! speed, and it is not constant time: it must never sign or hold a secret.
//! One Montgomery arithmetic serves both curves and both moduli (the field
//! prime p and the group order n): numbers are 384-bit arrays, and each
//! modulus works on as many 32-bit words as it has (8 for P-256, 12 for
//! P-384), the rest staying zero.

use crate::montgomery::neg_inverse;

/// 32-bit limbs, least significant first; twelve hold 384 bits. WebAssembly
/// multiplies 64-bit numbers natively but has no 128-bit product.
const LIMBS: usize = 12;

type Num = [u32; LIMBS];

/// A curve the verifier knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

/// Domain parameters, as the big-endian 32-bit words FIPS 186-4 App. D.1.2
/// prints them (a = −3 on both curves).
struct Params {
    /// Bytes of a coordinate, of a scalar and of the digest (SHA-256 for
    /// P-256, SHA-384 for P-384).
    size: usize,
    p: &'static [u32],
    n: &'static [u32],
    b: &'static [u32],
    gx: &'static [u32],
    gy: &'static [u32],
}

/// FIPS 186-4 D.1.2.3.
const P256: Params = Params {
    size: 32,
    p: &[
        0xFFFF_FFFF,
        0x0000_0001,
        0x0000_0000,
        0x0000_0000,
        0x0000_0000,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
    ],
    n: &[
        0xFFFF_FFFF,
        0x0000_0000,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xBCE6_FAAD,
        0xA717_9E84,
        0xF3B9_CAC2,
        0xFC63_2551,
    ],
    b: &[
        0x5AC6_35D8,
        0xAA3A_93E7,
        0xB3EB_BD55,
        0x7698_86BC,
        0x651D_06B0,
        0xCC53_B0F6,
        0x3BCE_3C3E,
        0x27D2_604B,
    ],
    gx: &[
        0x6B17_D1F2,
        0xE12C_4247,
        0xF8BC_E6E5,
        0x63A4_40F2,
        0x7703_7D81,
        0x2DEB_33A0,
        0xF4A1_3945,
        0xD898_C296,
    ],
    gy: &[
        0x4FE3_42E2,
        0xFE1A_7F9B,
        0x8EE7_EB4A,
        0x7C0F_9E16,
        0x2BCE_3357,
        0x6B31_5ECE,
        0xCBB6_4068,
        0x37BF_51F5,
    ],
};

/// FIPS 186-4 D.1.2.4.
const P384: Params = Params {
    size: 48,
    p: &[
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFE,
        0xFFFF_FFFF,
        0x0000_0000,
        0x0000_0000,
        0xFFFF_FFFF,
    ],
    n: &[
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xC763_4D81,
        0xF437_2DDF,
        0x581A_0DB2,
        0x48B0_A77A,
        0xECEC_196A,
        0xCCC5_2973,
    ],
    b: &[
        0xB331_2FA7,
        0xE23E_E7E4,
        0x988E_056B,
        0xE3F8_2D19,
        0x181D_9C6E,
        0xFE81_4112,
        0x0314_088F,
        0x5013_875A,
        0xC656_398D,
        0x8A2E_D19D,
        0x2A85_C8ED,
        0xD3EC_2AEF,
    ],
    gx: &[
        0xAA87_CA22,
        0xBE8B_0537,
        0x8EB1_C71E,
        0xF320_AD74,
        0x6E1D_3B62,
        0x8BA7_9B98,
        0x59F7_41E0,
        0x8254_2A38,
        0x5502_F25D,
        0xBF55_296C,
        0x3A54_5E38,
        0x7276_0AB7,
    ],
    gy: &[
        0x3617_DE4A,
        0x9626_2C6F,
        0x5D9E_98BF,
        0x9292_DC29,
        0xF8F4_1DBD,
        0x289A_147C,
        0xE9DA_3113,
        0xB5F0_B8C0,
        0x0A60_B1CE,
        0x1D7E_819D,
        0x7A43_1D7C,
        0x90EA_0E5F,
    ],
};

impl Curve {
    fn params(self) -> &'static Params {
        match self {
            Self::P256 => &P256,
            Self::P384 => &P384,
        }
    }

    /// Bytes of a coordinate, of the digest, and of each of `r` and `s`.
    pub fn size(self) -> usize {
        self.params().size
    }
}

/// A validated public key: an affine point on the curve, other than the point
/// at infinity (which has no affine form). Both curves have prime order, so
/// every such point generates the whole group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    curve: Curve,
    x: Num,
    y: Num,
}

impl VerifyingKey {
    /// The key with big-endian coordinates `x` and `y` of exactly
    /// [`Curve::size`] bytes each, or `None` if a coordinate has another
    /// length, is not below p, or the point is not on the curve.
    pub fn from_affine(curve: Curve, x: &[u8], y: &[u8]) -> Option<Self> {
        let params = curve.params();
        if x.len() != params.size || y.len() != params.size {
            return None;
        }
        let (x, y) = (from_bytes(x), from_bytes(y));
        let field = Modulus::new(params.p);
        if !less(&x, &field.m) || !less(&y, &field.m) {
            return None;
        }
        let (xm, ym) = (field.to_mont(&x), field.to_mont(&y));
        // y² = x³ − 3x + b
        let x3 = field.mul(&field.mul(&xm, &xm), &xm);
        let three_x = field.add(&field.add(&xm, &xm), &xm);
        let rhs = field.add(&field.sub(&x3, &three_x), &field.to_mont(&num(params.b)));
        (field.mul(&ym, &ym) == rhs).then_some(Self { curve, x, y })
    }

    /// The curve the key is a point of.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// Whether `signature` (`r || s`, each [`Curve::size`] bytes, as JWS
    /// carries it) signs `digest`, which must be exactly [`Curve::size`] bytes
    /// (the hash the curve pairs with). Both `s` and `n − s` verify, as in
    /// FIPS 186-4 and JOSE; `r` and `s` outside `[1, n − 1]` never do.
    #[expect(
        clippy::many_single_char_names,
        reason = "the names of FIPS 186-4 §6.4.2"
    )]
    pub fn verify_prehashed(&self, digest: &[u8], signature: &[u8]) -> bool {
        let params = self.curve.params();
        let size = params.size;
        if digest.len() != size || signature.len() != 2 * size {
            return false;
        }
        let (r, s) = signature.split_at(size);
        let (r, s) = (from_bytes(r), from_bytes(s));
        let order = Modulus::new(params.n);
        let in_range = |v: &Num| !is_zero(v) && less(v, &order.m);
        if !in_range(&r) || !in_range(&s) {
            return false;
        }
        // The digest is as long as n, and n > 2^(8·size − 1), so e < 2n.
        let e = order.reduce_once(&from_bytes(digest));
        // w = s⁻¹ in Montgomery form; the products with plain e and r are then
        // plain u1 = e·w and u2 = r·w.
        let w = order.invert(&order.to_mont(&s));
        let u1 = order.mul(&e, &w);
        let u2 = order.mul(&r, &w);

        let field = Modulus::new(params.p);
        let g = Point::affine(&field, &num(params.gx), &num(params.gy));
        let q = Point::affine(&field, &self.x, &self.y);
        let sum = field.lincomb(&g, &u1, &q, &u2, 8 * size);
        if is_zero(&sum.z) {
            return false;
        }
        let z_inv = field.invert(&sum.z);
        let x = field.to_plain(&field.mul(&sum.x, &field.mul(&z_inv, &z_inv)));
        // x < p < 2n, so one subtraction reduces it mod n.
        order.reduce_once(&x) == r
    }
}

/// A number from big-endian bytes (at most 48; the caller checks lengths).
fn from_bytes(bytes: &[u8]) -> Num {
    let mut out = [0; LIMBS];
    for (limb, chunk) in out.iter_mut().zip(bytes.rchunks(4)) {
        *limb = chunk
            .iter()
            .fold(0, |acc, &byte| acc << 8 | u32::from(byte));
    }
    out
}

/// A number from big-endian 32-bit words (at most twelve).
fn num(words: &[u32]) -> Num {
    let mut out = [0; LIMBS];
    for (limb, word) in out.iter_mut().zip(words.iter().rev()) {
        *limb = *word;
    }
    out
}

/// `a + b` and whether it carried out of 384 bits.
fn add(a: &Num, b: &Num) -> (Num, bool) {
    let mut out = [0; LIMBS];
    let mut carry = false;
    for ((limb, x), y) in out.iter_mut().zip(a).zip(b) {
        let (sum, c1) = x.overflowing_add(*y);
        let (sum, c2) = sum.overflowing_add(u32::from(carry));
        *limb = sum;
        carry = c1 || c2;
    }
    (out, carry)
}

/// `a − b` (mod 2^384) and whether it borrowed, that is whether `a < b`.
fn sub(a: &Num, b: &Num) -> (Num, bool) {
    let mut out = [0; LIMBS];
    let mut borrow = false;
    for ((limb, x), y) in out.iter_mut().zip(a).zip(b) {
        let (diff, b1) = x.overflowing_sub(*y);
        let (diff, b2) = diff.overflowing_sub(u32::from(borrow));
        *limb = diff;
        borrow = b1 || b2;
    }
    (out, borrow)
}

fn less(a: &Num, b: &Num) -> bool {
    sub(a, b).1
}

fn is_zero(a: &Num) -> bool {
    a.iter().all(|&limb| limb == 0)
}

fn bit(a: &Num, index: usize) -> bool {
    a.get(index / 32)
        .is_some_and(|limb| (limb >> (index % 32)) & 1 == 1)
}

#[expect(clippy::cast_possible_truncation, reason = "keeps the low word")]
fn low(wide: u64) -> u32 {
    wide as u32
}

/// Arithmetic modulo an odd `m` of `limbs` words. [`Modulus::mul`] is
/// Montgomery multiplication (`a·b/R mod m`, R = 2^(32·limbs)), so products
/// and powers work on numbers in Montgomery form (`a·R mod m`); sums and
/// differences work in either form. Every result is fully reduced, so equal
/// residues are equal arrays.
struct Modulus {
    m: Num,
    limbs: usize,
    /// −m⁻¹ mod 2^32.
    m_inv: u32,
    /// R² mod m, which [`Modulus::to_mont`] multiplies by.
    r2: Num,
}

impl Modulus {
    fn new(words: &[u32]) -> Self {
        let m = num(words);
        let mut this = Self {
            m,
            limbs: words.len(),
            m_inv: neg_inverse(m.first().copied().unwrap_or(1)),
            r2: [0; LIMBS],
        };
        // R² = 2^(64·limbs) mod m, by doubling 1.
        let mut r2 = num(&[1]);
        for _ in 0..64 * this.limbs {
            r2 = this.add(&r2, &r2);
        }
        this.r2 = r2;
        this
    }

    /// `a` mod m, for `a < 2m`.
    fn reduce_once(&self, a: &Num) -> Num {
        let (diff, borrow) = sub(a, &self.m);
        if borrow {
            *a
        } else {
            diff
        }
    }

    fn add(&self, a: &Num, b: &Num) -> Num {
        let (sum, carry) = add(a, b);
        let (diff, borrow) = sub(&sum, &self.m);
        // With a carry the true sum is above 2^384 > m, and `diff` (mod 2^384)
        // is right.
        if carry || !borrow {
            diff
        } else {
            sum
        }
    }

    fn sub(&self, a: &Num, b: &Num) -> Num {
        let (diff, borrow) = sub(a, b);
        if borrow {
            add(&diff, &self.m).0
        } else {
            diff
        }
    }

    /// `a·b/R mod m` (Montgomery multiplication, in the CIOS order of Koç,
    /// Acar and Kaliski 1996), for `a·b < m·R`: it suffices that one factor
    /// is below m and the other below R.
    #[expect(
        clippy::indexing_slicing,
        reason = "indices stay below `limbs` + 2 ≤ 14 on arrays of 12 and 14 words; \
                  plain indexing keeps the unoptimised test build fast"
    )]
    #[expect(clippy::many_single_char_names, reason = "the algorithm's names")]
    fn mul(&self, a: &Num, b: &Num) -> Num {
        let n = self.limbs;
        // Words n and n + 1 hold the overflow of the running sum.
        let mut t = [0u32; LIMBS + 2];
        for word in b.iter().take(n) {
            let word = u64::from(*word);
            let mut carry = 0;
            for index in 0..n {
                // At most (2^32 − 1) + (2^32 − 1)² + (2^32 − 1) = 2^64 − 1.
                let wide = u64::from(t[index]) + u64::from(a[index]) * word + carry;
                t[index] = low(wide);
                carry = wide >> 32;
            }
            let wide = u64::from(t[n]) + carry;
            t[n] = low(wide);
            t[n + 1] = low(wide >> 32);
            // Add the multiple of m that clears word 0, then drop that word.
            let q = u64::from(t[0].wrapping_mul(self.m_inv));
            let mut carry = (u64::from(t[0]) + q * u64::from(self.m[0])) >> 32;
            for index in 1..n {
                let wide = u64::from(t[index]) + q * u64::from(self.m[index]) + carry;
                t[index - 1] = low(wide);
                carry = wide >> 32;
            }
            let wide = u64::from(t[n]) + carry;
            t[n - 1] = low(wide);
            t[n] = t[n + 1] + low(wide >> 32);
        }
        // t < 2m here; word n is past `Num` for P-384, where the subtraction
        // below wraps to the right result.
        let high = t[n];
        let mut out = [0; LIMBS];
        out.copy_from_slice(&t[..LIMBS]);
        let (diff, borrow) = sub(&out, &self.m);
        if high != 0 || !borrow {
            diff
        } else {
            out
        }
    }

    fn to_mont(&self, a: &Num) -> Num {
        self.mul(a, &self.r2)
    }

    fn to_plain(&self, a: &Num) -> Num {
        self.mul(a, &num(&[1]))
    }

    /// `a⁻¹` by Fermat (`a^(m−2)`, m prime), in Montgomery form; 0 for 0.
    fn invert(&self, a: &Num) -> Num {
        let exponent = sub(&self.m, &num(&[2])).0;
        let mut acc = self.to_mont(&num(&[1]));
        for index in (0..32 * self.limbs).rev() {
            acc = self.mul(&acc, &acc);
            if bit(&exponent, index) {
                acc = self.mul(&acc, a);
            }
        }
        acc
    }

    /// `2·p` in Jacobian coordinates with a = −3 (dbl-2001-b, Bernstein and
    /// Lange's Explicit-Formulas Database). The point at infinity (z = 0)
    /// stays there.
    #[expect(clippy::many_single_char_names, reason = "the formulas' names")]
    fn double(&self, p: &Point) -> Point {
        let delta = self.mul(&p.z, &p.z);
        let gamma = self.mul(&p.y, &p.y);
        let beta = self.mul(&p.x, &gamma);
        let t = self.mul(&self.sub(&p.x, &delta), &self.add(&p.x, &delta));
        let alpha = self.add(&self.add(&t, &t), &t);
        let beta2 = self.add(&beta, &beta);
        let beta4 = self.add(&beta2, &beta2);
        let beta8 = self.add(&beta4, &beta4);
        let x = self.sub(&self.mul(&alpha, &alpha), &beta8);
        let y_plus_z = self.add(&p.y, &p.z);
        let z = self.sub(&self.sub(&self.mul(&y_plus_z, &y_plus_z), &gamma), &delta);
        let gamma_sq = self.mul(&gamma, &gamma);
        let gamma_sq2 = self.add(&gamma_sq, &gamma_sq);
        let gamma_sq4 = self.add(&gamma_sq2, &gamma_sq2);
        let gamma_sq8 = self.add(&gamma_sq4, &gamma_sq4);
        let y = self.sub(&self.mul(&alpha, &self.sub(&beta4, &x)), &gamma_sq8);
        Point { x, y, z }
    }

    /// `p + q` in Jacobian coordinates (add-1998-cmo-2), with the special
    /// cases: either operand at infinity, `p = q` and `p = −q`.
    #[expect(clippy::many_single_char_names, reason = "the formulas' names")]
    fn add_points(&self, p: &Point, q: &Point) -> Point {
        if is_zero(&p.z) {
            return *q;
        }
        if is_zero(&q.z) {
            return *p;
        }
        let z1z1 = self.mul(&p.z, &p.z);
        let z2z2 = self.mul(&q.z, &q.z);
        let u1 = self.mul(&p.x, &z2z2);
        let u2 = self.mul(&q.x, &z1z1);
        let s1 = self.mul(&p.y, &self.mul(&q.z, &z2z2));
        let s2 = self.mul(&q.y, &self.mul(&p.z, &z1z1));
        let h = self.sub(&u2, &u1);
        let r = self.sub(&s2, &s1);
        if is_zero(&h) {
            return if is_zero(&r) {
                self.double(p)
            } else {
                Point::INFINITY
            };
        }
        let hh = self.mul(&h, &h);
        let hhh = self.mul(&h, &hh);
        let v = self.mul(&u1, &hh);
        let x = self.sub(&self.sub(&self.mul(&r, &r), &hhh), &self.add(&v, &v));
        let y = self.sub(&self.mul(&r, &self.sub(&v, &x)), &self.mul(&s1, &hhh));
        let z = self.mul(&self.mul(&p.z, &q.z), &h);
        Point { x, y, z }
    }

    /// `a·p + b·q` for scalars of at most `bits` bits, with Shamir's trick
    /// (one shared chain of doublings).
    fn lincomb(&self, p: &Point, a: &Num, q: &Point, b: &Num, bits: usize) -> Point {
        let both = self.add_points(p, q);
        let mut acc = Point::INFINITY;
        for index in (0..bits).rev() {
            acc = self.double(&acc);
            let addend = match (bit(a, index), bit(b, index)) {
                (true, true) => &both,
                (true, false) => p,
                (false, true) => q,
                (false, false) => continue,
            };
            acc = self.add_points(&acc, addend);
        }
        acc
    }
}

/// A point in Jacobian coordinates (x/z², y/z³), in Montgomery form over the
/// field; z = 0 is the point at infinity.
#[derive(Clone, Copy)]
struct Point {
    x: Num,
    y: Num,
    z: Num,
}

impl Point {
    const INFINITY: Self = Self {
        x: [0; LIMBS],
        y: [0; LIMBS],
        z: [0; LIMBS],
    };

    /// The point `(x, y)`, plain coordinates below p.
    fn affine(field: &Modulus, x: &Num, y: &Num) -> Self {
        Self {
            x: field.to_mont(x),
            y: field.to_mont(y),
            z: field.to_mont(&num(&[1])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affine(field: &Modulus, p: &Point) -> Option<(Num, Num)> {
        if is_zero(&p.z) {
            return None;
        }
        let z_inv = field.invert(&p.z);
        let z2 = field.mul(&z_inv, &z_inv);
        let z3 = field.mul(&z2, &z_inv);
        Some((
            field.to_plain(&field.mul(&p.x, &z2)),
            field.to_plain(&field.mul(&p.y, &z3)),
        ))
    }

    #[test]
    fn montgomery_round_trip_and_inverse() {
        for curve in [Curve::P256, Curve::P384] {
            let params = curve.params();
            for words in [params.p, params.n] {
                let modulus = Modulus::new(words);
                for value in [num(&[1]), num(&[2]), num(&[0xdead_beef, 7]), num(params.gx)] {
                    let value = modulus.reduce_once(&value);
                    let mont = modulus.to_mont(&value);
                    assert_eq!(modulus.to_plain(&mont), value);
                    let inverse = modulus.invert(&mont);
                    assert_eq!(modulus.to_plain(&modulus.mul(&mont, &inverse)), num(&[1]));
                }
                assert_eq!(modulus.invert(&[0; LIMBS]), [0; LIMBS]);
            }
        }
    }

    #[test]
    fn generator_is_on_the_curve_and_has_order_n() {
        for curve in [Curve::P256, Curve::P384] {
            let params = curve.params();
            let field = Modulus::new(params.p);
            let g = Point::affine(&field, &num(params.gx), &num(params.gy));
            let n = num(params.n);
            let bits = 8 * params.size;
            assert!(is_zero(&field.lincomb(&g, &n, &g, &[0; LIMBS], bits).z));
            // (n − 1)·G = −G, and (n − 1)·G + 1·G goes through p = −q.
            let n_minus_1 = sub(&n, &num(&[1])).0;
            let minus_g = affine(
                &field,
                &field.lincomb(&g, &n_minus_1, &g, &[0; LIMBS], bits),
            );
            let neg_gy = sub(&num(params.p), &num(params.gy)).0;
            assert_eq!(minus_g, Some((num(params.gx), neg_gy)));
            assert!(is_zero(
                &field.lincomb(&g, &n_minus_1, &g, &num(&[1]), bits).z
            ));
            // 2·G by doubling equals G + G by addition, and 3·G = G + 2·G.
            let two_g = field.double(&g);
            assert_eq!(
                affine(&field, &two_g),
                affine(&field, &field.add_points(&g, &g))
            );
            assert_eq!(
                affine(&field, &field.add_points(&g, &two_g)),
                affine(
                    &field,
                    &field.lincomb(&g, &num(&[3]), &g, &[0; LIMBS], bits)
                ),
            );
            let gx = from_bytes(&words_to_bytes(params.gx));
            assert_eq!(gx, num(params.gx));
            assert!(VerifyingKey::from_affine(
                curve,
                &words_to_bytes(params.gx),
                &words_to_bytes(params.gy)
            )
            .is_some());
        }
    }

    fn words_to_bytes(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|word| word.to_be_bytes()).collect()
    }
}
