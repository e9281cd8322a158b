//! The valid session a request carries, and the email whitelist that must
//! still admit it: checked at login and again on every request, so removing an
//! address from the whitelist ends its sessions.

use crate::config::{Config, Provider};
use crate::http::cookie;
use crate::http::request::RequestView;
use crate::session::cache::Verified;
use crate::session::identity::Identity;
use crate::session::Session;

/// The valid session the request carries, if any (`verified` remembers the
/// cookie values this VM has checked). The email whitelist is checked again,
/// so removing someone from it ends their sessions.
pub fn signed_in(
    config: &Config,
    verified: &Verified,
    req: &RequestView<'_>,
    now: u64,
) -> Option<Session> {
    cookie::values(&req.cookies, &config.site.cookies.session_name)
        .filter_map(|value| {
            verified
                .open_at(
                    value,
                    &config.keys.session,
                    now,
                    config.session_max_lifetime,
                )
                .ok()
        })
        .find(|session| {
            config
                .provider(&session.identity.provider)
                .is_some_and(|provider| whitelisted(config, provider, &session.identity).is_ok())
        })
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
