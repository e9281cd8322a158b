//! The login exchange: sending the browser to the provider, checking the
//! callback, calling the token and userinfo endpoints, and issuing the session.

use crate::config::{Config, Provider, FLOW_TTL_SECONDS};
use crate::crypto::{ct_eq, Entropy};
use crate::decision::{Action, CallReply, Decision, Level, Pending, Response, Tokens};
use crate::identity::Identity;
use crate::login_flow::{flow_id, LoginFlow};
use crate::oidc::{self, printable, ProviderFailure};
use crate::request::RequestView;
use crate::respond::{self, login_url, respond};
use crate::session::{self, Session};
use crate::url::single_param;
use crate::{cookie, pages};

/// Starts a login through `provider` that returns to `return_to` (already
/// validated, or empty): a new flow cookie and a redirect to the provider.
pub fn start(
    config: &Config,
    provider: &Provider,
    return_to: String,
    browser: bool,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    let flow = match LoginFlow::start(&provider.id, return_to, now + FLOW_TTL_SECONDS, rng) {
        Ok(flow) => flow,
        Err(err) => {
            let response = respond::error(
                config,
                browser,
                500,
                "Sign-in unavailable",
                "The sign-in could not be started. Please try again.",
                &login_url(config, ""),
            );
            return respond(
                response,
                Level::Error,
                format!("cannot start a login: {err}"),
            );
        }
    };
    let location = oidc::authorize_url(provider, &flow);
    let response =
        Response::redirect(location).header("set-cookie", respond::set_flow_cookie(config, &flow));
    Decision::new(Action::Respond(response))
        .with_log(Level::Debug, format!("login started via {}", provider.id))
}

/// Tinyauth's `GET /api/oauth/url/<id>`: the same start, answered as JSON.
pub fn start_as_json(
    config: &Config,
    provider: &Provider,
    return_to: String,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    let mut decision = start(config, provider, return_to, false, now, rng);
    if let Action::Respond(response) = &mut decision.action {
        if let Some(location) = response.header_value("location").map(str::to_owned) {
            let cookie = response
                .header_value("set-cookie")
                .unwrap_or_default()
                .to_owned();
            *response = Response::new(200)
                .json(&serde_json::json!({"status": 200, "message": "OK", "url": location}))
                .header("set-cookie", cookie);
        }
    }
    decision
}

/// The provider sent the browser back to `/api/oauth/callback/<id>`.
pub fn callback(config: &Config, provider: &Provider, req: &RequestView<'_>, now: u64) -> Decision {
    let browser = true;
    let query = req.query();
    let param = |name: &str| single_param(query, name);
    let retry = login_url(config, "");
    let fail = |status: u16, message: &str, log: String, clear: Option<&str>| {
        let mut response =
            respond::error(config, browser, status, "Sign-in failed", message, &retry);
        if let Some(id) = clear {
            response = response.header("set-cookie", respond::clear_flow_cookie(config, id));
        }
        respond(response, Level::Warn, log)
    };

    let (Ok(state), Ok(code), Ok(error)) = (param("state"), param("code"), param("error")) else {
        return fail(
            400,
            "The sign-in response was malformed.",
            format!(
                "callback for {}: repeated or undecodable parameters",
                provider.id
            ),
            None,
        );
    };
    let Some(state) = state.filter(|s| !s.is_empty()) else {
        return fail(
            400,
            "The sign-in response was malformed.",
            format!("callback for {}: no state", provider.id),
            None,
        );
    };
    let id = flow_id(&state);
    let cookie_name = format!("{}{id}", config.cookies.flow_prefix);
    let flow = cookie::values(&req.cookies, &cookie_name)
        .filter_map(|value| LoginFlow::open_at(value, &config.keys.flow, now))
        .find(|flow| ct_eq(flow.state.as_bytes(), state.as_bytes()));
    let Some(flow) = flow else {
        return fail(
            400,
            "This sign-in link has expired or was started in another browser. Please sign in again.",
            format!("callback for {}: no valid login cookie for this state", provider.id),
            (!id.is_empty()).then_some(id),
        );
    };
    let retry = login_url(config, &flow.return_to);
    let fail = |status: u16, message: &str, log: String| {
        let response = respond::error(config, browser, status, "Sign-in failed", message, &retry)
            .header("set-cookie", respond::clear_flow_cookie(config, flow.id()));
        respond(response, Level::Warn, log)
    };
    if flow.provider != provider.id {
        return fail(
            400,
            "The sign-in response does not belong to this login.",
            format!(
                "callback for {}: the login was started with {}",
                provider.id, flow.provider
            ),
        );
    }
    if let Some(error) = error {
        let error = printable(&error, 64);
        return fail(
            403,
            &format!("{} did not sign you in ({error}).", provider.name),
            format!(
                "callback for {}: provider returned error `{error}`",
                provider.id
            ),
        );
    }
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return fail(
            400,
            "The sign-in response was malformed.",
            format!("callback for {}: no code", provider.id),
        );
    };
    let call = oidc::token_request(provider, &code, &flow);
    Decision::new(Action::Call {
        call,
        pending: Pending::Token { flow, browser },
    })
}

