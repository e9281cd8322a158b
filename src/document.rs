//! JSON documents (the configuration, and the provider's discovery, JWKS, token and userinfo
//! replies, ID-token claims), read with `serde_json` but refusing a member name
//! given twice at any depth: a token with two `aud` or `sub` members must not
//! be read one way here and another way elsewhere (RFC 7519 §4 allows refusing
//! it; `serde_json` alone keeps the last one).

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A JSON object as the provider sent it, member names unique.
pub type Object = Map<String, Value>;

/// Why a document was refused (for logs; never includes the document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotJson(pub String);

impl fmt::Display for NotJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses `body` as JSON with unique member names, then reads it as `T`.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, NotJson> {
    let Unique(value) = serde_json::from_slice(body).map_err(|err| NotJson(err.to_string()))?;
    T::deserialize(value).map_err(|err| NotJson(err.to_string()))
}

/// Parses `body` as a JSON object with unique member names.
pub fn object(body: &[u8]) -> Result<Object, NotJson> {
    match parse(body)? {
        Value::Object(object) => Ok(object),
        _ => Err(NotJson("not a JSON object".into())),
    }
}

/// A JSON value whose objects have unique member names.
struct Unique(Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Unique;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Unique, E> {
        Ok(Unique(Value::Bool(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Unique, E> {
        Ok(Unique(Value::from(value)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Unique, E> {
        Ok(Unique(Value::from(value)))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Unique, E> {
        Ok(Unique(Value::from(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Unique, E> {
        Ok(Unique(Value::String(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Unique, E> {
        Ok(Unique(Value::String(value)))
    }

    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Unique(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let Unique(value) = map.next_value()?;
            // Names are compared after unescaping: "a\u0075d" repeats "aud".
            if members.insert(name, value).is_some() {
                return Err(de::Error::custom("a member name is given twice"));
            }
        }
        Ok(Unique(Value::Object(members)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        assert!(object(br#"{"aud":"a","sub":"s"}"#).is_ok());
        for doubled in [
            r#"{"aud":"a","aud":"b"}"#,
            r#"{"aud":"a","a\u0075d":"b"}"#,
            r#"{"x":{"k":1,"k":2}}"#,
            r#"{"x":[{"k":1,"k":1}]}"#,
        ] {
            assert!(object(doubled.as_bytes()).is_err(), "{doubled}");
        }
    }

    #[test]
    fn only_objects_are_objects() {
        assert!(object(b"[]").is_err());
        assert!(object(b"<html>").is_err());
        assert!(object(b"").is_err());
        assert!(object(br#"{"a":1} trailing"#).is_err());
    }

    #[test]
    fn typed_reads_use_serde() {
        #[derive(Deserialize)]
        struct Doc {
            issuer: String,
        }
        let doc: Doc = parse(br#"{"issuer":"https://id","other":[1,2]}"#).unwrap();
        assert_eq!(doc.issuer, "https://id");
        assert!(parse::<Doc>(br#"{"issuer":5}"#).is_err());
    }
}
