//! ID tokens through `oidc::id_token::verify`, against a JWKS of the fixed
//! test keys (`tests/keys`: RSA for RS256 and PS256, P-256, P-384, Ed25519).
//!
//! Input: one byte picks the mode, the rest drives it —
//! 0 a token string as given; 1 and 2 byte mutations (set, insert, delete,
//! flip, truncate, a signature character replaced) of a valid token, or of a
//! token the test keys signed with a defect (wrong issuer, audience, `azp`,
//! nonce, expired, issued in the future, no `iat`/`exp`/`sub`, doubled
//! members, `crit`, HS256 keyed with the public key, `alg: none`); 3 parts
//! of several tokens spliced; 4 a header and claims (JSON text, separated by
//! a NUL) that the harness signs with the Ed25519 test key.
//!
//! Properties, beyond "never panics":
//! - modes 0–3: a token verifies if and only if it is exactly one of the
//!   valid tokens minted for this issuer, client and nonce, and then its
//!   claims are the ones minted — no mutation, splice or defect verifies
//!   (a token given whole in mode 0 may also be one the RSA test key signed
//!   elsewhere, as the seeds are: then the `rsa` crate must agree on the
//!   signature, and the claims must pass an independent OIDC check);
//! - mode 4 (the signature is good): the token verifies only if its claims
//!   meet OIDC Core §3.1.3.7 by an independent check — `iss` is the issuer,
//!   every `aud` (and `azp`) is this client, the nonce matches, `exp` is in
//!   the future and `iat` is not (within the skew), `sub` is a non-empty
//!   string, no member is given twice — and the claims returned are the
//!   claims signed.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use tinyauth_wasm::document::{self, Object};
use tinyauth_wasm::oidc::id_token::{verify, Expectations};
use tinyauth_wasm::oidc::jwks::Jwks;
use tinyauth_wasm_fuzz::common::idp::{jwks, raw_token, TestKey};
use tinyauth_wasm_fuzz::{acceptable_claims, signed_by_test_rsa_key, NOW};

const ISSUER: &str = "https://id.example.com";
const CLIENT: &str = "tinyauth";
const NONCE: &str = "n-0123456789abcdefghijklmnopqrstuvwxyzABCDE";
const SKEW: u64 = 60;

fn expect() -> Expectations<'static> {
    Expectations {
        issuer: ISSUER,
        client_id: CLIENT,
        nonce: Some(NONCE),
        now: NOW,
        skew: SKEW,
    }
}

struct Fixture {
    jwks: Jwks,
    ed25519: TestKey,
    /// Each valid token with its claims.
    valid: Vec<(String, Value)>,
    /// Tokens the test keys signed that must be refused.
    defective: Vec<String>,
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": [CLIENT], "sub": "a11ce", "exp": NOW + 3600, "iat": NOW,
           "nonce": NONCE, "email": "alice@example.com", "groups": ["admins"]})
}

fn with(key: &str, value: Value) -> Value {
    let mut claims = claims();
    claims[key] = value;
    claims
}