/// Continues a paused login with the provider's reply.
pub fn on_call_reply(config: &Config, pending: Pending, reply: &CallReply, now: u64) -> Decision {
    match pending {
        Pending::Token { flow, browser } => {
            let Some(provider) = config.provider(&flow.provider) else {
                return provider_gone(config, &flow, browser);
            };
            match oidc::parse_token_response(reply) {
                Ok(tokens) => {
                    let call = oidc::userinfo_request(provider, &tokens.access_token);
                    Decision::new(Action::Call {
                        call,
                        pending: Pending::UserInfo {
                            flow,
                            browser,
                            tokens,
                        },
                    })
                }
                Err(failure) => {
                    provider_failed(config, provider, &flow, browser, "token", &failure)
                }
            }
        }
        Pending::UserInfo {
            flow,
            browser,
            tokens,
        } => {
            let Some(provider) = config.provider(&flow.provider) else {
                return provider_gone(config, &flow, browser);
            };
            let identity = oidc::successful_body(reply).and_then(|body| {
                Identity::from_json(&provider.id, body).map_err(|_| {
                    ProviderFailure::Junk("userinfo is not a claims object with a sub")
                })
            });
            match identity {
                Ok(identity) => finish(config, provider, &flow, browser, identity, &tokens, now),
                Err(failure) => {
                    provider_failed(config, provider, &flow, browser, "userinfo", &failure)
                }
            }
        }
    }
}

fn finish(
    config: &Config,
    provider: &Provider,
    flow: &LoginFlow,
    browser: bool,
    identity: Identity,
    _tokens: &Tokens,
    now: u64,
) -> Decision {
    let clear_flow = respond::clear_flow_cookie(config, flow.id());
    if let Err(reason) = whitelisted(config, provider, &identity) {
        let who = identity.email.as_deref().unwrap_or(&identity.username);
        let page = pages::unauthorized(
            &config.title,
            &config.title,
            who,
            reason,
            &login_url(config, &flow.return_to),
        );
        let response = if browser {
            Response::new(403).html(page)
        } else {
            respond::json_status(403, "Forbidden")
        };
        return respond(
            response.header("set-cookie", clear_flow),
            Level::Info,
            format!(
                "login refused: user={} provider={}: {reason}",
                identity.username, provider.id
            ),
        );
    }

    let mut expires_at = now.saturating_add(config.session_expiry);
    if config.session_max_lifetime != 0 {
        expires_at = expires_at.min(now.saturating_add(config.session_max_lifetime));
    }
    let username = identity.username.clone();
    let session = Session {
        identity,
        created_at: now,
        expires_at,
    };
    let Some(key) = config.keys.session.first() else {
        return provider_gone(config, flow, browser);
    };
    let sealed = session.seal(key);
    if sealed.len() > session::MAX_COOKIE_VALUE {
        let response = respond::error(
            config,
            browser,
            500,
            "Sign-in failed",
            "Your account has too much profile data (for example, too many groups) to fit in a browser cookie.",
            &login_url(config, &flow.return_to),
        )
        .header("set-cookie", clear_flow);
        return respond(
            response,
            Level::Error,
            format!("login refused: user={username}: the session would be {} bytes, over the cookie limit", sealed.len()),
        );
    }
    let location = if flow.return_to.is_empty() {
        format!("{}/", config.app_url.origin())
    } else {
        // Checked when the flow started; checked again in case the configuration
        // changed since.
        respond::safe_return_url(config, &flow.return_to)
            .unwrap_or_else(|| format!("{}/", config.app_url.origin()))
    };
    let response = Response::redirect(location)
        .header(
            "set-cookie",
            respond::session_cookie(config, &sealed, config.session_expiry),
        )
        .header("set-cookie", clear_flow);
    respond(
        response,
        Level::Info,
        format!("login: user={username} provider={}", provider.id),
    )
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

fn provider_failed(
    config: &Config,
    provider: &Provider,
    flow: &LoginFlow,
    browser: bool,
    step: &str,
    failure: &ProviderFailure,
) -> Decision {
    let response = respond::error(
        config,
        browser,
        502,
        "Sign-in failed",
        &format!(
            "{} did not answer correctly. Please try again in a moment.",
            provider.name
        ),
        &login_url(config, &flow.return_to),
    )
    .header("set-cookie", respond::clear_flow_cookie(config, flow.id()));
    respond(
        response,
        Level::Error,
        format!(
            "login via {} failed at the {step} endpoint: {failure}",
            provider.id
        ),
    )
}

fn provider_gone(config: &Config, flow: &LoginFlow, browser: bool) -> Decision {
    let response = respond::error(
        config,
        browser,
        500,
        "Sign-in failed",
        "The configuration changed during sign-in. Please sign in again.",
        &login_url(config, &flow.return_to),
    );
    respond(
        response,
        Level::Warn,
        "login lost its provider after a configuration change",
    )
}
