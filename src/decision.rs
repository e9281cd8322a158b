//! The whole vocabulary between the core and the proxy shell: what to do with a
//! request, and what to log. The shell applies a [`Decision`] verbatim and makes
//! no choices of its own.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::metrics::Count;

/// What the core decided, plus the log lines that explain it. `P` is what a
/// request paused for a provider call carries until the reply, and `U` a
/// change to the per-VM provider state; both belong to the OIDC layer
/// (`oidc::Decision`), which this vocabulary does not know.
#[derive(Debug)]
pub struct Decision<P, U> {
    pub action: Action<P>,
    pub log: Vec<LogLine>,
    /// Changes to the per-VM provider state (a key set fetched during a login).
    pub updates: Vec<U>,
    /// What to count in Envoy's stats.
    pub counts: Vec<Count>,
    /// The audit line this request earns (a login, a refusal, a logout).
    pub audit: Option<Audit>,
}

impl<P, U> Decision<P, U> {
    pub fn new(action: Action<P>) -> Self {
        Self {
            action,
            log: Vec::new(),
            updates: Vec::new(),
            counts: Vec::new(),
            audit: None,
        }
    }

    #[must_use]
    pub fn with_audit(mut self, audit: Audit) -> Self {
        self.audit = Some(audit);
        self
    }

    #[must_use]
    pub fn with_count(mut self, count: Count) -> Self {
        self.counts.push(count);
        self
    }

    #[must_use]
    pub fn with_update(mut self, update: U) -> Self {
        self.updates.push(update);
        self
    }

    #[must_use]
    pub fn with_log(mut self, level: Level, message: impl Into<String>) -> Self {
        self.log.push(LogLine {
            level,
            message: message.into(),
        });
        self
    }

    /// Answer with `response`, logging why.
    pub fn respond(response: Response, level: Level, message: impl Into<String>) -> Self {
        Self::new(Action::Respond(response)).with_log(level, message)
    }
}

/// What happens to the request.
#[derive(Debug)]
pub enum Action<P> {
    /// Let it through to the upstream after editing its headers.
    Forward(Forward),
    /// Answer it from the filter.
    Respond(Response),
    /// Pause it, call the provider, and hand the reply to
    /// `flow::on_call_reply` with `pending`.
    Call { call: OutboundCall, pending: P },
}

/// Header edits on a request that goes upstream.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Forward {
    /// Header names to remove (client-sent identity headers).
    pub remove: Vec<String>,
    /// Headers to set, replacing any value the client sent. Names are usually
    /// static (`remote-user`, …), so they are not allocated per request.
    pub set: Vec<(Cow<'static, str>, String)>,
    /// The new `cookie` header without the filter's own cookies; `Some("")`
    /// means remove the header.
    pub cookie: Option<String>,
    /// Headers to add to the upstream's response (a renewed session cookie).
    pub response_headers: Vec<(String, String)>,
}