fn without(key: &str) -> Value {
    let mut claims = claims();
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let keys = [
            TestKey::load("rsa-a.pem", "rs256", "RS256"),
            TestKey::load("rsa-b.pem", "ps256", "PS256"),
            TestKey::load("p256.pem", "es256", "ES256"),
            TestKey::load("p384.pem", "es384", "ES384"),
            TestKey::load("ed25519.pem", "eddsa", "EdDSA"),
        ];
        let set = Jwks::parse(
            jwks(&keys.iter().collect::<Vec<_>>())
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(set.keys.len(), keys.len(), "{:?}", set.skipped);
        let mut valid: Vec<(String, Value)> =
            keys.iter().map(|k| (k.mint(&claims()), claims())).collect();
        // No kid: the only ES384 key is used.
        let es384 = &keys[3];
        valid.push((
            es384.mint_with_header(&json!({"alg": "ES384"}), &claims()),
            claims(),
        ));
        let aud_string = with("aud", json!(CLIENT));
        valid.push((keys[4].mint(&aud_string), aud_string));
        let rsa = &keys[0];
        let mut defective: Vec<String> = [
            with("iss", json!("https://evil.example.com")),
            with("iss", json!(format!("{ISSUER}/"))),
            with("aud", json!(["other"])),
            with("aud", json!([CLIENT, "other"])),
            with("aud", json!([])),
            with("azp", json!("other")),
            with("nonce", json!("n-other")),
            with("exp", json!(NOW - SKEW - 1)),
            with("exp", json!("soon")),
            with("iat", json!(NOW + SKEW + 10)),
            with("sub", json!("")),
            with("sub", json!(5)),
            without("iat"),
            without("exp"),
            without("sub"),
            without("nonce"),
            without("aud"),
        ]
        .iter()
        .flat_map(|claims| [rsa.mint(claims), keys[4].mint(claims)])
        .collect();
        let payload = claims().to_string();
        let doubled_sub = payload.replacen('{', "{\"sub\":\"admin\",", 1);
        defective.push(rsa.mint_text(
            &json!({"alg": "RS256", "kid": "rs256"}).to_string(),
            &doubled_sub,
        ));
        defective.push(rsa.mint_text(r#"{"alg":"RS256","kid":"rs256","kid":"ps256"}"#, &payload));
        defective.push(rsa.mint_with_header(
            &json!({"alg": "RS256", "kid": "rs256", "crit": ["exp"]}),
            &claims(),
        ));
        defective.push(rsa.mint_with_header(&json!({"alg": "RS256", "kid": "es256"}), &claims()));
        defective.push(rsa.mint_with_header(&json!({"alg": "RS256", "kid": "unknown"}), &claims()));
        // RS256 key, PS256 header: the key is pinned to its algorithm.
        defective.push(rsa.mint_with_header(&json!({"alg": "PS256", "kid": "rs256"}), &claims()));
        defective.push(raw_token(&json!({"alg": "none"}), &claims(), b""));
        defective.push(raw_token(
            &json!({"alg": "HS256", "kid": "rs256"}),
            &claims(),
            &[0u8; 32],
        ));
        for token in &defective {
            assert!(
                verify(token, &set, &expect()).is_err(),
                "defective token verifies"
            );
        }
        for (token, _) in &valid {
            verify(token, &set, &expect()).expect("a valid token verifies");
        }
        Fixture {
            jwks: set,
            ed25519: TestKey::load("ed25519.pem", "eddsa", "EdDSA"),
            valid,
            defective,
        }
    })
}

/// Applies mutations, four bytes each: op, position (two bytes), value.
fn mutate(token: &str, ops: &[u8]) -> Option<String> {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = token.as_bytes().to_vec();
    for op in ops.chunks_exact(4) {
        let at = |len: usize| usize::from(u16::from_le_bytes([op[1], op[2]])) % len.max(1);
        let value = op[3];
        match op[0] % 7 {
            0 if !bytes.is_empty() => {
                let i = at(bytes.len());
                bytes[i] = value;
            }
            1 => {
                let i = at(bytes.len() + 1);
                bytes.insert(i, value);
            }
            2 if !bytes.is_empty() => {
                let i = at(bytes.len());
                bytes.remove(i);
            }
            3 if !bytes.is_empty() => {
                let i = at(bytes.len());
                bytes[i] ^= 1 << (value % 8);
            }
            4 => bytes.truncate(at(bytes.len() + 1)),
            // A base64url character of the signature (its last ones carry
            // the padding bits).
            5 if !bytes.is_empty() => {
                let back = usize::from(op[1] % 4);
                let i = bytes.len().saturating_sub(1 + back);
                bytes[i] = B64[usize::from(value % 64)];
            }
            6 if !bytes.is_empty() => {
                let i = at(bytes.len());
                bytes[i] = B64[usize::from(value % 64)];
            }
            _ => {}
        }
    }
    String::from_utf8(bytes).ok()
}

/// Refused unless it is one of the valid tokens, which verify as minted —
/// or (an input of its own, such as the seed corpus's tokens signed with
/// openssl) a token the RSA test key signed, checked apart from the filter,
/// whose claims OIDC accepts.
fn only_valid_verify(token: &str) {
    let fixture = fixture();
    let outcome = verify(token, &fixture.jwks, &expect());
    match fixture.valid.iter().find(|(valid, _)| valid == token) {
        Some((_, claims)) => {
            let verified = outcome.expect("a valid token is refused");
            assert_eq!(&Value::Object(verified), claims);
        }
        None => {
            if let Ok(claims) = outcome {
                let signed = signed_by_test_rsa_key(token)
                    .expect("a token that no test key signed verifies");
                assert_eq!(
                    claims, signed,
                    "the claims returned are not the claims signed"
                );
                assert!(
                    acceptable(&claims),
                    "claims that OIDC refuses verify: {claims:?}"
                );
            }
        }
    }
}

fn acceptable(claims: &Object) -> bool {
    acceptable_claims(claims, ISSUER, CLIENT, NONCE, NOW, SKEW)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    match mode % 5 {
        0 => only_valid_verify(&String::from_utf8_lossy(rest)),
        1 | 2 => {
            let Some((&pick, ops)) = rest.split_first() else {
                return;
            };
            let pool: Vec<&str> = if mode % 5 == 1 {
                fixture.valid.iter().map(|(t, _)| t.as_str()).collect()
            } else {
                fixture.defective.iter().map(String::as_str).collect()
            };
            let base = pool[usize::from(pick) % pool.len()];
            if let Some(token) = mutate(base, ops) {
                only_valid_verify(&token);
            }
        }
        3 => {
            // Header, claims and signature from three tokens, then mutations.
            let [a, b, c, ops @ ..] = rest else {
                return;
            };
            let all: Vec<&str> = fixture
                .valid
                .iter()
                .map(|(t, _)| t.as_str())
                .chain(fixture.defective.iter().map(String::as_str))
                .collect();
            let part = |pick: u8, n: usize| {
                all[usize::from(pick) % all.len()]
                    .split('.')
                    .nth(n)
                    .unwrap_or_default()
                    .to_owned()
            };
            let spliced = format!("{}.{}.{}", part(*a, 0), part(*b, 1), part(*c, 2));
            if let Some(token) = mutate(&spliced, ops) {
                only_valid_verify(&token);
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            let (header, payload) = text
                .split_once('\0')
                .unwrap_or((r#"{"alg":"EdDSA","kid":"eddsa"}"#, &text));
            let token = fixture.ed25519.mint_text(header, payload);
            if let Ok(claims) = verify(&token, &fixture.jwks, &expect()) {
                let signed = document::object(payload.as_bytes())
                    .expect("verified claims are a JSON object with unique members");
                assert!(
                    document::object(header.as_bytes()).is_ok(),
                    "a header with doubled members verifies: {header:?}"
                );
                assert_eq!(
                    claims, signed,
                    "the claims returned are not the claims signed"
                );
                assert!(
                    acceptable(&claims),
                    "claims that OIDC refuses verify: {payload:?}"
                );
            }
        }
    }
});
