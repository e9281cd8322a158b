//! Responses shared by several routes: cookies, the login location, refusals
//! and error pages — each in a browser form (page or redirect) and an API form
//! (Tinyauth's JSON with `x-tinyauth-location`).

use crate::decision::Response;
use crate::http::cookie::{SameSite, SetCookie};
use crate::http::pages;
use crate::http::url::{form, HttpUrl, Scheme};

/// Path prefix (and cookie path) of the provider callbacks.
pub const CALLBACK_PREFIX: &str = "/api/oauth/callback/";

/// Where the filter serves its own pages and how it sets its cookies: what
/// its responses need to know (compiled from the configuration).
#[derive(Debug, Clone)]
pub struct Site {
    /// The auth host's URL (`appUrl`).
    pub app_url: HttpUrl,
    /// The host the browser must be on for the session cookie to be sent: the
    /// `appUrl` host minus its first label (or the host itself).
    pub cookie_scope: String,
    pub cookies: Cookies,
    /// How the filter's pages look (`ui.*`).
    pub look: pages::Look,
}

/// Cookie names and attributes.
#[derive(Debug, Clone)]
pub struct Cookies {
    pub session_name: String,
    /// Host-only cookie on the auth host (path `/logout`) keeping the ID token
    /// for RP-initiated logout.
    pub id_token_name: String,
    /// Each login flow's cookie is this prefix plus a flow id.
    pub flow_prefix: String,
    /// `None` means host-only cookies on the auth host.
    pub domain: Option<String>,
    pub secure: bool,
}

/// `<appUrl>/login`, carrying the URL to come back to.
pub fn login_url(site: &Site, return_to: &str) -> String {
    auth_host_url(site, "/login", &[("redirect_uri", return_to)])
}

/// `<appUrl>/login?switch=1`: "Sign in with another account", coming back
/// to `return_to`.
pub fn switch_account_url(site: &Site, return_to: &str) -> String {
    auth_host_url(
        site,
        "/login",
        &[("switch", "1"), ("redirect_uri", return_to)],
    )
}

/// `<appUrl><path>`, with the non-empty `params` as a form-encoded query.
pub fn auth_host_url(site: &Site, path: &str, params: &[(&str, &str)]) -> String {
    let mut url = format!("{}{path}", site.app_url.origin());
    let query = form(
        params
            .iter()
            .copied()
            .filter(|(_, value)| !value.is_empty()),
    );
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    url
}

/// The URL a user may be sent back to after login, or `None`.
///
/// Only URLs the session cookie covers are allowed: the auth host itself or (with
/// subdomains enabled) a host under the cookie domain, on `appUrl`'s port, with
/// `appUrl`'s scheme (or https when `appUrl` is plain http). Everything else —
/// other domains, IP hosts, user info, odd characters — is refused, so the
/// filter is never an open redirect. The URL is read by the WHATWG parser, as
/// the browser will read it, and returned as that parser writes it.
pub fn safe_return_url(site: &Site, candidate: &str) -> Option<String> {
    let url = HttpUrl::parse(candidate).ok()?;
    let app = &site.app_url;
    let scheme_ok = url.scheme() == app.scheme() || url.scheme() == Scheme::Https;
    let host_ok = !url.host_is_ip() && host_in_scope(site, url.host());
    (scheme_ok && host_ok && url.effective_port() == app.effective_port()).then(|| url.to_string())
}

/// Whether the browser sends the session cookie to `host` (lower-case, no port).
pub fn host_in_scope(site: &Site, host: &str) -> bool {
    if host == site.app_url.host() {
        return true;
    }
    site.cookies.domain.as_deref().is_some_and(|domain| {
        host == domain
            || host
                .strip_suffix(domain)
                .is_some_and(|prefix| prefix.ends_with('.'))
    })
}

pub fn session_cookie(site: &Site, value: &str, max_age: u64) -> String {
    SetCookie {
        name: &site.cookies.session_name,
        value,
        domain: site.cookies.domain.as_deref(),
        path: "/",
        max_age,
        secure: site.cookies.secure,
        same_site: SameSite::Lax,
    }
    .render()
}

pub fn clear_session_cookie(site: &Site) -> String {
    session_cookie(site, "", 0)
}

/// The ID token kept for logout: host-only on the auth host, sent only to
/// `/logout`, never to apps.
pub fn id_token_cookie(site: &Site, value: &str, max_age: u64) -> String {
    SetCookie {
        name: &site.cookies.id_token_name,
        value,
        domain: None,
        path: "/logout",
        max_age,
        secure: site.cookies.secure,
        same_site: SameSite::Lax,
    }
    .render()
}

/// The per-flow cookie. `SameSite=Lax` still reaches the callback, which is a
/// top-level GET navigation from the provider.
pub fn flow_cookie(site: &Site, flow_id: &str, value: &str, max_age: u64) -> String {
    let name = format!("{}{flow_id}", site.cookies.flow_prefix);
    SetCookie {
        name: &name,
        value,
        domain: site.cookies.domain.as_deref(),
        path: CALLBACK_PREFIX,
        max_age,
        secure: site.cookies.secure,
        same_site: SameSite::Lax,
    }
    .render()
}

