//! `Cookie` header parsing and `Set-Cookie` rendering.

/// Iterates the `name=value` pairs of a `Cookie` header, in order.
///
/// A name may repeat (a host-only and a domain cookie with the same name are both
/// sent); callers that look for one cookie must consider every occurrence.
pub fn pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Some((name.trim(), value))
    })
}

/// Every value sent under `name`.
pub fn values<'h>(header: &'h str, name: &'h str) -> impl Iterator<Item = &'h str> {
    pairs(header).filter_map(move |(n, v)| (n == name).then_some(v))
}

/// The `Cookie` header without the cookies `drop` selects; `None` when nothing is left.
pub fn without(header: &str, drop: impl Fn(&str) -> bool) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name).trim();
            !pair.is_empty() && !drop(name)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

/// A cookie to set (or clear) in the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie<'a> {
    pub name: &'a str,
    pub value: &'a str,
    /// `None` makes a host-only cookie.
    pub domain: Option<&'a str>,
    pub path: &'a str,
    /// Seconds; `0` deletes the cookie.
    pub max_age: u64,
    pub secure: bool,
    pub same_site: SameSite,
}

impl SetCookie<'_> {
    /// The `Set-Cookie` header value. Every cookie the filter sets is `HttpOnly`.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{}={}; Path={}; Max-Age={}; HttpOnly",
            self.name, self.value, self.path, self.max_age
        );
        if let Some(domain) = self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if self.secure {
            out.push_str("; Secure");
        }
        out.push_str(match self.same_site {
            SameSite::Lax => "; SameSite=Lax",
            SameSite::Strict => "; SameSite=Strict",
            SameSite::None => "; SameSite=None",
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_repeats() {
        let header = "a=1; session=x; b=\"2\"; session=y;broken; =z";
        let all: Vec<_> = pairs(header).collect();
        assert_eq!(
            all,
            [
                ("a", "1"),
                ("session", "x"),
                ("b", "2"),
                ("session", "y"),
                ("", "z")
            ]
        );
        assert_eq!(values(header, "session").collect::<Vec<_>>(), ["x", "y"]);
    }

    #[test]
    fn removes_selected_cookies() {
        let header = "app=1; tinyauth-session-ab=x; other=2; tinyauth-flow-ab-c=y";
        assert_eq!(
            without(header, |name| name.starts_with("tinyauth-")).as_deref(),
            Some("app=1; other=2")
        );
        assert_eq!(without("tinyauth-session-ab=x", |_| true), None);
    }

    #[test]
    fn renders_attributes() {
        let cookie = SetCookie {
            name: "s",
            value: "v",
            domain: Some("example.com"),
            path: "/",
            max_age: 60,
            secure: true,
            same_site: SameSite::Lax,
        };
        assert_eq!(
            cookie.render(),
            "s=v; Path=/; Max-Age=60; HttpOnly; Domain=example.com; Secure; SameSite=Lax"
        );
        let host_only = SetCookie {
            domain: None,
            secure: false,
            ..cookie
        };
        assert_eq!(
            host_only.render(),
            "s=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
        );
    }
}
