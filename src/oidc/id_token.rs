//! ID-token verification (OIDC Core §3.1.3.7), done once per login at the
//! callback. `jwt-simple` checks the compact JWS, the signature with the key
//! the header's `alg` and `kid` select, `crit`, `typ`, `iss`, `aud`, `nonce`,
//! `exp` and `iat` with the clock skew. On top of that, and on the claims read
//! again with duplicate member names refused: every `aud` entry and `azp` must
//! be this client, `exp` and `iat` must be present, and `sub` must be set.

use std::collections::HashSet;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_simple::algorithms::{
    ECDSAP256PublicKeyLike, ECDSAP384PublicKeyLike, EdDSAPublicKeyLike, RSAPublicKeyLike,
};
use jwt_simple::claims::{JWTClaims, NoCustomClaims};
use jwt_simple::common::VerificationOptions;
use jwt_simple::prelude::{Duration, UnixTimeStamp};
use jwt_simple::token::Token;
use jwt_simple::JWTError;
use serde_json::Value;

use crate::document::{self, Object};
use crate::oidc::jwks::{Jwks, VerifyingKey, ALLOWED_ALGS};
use crate::oidc::messages::printable;

/// Longer tokens are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What the token must say, besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The login's nonce; `None` for an ID token from a refresh, which
    /// OpenID Connect lets omit it (§12.2).
    pub nonce: Option<&'a str>,
    pub now: u64,
    /// Allowed clock difference, in seconds, for `exp` and `iat`.
    pub skew: u64,
}

/// Why an ID token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    Malformed(&'static str),
    /// `alg` is `none`, an HMAC algorithm, or unknown.
    DisallowedAlg(String),
    /// The header names a `kid` the key set does not have.
    UnknownKeyId(String),
    /// No `kid` and several keys could verify it.
    AmbiguousKey,
    NoMatchingKey,
    BadSignature,
    InvalidIssuer,
    InvalidAudience,
    InvalidAuthorizedParty,
    Expired,
    MissingIssuedAt,
    IssuedInTheFuture,
    InvalidNonce,
    MissingSubject,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed ID token: {what}"),
            Self::DisallowedAlg(alg) => write!(f, "ID token alg `{alg}` is not allowed"),
            Self::UnknownKeyId(kid) => write!(f, "ID token kid `{kid}` is not in the JWKS"),
            Self::AmbiguousKey => {
                f.write_str("ID token has no kid and the JWKS has several keys for its alg")
            }
            Self::NoMatchingKey => f.write_str("no key in the JWKS fits the ID token's alg"),
            Self::BadSignature => f.write_str("ID token signature does not verify"),
            Self::InvalidIssuer => f.write_str("ID token iss does not match the provider's issuer"),
            Self::InvalidAudience => f.write_str("ID token aud is not this client"),
            Self::InvalidAuthorizedParty => f.write_str("ID token azp is not this client"),
            Self::Expired => f.write_str("ID token has expired (or has no exp)"),
            Self::MissingIssuedAt => f.write_str("ID token has no iat"),
            Self::IssuedInTheFuture => f.write_str("ID token iat is in the future"),
            Self::InvalidNonce => f.write_str("ID token nonce does not match this login"),
            Self::MissingSubject => f.write_str("ID token has no sub"),
        }
    }
}

/// Verifies `token` and returns its claims.
pub fn verify(token: &str, jwks: &Jwks, expect: &Expectations<'_>) -> Result<Object, Rejected> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Rejected::Malformed("longer than 16 KiB"));
    }
    let (alg, kid) = header(token)?;
    if !ALLOWED_ALGS.contains(&alg.as_str()) {
        return Err(Rejected::DisallowedAlg(printable(&alg, 16)));
    }
    let candidates: Vec<&VerifyingKey> = jwks.candidates(&alg, kid.as_deref()).collect();
    let verified = match (candidates.as_slice(), &kid) {
        ([only], _) => check_with(only, token, expect),
        ([], Some(kid)) if !jwks.has_kid(kid) => {
            return Err(Rejected::UnknownKeyId(printable(kid, 64)))
        }
        ([], _) => return Err(Rejected::NoMatchingKey),
        (_, None) => return Err(Rejected::AmbiguousKey),
        // Two keys share a kid: try each (a provider mid-rotation may do this).
        (several, Some(_)) => several
            .iter()
            .map(|key| check_with(key, token, expect))
            .find(|outcome| *outcome != Err(Rejected::BadSignature))
            .unwrap_or(Err(Rejected::BadSignature)),
    };
    match verified {
        // jwt-simple could not read the (signed) claims: say which claim is
        // wrong where our own reading can tell.
        Err(Rejected::Malformed(PAYLOAD_NOT_JSON)) => {
            check_claims(token, expect).and(Err(Rejected::Malformed(PAYLOAD_NOT_JSON)))
        }
        Err(rejected) => Err(rejected),
        Ok(()) => check_claims(token, expect),
    }
}

const PAYLOAD_NOT_JSON: &str = "payload is not base64url JSON";

