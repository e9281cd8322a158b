//! Absolute `http`/`https` URLs read with the `url` crate (the WHATWG URL
//! parser browsers implement, so a return URL means here what it will mean to
//! the browser), and query strings and form bodies with `form_urlencoded`.
//!
//! Stricter than a browser on purpose: input with whitespace, control
//! characters or a backslash (which browsers silently drop or turn into `/`),
//! user info, port 0 and empty host labels are refused rather than
//! normalised. Host names are ASCII: the `idna` crate's Unicode back end is
//! left out (`idna_adapter` 1.0, see Cargo.toml), so internationalised hosts
//! must be written in punycode (`xn--…`).

use std::fmt;

use url::form_urlencoded;
use url::{Host, Position, Url};

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
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    NotHttp,
    ForbiddenCharacter,
    UserInfo,
    BadHost,
    BadPort,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotHttp => "must be an absolute http:// or https:// URL",
            Self::ForbiddenCharacter => "contains whitespace, a backslash or a control character",
            Self::UserInfo => "must not contain user info (user@host)",
            Self::BadHost => "has an invalid host name (write international names in punycode)",
            Self::BadPort => "has an invalid port",
        })
    }
}

/// An absolute `http(s)` URL without user info or fragment. The host is
/// lower-case with any trailing dot removed; the default port is implied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(Url);

impl HttpUrl {
    pub fn parse(input: &str) -> Result<Self, UrlError> {
        if input
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        {
            return Err(UrlError::ForbiddenCharacter);
        }
        // International names must be written in punycode. Refusing any
        // other non-ASCII authority here also keeps such hosts away from
        // idna_adapter 1.0's debug assertion on upper-case ASCII mixed with
        // non-ASCII (tests/fuzz_findings.rs, finding 6).
        let authority = input.split_once("://").map_or("", |(_, rest)| {
            rest.split(['/', '?', '#']).next().unwrap_or_default()
        });
        if !authority.is_ascii() {
            return Err(UrlError::BadHost);
        }
        let mut url = Url::parse(input).map_err(|err| match err {
            url::ParseError::InvalidPort => UrlError::BadPort,
            url::ParseError::RelativeUrlWithoutBase => UrlError::NotHttp,
            _ => UrlError::BadHost,
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlError::NotHttp);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::UserInfo);
        }
        if url.port() == Some(0) {
            return Err(UrlError::BadPort);
        }
        if let Some(Host::Domain(domain)) = url.host() {
            let domain = domain.strip_suffix('.').unwrap_or(domain).to_owned();
            check_labels(&domain)?;
            url.set_host(Some(&domain)).map_err(|_| UrlError::BadHost)?;
        }
        url.set_fragment(None);
        Ok(Self(url))
    }

    pub fn scheme(&self) -> Scheme {
        if self.0.scheme() == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        }
    }

    /// Lower-case host name (or bracketed IPv6 literal) without port.
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    /// The explicit port, if the URL had one that differs from the scheme's
    /// default.
    pub fn port(&self) -> Option<u16> {
        self.0.port()
    }

    pub fn effective_port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(80)
    }

    /// `host[:port]`, as used for `Host`/`:authority`.
    pub fn authority(&self) -> &str {
        &self.0[Position::BeforeHost..Position::AfterPort]
    }

    /// `scheme://host[:port]` without a trailing slash.
    pub fn origin(&self) -> &str {
        &self.0[..Position::AfterPort]
    }

    /// Path plus query, always starting with `/`.
    pub fn path_and_query(&self) -> &str {
        &self.0[Position::BeforePath..Position::AfterQuery]
    }

    pub fn path(&self) -> &str {
        self.0.path()
    }

    /// Whether the host is an IP literal rather than a DNS name.
    pub fn host_is_ip(&self) -> bool {
        matches!(self.0.host(), Some(Host::Ipv4(_) | Host::Ipv6(_)))
    }

    /// This URL with `pairs` added to its query (form-encoded).
    pub fn with_params<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
        let mut url = self.0.clone();
        url.query_pairs_mut().extend_pairs(pairs);
        url.into()
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// DNS labels of 1 to 63 characters (the WHATWG parser allows empty ones).
fn check_labels(domain: &str) -> Result<(), UrlError> {
    let valid = !domain.is_empty()
        && domain
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63);
    if valid {
        Ok(())
    } else {
        Err(UrlError::BadHost)
    }
}

