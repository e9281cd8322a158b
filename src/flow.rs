//! The filter's entry points: every request and every provider reply goes
//! through [`on_request`] or [`on_call_reply`], pure functions of the
//! configuration, the request, the time and randomness that return a
//! [`Decision`].

use std::borrow::Cow;

use std::net::IpAddr;

use crate::access::{self, Denial, Gate, NoSession};
use crate::config::{App, Config};
use crate::decision::{loggable, Audit, CallReply, Forward, Level, Response};
use crate::http::cookie;
use crate::http::ip::client_ip;
use crate::http::pages;
use crate::http::request::RequestView;
use crate::http::respond::{self, host_in_scope, json_status, login_url};
use crate::http::url::form;
use crate::metrics::{Count, Refusal, SessionEnd};
use crate::oidc::auth_host;
use crate::oidc::discovery::Runtime;
use crate::oidc::exchange;
use crate::oidc::login;
use crate::oidc::refresh;
use crate::oidc::{Action, Decision, Pending};
use crate::session::crypto::Entropy;
use crate::session::identity::Identity;
use crate::session::Session;

/// Decides what to do with a request.
pub fn on_request(
    config: &Config,
    runtime: &Runtime,
    req: &RequestView<'_>,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    let host = req.host();
    if host == config.site.app_url.host() {
        return auth_host::handle(config, runtime, req, now, rng);
    }
    protect(config, runtime, req, &host, now, rng)
}

/// Continues a request that was paused for a provider call.
pub fn on_call_reply(
    config: &Config,
    runtime: &Runtime,
    pending: Pending,
    reply: &CallReply,
    now: u64,
    request_id: Option<&str>,
    rng: &mut dyn Entropy,
) -> Decision {
    match pending {
        Pending::Login(step) => {
            exchange::on_call_reply(config, runtime, step, reply, now, request_id, rng)
        }
        Pending::Refresh {
            request,
            refreshing,
        } => match refresh::on_reply(config, runtime, *refreshing, reply, now, rng) {
            refresh::Next::Call { call, refreshing } => Decision::new(Action::Call {
                call,
                pending: Pending::Refresh {
                    request,
                    refreshing: Box::new(refreshing),
                },
            }),
            refresh::Next::Done(done) => {
                let req = request.view();
                after_refresh(config, runtime, &req, done, now, rng)
            }
        },
        Pending::Revoke { response, provider } => {
            let decision = Decision::new(Action::Respond(*response));
            match reply.status {
                Some(200..=299) => decision,
                _ => decision.with_log(
                    Level::Warn,
                    format!(
                        "provider {provider}: could not revoke a logged-out session's refresh token ({})",
                        reply.status.map_or("no answer".to_owned(), |s| format!("HTTP {s}"))
                    ),
                ),
            }
        }
    }
}

fn protect(
    config: &Config,
    runtime: &Runtime,
    req: &RequestView<'_>,
    host: &str,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    let app = access::find_app(config, host);
    let client = if config.uses_client_ip {
        client_ip(req.peer, req.forwarded_for, &config.trusted_proxies)
    } else {
        None
    };
    match access::gate(config, app, req.path_only(), client) {
        gate @ (Gate::Bypass | Gate::Public) => {
            let count = if gate == Gate::Bypass {
                Count::AllowedBypass
            } else {
                Count::AllowedPublic
            };
            let (forward, _) = forward(config, req, app, None, now);
            return Decision::new(Action::Forward(forward)).with_count(count);
        }
        Gate::Blocked => {
            return forbidden(config, req, host, app, None, Denial::IpBlocked, client);
        }
        Gate::Login => {}
    }
    let session = match access::session_of(config, &runtime.sessions, req, now) {
        Ok(session) => session,
        Err(NoSession::Absent) => return unauthenticated(config, runtime, req, host, now, rng),
        Err(NoSession::Revoked(identity)) => {
            return unauthenticated(config, runtime, req, host, now, rng)
                .with_count(Count::SessionEnded(SessionEnd::Revoked))
                .with_audit(Audit {
                    event: "refused",
                    decision: "deny",
                    reason: "the session was logged out or revoked by configuration".into(),
                    user: identity.username,
                    email: identity.email.unwrap_or_default(),
                    provider: identity.provider,
                    app: app.map(|app| app.name.clone()).unwrap_or_default(),
                });
        }
    };
    if session.refresh.is_some() && session.refresh_due(now, config.refresh.interval) {
        return match refresh::begin(config, runtime, session, now) {
            refresh::Next::Call { call, refreshing } => Decision::new(Action::Call {
                call,
                pending: Pending::Refresh {
                    request: req.pause(),
                    refreshing: Box::new(refreshing),
                },
            }),
            refresh::Next::Done(done) => after_refresh(config, runtime, req, done, now, rng),
        };
    }
    admit(config, req, host, app, client, session, None, now)
}

