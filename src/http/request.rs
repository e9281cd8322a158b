//! A read-only view of the incoming request, built from Envoy's header map: only
//! what the filter decides on, borrowed rather than copied.

use std::borrow::Cow;
use std::net::IpAddr;

/// Prefix of the identity headers the filter owns; client-sent copies are always
/// removed before the request goes upstream.
/// The identity headers' prefix as CGI, WSGI, PHP and Rack read header names
/// (`HTTP_REMOTE_USER`): upper-case, every character but a letter or digit
/// turned into `_`.
const IDENTITY_HEADER_PREFIX: &[u8] = b"REMOTE_";

/// The parts of a request the filter looks at.
#[derive(Debug, Clone, Default)]
pub struct RequestView<'a> {
    pub method: &'a str,
    /// `:authority` as sent (may carry a port, may have upper case).
    pub authority: &'a str,
    /// `:path` including any query.
    pub path: &'a str,
    /// All `cookie` headers joined with `; ` (HTTP/2 may split them).
    pub cookies: Cow<'a, str>,
    pub accept: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub sec_fetch_mode: Option<&'a str>,
    pub forwarded_for: Option<&'a str>,
    /// Envoy's `x-request-id`, to quote on error pages and in audit lines.
    pub request_id: Option<&'a str>,
    /// Names of client-sent identity headers that must be stripped.
    pub spoofed_identity: Vec<&'a str>,
    /// The downstream peer address, when the shell read it.
    pub peer: Option<IpAddr>,
}

/// A request kept while it waits for the provider (its session being
/// re-checked): the view's fields as header pairs, from which the same view is
/// built again when the reply comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PausedRequest {
    headers: Vec<(String, String)>,
    peer: Option<IpAddr>,
}

impl PausedRequest {
    pub fn view(&self) -> RequestView<'_> {
        let mut view = RequestView::from_headers(&self.headers);
        view.peer = self.peer;
        view
    }
}

impl<'a> RequestView<'a> {
    /// Keeps what this view holds, to decide the request later.
    pub fn pause(&self) -> PausedRequest {
        let mut headers: Vec<(String, String)> = [
            (":method", Some(self.method)),
            (":authority", Some(self.authority)),
            (":path", Some(self.path)),
            ("cookie", Some(&*self.cookies).filter(|c| !c.is_empty())),
            ("accept", self.accept),
            ("user-agent", self.user_agent),
            ("sec-fetch-mode", self.sec_fetch_mode),
            ("x-forwarded-for", self.forwarded_for),
            ("x-request-id", self.request_id),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?.to_owned())))
        .collect();
        headers.extend(
            self.spoofed_identity
                .iter()
                .map(|name| ((*name).to_owned(), String::new())),
        );
        PausedRequest {
            headers,
            peer: self.peer,
        }
    }

    /// Builds the view from `(name, value)` pairs with lower-case names, as Envoy
    /// hands them over.
    pub fn from_headers(headers: &'a [(String, String)]) -> Self {
        let mut view = Self::default();
        for (name, value) in headers {
            let value = value.as_str();
            match name.as_str() {
                ":method" => view.method = value,
                ":authority" => view.authority = value,
                "host" if view.authority.is_empty() => view.authority = value,
                ":path" => view.path = value,
                "cookie" => {
                    view.cookies = if view.cookies.is_empty() {
                        Cow::Borrowed(value)
                    } else {
                        Cow::Owned(format!("{}; {value}", view.cookies))
                    };
                }
                "accept" => view.accept = Some(value),
                "user-agent" => view.user_agent = Some(value),
                "sec-fetch-mode" => view.sec_fetch_mode = Some(value),
                "x-forwarded-for" => view.forwarded_for = Some(value),
                "x-request-id" => view.request_id = Some(value),
                other if is_identity_header(other) => view.spoofed_identity.push(other),
                _ => {}
            }
        }
        view
    }

    /// The host without port, lower-cased only if needed.
    pub fn host(&self) -> Cow<'a, str> {
        let host = strip_port(self.authority);
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        }
    }

    /// The path without the query.
    pub fn path_only(&self) -> &'a str {
        self.path.split('?').next().unwrap_or(self.path)
    }

    /// The query string without `?`, empty when there is none.
    pub fn query(&self) -> &'a str {
        self.path.split_once('?').map_or("", |(_, q)| q)
    }

    /// Whether to answer with pages and redirects (a browser navigating) rather
    /// than JSON. A fetch/XHR from a page (`Sec-Fetch-Mode` other than
    /// `navigate`) is an API client; otherwise an HTML `Accept` or a browser
    /// User-Agent means a browser, as in Tinyauth.
    pub fn is_browser(&self) -> bool {
        if let Some(mode) = self.sec_fetch_mode {
            return mode.eq_ignore_ascii_case("navigate");
        }
        if self
            .accept
            .is_some_and(|accept| accept.contains("text/html"))
        {
            return true;
        }
        self.user_agent.is_some_and(|ua| {
            ["Chrome", "Gecko", "AppleWebKit", "Opera", "Edge"]
                .iter()
                .any(|marker| ua.contains(marker))
        })
    }
}