/// A host as configuration gives it (`App.Example.com.`, `[::1]`), in the form
/// the request's host is compared with: lower-case, without a trailing dot.
pub fn normalize_host(host: &str) -> Result<String, UrlError> {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::BadHost);
    }
    match Host::parse(host).map_err(|_| UrlError::BadHost)? {
        Host::Domain(domain) => {
            check_labels(&domain)?;
            Ok(domain)
        }
        ip => Ok(ip.to_string()),
    }
}

/// The value of a query parameter that must appear at most once (RFC 6749
/// §3.1 forbids repeats); `Err` when it is repeated.
pub fn single_param(query: &str, name: &str) -> Result<Option<String>, Repeated> {
    let mut found = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key != name {
            continue;
        }
        if found.is_some() {
            return Err(Repeated);
        }
        found = Some(value.into_owned());
    }
    Ok(found)
}

/// A query parameter appeared more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated;

/// `a=b&c=d`, form-encoded (`application/x-www-form-urlencoded`).
pub fn form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// One form-encoded component (RFC 6749 §2.3.1 encodes client credentials so
/// before they go into HTTP Basic authentication).
pub fn form_component(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
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
        assert_eq!(url.authority(), "auth.example.com:8443");
        assert_eq!(url.origin(), "https://auth.example.com:8443");
        assert_eq!(url.to_string(), "https://auth.example.com:8443/a/b?x=1");
    }

    #[test]
    fn path_defaults_to_slash_and_default_ports_are_implied() {
        let url = HttpUrl::parse("http://example.com?q").unwrap();
        assert_eq!(url.path_and_query(), "/?q");
        assert_eq!(url.effective_port(), 80);
        assert!(!url.host_is_ip());
        let https = HttpUrl::parse("https://example.com:443/").unwrap();
        assert_eq!(https.port(), None);
        assert_eq!(https.authority(), "example.com");
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
            ("https://example.com/\t", UrlError::ForbiddenCharacter),
            ("https://exämple.com/", UrlError::BadHost),
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
    fn hosts_normalise_as_urls_do() {
        assert_eq!(
            normalize_host("App.Example.com.").unwrap(),
            "app.example.com"
        );
        assert_eq!(normalize_host("[::1]").unwrap(), "[::1]");
        assert_eq!(normalize_host("10.0.0.1").unwrap(), "10.0.0.1");
        assert_eq!(
            normalize_host("xn--mnchen-3ya.de").unwrap(),
            "xn--mnchen-3ya.de"
        );
        for bad in ["", "a..b", "exa mple.com", "münchen.de", "[zz]"] {
            assert!(normalize_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn single_param_refuses_repeats() {
        assert_eq!(
            single_param("code=abc&state=xyz", "state"),
            Ok(Some("xyz".to_owned()))
        );
        assert_eq!(single_param("code=abc", "state"), Ok(None));
        assert_eq!(single_param("state=a&state=b", "state"), Err(Repeated));
        assert_eq!(
            single_param("st%61te=a%20b+c", "state"),
            Ok(Some("a b c".to_owned()))
        );
    }

    #[test]
    fn builds_queries() {
        let query = form([("redirect_uri", "https://a.b/c?d=e"), ("x", "1 2")]);
        assert_eq!(query, "redirect_uri=https%3A%2F%2Fa.b%2Fc%3Fd%3De&x=1+2");
        let base = HttpUrl::parse("https://a.example/b?y=2").unwrap();
        assert_eq!(
            base.with_params([("x", "1&2")]),
            "https://a.example/b?y=2&x=1%262"
        );
        assert_eq!(form_component("my client:1"), "my+client%3A1");
    }
}
