//! Per-app access control, in Tinyauth's order: IP bypass, path rule, IP
//! allow/block (before login), then the user/email rule and the group rule (for
//! a signed-in user), then the ACL policy when no rule decided. Every rule was
//! compiled at configure time; nothing here allocates unless a path must be
//! normalised.

mod signed_in;

use std::fmt;
use std::net::IpAddr;

use crate::config::{App, Config, Policy};
use crate::metrics::Refusal;
use crate::session::identity::Identity;
pub use signed_in::{session_of, signed_in, whitelisted, NoSession};

/// Why a request was refused. `Display` is for logs; pages use
/// [`Denial::public_reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The client address is blocked, or not on an allow list.
    IpBlocked,
    /// `users.allow`/`users.block` refused the username.
    UserNotAllowed,
    /// The app's `oauth.whitelist` refused the email (or there is none).
    EmailNotAllowed,
    /// `oauth.groups` is set and none of the user's groups match.
    NotInGroup,
    /// No rule allowed the user and `auth.acls.policy` is `deny`.
    Policy,
}

impl Denial {
    /// What the user is told, in plain words, without revealing configuration.
    pub fn public_reason(self) -> &'static str {
        match self {
            Self::IpBlocked => "Access from your network address is not allowed.",
            Self::UserNotAllowed | Self::Policy => "Your account is not allowed to use this app.",
            Self::EmailNotAllowed => "Your email address is not allowed to use this app.",
            Self::NotInGroup => "You are not in a group that may use this app.",
        }
    }

    /// Tinyauth's `groupErr` flag on the unauthorized page.
    pub fn is_group_error(self) -> bool {
        matches!(self, Self::NotInGroup)
    }

    /// The counter it goes under.
    pub fn refusal(self) -> Refusal {
        match self {
            Self::IpBlocked => Refusal::Ip,
            Self::UserNotAllowed => Refusal::User,
            Self::EmailNotAllowed => Refusal::Whitelist,
            Self::NotInGroup => Refusal::Group,
            Self::Policy => Refusal::Policy,
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::IpBlocked => "client IP blocked by ip.block/ip.allow",
            Self::UserNotAllowed => "refused by users.allow/users.block",
            Self::EmailNotAllowed => "email refused by the app's oauth.whitelist",
            Self::NotInGroup => "not in any of the app's oauth.groups",
            Self::Policy => "no rule allowed the user and auth.acls.policy is deny",
        })
    }
}

/// The app for `host` (lower-case, without port): an exact `config.domain` match
/// first, else the app named like the host's first label.
pub fn find_app<'c>(config: &'c Config, host: &str) -> Option<&'c App> {
    let apps = &config.apps;
    let index = apps.by_domain.get(host).or_else(|| {
        let label = host.split('.').next()?;
        apps.by_name.get(label)
    })?;
    apps.list.get(*index)
}

/// What the rules say before anyone's identity is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The client IP is on a bypass list: no login, no identity.
    Bypass,
    /// The path needs no login (`path.allow` / `path.block`).
    Public,
    /// The client IP is blocked, even for signed-in users.
    Blocked,
    /// A valid session is needed.
    Login,
}

/// Applies the rules that do not depend on the user, in Tinyauth's order. The
/// path rule comes before the IP check, so a public path is reachable even from
/// a blocked address, as in Tinyauth.
pub fn gate(config: &Config, app: Option<&App>, path: &str, client: Option<IpAddr>) -> Gate {
    if let Some(ip) = client {
        if config.ip.bypass.contains(ip) || app.is_some_and(|a| a.ip.bypass.contains(ip)) {
            return Gate::Bypass;
        }
    }
    if app.is_some_and(|app| path_is_public(app, path)) {
        return Gate::Public;
    }
    if ip_blocked(config, app, client) {
        return Gate::Blocked;
    }
    Gate::Login
}

/// Tinyauth's path rule: with `path.block`, only matching paths need a login;
/// with `path.allow`, matching paths need none. The rule must hold for every
/// way an upstream may read the path (see [`crate::http::path`]), and a path
/// that cannot be read for sure is never public. `path.block` matches in any
/// letter case (it was compiled so), because some servers serve `/Admin` as
/// `/admin`; blocking more only asks for a login more often.
fn path_is_public(app: &App, path: &str) -> bool {
    if app.path_allow.is_none() && app.path_block.is_none() {
        return false;
    }
    let Some(readings) = crate::http::path::readings(path) else {
        return false;
    };
    if let Some(block) = &app.path_block {
        if readings.iter().all(|reading| !block.is_match(reading)) {
            return true;
        }
    }
    app.path_allow
        .as_ref()
        .is_some_and(|allow| readings.iter().all(|reading| allow.is_match(reading)))
}

/// Global and app lists are merged. An unknown client address is refused
/// whenever any allow or block list applies.
fn ip_blocked(config: &Config, app: Option<&App>, client: Option<IpAddr>) -> bool {
    let app_rules = app.map(|a| &a.ip);
    let any_allow = !config.ip.allow.is_empty() || app_rules.is_some_and(|r| !r.allow.is_empty());
    let any_block = !config.ip.block.is_empty() || app_rules.is_some_and(|r| !r.block.is_empty());
    let Some(ip) = client else {
        return any_allow || any_block;
    };
    if config.ip.block.contains(ip) || app_rules.is_some_and(|r| r.block.contains(ip)) {
        return true;
    }
    any_allow && !(config.ip.allow.contains(ip) || app_rules.is_some_and(|r| r.allow.contains(ip)))
}

/// Applies the user/email rule and the group rule to a signed-in user; when
/// neither decided, the ACL policy does. Any configured rule that refuses wins.
pub fn authorize(config: &Config, app: Option<&App>, identity: &Identity) -> Result<(), Denial> {
    let mut allowed = false;
    if let Some(app) = app {
        match user_rule(app, identity) {
            Some(Err(denial)) => return Err(denial),
            Some(Ok(())) => allowed = true,
            None => {}
        }
        match app
            .groups
            .matches_any(identity.groups.iter().map(String::as_str))
        {
            Some(false) => return Err(Denial::NotInGroup),
            Some(true) => allowed = true,
            None => {}
        }
    }
    if allowed || config.policy == Policy::Allow {
        Ok(())
    } else {
        Err(Denial::Policy)
    }
}

/// `users.block` (when set it alone decides on the username), else
/// `users.allow`; and the app's `oauth.whitelist` on the email. `None` when
/// none of them is configured.
fn user_rule(app: &App, identity: &Identity) -> Option<Result<(), Denial>> {
    let by_name = if app.users_block.is_empty() {
        app.users_allow.matches(&identity.username)
    } else {
        Some(app.users_block.matches(&identity.username) != Some(true))
    };
    let by_email = (!app.whitelist.is_empty()).then(|| {
        identity
            .email
            .as_deref()
            .is_some_and(|email| app.whitelist.matches(email) == Some(true))
    });
    match (by_name, by_email) {
        (Some(false), _) => Some(Err(Denial::UserNotAllowed)),
        (_, Some(false)) => Some(Err(Denial::EmailNotAllowed)),
        (None, None) => None,
        _ => Some(Ok(())),
    }
}