/// A signed-in request: refused by the app's rules, or forwarded with the
/// user's identity. `cookie` is a new value of the session (from a refresh)
/// that the browser must get.
#[expect(
    clippy::too_many_arguments,
    reason = "the request's parts that protect() already worked out"
)]
fn admit(
    config: &Config,
    req: &RequestView<'_>,
    host: &str,
    app: Option<&App>,
    client: Option<IpAddr>,
    session: Session,
    cookie: Option<String>,
    now: u64,
) -> Decision {
    let set_cookie = |value: &str| {
        let max_age = session.expires_at.saturating_sub(now);
        respond::session_cookie(&config.site, value, max_age)
    };
    if let Err(denial) = access::authorize(config, app, &session.identity) {
        let mut decision = forbidden(
            config,
            req,
            host,
            app,
            Some(&session.identity),
            denial,
            client,
        );
        if let (Some(cookie), Action::Respond(response)) = (&cookie, &mut decision.action) {
            response
                .headers
                .push(("set-cookie".into(), set_cookie(cookie)));
        }
        return decision;
    }
    let fresh = cookie.map(|value| set_cookie(&value));
    let (mut forward, renewed) = forward(config, req, app, Some(session), now);
    if let (Some(fresh), false) = (fresh, renewed) {
        forward.response_headers.push(("set-cookie".into(), fresh));
    }
    let decision = Decision::new(Action::Forward(forward)).with_count(Count::AllowedSession);
    if renewed {
        decision.with_count(Count::SessionRenewed)
    } else {
        decision
    }
}

/// The request of a session that was due for a re-check, once the re-check
/// came out: decided on the refreshed identity, sent to sign in again when
/// the session ended, or refused for now when the provider could not confirm
/// it past the grace period.
fn after_refresh(
    config: &Config,
    runtime: &Runtime,
    req: &RequestView<'_>,
    done: refresh::Done,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    let refresh::Done {
        outcome,
        counts,
        log,
        audit,
    } = done;
    let host = req.host();
    let app = access::find_app(config, &host);
    let set_cookie = |value: &str, session_expires: u64| {
        respond::session_cookie(&config.site, value, session_expires.saturating_sub(now))
    };
    let mut decision = match outcome {
        refresh::Outcome::Continue { session, cookie } => {
            let client = if config.uses_client_ip {
                client_ip(req.peer, req.forwarded_for, &config.trusted_proxies)
            } else {
                None
            };
            admit(config, req, &host, app, client, *session, cookie, now)
        }
        refresh::Outcome::Ended => {
            let mut decision = unauthenticated(config, runtime, req, &host, now, rng);
            if let Action::Respond(response) = &mut decision.action {
                response.headers.push((
                    "set-cookie".into(),
                    respond::clear_session_cookie(&config.site),
                ));
            }
            decision
        }
        refresh::Outcome::Unverified { cookie } => {
            let mut response = respond::error(
                &config.site,
                pages::Incident {
                    at: now,
                    request_id: req.request_id,
                },
                req.is_browser(),
                503,
                "Sign-in cannot be checked",
                "Your sign-in could not be confirmed with the sign-in provider for a while. \
Please try again in a few minutes.",
                &original_url(config, req),
            )
            .header("retry-after", refresh::retry_seconds(config).to_string());
            if let Some(cookie) = cookie {
                let expires = crate::session::Session::open(&cookie, &config.keys.session)
                    .map_or(now, |s| s.expires_at);
                response = response.header("set-cookie", set_cookie(&cookie, expires));
            }
            Decision::new(Action::Respond(response))
        }
    };
    decision.counts.extend(counts);
    decision.log.extend(log);
    if let Some(mut audit) = audit {
        audit.app = app.map(|app| app.name.clone()).unwrap_or_default();
        decision.audit = Some(audit);
    }
    decision
}

