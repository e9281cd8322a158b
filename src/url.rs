//! Strict parsing of absolute `http`/`https` URLs, percent-encoding and query strings.
//!
//! Deliberately narrower than a browser's URL parser: anything unusual (user info,
//! backslashes, whitespace, control or non-ASCII characters, empty host labels) is
//! rejected instead of normalised, so a return URL can never mean one thing to us and
//! another to the browser.

use std::borrow::Cow;
use std::fmt;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    NotHttp,
    ForbiddenCharacter,
    UserInfo,
    EmptyHost,
    BadHost,
    BadPort,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotHttp => "must be an absolute http:// or https:// URL",
            Self::ForbiddenCharacter => {
                "contains whitespace, a backslash, a control or a non-ASCII character"
            }
            Self::UserInfo => "must not contain user info (user@host)",
            Self::EmptyHost => "has no host",
            Self::BadHost => "has an invalid host name",
            Self::BadPort => "has an invalid port",
        })
    }
}

/// An absolute `http(s)` URL, split into the parts the filter needs.
///
/// The host is lower-cased with any trailing dot removed; the fragment is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    scheme: Scheme,
    host: String,
    port: Option<u16>,
    path_and_query: String,
}

impl HttpUrl {
    pub fn parse(input: &str) -> Result<Self, UrlError> {
        if input
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || b == b'\\' || !b.is_ascii())
        {
            return Err(UrlError::ForbiddenCharacter);
        }
        let (scheme, rest) = split_scheme(input).ok_or(UrlError::NotHttp)?;
        let rest = rest.split('#').next().unwrap_or_default();
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, port) = split_host_port(authority)?;
        let host = normalize_host(host)?;
        let path_and_query = if tail.starts_with('/') {
            tail.to_owned()
        } else {
            format!("/{tail}")
        };
        Ok(Self {
            scheme,
            host,
            port,
            path_and_query,
        })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Lower-case host name (or bracketed IPv6 literal) without port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port, if the URL had one that differs from the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(self.scheme.default_port())
    }

    /// `host[:port]`, as used for `Host`/`:authority`.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// `scheme://host[:port]` without a trailing slash.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.authority())
    }

    /// Path plus query, always starting with `/`.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    pub fn path(&self) -> &str {
        self.path_and_query
            .split('?')
            .next()
            .unwrap_or(&self.path_and_query)
    }

    /// Whether the host is an IP literal rather than a DNS name.
    pub fn host_is_ip(&self) -> bool {
        host_is_ip(&self.host)
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin(), self.path_and_query)
    }
}

fn split_scheme(input: &str) -> Option<(Scheme, &str)> {
    let (scheme, rest) = input.split_once("://")?;
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else if scheme.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else {
        return None;
    };
    Some((scheme, rest))
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), UrlError> {
    if authority.is_empty() {
        return Err(UrlError::EmptyHost);
    }
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']').ok_or(UrlError::BadHost)?;
        let (host, after) = authority.split_at(close + 1);
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(UrlError::BadHost),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(digits) => Some(parse_port(digits).ok_or(UrlError::BadPort)?),
    };
    Ok((host, port))
}

fn parse_port(digits: &str) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u16>().ok().filter(|port| *port != 0)
}

/// Lower-cases a host, strips one trailing dot and checks its characters.
pub fn normalize_host(host: &str) -> Result<String, UrlError> {
    if host.is_empty() {
        return Err(UrlError::EmptyHost);
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(UrlError::BadHost)?;
        return inner
            .parse::<std::net::Ipv6Addr>()
            .map(|_| host.to_ascii_lowercase())
            .map_err(|_| UrlError::BadHost);
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let valid = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !valid {
        return Err(UrlError::BadHost);
    }
    Ok(host.to_ascii_lowercase())
}

/// Whether a (normalised) host is an IPv4 or bracketed IPv6 literal.
pub fn host_is_ip(host: &str) -> bool {
    host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok()
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0x0f));
        }
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    char::from(
        b"0123456789ABCDEF"
            .get(usize::from(nibble))
            .copied()
            .unwrap_or(b'0'),
    )
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space).
///
/// Malformed escapes are kept literally, as browsers do; `None` if the result is
/// not UTF-8.
pub fn decode_component(value: &str) -> Option<Cow<'_, str>> {
    if !value.bytes().any(|b| b == b'%' || b == b'+') {
        return Some(Cow::Borrowed(value));
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|b| char::from(*b).to_digit(16));
                let lo = bytes.get(i + 2).and_then(|b| char::from(*b).to_digit(16));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Iterates `name=value` pairs of a query string or form body (undecoded).
pub fn raw_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// Why a query parameter could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamError {
    /// The parameter appears more than once (RFC 6749 §3.1 forbids repeats).
    Repeated,
    /// The value is not valid UTF-8 after decoding.
    Undecodable,
}