pub fn clear_flow_cookie(site: &Site, flow_id: &str) -> String {
    flow_cookie(site, flow_id, "", 0)
}

/// Tinyauth's JSON body for API clients, members in its order.
#[derive(Debug, serde::Serialize)]
pub struct Status<'a> {
    pub status: u16,
    pub message: &'a str,
}

pub fn json_status(status: u16, message: &str) -> Response {
    Response::new(status).json(&Status { status, message })
}

/// An error the user can retry: a page for browsers (with the time and
/// request ID to quote), JSON for API clients.
pub fn error(
    site: &Site,
    incident: pages::Incident<'_>,
    browser: bool,
    status: u16,
    heading: &str,
    message: &str,
    retry_url: &str,
) -> Response {
    if browser {
        Response::new(status).html(pages::error(
            &site.look, heading, message, retry_url, incident,
        ))
    } else {
        json_status(status, message).header("x-tinyauth-location", retry_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(app_url: &str, subdomains: bool) -> Site {
        let json = serde_json::json!({
            "appUrl": app_url,
            "secret": "0123456789abcdef0123456789abcdef",
            "auth": {"subdomainsEnabled": subdomains},
            "oauth": {"providers": {"generic": {
                "clientId": "c", "clientSecret": "s",
                "authUrl": "https://id.example.com/authorize",
                "tokenUrl": "https://id.example.com/token",
                "userInfoUrl": "https://id.example.com/userinfo"
            }}}
        });
        Config::from_json(json.to_string().as_bytes()).unwrap().site
    }

    #[test]
    fn open_redirect_in_return_to() {
        let c = config("https://auth.example.com", true);
        let allowed = [
            "https://auth.example.com/",
            "https://app.example.com/x?y=1",
            "https://APP.example.com/x",
            "https://deep.app.example.com/",
            "https://example.com/",
            "https://app.example.com:443/",
            "HTTPS://APP.EXAMPLE.COM./x",
        ];
        for url in allowed {
            assert!(safe_return_url(&c, url).is_some(), "{url}");
        }
        let refused = [
            "https://evil.com/",
            "https://example.com.evil.com/",
            "https://evilexample.com/",
            "https://app.example.com@evil.com/",
            "https://evil.com\\@app.example.com/",
            "http://app.example.com/",
            "https://app.example.com:8443/",
            "//evil.com/",
            "/relative",
            "javascript:alert(1)",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://app.example.com/\r\nx",
            "",
            // Read as the browser reads them (WHATWG), then refused.
            "https:evil.com/",
            "https:/evil.com/",
            "https:\\\\evil.com/",
            "https://evil.com%2f.example.com/",
            "https://app.example.com%40evil.com/",
            "https://app.example.com\t.evil.com/",
            "https://0x7f000001/",
            "https://[::ffff:127.0.0.1]/",
        ];
        for url in refused {
            assert!(safe_return_url(&c, url).is_none(), "{url}");
        }
    }

    #[test]
    fn host_only_scope_without_subdomains() {
        let c = config("https://auth.example.com", false);
        assert!(safe_return_url(&c, "https://auth.example.com/x").is_some());
        assert!(safe_return_url(&c, "https://app.example.com/").is_none());
        assert!(!host_in_scope(&c, "app.example.com"));
    }

    #[test]
    fn http_app_url_allows_both_schemes() {
        let c = config("http://auth.example.test:8080", true);
        assert!(safe_return_url(&c, "http://app.example.test:8080/").is_some());
        assert!(safe_return_url(&c, "http://app.example.test/").is_none());
    }

    #[test]
    fn cookies_carry_the_right_attributes() {
        let c = config("https://auth.example.com", true);
        let set = session_cookie(&c, "v", 60);
        assert!(set.contains("Domain=example.com"));
        assert!(set.contains("Secure"));
        assert!(set.contains("HttpOnly"));
        assert!(set.contains("SameSite=Lax"));
        assert!(set.contains("Max-Age=60"));
        assert!(clear_session_cookie(&c).contains("Max-Age=0"));
        let flow = flow_cookie(&c, "abc", "v", 600);
        assert!(flow.starts_with(&format!("{}abc=v;", c.cookies.flow_prefix)));
        assert!(flow.contains("Path=/api/oauth/callback/"));
    }

    #[test]
    fn login_url_encodes_the_return_url() {
        let c = config("https://auth.example.com", true);
        assert_eq!(login_url(&c, ""), "https://auth.example.com/login");
        assert_eq!(
            login_url(&c, "https://app.example.com/a?b=c"),
            "https://auth.example.com/login?redirect_uri=https%3A%2F%2Fapp.example.com%2Fa%3Fb%3Dc"
        );
    }
}
