//! The valid session a request carries: its cookie, the email whitelist that must
//! still admit it, and the revocations (logouts, `sessionsNotBefore`,
//! `revokedUsers`) that must not name it: checked on every request, so removing an
//! address from the whitelist ends its sessions.

use crate::config::{Config, Provider};
use crate::http::cookie;
use crate::http::request::RequestView;
use crate::session::identity::Identity;
use crate::session::Session;
use crate::session::Sessions;

/// The valid session the request carries, if any. The email whitelist is
/// checked again, so removing someone from it ends their sessions.
pub fn signed_in(
    config: &Config,
    sessions: &Sessions,
    req: &RequestView<'_>,
    now: u64,
) -> Option<Session> {
    session_of(config, sessions, req, now).ok()
}

/// Why a request has no session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoSession {
    /// No valid cookie (none, expired, forged, or refused by the whitelist).
    Absent,
    /// A valid cookie of a session that was logged out, or that
    /// `auth.sessionsNotBefore` / `auth.revokedUsers` ended: someone holds
    /// a copy, worth an audit line.
    Revoked(Box<Identity>),
}

/// [`signed_in`], saying why there is none.
pub fn session_of(
    config: &Config,
    sessions: &Sessions,
    req: &RequestView<'_>,
    now: u64,
) -> Result<Session, NoSession> {
    let mut revoked = None;
    let found = cookie::values(&req.cookies, &config.site.cookies.session_name)
        .filter_map(|value| {
            sessions
                .verified
                .open_at(
                    value,
                    &config.keys.session,
                    now,
                    config.session_max_lifetime,
                )
                .ok()
        })
        .find(|session| {
            let identity = &session.identity;
            let allowed = config
                .provider(&identity.provider)
                .is_some_and(|provider| whitelisted(config, provider, identity).is_ok());
            if !allowed {
                return false;
            }
            let ended = config.revocations.ends(
                session.created_at,
                &identity.username,
                identity.email.as_deref(),
            ) || sessions
                .revoked
                .contains(&*sessions.shared, &session.login, now);
            if ended {
                revoked = Some(identity.clone());
            }
            !ended
        });
    match (found, revoked) {
        (Some(session), _) => Ok(session),
        (None, Some(identity)) => Err(NoSession::Revoked(Box::new(identity))),
        (None, None) => Err(NoSession::Absent),
    }
}

/// The email whitelist that applies to `provider` (its own, else the global one).
/// Users without an email are refused whenever a whitelist applies.
pub fn whitelisted(
    config: &Config,
    provider: &Provider,
    identity: &Identity,
) -> Result<(), &'static str> {
    let whitelist = config.whitelist_for(provider);
    if whitelist.is_empty() {
        return Ok(());
    }
    match identity.email.as_deref() {
        None => Err("Your account has no email address, which this site requires."),
        Some(email) if whitelist.matches(email) == Some(true) => Ok(()),
        Some(_) => Err("Your email address is not allowed to sign in here."),
    }
}
