//! The HTML pages the filter serves: login, signed-in, refusals, errors. Every
//! dynamic value is HTML-escaped here (`html-escape`), so callers pass plain
//! text; the look (title, background image, logo) is Tinyauth's UI options.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

// Escapes `&<>"'`: safe in element text and in either kind of quoted attribute.
use html_escape::encode_quoted_attribute as escape;

/// Tinyauth's UI options the pages honour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Look {
    /// `ui.title`: the tab title and the login card's "Welcome to …".
    pub title: String,
    /// `ui.backgroundImage`: an absolute URL, checked at load to need no
    /// escaping inside CSS `url("…")`.
    pub background_image: Option<String>,
    /// `ui.logo`: an absolute URL shown above every card.
    pub logo: Option<String>,
}

/// What an error page gives the user to quote to an administrator.
#[derive(Debug, Clone, Copy)]
pub struct Incident<'a> {
    /// Unix seconds.
    pub at: u64,
    /// Envoy's `x-request-id`, when the request had one.
    pub request_id: Option<&'a str>,
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
.logo{display:block;max-height:3.5rem;max-width:60%;margin:0 auto 1.2rem}\
.muted{font-size:.85rem;color:#64748b}code{background:#f1f5f9;padding:.1rem .3rem;border-radius:4px;\
word-break:break-all}";

/// `tab_title` is the document title as given (the login page's is the plain
/// configured title, so it is not "Welcome to X · X").
fn page(look: &Look, tab_title: &str, heading: &str, body: &str) -> String {
    let background = look
        .background_image
        .as_deref()
        .map(|url| format!("body{{background:#0f172a url(\"{url}\") center/cover no-repeat}}"))
        .unwrap_or_default();
    let logo = look
        .logo
        .as_deref()
        .map(|url| format!("<img class=\"logo\" src=\"{}\" alt=\"\">", escape(url)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\"><title>{}</title><style>{STYLE}{background}</style></head>\
<body><main>{logo}<h1>{}</h1>{body}</main></body></html>",
        escape(tab_title),
        escape(heading),
    )
}

/// "Heading · Title" for every page but the login page.
fn titled(look: &Look, heading: &str, body: &str) -> String {
    page(look, &format!("{heading} · {}", look.title), heading, body)
}

fn button(class: &str, url: &str, label: &str) -> String {
    format!(
        "<a class=\"{class}\" href=\"{}\">{}</a>",
        escape(url),
        escape(label)
    )
}

/// A provider button on the login page.
#[derive(Debug)]
pub struct LoginOption<'a> {
    pub name: &'a str,
    pub url: String,
}

pub fn login(look: &Look, options: &[LoginOption<'_>], notice: Option<&str>) -> String {
    let mut body = format!(
        "<p>{}</p>",
        escape(notice.unwrap_or("Sign in to continue."))
    );
    for option in options {
        body.push_str(&button(
            "btn",
            &option.url,
            &format!("Login with {}", option.name),
        ));
    }
    page(
        look,
        &look.title,
        &format!("Welcome to {}", look.title),
        &body,
    )
}

pub fn signed_in(look: &Look, display: &str, provider: &str, logout_url: &str) -> String {
    let body = format!(
        "<p>You are signed in as <strong>{}</strong> with {}.</p>{}",
        escape(display),
        escape(provider),
        button("btn secondary", logout_url, "Log out")
    );
    titled(look, "Signed in", &body)
}

pub fn logged_out(look: &Look, login_url: &str) -> String {
    let body = format!(
        "<p>You have been logged out.</p>{}",
        button("btn", login_url, "Log in again")
    );
    titled(look, "Logged out", &body)
}

/// Why someone sees the refusal page, and so what it may say about them.
#[derive(Debug, Clone, Copy)]
pub enum Refusal<'a> {
    /// A signed-in user (from a verified session) refused by an app's rules.
    App {
        account: &'a str,
        resource: &'a str,
        reason: &'a str,
        switch_url: &'a str,
    },
    /// Refused by address before any sign-in: no account is involved, so none
    /// is named and no other one is offered.
    Network { resource: &'a str },
    /// A login the provider finished but the whitelist (or an unverified
    /// email) refuses: no session was made.
    Login {
        account: &'a str,
        reason: &'a str,
        switch_url: &'a str,
    },
    /// Tinyauth's `/unauthorized` opened without a session: its query names
    /// a user, which nothing vouches for, so the page names nobody.
    NotSignedIn {
        resource: &'a str,
        login_url: &'a str,
    },
}

pub fn unauthorized(look: &Look, refusal: Refusal<'_>) -> String {
    let mut body = String::new();
    match refusal {
        Refusal::App {
            account,
            resource,
            reason,
            switch_url,
        } => {
            let _ = write!(
                body,
                "<p>You are signed in as <strong>{}</strong>, but you cannot open <strong>{}</strong>.</p>\
<p>{}</p>{}",
                escape(account),
                escape(resource),
                escape(reason),
                button("btn secondary", switch_url, "Sign in with another account"),
            );
        }
        Refusal::Network { resource } => {
            let _ = write!(
                body,
                "<p><strong>{}</strong> cannot be opened from your network address.</p>\
<p class=\"muted\">If you think this is wrong, ask your administrator.</p>",
                escape(resource),
            );
        }
        Refusal::Login {
            account,
            reason,
            switch_url,
        } => {
            let _ = write!(
                body,
                "<p>You signed in as <strong>{}</strong>.</p><p>{}</p>{}",
                escape(account),
                escape(reason),
                button("btn secondary", switch_url, "Sign in with another account"),
            );
        }
        Refusal::NotSignedIn {
            resource,
            login_url,
        } => {
            let what = if resource.is_empty() {
                "this app".to_owned()
            } else {
                format!("<strong>{}</strong>", escape(resource))
            };
            let _ = write!(
                body,
                "<p>You are not signed in, so {what} cannot be opened.</p>{}",
                button("btn", login_url, "Log in"),
            );
        }
    }
    titled(look, "Unauthorized", &body)
}

pub fn error(
    look: &Look,
    heading: &str,
    message: &str,
    retry_url: &str,
    incident: Incident<'_>,
) -> String {
    let time = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(incident.at));
    let mut body = format!(
        "<p>{}</p>{}<p class=\"muted\">If this keeps happening, tell your administrator \
the time{} below.<br>Time: {}",
        escape(message),
        button("btn", retry_url, "Try again"),
        if incident.request_id.is_some() {
            " and the request ID"
        } else {
            ""
        },
        escape(&time),
    );
    if let Some(id) = incident.request_id {
        let _ = write!(body, "<br>Request ID: <code>{}</code>", escape(id));
    }
    body.push_str("</p>");
    titled(look, heading, &body)
}