/// The header edits for a request that goes upstream: client-sent identity
/// headers removed, the user's identity (if signed in) and the app's configured
/// headers set, the filter's own cookies dropped, and a renewed session cookie
/// when the sliding window says so (and then `true`). The session is
/// consumed: its strings become the header values without being copied.
fn forward(
    config: &Config,
    req: &RequestView<'_>,
    app: Option<&App>,
    session: Option<Session>,
    now: u64,
) -> (Forward, bool) {
    let renewed = session
        .as_ref()
        .and_then(|s| s.renewed_at(now, config.session_expiry, config.session_max_lifetime));
    let mut set = session.map_or_else(Vec::new, |s| identity_headers(s.identity));
    if let Some(app) = app {
        set.extend(
            app.headers
                .iter()
                .map(|(name, value)| (Cow::Owned(name.clone()), value.clone())),
        );
        if let Some(basic) = &app.basic_auth {
            set.push((Cow::Borrowed("authorization"), basic.expose().to_owned()));
        }
    }
    let mut forward = Forward {
        // A header that is set anyway needs no removal: setting replaces every
        // copy the client sent, and each mutation is a host call.
        remove: req
            .spoofed_identity
            .iter()
            .filter(|spoofed| !set.iter().any(|(name, _)| name == *spoofed))
            .map(|name| (*name).to_owned())
            .collect(),
        set,
        cookie: strip_own_cookies(config, &req.cookies),
        response_headers: Vec::new(),
    };
    let mut renewed_cookie = false;
    if let (Some(renewed), Some(key)) = (renewed, config.keys.session.first()) {
        let max_age = renewed.expires_at.saturating_sub(now);
        forward.response_headers.push((
            "set-cookie".into(),
            respond::session_cookie(&config.site, &renewed.seal(key), max_age),
        ));
        renewed_cookie = true;
    }
    (forward, renewed_cookie)
}

/// The URL the browser asked for, to come back to after a login (empty when
/// it is not one the filter may send a browser to).
fn original_url(config: &Config, req: &RequestView<'_>) -> String {
    let original = format!(
        "{}://{}{}",
        config.site.app_url.scheme().as_str(),
        req.authority.to_ascii_lowercase(),
        req.path
    );
    respond::safe_return_url(&config.site, &original).unwrap_or_default()
}

/// No valid session: send browsers to log in, tell API clients where to.
fn unauthenticated(
    config: &Config,
    runtime: &Runtime,
    req: &RequestView<'_>,
    host: &str,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    let browser = req.is_browser();
    if !host_in_scope(&config.site, host) {
        // The session cookie is never sent to this host, so a login could not help.
        let response = respond::error(
            &config.site,
            pages::Incident {
                at: now,
                request_id: req.request_id,
            },
            browser,
            403,
            "Not protected by this sign-in",
            "This address is not under the domain this sign-in service protects.",
            &login_url(&config.site, ""),
        );
        return Decision::respond(
            response,
            Level::Warn,
            format!(
                "refused request for host {} outside cookie domain `{}`",
                loggable(host),
                config.site.cookie_scope
            ),
        )
        .with_count(Count::Refused403(Refusal::Domain));
    }
    let return_to = original_url(config, req);
    if browser {
        if let Some(provider) = config.auto_redirect.and_then(|i| config.providers.get(i)) {
            let how = login::Start::browser(return_to, req.request_id);
            return login::start(config, runtime, provider, how, now, rng);
        }
        return Decision::new(Action::Respond(Response::redirect(login_url(
            &config.site,
            &return_to,
        ))))
        .with_count(Count::RedirectedToLogin);
    }
    Decision::new(Action::Respond(
        json_status(401, "Unauthorized")
            .header("x-tinyauth-location", login_url(&config.site, &return_to)),
    ))
    .with_count(Count::Refused401)
}

