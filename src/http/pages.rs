//! The HTML pages the filter serves: login, signed-in, unauthorized, error. Every
//! dynamic value is HTML-escaped here, so callers pass plain text.

use std::fmt::Write as _;

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;\
font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#0f172a;color:#0f172a}\
main{background:#fff;border-radius:14px;padding:2.2rem 2rem;width:min(26rem,92vw);\
box-shadow:0 20px 50px rgba(0,0,0,.35)}\
h1{font-size:1.35rem;margin:0 0 .4rem}p{color:#334155;line-height:1.5;margin:.4rem 0 1rem}\
.btn{display:block;text-align:center;text-decoration:none;background:#2563eb;color:#fff;\
padding:.75rem 1rem;border-radius:9px;font-weight:600;margin:.6rem 0;border:0;width:100%;\
font-size:1rem;cursor:pointer}.btn.secondary{background:#e2e8f0;color:#0f172a}\
.muted{font-size:.85rem;color:#64748b}code{background:#f1f5f9;padding:.1rem .3rem;border-radius:4px}";

fn page(title: &str, heading: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\"><title>{} · {}</title><style>{STYLE}</style></head>\
<body><main><h1>{}</h1>{body}</main></body></html>",
        escape(heading),
        escape(title),
        escape(heading),
    )
}

/// A provider button on the login page.
#[derive(Debug)]
pub struct LoginOption<'a> {
    pub name: &'a str,
    pub url: String,
}

pub fn login(title: &str, options: &[LoginOption<'_>], notice: Option<&str>) -> String {
    let mut body = String::new();
    if let Some(notice) = notice {
        let _ = write!(body, "<p>{}</p>", escape(notice));
    } else {
        body.push_str("<p>Sign in to continue.</p>");
    }
    for option in options {
        let _ = write!(
            body,
            "<a class=\"btn\" href=\"{}\">Login with {}</a>",
            escape(&option.url),
            escape(option.name)
        );
    }
    page(title, &format!("Welcome to {title}"), &body)
}

pub fn signed_in(title: &str, display: &str, provider: &str, logout_url: &str) -> String {
    let body = format!(
        "<p>You are signed in as <strong>{}</strong> with {}.</p>\
<a class=\"btn secondary\" href=\"{}\">Log out</a>",
        escape(display),
        escape(provider),
        escape(logout_url)
    );
    page(title, "Signed in", &body)
}

pub fn logged_out(title: &str, login_url: &str) -> String {
    let body = format!(
        "<p>You have been logged out.</p><a class=\"btn\" href=\"{}\">Log in again</a>",
        escape(login_url)
    );
    page(title, "Logged out", &body)
}

pub fn unauthorized(
    title: &str,
    resource: &str,
    username: &str,
    reason: &str,
    retry_url: &str,
) -> String {
    let who = if username.is_empty() {
        String::new()
    } else {
        format!(" as <strong>{}</strong>", escape(username))
    };
    let body = format!(
        "<p>You are signed in{who}, but you cannot open <strong>{}</strong>.</p>\
<p>{}</p><a class=\"btn secondary\" href=\"{}\">Sign in with another account</a>",
        escape(resource),
        escape(reason),
        escape(retry_url)
    );
    page(title, "Unauthorized", &body)
}

pub fn error(title: &str, heading: &str, message: &str, retry_url: &str) -> String {
    let body = format!(
        "<p>{}</p><a class=\"btn\" href=\"{}\">Try again</a>\
<p class=\"muted\">If this keeps happening, tell your administrator the time of the error.</p>",
        escape(message),
        escape(retry_url)
    );
    page(title, heading, &body)
}

pub fn not_found(title: &str, home_url: &str) -> String {
    let body = format!(
        "<p>There is nothing here.</p><a class=\"btn secondary\" href=\"{}\">Go to the login page</a>",
        escape(home_url)
    );
    page(title, "Not found", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_dynamic() {
        let html = unauthorized(
            "T<",
            "<script>alert(1)</script>",
            "\"bob\"",
            "r&d",
            "https://a/?x=\"><img>",
        );
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("&quot;bob&quot;"));
        assert!(html.contains("r&amp;d"));
        assert!(!html.contains("\"><img>"));
    }

    #[test]
    fn login_lists_providers() {
        let html = login(
            "Tinyauth",
            &[LoginOption {
                name: "Pocket ID",
                url: "https://auth.example.com/api/oauth/start/generic?a=1&b=2".into(),
            }],
            None,
        );
        assert!(html.contains("Login with Pocket ID"));
        assert!(html.contains("start/generic?a=1&amp;b=2"));
    }
}