/// The decoded value of a parameter that must appear at most once.
pub fn single_param(query: &str, name: &str) -> Result<Option<String>, ParamError> {
    let mut found = None;
    for (key, value) in raw_pairs(query) {
        if decode_component(key).as_deref() != Some(name) {
            continue;
        }
        if found.is_some() {
            return Err(ParamError::Repeated);
        }
        let value = decode_component(value).ok_or(ParamError::Undecodable)?;
        found = Some(value.into_owned());
    }
    Ok(found)
}

/// Builds `a=b&c=d` with both sides percent-encoded.
pub fn encode_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode_component(key));
        out.push('=');
        out.push_str(&encode_component(value));
    }
    out
}

/// Appends a query string to a URL that may already have one.
pub fn with_query(url: &str, query: &str) -> String {
    if query.is_empty() {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_parts() {
        let url = HttpUrl::parse("HTTPS://Auth.Example.COM.:8443/a/b?x=1#frag").unwrap();
        assert_eq!(url.scheme(), Scheme::Https);
        assert_eq!(url.host(), "auth.example.com");
        assert_eq!(url.port(), Some(8443));
        assert_eq!(url.path_and_query(), "/a/b?x=1");
        assert_eq!(url.path(), "/a/b");
        assert_eq!(url.origin(), "https://auth.example.com:8443");
        assert_eq!(url.to_string(), "https://auth.example.com:8443/a/b?x=1");
    }

    #[test]
    fn path_defaults_to_slash() {
        let url = HttpUrl::parse("http://example.com?q").unwrap();
        assert_eq!(url.path_and_query(), "/?q");
        assert_eq!(url.effective_port(), 80);
        assert!(!url.host_is_ip());
    }

    #[test]
    fn ip_hosts_are_recognised() {
        assert!(HttpUrl::parse("http://127.0.0.1:1411/x")
            .unwrap()
            .host_is_ip());
        let v6 = HttpUrl::parse("http://[::1]:8080/").unwrap();
        assert!(v6.host_is_ip());
        assert_eq!(v6.authority(), "[::1]:8080");
    }

    #[test]
    fn refuses_ambiguous_urls() {
        let cases = [
            ("ftp://example.com/", UrlError::NotHttp),
            ("//example.com/", UrlError::NotHttp),
            ("/relative", UrlError::NotHttp),
            ("javascript:alert(1)", UrlError::NotHttp),
            ("https://user@evil.com/", UrlError::UserInfo),
            ("https://example.com@evil.com/", UrlError::UserInfo),
            (
                "https://evil.com\\@example.com/",
                UrlError::ForbiddenCharacter,
            ),
            ("https://exa mple.com/", UrlError::ForbiddenCharacter),
            ("https://example.com/\n", UrlError::ForbiddenCharacter),
            ("https://exämple.com/", UrlError::ForbiddenCharacter),
            ("https:///path", UrlError::EmptyHost),
            ("https://a..b/", UrlError::BadHost),
            ("https://example.com:0/", UrlError::BadPort),
            ("https://example.com:99999/", UrlError::BadPort),
            ("https://example.com:+80/", UrlError::BadPort),
            ("https://[zz]/", UrlError::BadHost),
        ];
        for (input, want) in cases {
            assert_eq!(HttpUrl::parse(input), Err(want), "{input}");
        }
    }

    #[test]
    fn encoding_round_trips() {
        let raw = "https://app.example.com/a b?c=d&e=ü";
        let encoded = encode_component(raw);
        assert!(encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        assert_eq!(decode_component(&encoded).unwrap(), raw);
        assert_eq!(decode_component("a+b%2Bc").unwrap(), "a b+c");
        assert_eq!(decode_component("100%").unwrap(), "100%");
        assert_eq!(decode_component("%zz").unwrap(), "%zz");
        assert!(decode_component("%ff").is_none());
    }

    #[test]
    fn single_param_refuses_repeats() {
        assert_eq!(
            single_param("code=abc&state=xyz", "state"),
            Ok(Some("xyz".to_owned()))
        );
        assert_eq!(single_param("code=abc", "state"), Ok(None));
        assert_eq!(
            single_param("state=a&state=b", "state"),
            Err(ParamError::Repeated)
        );
        assert_eq!(
            single_param("st%61te=a%20b", "state"),
            Ok(Some("a b".to_owned()))
        );
    }

    #[test]
    fn builds_queries() {
        let query = encode_pairs([("redirect_uri", "https://a.b/c?d=e"), ("x", "1 2")]);
        assert_eq!(query, "redirect_uri=https%3A%2F%2Fa.b%2Fc%3Fd%3De&x=1%202");
        assert_eq!(with_query("https://a/b", "x=1"), "https://a/b?x=1");
        assert_eq!(with_query("https://a/b?y=2", "x=1"), "https://a/b?y=2&x=1");
        assert_eq!(with_query("https://a/b", ""), "https://a/b");
    }
}