fn forbidden(
    config: &Config,
    req: &RequestView<'_>,
    host: &str,
    app: Option<&App>,
    identity: Option<&Identity>,
    denial: Denial,
    client: Option<IpAddr>,
) -> Decision {
    let resource = app.map_or_else(
        || host.split('.').next().unwrap_or(host).to_owned(),
        |app| app.name.clone(),
    );
    let username = identity.map_or("", Identity::display);
    let ip = match (denial, client) {
        (Denial::IpBlocked, Some(ip)) => ip.to_string(),
        _ => String::new(),
    };
    let response = if req.is_browser() {
        let refusal = match identity {
            Some(identity) if denial != Denial::IpBlocked => pages::Refusal::App {
                account: identity.display(),
                resource: &resource,
                reason: denial.public_reason(),
                switch_url: &respond::switch_account_url(&config.site, &original_url(config, req)),
            },
            _ => pages::Refusal::Network {
                resource: &resource,
            },
        };
        Response::new(403).html(pages::unauthorized(&config.site.look, refusal))
    } else {
        let location = format!(
            "{}/unauthorized?{}",
            config.site.app_url.origin(),
            form([
                (
                    "groupErr",
                    if denial.is_group_error() {
                        "true"
                    } else {
                        "false"
                    }
                ),
                ("ip", ip.as_str()),
                ("resource", resource.as_str()),
                ("username", username),
            ])
        );
        json_status(403, "Forbidden").header("x-tinyauth-location", location)
    };
    Decision::new(Action::Respond(response))
        .with_count(Count::Refused403(denial.refusal()))
        .with_audit(Audit {
            event: "refused",
            decision: "deny",
            reason: denial.to_string(),
            user: identity.map(|id| id.username.clone()).unwrap_or_default(),
            email: identity.and_then(|id| id.email.clone()).unwrap_or_default(),
            provider: identity.map(|id| id.provider.clone()).unwrap_or_default(),
            app: resource,
        })
}

/// `Remote-*` headers for the upstream. Values are stripped of control
/// characters (a claim can never inject a header line).
fn identity_headers(identity: Identity) -> Vec<(Cow<'static, str>, String)> {
    let mut headers = Vec::with_capacity(8);
    let mut push = |name: &'static str, value: String| {
        if !value.is_empty() {
            let value = match header_safe(&value) {
                Cow::Borrowed(_) => value,
                Cow::Owned(cleaned) => cleaned,
            };
            headers.push((Cow::Borrowed(name), value));
        }
    };
    push("remote-user", identity.username);
    push("remote-email", identity.email.unwrap_or_default());
    push("remote-name", identity.name);
    // Tinyauth's comma list: a group whose name holds a comma would reach the
    // app as two groups, so it is left out (it still counts for the rules).
    let groups: Vec<&str> = identity
        .groups
        .iter()
        .map(String::as_str)
        .filter(|group| !group.contains(','))
        .collect();
    push("remote-groups", groups.join(","));
    push("remote-sub", identity.sub);
    headers
}

fn header_safe(value: &str) -> Cow<'_, str> {
    // Printable ASCII (nearly every value) needs no per-character decoding.
    let printable_ascii = value.bytes().all(|b| (0x20..0x7f).contains(&b));
    if !printable_ascii && value.chars().any(char::is_control) {
        Cow::Owned(value.chars().filter(|c| !c.is_control()).collect())
    } else {
        Cow::Borrowed(value)
    }
}

/// The `cookie` header without the filter's cookies, when it carries any (an
/// empty string means "remove the header"); apps never see the session, so a
/// compromised app cannot replay it against another.
fn strip_own_cookies(config: &Config, header: &str) -> Option<String> {
    let own = |name: &str| {
        name == config.site.cookies.session_name
            || name == config.site.cookies.id_token_name
            || name.starts_with(&config.site.cookies.flow_prefix)
    };
    cookie::pairs(header)
        .any(|(name, _)| own(name))
        .then(|| cookie::without(header, own).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_lose_control_characters_only() {
        assert!(matches!(header_safe("Alice Anderson"), Cow::Borrowed(_)));
        assert!(matches!(header_safe("Zoë Ōkubo"), Cow::Borrowed(_)));
        assert_eq!(header_safe("a\r\nb\tc\u{7f}d\u{85}e"), "abcde");
        assert_eq!(header_safe("x\u{0}"), "x");
    }
}