/// The header's `alg` and `kid`, read by `jwt-simple` (unverified, to pick
/// the key) after our own duplicate-member check on the header.
fn header(token: &str) -> Result<(String, Option<String>), Rejected> {
    let header_part = token.split('.').next().unwrap_or_default();
    URL_SAFE_NO_PAD
        .decode(header_part)
        .ok()
        .and_then(|bytes| document::object(&bytes).ok())
        .ok_or(Rejected::Malformed("header is not base64url JSON"))?;
    let metadata =
        Token::decode_metadata(token).map_err(|_| Rejected::Malformed("header is unreadable"))?;
    Ok((
        metadata.algorithm().to_owned(),
        metadata.key_id().map(str::to_owned),
    ))
}

/// The signature and the claims `jwt-simple` checks.
fn check_with(key: &VerifyingKey, token: &str, expect: &Expectations<'_>) -> Result<(), Rejected> {
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from([expect.issuer.to_owned()])),
        allowed_audiences: Some(HashSet::from([expect.client_id.to_owned()])),
        required_nonce: expect.nonce.map(str::to_owned),
        time_tolerance: Some(Duration::from_secs(expect.skew)),
        artificial_time: Some(UnixTimeStamp::from_secs(expect.now)),
        max_token_length: Some(MAX_TOKEN_BYTES),
        ..VerificationOptions::default()
    };
    let result: Result<JWTClaims<NoCustomClaims>, jwt_simple::Error> = match key {
        VerifyingKey::Rs256(key) => key.verify_token(token, Some(options)),
        VerifyingKey::Rs384(key) => key.verify_token(token, Some(options)),
        VerifyingKey::Rs512(key) => key.verify_token(token, Some(options)),
        VerifyingKey::Ps256(key) => key.verify_token(token, Some(options)),
        VerifyingKey::Ps384(key) => key.verify_token(token, Some(options)),
        VerifyingKey::Ps512(key) => key.verify_token(token, Some(options)),
        VerifyingKey::Es256(key) => key.verify_token(token, Some(options)),
        VerifyingKey::Es384(key) => key.verify_token(token, Some(options)),
        VerifyingKey::EdDsa(key) => key.verify_token(token, Some(options)),
    };
    result.map(|_| ()).map_err(|err| rejection(&err))
}

fn rejection(err: &jwt_simple::Error) -> Rejected {
    match err.downcast_ref::<JWTError>() {
        Some(JWTError::InvalidSignature) => Rejected::BadSignature,
        Some(JWTError::RequiredIssuerMismatch | JWTError::RequiredIssuerMissing) => {
            Rejected::InvalidIssuer
        }
        Some(JWTError::RequiredAudienceMismatch | JWTError::RequiredAudienceMissing) => {
            Rejected::InvalidAudience
        }
        Some(JWTError::RequiredNonceMismatch | JWTError::RequiredNonceMissing) => {
            Rejected::InvalidNonce
        }
        Some(JWTError::TokenHasExpired) => Rejected::Expired,
        Some(JWTError::ClockDrift | JWTError::TokenNotValidYet) => Rejected::IssuedInTheFuture,
        Some(JWTError::UnknownCriticalExtension) => {
            Rejected::Malformed("header has crit extensions")
        }
        Some(JWTError::NotJWT) => Rejected::Malformed("typ is not JWT"),
        Some(JWTError::TokenTooLong) => Rejected::Malformed("longer than 16 KiB"),
        // A signature part that is not base64url, or no signature at all, is
        // a signature that does not verify.
        Some(JWTError::CompactEncodingError) => {
            Rejected::Malformed("not three dot-separated parts")
        }
        _ if err.is::<serde_json::Error>() => Rejected::Malformed(PAYLOAD_NOT_JSON),
        _ => Rejected::BadSignature,
    }
}

/// The checks `jwt-simple` leaves to the relying party, on the claims read
/// with duplicate member names refused.
fn check_claims(token: &str, expect: &Expectations<'_>) -> Result<Object, Rejected> {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let claims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| document::object(&bytes).ok())
        .ok_or(Rejected::Malformed(PAYLOAD_NOT_JSON))?;
    // Every audience must be this client: OIDC Core says to reject tokens that
    // name audiences the client does not trust.
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expect.client_id,
        Some(Value::Array(auds)) => {
            !auds.is_empty()
                && auds
                    .iter()
                    .all(|aud| aud.as_str() == Some(expect.client_id))
        }
        _ => false,
    };
    if !audience_ok {
        return Err(Rejected::InvalidAudience);
    }
    if let Some(azp) = claims.get("azp") {
        if azp.as_str() != Some(expect.client_id) {
            return Err(Rejected::InvalidAuthorizedParty);
        }
    }
    if !claims.get("exp").is_some_and(Value::is_number) {
        return Err(Rejected::Expired);
    }
    if !claims.get("iat").is_some_and(Value::is_number) {
        return Err(Rejected::MissingIssuedAt);
    }
    if claims
        .get("sub")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(Rejected::MissingSubject);
    }
    Ok(claims)
}
