//! ID-token verification, with tests named after the OpenID Foundation's RP
//! certification cases, and fixed test keys (`tests/keys/`) for every
//! algorithm Pocket ID can rotate to.

// Test code fails loudly by design; the no-panic rule is for `src/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::idp::{jwks, raw_token, TestKey};
use serde_json::{json, Value};
use tinyauth_wasm::oidc::id_token::{verify, Expectations, Rejected};
use tinyauth_wasm::oidc::jwks::Jwks;

const ISSUER: &str = "https://id.example.com";
const CLIENT: &str = "tinyauth";
const NONCE: &str = "n-0123456789abcdefghijklmnopqrstuvwxyzABCDE";
const NOW: u64 = 1_800_000_000;

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": [CLIENT], "sub": "a11ce", "exp": NOW + 3600, "iat": NOW, "nonce": NONCE,
           "email": "alice@example.com", "groups": ["admins"]})
}

fn expect() -> Expectations<'static> {
    Expectations {
        issuer: ISSUER,
        client_id: CLIENT,
        nonce: Some(NONCE),
        now: NOW,
        skew: 60,
    }
}

fn keyset(keys: &[&TestKey]) -> Jwks {
    Jwks::parse(jwks(keys).to_string().as_bytes()).unwrap()
}

fn check(token: &str, keys: &Jwks) -> Result<(), Rejected> {
    verify(token, keys, &expect()).map(|_| ())
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

fn all_keys() -> Vec<TestKey> {
    vec![
        TestKey::load("rsa-a.pem", "rs256", "RS256"),
        TestKey::load("rsa-a.pem", "rs384", "RS384"),
        TestKey::load("rsa-a.pem", "rs512", "RS512"),
        TestKey::load("rsa-b.pem", "ps256", "PS256"),
        TestKey::load("rsa-b.pem", "ps384", "PS384"),
        TestKey::load("rsa-b.pem", "ps512", "PS512"),
        TestKey::load("p256.pem", "es256", "ES256"),
        TestKey::load("p384.pem", "es384", "ES384"),
        TestKey::load("ed25519.pem", "eddsa", "EdDSA"),
    ]
}

#[test]
fn rp_id_token_sig_every_allowed_algorithm() {
    let keys = all_keys();
    let set = keyset(&keys.iter().collect::<Vec<_>>());
    assert_eq!(set.keys.len(), 9, "skipped: {:?}", set.skipped);
    for key in &keys {
        let token = key.mint(&claims());
        let verified =
            verify(&token, &set, &expect()).unwrap_or_else(|e| panic!("{}: {e}", key.alg));
        assert_eq!(
            verified.get("sub").and_then(serde_json::Value::as_str),
            Some("a11ce"),
            "{}",
            key.alg
        );
    }
}

#[test]
fn rp_id_token_bad_sig_rs256() {
    let key = TestKey::rs256();
    let set = keyset(&[&key]);
    let token = key.mint(&claims());
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = signature.as_bytes().to_vec();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{input}.{}", String::from_utf8(bytes).unwrap());
    assert_eq!(check(&tampered, &set), Err(Rejected::BadSignature));
    // A payload edited after signing.
    let (header, rest) = token.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let forged_payload = raw_token(&json!({}), &with(claims(), "sub", json!("admin")), b"")
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(
        check(&format!("{header}.{forged_payload}.{sig}"), &set),
        Err(Rejected::BadSignature)
    );
}

#[test]
fn rp_id_token_bad_sig_es256_and_eddsa() {
    for key in [
        TestKey::load("p256.pem", "es", "ES256"),
        TestKey::load("ed25519.pem", "ed", "EdDSA"),
    ] {
        let set = keyset(&[&key]);
        let token = key.mint(&claims());
        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut bytes = signature.as_bytes().to_vec();
        bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
        let forged = format!("{input}.{}", String::from_utf8(bytes).unwrap());
        assert_eq!(
            check(&forged, &set),
            Err(Rejected::BadSignature),
            "{}",
            key.alg
        );
    }
}

#[test]
fn rp_id_token_sig_none() {
    let set = keyset(&[&TestKey::rs256()]);
    let token = raw_token(&json!({"alg": "none", "typ": "JWT"}), &claims(), b"");
    assert_eq!(
        check(&token, &set),
        Err(Rejected::DisallowedAlg("none".into()))
    );
    let upper = raw_token(&json!({"alg": "NONE"}), &claims(), b"");
    assert_eq!(
        check(&upper, &set),
        Err(Rejected::DisallowedAlg("NONE".into()))
    );
}

#[test]
fn rp_id_token_hs256_signed_with_the_public_key_is_refused() {
    use hmac::{Hmac, Mac};
    let key = TestKey::rs256();
    let set = keyset(&[&key]);
    // The classic confusion attack: HMAC keyed with the provider's public key.
    let public = key.jwk()["n"].as_str().unwrap().to_owned();
    let header = json!({"alg": "HS256", "kid": key.kid});
    let unsigned = raw_token(&header, &claims(), b"");
    let input = unsigned.rsplit_once('.').unwrap().0;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(public.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let token = raw_token(&header, &claims(), &mac.finalize().into_bytes());
    assert_eq!(
        check(&token, &set),
        Err(Rejected::DisallowedAlg("HS256".into()))
    );
}

#[test]
fn rp_id_token_sig_stripped() {
    let key = TestKey::rs256();
    let set = keyset(&[&key]);
    let token = key.mint(&claims());
    let stripped = format!("{}.", token.rsplit_once('.').unwrap().0);
    assert_eq!(check(&stripped, &set), Err(Rejected::BadSignature));
    let two_parts = token.rsplit_once('.').unwrap().0.to_owned();
    assert!(matches!(
        check(&two_parts, &set),
        Err(Rejected::Malformed(_))
    ));
}

#[test]
fn rp_id_token_kid_absent_single_jwks() {
    let key = TestKey::rs256();
    let set = keyset(&[&key]);
    let token = key.mint_with_header(&json!({"alg": "RS256"}), &claims());
    assert_eq!(check(&token, &set), Ok(()));
}

#[test]
fn rp_id_token_kid_absent_multiple_jwks() {
    let a = TestKey::rs256();
    let b = TestKey::load("rsa-b.pem", "key-b", "RS256");
    let set = keyset(&[&a, &b]);
    let token = a.mint_with_header(&json!({"alg": "RS256"}), &claims());
    assert_eq!(check(&token, &set), Err(Rejected::AmbiguousKey));
}

#[test]
fn rp_id_token_wrong_kid_is_unknown() {
    let key = TestKey::rs256();
    let set = keyset(&[&key]);
    let token = key.mint_with_header(&json!({"alg": "RS256", "kid": "rotated-away"}), &claims());
    assert_eq!(
        check(&token, &set),
        Err(Rejected::UnknownKeyId("rotated-away".into()))
    );
}

#[test]
fn rp_id_token_signed_by_another_key_under_a_known_kid() {
    let published = TestKey::rs256();
    let impostor = TestKey::load("rsa-b.pem", "key-a", "RS256");
    let set = keyset(&[&published]);
    assert_eq!(
        check(&impostor.mint(&claims()), &set),
        Err(Rejected::BadSignature)
    );
}

#[test]
fn rp_id_token_alg_must_fit_the_key() {
    let rsa = TestKey::rs256();
    let set = keyset(&[&rsa]);
    // An ES256 header naming the RSA key's kid.
    let ec = TestKey::load("p256.pem", "key-a", "ES256");
    assert_eq!(
        check(&ec.mint(&claims()), &set),
        Err(Rejected::NoMatchingKey)
    );
    // The JWK pins RS256; a PS256 token with the same key is refused.
    let pss = TestKey::load("rsa-a.pem", "key-a", "PS256");
    assert_eq!(
        check(&pss.mint(&claims()), &set),
        Err(Rejected::NoMatchingKey)
    );
}

/// A correctly signed token whose header or claims name a member twice is
/// refused: one reader taking the first `aud` and another the last must never
/// disagree about who the token is for.
#[test]
fn duplicate_members_in_a_signed_token_are_refused() {
    let key = TestKey::rs256();
    let set = keyset(&[&key]);
    let header = json!({"alg": key.alg, "kid": key.kid, "typ": "JWT"}).to_string();
    let payload = claims().to_string();
    assert_eq!(check(&key.mint_text(&header, &payload), &set), Ok(()));
    for duplicate in ["aud", "sub", "nonce", "iss"] {
        let doubled = payload.replacen('{', &format!("{{\"{duplicate}\":\"attacker\","), 1);
        assert_eq!(
            check(&key.mint_text(&header, &doubled), &set),
            Err(Rejected::Malformed("payload is not base64url JSON")),
            "{duplicate}"
        );
    }
    let doubled_alg = header.replacen('{', "{\"alg\":\"none\",", 1);
    assert_eq!(
        check(&key.mint_text(&doubled_alg, &payload), &set),
        Err(Rejected::Malformed("header is not base64url JSON"))
    );
}

#[test]
fn rp_id_token_aud() {
    let key = TestKey::rs256();
    let set = keyset(&[&key]);
    let ok_string = key.mint(&with(claims(), "aud", json!(CLIENT)));
    assert_eq!(
        check(&ok_string, &set),
        Ok(()),
        "aud as a string (Pocket ID ≤ 2.9)"
    );
    for aud in [
        json!("someone-else"),
        json!(["someone-else"]),
        json!([CLIENT, "another"]),
        json!([]),
        json!(5),
    ] {
        let token = key.mint(&with(claims(), "aud", aud.clone()));
        assert_eq!(check(&token, &set), Err(Rejected::InvalidAudience), "{aud}");
    }
    assert_eq!(
        check(&key.mint(&without(claims(), "aud")), &set),
        Err(Rejected::InvalidAudience)
    );
}

#[test]
fn rp_id_token_azp() {
    let key = TestKey::rs256();
    let set = keyset(&[&key]);
    assert_eq!(
        check(&key.mint(&with(claims(), "azp", json!(CLIENT))), &set),
        Ok(())
    );
    assert_eq!(
        check(&key.mint(&with(claims(), "azp", json!("other"))), &set),
        Err(Rejected::InvalidAuthorizedParty)
    );
}

#[test]
fn rp_id_token_iat() {
    let key = TestKey::rs256();
    let set = keyset(&[&key]);
    assert_eq!(
        check(&key.mint(&without(claims(), "iat")), &set),
        Err(Rejected::MissingIssuedAt)
    );
    assert_eq!(
        check(&key.mint(&with(claims(), "iat", json!(NOW + 3600))), &set),
        Err(Rejected::IssuedInTheFuture)
    );
    assert_eq!(
        check(&key.mint(&with(claims(), "iat", json!(NOW + 30))), &set),
        Ok(()),
        "within the skew"
    );
    assert_eq!(
        check(&key.mint(&with(claims(), "iat", json!("yesterday"))), &set),
        Err(Rejected::MissingIssuedAt)
    );
}

#[test]
fn rp_id_token_exp() {
    let key = TestKey::rs256();
    let set = keyset(&[&key]);
    assert_eq!(
        check(&key.mint(&with(claims(), "exp", json!(NOW - 120))), &set),
        Err(Rejected::Expired)
    );
    assert_eq!(
        check(&key.mint(&with(claims(), "exp", json!(NOW - 30))), &set),
        Ok(()),
        "within the skew"
    );
    assert_eq!(
        check(&key.mint(&without(claims(), "exp")), &set),
        Err(Rejected::Expired)
    );
}

#[test]
fn rp_nonce_invalid() {
    let key = TestKey::rs256();
    let set = keyset(&[&key]);
    assert_eq!(
        check(
            &key.mint(&with(
                claims(),
                "nonce",
                json!("replayed-from-another-login")
            )),
            &set
        ),
        Err(Rejected::InvalidNonce)
    );
    assert_eq!(
        check(&key.mint(&without(claims(), "nonce")), &set),
        Err(Rejected::InvalidNonce)
    );
}

#[test]
fn rp_id_token_issuer_mismatch() {
    let key = TestKey::rs256();
    let set = keyset(&[&key]);
    for iss in [
        json!("https://evil.example.com"),
        json!("https://id.example.com/"),
        json!(null),
    ] {
        assert_eq!(
            check(&key.mint(&with(claims(), "iss", iss.clone())), &set),
            Err(Rejected::InvalidIssuer),
            "{iss}"
        );
    }
}

#[test]
fn rp_id_token_sub() {
    let key = TestKey::rs256();
    let set = keyset(&[&key]);
    assert_eq!(
        check(&key.mint(&without(claims(), "sub")), &set),
        Err(Rejected::MissingSubject)
    );
    assert_eq!(
        check(&key.mint(&with(claims(), "sub", json!(""))), &set),
        Err(Rejected::MissingSubject)
    );
}

#[test]
fn hostile_tokens_never_panic() {
    let set = keyset(&[&TestKey::rs256()]);
    let huge = "a".repeat(20_000);
    let hostile = [
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "eyJ9.eyJ9.",
        "%%%.%%%.%%%",
        huge.as_str(),
        "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.AAAA",
    ];
    for token in hostile {
        assert!(check(token, &set).is_err(), "{token:.40}");
    }
    let crit = TestKey::rs256().mint_with_header(
        &json!({"alg": "RS256", "kid": "key-a", "crit": ["exp"]}),
        &claims(),
    );
    assert!(matches!(check(&crit, &set), Err(Rejected::Malformed(_))));
}

#[test]
fn jwks_entries_the_filter_cannot_use_are_skipped_not_fatal() {
    let good = TestKey::rs256();
    let weak = TestKey::load("rsa-weak.pem", "weak", "RS256");
    let document = json!({"keys": [
        good.jwk(),
        with(TestKey::load("rsa-b.pem", "enc", "RSA-OAEP").jwk(), "use", json!("enc")),
        weak.jwk(),
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "EC", "crv": "secp256k1", "kid": "k1", "x": "AA", "y": "AA"},
        {"kty": "RSA", "kid": "broken", "n": "%%%", "e": "AQAB"},
        {"kty": "EC", "crv": "P-256", "kid": "short", "x": "AAAA", "y": "AAAA"},
        "not an object",
    ]});
    let set = Jwks::parse(document.to_string().as_bytes()).unwrap();
    assert_eq!(set.keys.len(), 1);
    assert_eq!(set.skipped.len(), 7, "{:?}", set.skipped);
    assert!(
        set.skipped.iter().any(|s| s.contains("outside 2048")),
        "{:?}",
        set.skipped
    );
    assert_eq!(check(&good.mint(&claims()), &set), Ok(()));
    assert!(Jwks::parse(b"{\"foo\": 1}").is_err());
    assert!(Jwks::parse(b"<html>").is_err());
}