pub fn not_found(look: &Look, home_url: &str) -> String {
    let body = format!(
        "<p>There is nothing here.</p>{}",
        button("btn secondary", home_url, "Go to the login page")
    );
    titled(look, "Not found", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look() -> Look {
        Look {
            title: "T<".into(),
            ..Look::default()
        }
    }

    #[test]
    fn escapes_everything_dynamic() {
        let html = unauthorized(
            &look(),
            Refusal::App {
                account: "\"bob\"",
                resource: "<script>alert(1)</script>",
                reason: "r&d",
                switch_url: "https://a/?x=\"><img>",
            },
        );
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("&quot;bob&quot;"));
        assert!(html.contains("r&amp;d"));
        assert!(!html.contains("\"><img>"));
        assert!(html.contains("<title>Unauthorized · T&lt;</title>"));
    }

    #[test]
    fn login_lists_providers_and_does_not_repeat_the_title() {
        let look = Look {
            title: "Tinyauth".into(),
            ..Look::default()
        };
        let html = login(
            &look,
            &[LoginOption {
                name: "Pocket ID",
                url: "https://auth.example.com/api/oauth/start/generic?a=1&b=2".into(),
            }],
            None,
        );
        assert!(html.contains("Login with Pocket ID"));
        assert!(html.contains("start/generic?a=1&amp;b=2"));
        assert!(html.contains("<title>Tinyauth</title>"));
        assert!(html.contains("<h1>Welcome to Tinyauth</h1>"));
    }

    #[test]
    fn only_a_signed_in_refusal_names_an_account_and_offers_another() {
        let network = unauthorized(&look(), Refusal::Network { resource: "admin" });
        assert!(!network.contains("signed in"));
        assert!(!network.contains("another account"));
        let anonymous = unauthorized(
            &look(),
            Refusal::NotSignedIn {
                resource: "admin",
                login_url: "https://auth/login",
            },
        );
        assert!(anonymous.contains("You are not signed in"));
        assert!(!anonymous.contains("another account"));
    }

    #[test]
    fn error_pages_carry_the_time_and_request_id() {
        let html = error(
            &look(),
            "Login failed",
            "The provider did not answer.",
            "https://auth/login",
            Incident {
                at: 1_796_617_513,
                request_id: Some("abc-<1>"),
            },
        );
        assert!(
            html.contains("Time: Mon, 07 Dec 2026 04:25:13 GMT"),
            "{html}"
        );
        assert!(html.contains("Request ID: <code>abc-&lt;1&gt;</code>"));
        let without = error(
            &look(),
            "Login failed",
            "x",
            "/",
            Incident {
                at: 0,
                request_id: None,
            },
        );
        assert!(!without.contains("Request ID"));
    }

    #[test]
    fn background_and_logo() {
        let look = Look {
            title: "T".into(),
            background_image: Some("https://img.example/bg.jpg".into()),
            logo: Some("https://img.example/logo.svg?a=1&b=2".into()),
        };
        let html = not_found(&look, "/");
        assert!(html.contains("url(\"https://img.example/bg.jpg\")"));
        assert!(
            html.contains("<img class=\"logo\" src=\"https://img.example/logo.svg?a=1&amp;b=2\"")
        );
    }
}