/// A response produced by the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The filter's pages load nothing but the configured images, run no
    /// script, and may not be framed (their buttons start logins).
    #[must_use]
    pub fn html(self, body: String) -> Self {
        let mut response = self
            .header("content-type", "text/html; charset=utf-8")
            .header("cache-control", "no-store")
            .header(
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; img-src http: https:; \
base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            )
            .header("x-content-type-options", "nosniff");
        response.body = body.into_bytes();
        response
    }

    /// Tinyauth's JSON shape: `{"status": N, "message": "..."}`.
    #[must_use]
    pub fn json(self, body: &impl serde::Serialize) -> Self {
        let mut response = self
            .header("content-type", "application/json")
            .header("cache-control", "no-store");
        // Our own plain structs always serialise.
        response.body = serde_json::to_vec(body).unwrap_or_default();
        response
    }

    pub fn redirect(location: impl Into<String>) -> Self {
        Self::new(302)
            .header("location", location)
            .header("cache-control", "no-store")
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP call to make through an Envoy cluster (`dispatch_http_call`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCall {
    pub cluster: String,
    /// Includes the pseudo-headers `:method`, `:path` and `:authority`.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout_ms: u64,
}

impl OutboundCall {
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The reply to an [`OutboundCall`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallReply {
    /// `None` when no response arrived (timeout, reset, connection refused
    /// before headers).
    pub status: Option<u16>,
    pub body: Vec<u8>,
    /// Set when Envoy refused to make the call because it has no cluster of
    /// that name.
    pub missing_cluster: Option<String>,
}

impl CallReply {
    /// The call could not be made: Envoy has no cluster `cluster`.
    pub fn missing_cluster(cluster: &str) -> Self {
        Self {
            missing_cluster: Some(cluster.to_owned()),
            ..Self::default()
        }
    }
}

/// A log line for the proxy's log. Never contains tokens, cookies, codes or
/// secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
    /// Nothing can work until an operator acts.
    Critical,
}

/// One audit event: a login (or a failed one), a refusal or a logout. The
/// shell writes it as one `info` line with the client's address (after
/// `trustedProxies`) and Envoy's `x-request-id`, which only it can read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audit {
    /// `login`, `login_failed`, `refused` or `logout`.
    pub event: &'static str,
    /// `allow` or `deny`.
    pub decision: &'static str,
    pub reason: String,
    pub user: String,
    pub email: String,
    pub provider: String,
    pub app: String,
}

impl Audit {
    /// `audit event=refused decision=deny reason="…" user="bob" … ip="…" request_id="…"`:
    /// every value from a request or a provider escaped and cut (see
    /// [`loggable`]); empty fields left out.
    pub fn line(&self, client: Option<IpAddr>, request_id: Option<&str>) -> String {
        let mut line = format!("audit event={} decision={}", self.event, self.decision);
        let client = client.map(|ip| ip.to_string());
        let fields = [
            ("reason", Some(self.reason.as_str())),
            ("user", Some(self.user.as_str())),
            ("email", Some(self.email.as_str())),
            ("provider", Some(self.provider.as_str())),
            ("app", Some(self.app.as_str())),
            ("ip", client.as_deref()),
            ("request_id", request_id),
        ];
        for (name, value) in fields {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                let _ = write!(line, " {name}={}", loggable(value));
            }
        }
        line
    }
}

/// Longest value, in characters, that goes into a log line.
const LOGGED_CHARS: usize = 200;

/// A value from a request or a provider as it goes into a log line: quoted
/// and escaped the way Rust's `Debug` writes strings (`"`, `\`, CR, LF, every
/// control character and line separator become escapes), and cut at 200
/// characters, so no value can forge or flood a line.
pub fn loggable(value: &str) -> Loggable<'_> {
    Loggable(value)
}

/// See [`loggable`].
#[derive(Debug, Clone, Copy)]
pub struct Loggable<'a>(&'a str);

impl std::fmt::Display for Loggable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.char_indices().nth(LOGGED_CHARS) {
            Some((end, _)) => write!(f, "{:?}…", self.0.get(..end).unwrap_or_default()),
            None => write!(f, "{:?}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_values_cannot_forge_or_flood_a_line() {
        assert_eq!(loggable("alice").to_string(), "\"alice\"");
        assert_eq!(
            loggable("a\r\n[info] login: user=\"root\"").to_string(),
            r#""a\r\n[info] login: user=\"root\"""#
        );
        assert_eq!(
            loggable("x\u{85}y\u{2028}z\u{0}").to_string(),
            r#""x\u{85}y\u{2028}z\0""#
        );
        assert_eq!(loggable("Zoë").to_string(), "\"Zoë\"");
        let long = loggable(&"é".repeat(500)).to_string();
        assert_eq!(long.chars().count(), LOGGED_CHARS + 3);
        assert!(long.ends_with("\"…"));
    }

    #[test]
    fn audit_lines_carry_every_field_escaped() {
        let audit = Audit {
            event: "refused",
            decision: "deny",
            reason: "not in any of the app's oauth.groups".into(),
            user: "bob\nevent=login".into(),
            email: "bob@example.com".into(),
            provider: "generic".into(),
            app: "admin".into(),
        };
        let line = audit.line(Some("10.0.0.7".parse().unwrap()), Some("abc-123"));
        assert_eq!(
            line,
            r#"audit event=refused decision=deny reason="not in any of the app's oauth.groups" user="bob\nevent=login" email="bob@example.com" provider="generic" app="admin" ip="10.0.0.7" request_id="abc-123""#
        );
        let bare = Audit {
            event: "logout",
            decision: "allow",
            ..Audit::default()
        }
        .line(None, None);
        assert_eq!(bare, "audit event=logout decision=allow");
    }
}
