//! JSON (RFC 8259): a strict parser into [`Json`] values and a compact writer,
//! for the configuration and the provider's documents (discovery, JWKS, token
//! and userinfo replies, ID-token header and claims).
//!
//! Hand-written instead of `serde_json`, whose generic code was a large share of
//! the module every Envoy worker compiles. Strict where it matters: duplicate
//! object keys are refused (a JWT with two `aud` or `sub` members must not be
//! read one way here and another way elsewhere — RFC 7519 §4 allows refusing
//! it), nesting depth is bounded, and invalid escapes, lone surrogates and raw
//! control characters are errors. Objects keep their members in document order.

use std::fmt::{self, Write as _};

/// Deeper nesting than this is refused (no document we read comes close, and
/// the parser recurses once per level).
const MAX_DEPTH: usize = 64;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Object),
}

/// A number, kept as its (validated) literal so integers of any size keep
/// their exact value until read as a particular type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(String);

/// An object: members in document order, names unique.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object(Vec<(String, Json)>);

/// A member has another JSON type than the one asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// Why a document is not JSON, and where (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: &'static str,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

impl Number {
    /// The value as an unsigned integer, if it is one that fits.
    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    /// The value as a signed integer, if it is one that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    /// The value if it is a whole number from 0 to `u64::MAX`, however it is
    /// written (`3600`, `3600.0`, `3.6e3`, `-0`). Decimal arithmetic, no floats:
    /// float parsing would bring its tables into the module for no gain.
    pub fn as_whole(&self) -> Option<u64> {
        let decimal = Decimal::of(&self.0);
        if decimal.digits.is_empty() {
            return Some(0);
        }
        let fraction_digits = i64::try_from(decimal.digits.len()).ok()? - decimal.point;
        if decimal.negative || fraction_digits > 0 || decimal.point > 20 {
            return None;
        }
        let mut value = decimal.digits.iter().try_fold(0u64, |value, digit| {
            value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
        })?;
        for _ in 0..-fraction_digits {
            value = value.checked_mul(10)?;
        }
        Some(value)
    }

    /// Written with a fraction or an exponent (`1.0`, `1e3`).
    pub fn is_float(&self) -> bool {
        self.0.contains(['.', 'e', 'E'])
    }
}

/// The decimal digits of 2¹⁰²⁴ − 2⁹⁷⁰, halfway between `f64::MAX` and
/// 2¹⁰²⁴, trailing zeros dropped. A literal whose magnitude reaches it rounds
/// to infinity as an `f64`.
const F64_OVERFLOW_DIGITS: &[u8] = b"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";

/// A validated number literal as `0.DIGITS × 10^point`, its significant digits
/// without leading or trailing zeros (empty for zero).
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    point: i64,
}