/// Whether an app could read `name` as one of the filter's identity headers:
/// `Remote-User`, but also `remote_user`, `REMOTE.USER` and every other
/// spelling an app server turns into `HTTP_REMOTE_USER`. The filter removes
/// them all from what reaches the app.
pub fn is_identity_header(name: &str) -> bool {
    let cgi = |byte: u8| {
        if byte.is_ascii_alphanumeric() {
            byte.to_ascii_uppercase()
        } else {
            b'_'
        }
    };
    name.len() > IDENTITY_HEADER_PREFIX.len()
        && name
            .bytes()
            .zip(IDENTITY_HEADER_PREFIX)
            .all(|(byte, want)| cgi(byte) == *want)
}

/// `host:port` → `host`; bracketed IPv6 keeps its brackets.
pub fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .and_then(|end| authority.get(..=end))
            .unwrap_or(authority);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_request_gives_back_the_same_view() {
        let headers: Vec<(String, String)> = [
            (":method", "GET"),
            (":authority", "App.example.com:8443"),
            (":path", "/a?b=1"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("accept", "text/html"),
            ("user-agent", "curl"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-request-id", "r1"),
            ("remote-user", "mallory"),
            ("x-other", "ignored"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
        let mut view = RequestView::from_headers(&headers);
        view.peer = Some("192.0.2.1".parse().unwrap());
        let paused = view.pause();
        let again = paused.view();
        assert_eq!(format!("{view:?}"), format!("{again:?}"));
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn collects_what_the_filter_needs() {
        let h = headers(&[
            (":method", "GET"),
            (":authority", "App.Example.com:8443"),
            (":path", "/a/b?c=d"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("remote-user", "admin"),
            ("Remote-Groups", "admins"),
            ("remote-", "x"),
            ("remote_email", "x@example.com"),
            ("REMOTE.NAME", "Mallory"),
            ("x-other", "y"),
            ("remoteuser", "z"),
        ]);
        let view = RequestView::from_headers(&h);
        assert_eq!(view.method, "GET");
        assert_eq!(view.host(), "app.example.com");
        assert_eq!(view.path_only(), "/a/b");
        assert_eq!(view.query(), "c=d");
        assert_eq!(view.cookies, "a=1; b=2");
        assert_eq!(
            view.spoofed_identity,
            [
                "remote-user",
                "Remote-Groups",
                "remote_email",
                "REMOTE.NAME"
            ]
        );
    }

    #[test]
    fn ports_and_ipv6() {
        assert_eq!(strip_port("example.com:80"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("weird:host"), "weird:host");
    }

    #[test]
    fn browser_detection() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126";
        let cases = [
            (
                "chrome navigation",
                Some(chrome),
                None,
                Some("navigate"),
                true,
            ),
            (
                "chrome fetch()",
                Some(chrome),
                Some("*/*"),
                Some("cors"),
                false,
            ),
            (
                "chrome, no fetch metadata",
                Some(chrome),
                Some("*/*"),
                None,
                true,
            ),
            ("curl", Some("curl/8.5.0"), Some("*/*"), None, false),
            (
                "curl asking for html",
                Some("curl/8.5.0"),
                Some("text/html"),
                None,
                true,
            ),
            ("no headers", None, None, None, false),
            (
                "firefox",
                Some("Mozilla/5.0 Gecko/20100101 Firefox/128.0"),
                None,
                None,
                true,
            ),
        ];
        for (name, ua, accept, mode, want) in cases {
            let view = RequestView {
                user_agent: ua,
                accept,
                sec_fetch_mode: mode,
                ..RequestView::default()
            };
            assert_eq!(view.is_browser(), want, "{name}");
        }
    }
}
