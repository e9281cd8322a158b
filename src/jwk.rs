//! JSON Web Key Sets (RFC 7517): the provider's public keys, parsed once per
//! fetch into ready-to-use verifying keys. Entries the filter cannot use
//! (encryption keys, unknown key types or curves, malformed or weak keys) are
//! skipped with a note, never fatal — one odd key must not stop every login.

use std::fmt;

use crate::base64::decode_url;
use crate::ecdsa::{self, Curve};
use crate::ed25519;
use crate::json::Json;

use crate::rsa_verify::RsaKey;

/// A verifying key.
#[derive(Clone)]
pub enum PublicKey {
    Rsa(RsaKey),
    /// P-256 or P-384: the curve is inside.
    Ec(ecdsa::VerifyingKey),
    /// Boxed: the decoded point is far larger than the other variants.
    Ed25519(Box<ed25519::VerifyingKey>),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rsa(_) => "PublicKey::Rsa",
            Self::Ec(key) => match key.curve() {
                Curve::P256 => "PublicKey::Ec(P-256)",
                Curve::P384 => "PublicKey::Ec(P-384)",
            },
            Self::Ed25519(_) => "PublicKey::Ed25519",
        })
    }
}

/// One usable key of a set.
#[derive(Debug, Clone)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The `alg` the provider pinned to this key, if any.
    pub alg: Option<String>,
    pub key: PublicKey,
}

/// A parsed key set, plus what was skipped (for the log).
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
    pub skipped: Vec<String>,
}

/// The document is not a key set at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAKeySet;

impl fmt::Display for NotAKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a JSON Web Key Set (no `keys` array)")
    }
}

/// The members of a JWK the filter reads (RFC 7517 §4, RFC 7518 §6).
struct RawKey {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    use_: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl RawKey {
    /// `None` unless `value` is an object whose members used here are strings.
    fn read(value: &Json) -> Option<Self> {
        let object = value.as_object()?;
        let text = |name: &str| object.string(name).ok();
        Some(Self {
            kty: text("kty")?,
            kid: text("kid")?,
            alg: text("alg")?,
            use_: text("use")?,
            crv: text("crv")?,
            n: text("n")?,
            e: text("e")?,
            x: text("x")?,
            y: text("y")?,
        })
    }
}

impl Jwks {
    pub fn parse(body: &[u8]) -> Result<Self, NotAKeySet> {
        let document = Json::parse(body).map_err(|_| NotAKeySet)?;
        let keys = document
            .get("keys")
            .and_then(Json::as_array)
            .ok_or(NotAKeySet)?;
        let mut jwks = Self::default();
        for (index, value) in keys.iter().enumerate() {
            let label = |raw: &RawKey| {
                raw.kid.as_deref().map_or_else(
                    || format!("#{index}"),
                    |kid| crate::oidc::printable(kid, 64),
                )
            };
            match RawKey::read(value) {
                None => jwks.skipped.push(format!("#{index}: not a JWK object")),
                Some(raw) => match parse_key(&raw) {
                    Ok(key) => jwks.keys.push(Jwk {
                        kid: raw.kid.clone(),
                        alg: raw.alg.clone(),
                        key,
                    }),
                    Err(why) => jwks.skipped.push(format!("{}: {why}", label(&raw))),
                },
            }
        }
        Ok(jwks)
    }

    /// The keys that may verify a token signed with `alg` and the given `kid`.
    pub fn candidates<'a>(
        &'a self,
        alg: &'a str,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Jwk> {
        self.keys.iter().filter(move |jwk| {
            kid.is_none_or(|kid| jwk.kid.as_deref() == Some(kid))
                && jwk.alg.as_deref().is_none_or(|pinned| pinned == alg)
                && key_fits(&jwk.key, alg)
        })
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|jwk| jwk.kid.as_deref() == Some(kid))
    }
}

/// Whether a key type can verify `alg`.
fn key_fits(key: &PublicKey, alg: &str) -> bool {
    match key {
        PublicKey::Rsa(_) => matches!(
            alg,
            "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512"
        ),
        PublicKey::Ec(key) => matches!(
            (key.curve(), alg),
            (Curve::P256, "ES256") | (Curve::P384, "ES384")
        ),
        PublicKey::Ed25519(_) => alg == "EdDSA",
    }
}

fn field(value: Option<&String>, name: &str) -> Result<Vec<u8>, String> {
    let text = value.ok_or_else(|| format!("missing `{name}`"))?;
    decode_url(text).ok_or_else(|| format!("`{name}` is not base64url"))
}

#[inline(never)]
fn parse_key(raw: &RawKey) -> Result<PublicKey, String> {
    if let Some(use_) = raw.use_.as_deref() {
        if use_ != "sig" {
            return Err(format!(
                "use `{}` is not sig",
                crate::oidc::printable(use_, 16)
            ));
        }
    }
    match (raw.kty.as_deref(), raw.crv.as_deref()) {
        (Some("RSA"), _) => {
            let n = field(raw.n.as_ref(), "n")?;
            let e = field(raw.e.as_ref(), "e")?;
            RsaKey::new(&n, &e)
                .map(PublicKey::Rsa)
                .map_err(|rejected| rejected.to_string())
        }
        (Some("EC"), Some("P-256")) => ec_key(raw, Curve::P256, "P-256"),
        (Some("EC"), Some("P-384")) => ec_key(raw, Curve::P384, "P-384"),
        (Some("OKP"), Some("Ed25519")) => {
            let x: [u8; 32] = field(raw.x.as_ref(), "x")?
                .try_into()
                .map_err(|_| "Ed25519 `x` is not 32 bytes".to_owned())?;
            // Small-order and non-canonical keys are refused here; no
            // signature could verify under them with strict verification.
            ed25519::VerifyingKey::from_bytes(&x)
                .map(|key| PublicKey::Ed25519(Box::new(key)))
                .ok_or_else(|| "invalid Ed25519 key".to_owned())
        }
        (kty, crv) => Err(format!(
            "unsupported key type {}{}",
            crate::oidc::printable(kty.unwrap_or("(none)"), 16),
            crv.map(|c| format!("/{}", crate::oidc::printable(c, 16)))
                .unwrap_or_default()
        )),
    }
}

/// An EC key from `x` and `y`, each exactly the curve's size in bytes.
#[inline(never)]
fn ec_key(raw: &RawKey, curve: Curve, name: &str) -> Result<PublicKey, String> {
    let x = field(raw.x.as_ref(), "x")?;
    let y = field(raw.y.as_ref(), "y")?;
    let size = curve.size();
    if x.len() != size || y.len() != size {
        return Err(format!("EC coordinates are not {size} bytes"));
    }
    ecdsa::VerifyingKey::from_affine(curve, &x, &y)
        .map(PublicKey::Ec)
        .ok_or_else(|| format!("invalid {name} point"))
}