impl Decimal {
    /// Reads a literal the parser has already checked against JSON's grammar.
    fn of(literal: &str) -> Self {
        let (negative, rest) = match literal.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, literal),
        };
        let (mantissa, exponent) = rest.split_once(['e', 'E']).unwrap_or((rest, ""));
        let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        // The exponent saturates: anything beyond ±10¹⁵ is out of range or
        // zero anyway, and the sums below stay far from overflow.
        let (exponent_negative, exponent_digits) = match exponent.strip_prefix('-') {
            Some(digits) => (true, digits),
            None => (false, exponent.trim_start_matches('+')),
        };
        let magnitude = exponent_digits.bytes().fold(0i64, |value, digit| {
            (value * 10 + i64::from(digit - b'0')).min(1_000_000_000_000_000)
        });
        let exponent = if exponent_negative {
            -magnitude
        } else {
            magnitude
        };
        let all = [integer.as_bytes(), fraction.as_bytes()].concat();
        let leading = all.iter().take_while(|&&digit| digit == b'0').count();
        let digits = all.get(leading..).unwrap_or_default();
        let trailing = digits
            .iter()
            .rev()
            .take_while(|&&digit| digit == b'0')
            .count();
        let digits = digits
            .get(..digits.len() - trailing)
            .unwrap_or_default()
            .to_vec();
        let point = i64::try_from(integer.len()).unwrap_or(i64::MAX) + exponent
            - i64::try_from(leading).unwrap_or(0);
        Self {
            negative,
            digits,
            point,
        }
    }

    /// Whether the value's magnitude rounds to infinity as an `f64`.
    fn overflows_f64(&self) -> bool {
        // f64::MAX ≈ 0.18 × 10³⁰⁹.
        match self.point.cmp(&309) {
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Greater => !self.digits.is_empty(),
            std::cmp::Ordering::Equal => self.digits.as_slice() >= F64_OVERFLOW_DIGITS,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<u64> for Number {
    fn from(value: u64) -> Self {
        Self(value.to_string())
    }
}

impl Object {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, name: &str) -> Option<&Json> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Json> {
        self.0
            .iter_mut()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// A member that must be a string when present, copied out: `Ok(None)`
    /// when absent or `null`, `Err` when it has another type.
    pub fn string(&self, name: &str) -> Result<Option<String>, WrongType> {
        match self.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(WrongType),
        }
    }

    /// Parses a document that must be an object.
    pub fn parse(text: &[u8]) -> Option<Self> {
        match Json::parse(text) {
            Ok(Json::Object(object)) => Some(object),
            _ => None,
        }
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` (replacing an existing member in place).
    pub fn insert(&mut self, name: impl Into<String>, value: Json) {
        let name = name.into();
        match self.get_mut(&name) {
            Some(slot) => *slot = value,
            None => self.0.push((name, value)),
        }
    }

    /// The member `name` as an object, added empty if absent; `None` when it
    /// exists and is something else.
    pub fn object_member(&mut self, name: &str) -> Option<&mut Object> {
        if !self.contains_key(name) {
            self.0.push((name.to_owned(), Json::Object(Object::new())));
        }
        self.get_mut(name)?.as_object_mut()
    }

    /// Takes the member `name` out.
    pub fn remove(&mut self, name: &str) -> Option<Json> {
        let index = self.0.iter().position(|(key, _)| key == name)?;
        Some(self.0.remove(index).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Json)> {
        self.0.iter().map(|(key, value)| (key, value))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut Json)> {
        self.0.iter_mut().map(|(key, value)| (&*key, value))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(key, _)| key)
    }
}

impl<K: Into<String>> FromIterator<(K, Json)> for Object {
    fn from_iter<I: IntoIterator<Item = (K, Json)>>(iter: I) -> Self {
        let mut object = Self::new();
        for (key, value) in iter {
            object.insert(key, value);
        }
        object
    }
}

impl Json {
    /// Parses a complete document (surrounding whitespace allowed).
    pub fn parse(text: &[u8]) -> Result<Self, ParseError> {
        let mut parser = Parser { text, pos: 0 };
        parser.skip_whitespace();
        let value = parser.value(0)?;
        parser.skip_whitespace();
        if parser.pos < text.len() {
            return Err(parser.error("trailing characters"));
        }
        Ok(value)
    }

    /// An object from `(name, value)` pairs.
    pub fn object<K: Into<String>>(members: impl IntoIterator<Item = (K, Json)>) -> Self {
        Self::Object(members.into_iter().collect())
    }

    pub fn get(&self, name: &str) -> Option<&Json> {
        self.as_object()?.get(name)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Self::Number(number) => Some(number),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.as_number()?.as_u64()
    }

    pub fn as_array(&self) -> Option<&Vec<Json>> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Self::Object(object) => Some(object),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Object> {
        match self {
            Self::Object(object) => Some(object),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Self::Object(_))
    }
}

impl From<&str> for Json {
    fn from(text: &str) -> Self {
        Self::String(text.to_owned())
    }
}

impl From<String> for Json {
    fn from(text: String) -> Self {
        Self::String(text)
    }
}

impl From<bool> for Json {
    fn from(flag: bool) -> Self {
        Self::Bool(flag)
    }
}

impl From<u64> for Json {
    fn from(value: u64) -> Self {
        Self::Number(Number::from(value))
    }
}

impl From<u16> for Json {
    fn from(value: u16) -> Self {
        Self::from(u64::from(value))
    }
}

/// Compact JSON text.
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(flag) => write!(f, "{flag}"),
            Self::Number(number) => f.write_str(&number.0),
            Self::String(text) => write_string(f, text),
            Self::Array(items) => {
                f.write_char('[')?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(']')
            }
            Self::Object(object) => {
                f.write_char('{')?;
                for (index, (key, value)) in object.iter().enumerate() {
                    if index > 0 {
                        f.write_char(',')?;
                    }
                    write_string(f, key)?;
                    write!(f, ":{value}")?;
                }
                f.write_char('}')
            }
        }
    }
}

fn write_string(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: &'static str) -> ParseError {
        let before = self.text.get(..self.pos).unwrap_or(self.text);
        // Error paths only, on documents of a few KiB: a plain count is fine.
        #[allow(clippy::naive_bytecount)]
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        ParseError {
            message,
            line,
            column: self.pos - line_start + 1,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect_literal(&mut self, literal: &[u8], value: Json) -> Result<Json, ParseError> {
        if self.text.get(self.pos..self.pos + literal.len()) == Some(literal) {
            self.pos += literal.len();
            Ok(value)
        } else {
            Err(self.error("expected value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, ParseError> {
        match self.peek() {
            None => Err(self.error("EOF while parsing a value")),
            Some(b'n') => self.expect_literal(b"null", Json::Null),
            Some(b't') => self.expect_literal(b"true", Json::Bool(true)),
            Some(b'f') => self.expect_literal(b"false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => self.array(depth + 1),
            Some(b'{') => self.object(depth + 1),
            Some(_) => Err(self.error("expected value")),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.next() {
                Some(b',') => {}
                Some(b']') => return Ok(Json::Array(items)),
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        self.pos += 1; // '{'
        let mut object = Object::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(object));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("key must be a string"));
            }
            let key_start = self.pos;
            let key = self.string()?;
            if object.contains_key(&key) {
                self.pos = key_start;
                return Err(self.error("duplicate key"));
            }
            self.skip_whitespace();
            if self.next() != Some(b':') {
                return Err(self.error("expected `:`"));
            }
            self.skip_whitespace();
            let value = self.value(depth)?;
            object.0.push((key, value));
            self.skip_whitespace();
            match self.next() {
                Some(b',') => {}
                Some(b'}') => return Ok(Json::Object(object)),
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Json, ParseError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        let literal = self
            .text
            .get(start..self.pos)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .unwrap_or_default();
        // Like serde_json: a number no f64 can hold is refused, so every
        // accepted number reads as a finite f64.
        if Decimal::of(literal).overflows_f64() {
            self.pos = start;
            return Err(self.error("number out of range"));
        }
        Ok(Json::Number(Number(literal.to_owned())))
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let mut value = 0u32;
        for _ in 0..4 {
            let digit = self
                .next()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or_else(|| self.error("invalid escape"))?;
            value = value * 16 + digit;
        }
        Ok(value)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.pos += 1; // '"'
        let mut out = Vec::new();
        loop {
            let start = self.pos;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            out.extend_from_slice(self.text.get(start..self.pos).unwrap_or_default());
            match self.next() {
                Some(b'"') => break,
                Some(b'\\') => {
                    let escaped = match self.next() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape()?,
                        _ => return Err(self.error("invalid escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(escaped.encode_utf8(&mut buf).as_bytes());
                }
                Some(_) => return Err(self.error("control character in string")),
                None => return Err(self.error("EOF while parsing a string")),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("invalid UTF-8 in string"))
    }

    /// The character of a `\uXXXX` escape (the `\u` already read), joining a
    /// surrogate pair; a lone surrogate is an error.
    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.next() != Some(b'\\') || self.next() != Some(b'u') {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("lone trailing surrogate in hex escape")),
            other => other,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid escape"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Json {
        Json::parse(text.as_bytes()).unwrap()
    }

    fn refused(text: &str) -> ParseError {
        Json::parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn reads_every_kind_of_value() {
        let doc = parse(
            r#" {"s": "a\"b\\c\/\u00e9\ud83d\ude00\n", "n": -12.5e3, "i": 18446744073709551615,
                "t": true, "f": false, "z": null, "a": [1, [], {}], "o": {"k": "v"}} "#,
        );
        assert_eq!(doc.get("s").and_then(Json::as_str), Some("a\"b\\c/é😀\n"));
        let n = doc.get("n").and_then(Json::as_number);
        assert_eq!(n.map(ToString::to_string).as_deref(), Some("-12.5e3"));
        assert_eq!(n.and_then(Number::as_whole), None, "negative");
        assert_eq!(n.and_then(Number::as_i64), None);
        assert_eq!(doc.get("i").and_then(Json::as_u64), Some(u64::MAX));
        assert_eq!(doc.get("t").and_then(Json::as_bool), Some(true));
        assert_eq!(doc.get("f").and_then(Json::as_bool), Some(false));
        assert!(doc.get("z").is_some_and(Json::is_null));
        assert_eq!(doc.get("a").and_then(Json::as_array).map(Vec::len), Some(3));
        assert_eq!(
            doc.get("o").and_then(|o| o.get("k")).and_then(Json::as_str),
            Some("v")
        );
        assert!(doc.get("missing").is_none());
    }

    #[test]
    fn refuses_what_is_not_json() {
        for (text, message) in [
            ("", "EOF while parsing a value"),
            ("{", "key must be a string"),
            ("{\"a\" 1}", "expected `:`"),
            ("[1,]", "expected value"),
            ("[1 2]", "expected `,` or `]`"),
            ("{\"a\":1,}", "key must be a string"),
            ("01", "trailing characters"),
            ("1.", "invalid number"),
            ("-", "invalid number"),
            ("1e", "invalid number"),
            ("tru", "expected value"),
            ("\"abc", "EOF while parsing a string"),
            ("\"a\u{1}b\"", "control character in string"),
            ("\"\\x\"", "invalid escape"),
            ("\"\\u12\"", "invalid escape"),
            ("\"\\ud800\"", "lone leading surrogate in hex escape"),
            ("\"\\udc00\"", "lone trailing surrogate in hex escape"),
            ("{\"a\":1,\"a\":2}", "duplicate key"),
            ("{} {}", "trailing characters"),
            ("'a'", "expected value"),
            ("NaN", "expected value"),
            ("1e400", "number out of range"),
        ] {
            assert_eq!(refused(text).message, message, "{text:?}");
        }
        assert!(Json::parse(b"\"\xff\"").is_err(), "invalid UTF-8");
    }

    #[test]
    fn whole_numbers_read_exactly_however_written() {
        let whole = |text: &str| match Json::parse(text.as_bytes()) {
            Ok(Json::Number(number)) => number.as_whole(),
            other => panic!("{text}: {other:?}"),
        };
        for (text, value) in [
            ("0", Some(0)),
            ("-0", Some(0)),
            ("-0.0e5", Some(0)),
            ("3600", Some(3600)),
            ("3600.0", Some(3600)),
            ("3.6e3", Some(3600)),
            ("36E+2", Some(3600)),
            ("360000e-2", Some(3600)),
            ("0.0036e6", Some(3600)),
            ("18446744073709551615", Some(u64::MAX)),
            ("1.8446744073709551615e19", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("1e20", None),
            ("1e300", None),
            ("3600.5", None),
            ("0.5", None),
            ("1e-999999999999999999999", None),
            ("-1", None),
            ("-3600.0", None),
        ] {
            assert_eq!(whole(text), value, "{text}");
        }
    }

    /// The overflow check is decimal; `f64` parsing is the oracle, at the
    /// boundary and on random literals.
    #[test]
    fn out_of_range_exactly_where_f64_overflows() {
        let halfway = std::str::from_utf8(F64_OVERFLOW_DIGITS).unwrap();
        let (head, tail) = halfway.split_at(1);
        let mut cases = vec![
            "1.7976931348623157e308".to_owned(),
            format!("{head}.{tail}e308"),
            format!("-{head}.{tail}e308"),
            format!("{head}.{tail}0000e308"),
            format!("{head}.{}e308", tail.get(..tail.len() - 1).unwrap()),
            format!("{head}.{tail}1e308"),
            format!("0.{head}{tail}e309"),
            format!("{head}{tail}e-1"),
            "1e308".into(),
            "1e309".into(),
            "0.000e99999".into(),
            "1e-400".into(),
            "-1e400".into(),
        ];
        let mut rng = crate::testing::XorShift::new(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let digits: String = (0..=rng.below(25))
                .map(|_| char::from(b'0' + u8::try_from(rng.below(10)).unwrap()))
                .collect();
            let digits = if digits.len() > 1 {
                digits.trim_start_matches('0').to_owned()
            } else {
                digits
            };
            let digits = if digits.is_empty() {
                "0".into()
            } else {
                digits
            };
            let point = rng.below(digits.len() + 1);
            let (int, frac) = digits.split_at(point.max(1));
            let mantissa = if frac.is_empty() {
                int.to_owned()
            } else {
                format!("{int}.{frac}")
            };
            let exponent = i64::try_from(rng.below(700)).unwrap() - 350;
            cases.push(format!("{mantissa}e{exponent}"));
        }
        for literal in cases {
            let infinite = literal.parse::<f64>().unwrap().is_infinite();
            assert_eq!(Decimal::of(&literal).overflows_f64(), infinite, "{literal}");
            assert_eq!(
                Json::parse(literal.as_bytes()).is_err(),
                infinite,
                "{literal}"
            );
        }
    }

    #[test]
    fn errors_say_where() {
        let err = refused("{\n  \"a\": 1,\n  \"a\": 2\n}");
        assert_eq!((err.line, err.column), (3, 3));
        assert_eq!(err.to_string(), "duplicate key at line 3 column 3");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(Json::parse(deep.as_bytes()).is_ok());
        let too_deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(refused(&too_deep).message, "recursion limit exceeded");
        let hostile = "{\"a\":".repeat(100_000);
        assert_eq!(refused(&hostile).message, "recursion limit exceeded");
    }

    #[test]
    fn writes_compact_json_that_reads_back() {
        let value = Json::object([
            ("status", Json::from(401u16)),
            ("message", Json::from("say \"hi\"\n\u{1}é")),
            ("ok", Json::from(false)),
            ("list", Json::Array(vec![Json::Null, Json::from(7u64)])),
        ]);
        let text = value.to_string();
        assert_eq!(
            text,
            r#"{"status":401,"message":"say \"hi\"\n\u0001é","ok":false,"list":[null,7]}"#
        );
        assert_eq!(Json::parse(text.as_bytes()).unwrap(), value);
    }

    #[test]
    fn objects_keep_order_and_replace_in_place() {
        let mut object = Object::new();
        object.insert("b", Json::from(1u64));
        object.insert("a", Json::from(2u64));
        object.insert("b", Json::from(3u64));
        assert_eq!(Json::Object(object.clone()).to_string(), r#"{"b":3,"a":2}"#);
        object.object_member("c").unwrap().insert("d", Json::Null);
        assert_eq!(object.keys().collect::<Vec<_>>(), ["b", "a", "c"]);
        assert!(object.object_member("b").is_none(), "not an object");
        assert_eq!(object.remove("a"), Some(Json::from(2u64)));
        assert_eq!(
            Json::Object(object).to_string(),
            r#"{"b":3,"c":{"d":null}}"#
        );
    }

    #[test]
    fn agrees_with_serde_json_on_valid_documents() {
        for text in [
            r#"{"keys":[{"kty":"RSA","n":"0vx7","e":"AQAB","alg":"RS256","kid":"1"}]}"#,
            r#"{"iss":"https://id.example.com","aud":["a","b"],"exp":1.7e9,"nested":{"x":[true,null]}}"#,
            r#"  [ "\u0041\t" , 0 , -0.0 , 1E+2 ]  "#,
        ] {
            let ours = parse(text).to_string();
            let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
            let ours_reparsed: serde_json::Value = serde_json::from_str(&ours).unwrap();
            assert_eq!(ours_reparsed, theirs, "{text}");
        }
    }

    /// Random edits of valid documents: never a panic, and wherever
    /// `serde_json` accepts a document (without duplicate keys) we read the
    /// same value; wherever it refuses one, so do we.
    #[test]
    fn differential_against_serde_json_on_mutated_documents() {
        let seeds: [&[u8]; 4] = [
            br#"{"keys":[{"kty":"RSA","n":"0vx7","e":"AQAB","alg":"RS256","kid":"1"}]}"#,
            br#"{"iss":"https://id.example.com","aud":["a","b"],"exp":1700000000,"n":{"x":[true,null,-1.5e-3]}}"#,
            br#"{"s":"a\"b\u00e9\ud83d\ude00","t":"\n\t"}"#,
            br#"[0,1,"",{},[],{"":""}]"#,
        ];
        let alphabet = b"{}[]\":,.-+eE0123456789 \\/tfnulrsabu\x00\x1f\xc3\xa9\xff";
        let mut rng = crate::testing::XorShift::new(0x2545_f491_4f6c_dd1d);
        let mut random = |bound: usize| rng.below(bound);
        let mut agreed = 0;
        for round in 0..20_000 {
            let mut doc = seeds[round % seeds.len()].to_vec();
            for _ in 0..=random(3) {
                let at = random(doc.len() + 1);
                match random(3) {
                    0 if at < doc.len() => {
                        doc.remove(at);
                    }
                    1 => doc.insert(at, alphabet[random(alphabet.len())]),
                    _ if at < doc.len() => doc[at] = alphabet[random(alphabet.len())],
                    _ => {}
                }
            }
            let ours = Json::parse(&doc);
            let theirs = serde_json::from_slice::<serde_json::Value>(&doc);
            match (&ours, &theirs) {
                (Ok(ours), Ok(theirs)) => {
                    let ours: serde_json::Value = serde_json::from_str(&ours.to_string()).unwrap();
                    assert_eq!(&ours, theirs, "{}", String::from_utf8_lossy(&doc));
                    agreed += 1;
                }
                (Err(err), Ok(_)) => assert_eq!(
                    err.message,
                    "duplicate key",
                    "{}",
                    String::from_utf8_lossy(&doc)
                ),
                (Ok(_), Err(err)) => panic!(
                    "accepted what serde_json refuses ({err}): {}",
                    String::from_utf8_lossy(&doc)
                ),
                (Err(_), Err(_)) => agreed += 1,
            }
        }
        assert!(agreed > 19_000, "{agreed}");
    }
}
