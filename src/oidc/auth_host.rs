//! Everything on the auth host (the host of `appUrl`) is answered by the filter
//! itself and never forwarded: login page, login start, provider callbacks,
//! logout, the unauthorized page and health.

use std::collections::BTreeMap;

use crate::access::signed_in;
use crate::config::Config;
use crate::decision::{loggable, Audit, Level, Response};
use crate::http::cookie;
use crate::http::pages::{self, LoginOption};
use crate::http::request::RequestView;
use crate::http::respond::{
    self, json_status, login_url, safe_return_url, switch_account_url, CALLBACK_PREFIX,
};
use crate::http::url::single_param;
use crate::metrics::Count;
use crate::oidc::discovery::Runtime;
use crate::oidc::login;
use crate::oidc::messages;
use crate::oidc::{Action, Decision, Pending};
use crate::session::crypto::Entropy;
use crate::session::{refresh_token, Session};

const START_PREFIX: &str = "/api/oauth/start/";
/// Tinyauth's JSON variant of the start endpoint.
const URL_PREFIX: &str = "/api/oauth/url/";

pub fn handle(
    config: &Config,
    runtime: &Runtime,
    req: &RequestView<'_>,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    let path = req.path_only();
    let read_only = matches!(req.method, "GET" | "HEAD");
    match path {
        "/api/healthz" => return health(config, runtime, now),
        "/api/livez" => return Decision::new(Action::Respond(json_status(200, "Alive"))),
        _ => {}
    }
    if path == "/api/user/logout" && req.method == "POST" {
        let session = signed_in(config, &runtime.sessions, req, now);
        return local_logout(
            config,
            runtime,
            session.as_ref(),
            json_status(200, "Logout successful"),
            String::new(),
            now,
        );
    }
    if !read_only {
        return Decision::new(Action::Respond(
            json_status(405, "Method Not Allowed").header("allow", "GET, HEAD"),
        ));
    }
    let return_to = || return_to(config, req);
    let start = || login::Start {
        return_to: return_to(),
        browser: req.is_browser(),
        switch_account: switching_account(req),
        request_id: req.request_id,
    };
    match path {
        "/" | "/login" if switching_account(req) => switch_account(config, runtime, req, now, rng),
        "/" | "/login" => login_page(config, runtime, req, return_to(), now, rng),
        "/logout" => logout(config, runtime, req, now, rng),
        "/logout/done" => {
            let page = pages::logged_out(&config.site.look, &login_url(&config.site, ""));
            Decision::new(Action::Respond(Response::new(200).html(page)))
        }
        "/unauthorized" => unauthorized_page(config, runtime, req, now),
        _ => {
            if let Some(id) = path.strip_prefix(START_PREFIX) {
                return match config.provider(id) {
                    Some(provider) => login::start(config, runtime, provider, start(), now, rng),
                    None => not_found(config),
                };
            }
            if let Some(id) = path.strip_prefix(URL_PREFIX) {
                return match config.provider(id) {
                    Some(provider) => {
                        login::start_as_json(config, runtime, provider, start(), now, rng)
                    }
                    None => not_found(config),
                };
            }
            if let Some(id) = path.strip_prefix(CALLBACK_PREFIX) {
                return match config.provider(id) {
                    Some(provider) => login::callback(config, runtime, provider, req, now),
                    None => not_found(config),
                };
            }
            not_found(config)
        }
    }
}

fn login_page(
    config: &Config,
    runtime: &Runtime,
    req: &RequestView<'_>,
    return_to: String,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    if let Some(session) = signed_in(config, &runtime.sessions, req, now) {
        if !return_to.is_empty() {
            return Decision::new(Action::Respond(Response::redirect(return_to)));
        }
        let identity = &session.identity;
        let display = identity.email.as_deref().unwrap_or(&identity.username);
        let provider = config
            .provider(&identity.provider)
            .map_or(identity.provider.as_str(), |p| p.name.as_str());
        let logout = format!("{}/logout", config.site.app_url.origin());
        let page = pages::signed_in(&config.site.look, display, provider, &logout);
        return Decision::new(Action::Respond(Response::new(200).html(page)));
    }
    if let Some(provider) = config.auto_redirect.and_then(|i| config.providers.get(i)) {
        if !return_to.is_empty() {
            let how = login::Start::browser(return_to, req.request_id);
            return login::start(config, runtime, provider, how, now, rng);
        }
    }
    let notice = (single_param(req.query(), "logged_out")
        .ok()
        .flatten()
        .is_some())
    .then_some("You have been logged out.");
    provider_choice(config, &return_to, false, notice)
}

/// The login page's buttons, one per provider.
fn provider_choice(
    config: &Config,
    return_to: &str,
    switch_account: bool,
    notice: Option<&str>,
) -> Decision {
    let options: Vec<LoginOption<'_>> = config
        .providers
        .iter()
        .map(|provider| LoginOption {
            name: &provider.name,
            url: respond::auth_host_url(
                &config.site,
                &format!("{START_PREFIX}{}", provider.id),
                &[
                    ("redirect_uri", return_to),
                    ("switch", if switch_account { "1" } else { "" }),
                ],
            ),
        })
        .collect();
    let page = pages::login(&config.site.look, &options, notice);
    Decision::new(Action::Respond(Response::new(200).html(page)))
}

/// `switch=1` on the login page or a provider's start: "Sign in with another
/// account".
fn switching_account(req: &RequestView<'_>) -> bool {
    single_param(req.query(), "switch")
        .ok()
        .flatten()
        .is_some_and(|value| value == "1")
}

/// The request's `redirect_uri`, when it is one the filter may send a
/// browser to; else empty.
fn return_to(config: &Config, req: &RequestView<'_>) -> String {
    single_param(req.query(), "redirect_uri")
        .ok()
        .flatten()
        .and_then(|candidate| safe_return_url(&config.site, &candidate))
        .unwrap_or_default()
}

/// "Sign in with another account": the local session ends (the provider's
/// does not, which would sign the user out of its other apps), and the login
/// that follows asks the provider to authenticate again (`prompt`), straight
/// away when there is only one provider or an `autoRedirect`.
fn switch_account(
    config: &Config,
    runtime: &Runtime,
    req: &RequestView<'_>,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    let return_to = return_to(config, req);
    let session = signed_in(config, &runtime.sessions, req, now);
    let only = match config.providers.as_slice() {
        [only] => Some(only),
        _ => config.auto_redirect.and_then(|i| config.providers.get(i)),
    };
    let next = match only {
        Some(provider) => {
            let how = login::Start {
                return_to,
                browser: true,
                switch_account: true,
                request_id: req.request_id,
            };
            login::start(config, runtime, provider, how, now, rng)
        }
        None => provider_choice(config, &return_to, true, Some("Choose how to sign in.")),
    };
    let Action::Respond(response) = next.action else {
        return next;
    };
    if session.is_none() {
        // Nobody was signed in: nothing to log out or audit, but the cookies
        // are cleared all the same.
        let response = response
            .header("set-cookie", respond::clear_session_cookie(&config.site))
            .header("set-cookie", respond::id_token_cookie(&config.site, "", 0));
        let mut decision = Decision::new(Action::Respond(response));
        decision.counts = next.counts;
        decision.log = next.log;
        decision.audit = next.audit;
        return decision;
    }
    let mut logout = local_logout(
        config,
        runtime,
        session.as_ref(),
        response,
        "switching account".into(),
        now,
    );
    logout.counts.extend(next.counts);
    logout.log.extend(next.log);
    logout
}

/// Tinyauth's health endpoint, made truthful: 200 only when every provider
/// can log users in (configuration loaded, discovery and key set ready in
/// this VM), else 503 saying what each provider lacks. Liveness, which a
/// provider outage must not fail, is `/api/livez`.
fn health(config: &Config, runtime: &Runtime, now: u64) -> Decision {
    #[derive(Debug, serde::Serialize)]
    struct Health<'a> {
        status: u16,
        message: &'a str,
        providers: BTreeMap<&'a str, String>,
    }
    let providers: BTreeMap<&str, String> = config
        .providers
        .iter()
        .enumerate()
        .map(|(index, provider)| {
            let state = match runtime.readiness(config, index, now) {
                Ok(_) => "ready".to_owned(),
                Err((why, _)) => why,
            };
            (provider.id.as_str(), state)
        })
        .collect();
    let ready = providers.values().all(|state| state == "ready");
    let (status, message) = if ready {
        (200, "Healthy")
    } else {
        (503, "Sign-in is not ready for every provider")
    };
    let response = Response::new(status).json(&Health {
        status,
        message,
        providers,
    });
    Decision::new(Action::Respond(response))
}

/// Clears the session cookie and the kept ID token, and ends the session on
/// every VM of this Envoy even for a copy of the cookie (shared data); when
/// the session holds a refresh token and the provider can revoke it (RFC
/// 7009), the response waits for that, so no other Envoy can refresh it.
/// Counted, and one audit line naming the user when there was a session.
fn local_logout(
    config: &Config,
    runtime: &Runtime,
    session: Option<&Session>,
    response: Response,
    reason: String,
    now: u64,
) -> Decision {
    let response = response
        .header("set-cookie", respond::clear_session_cookie(&config.site))
        .header("set-cookie", respond::id_token_cookie(&config.site, "", 0));
    let mut log = None;
    if let Some(session) = session {
        // A copy renewed up to now expires by now + sessionExpiry at the latest.
        let mut until = now.saturating_add(config.session_expiry);
        if config.session_max_lifetime != 0 {
            until = until.min(
                session
                    .created_at
                    .saturating_add(config.session_max_lifetime),
            );
        }
        let sessions = &runtime.sessions;
        if !sessions
            .revoked
            .revoke(&*sessions.shared, &session.login, until, now)
        {
            log = Some(format!(
                "could not record the logout of {} for the other workers (shared data busy)",
                loggable(&session.identity.username)
            ));
        }
    }
    let revocation = session.and_then(|session| {
        let index = config.provider_index(&session.identity.provider)?;
        let provider = config.providers.get(index)?;
        let endpoint = runtime
            .providers
            .get(index)?
            .endpoints
            .as_ref()?
            .revocation
            .as_ref()?;
        let token = refresh_token::open(
            &config.keys.refresh_token,
            &session.login,
            session.refresh.as_deref()?,
        )?;
        Some((
            messages::revocation_request(provider, endpoint, &token),
            provider.id.clone(),
        ))
    });
    let action = match revocation {
        Some((call, provider)) => Action::Call {
            call,
            pending: Pending::Revoke {
                response: Box::new(response),
                provider,
            },
        },
        None => Action::Respond(response),
    };
    let identity = session.map(|s| &s.identity);
    let mut decision = Decision::new(action);
    if let Some(log) = log {
        decision = decision.with_log(Level::Error, log);
    }
    decision.with_count(Count::Logout).with_audit(Audit {
        event: "logout",
        decision: "allow",
        reason,
        user: identity.map(|id| id.username.clone()).unwrap_or_default(),
        email: identity.and_then(|id| id.email.clone()).unwrap_or_default(),
        provider: identity.map(|id| id.provider.clone()).unwrap_or_default(),
        app: String::new(),
    })
}

/// `GET /logout`: ends the local session and, when the provider offers it,
/// the provider's session too (RP-initiated logout, with the kept ID token as
/// `id_token_hint`); the provider then sends the browser to
/// `postLogoutRedirectUri` (by default `/logout/done`).
fn logout(
    config: &Config,
    runtime: &Runtime,
    req: &RequestView<'_>,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    let id_token = cookie::values(&req.cookies, &config.site.cookies.id_token_name)
        .find(|value| !value.is_empty());
    let session = signed_in(config, &runtime.sessions, req, now);
    let provider_logout = session.as_ref().and_then(|session| {
        let index = config.provider_index(&session.identity.provider)?;
        let provider = config.providers.get(index)?;
        let endpoints = runtime.providers.get(index)?.endpoints.as_ref()?;
        let end_session = endpoints
            .end_session
            .as_ref()
            .filter(|_| provider.logout_at_provider)?;
        let hint = id_token?;
        let state = crate::session::crypto::random_token(rng).ok()?;
        let location = end_session.with_params([
            ("id_token_hint", hint),
            (
                "post_logout_redirect_uri",
                provider.post_logout_redirect_uri.as_str(),
            ),
            ("client_id", provider.client_id.as_str()),
            ("state", state.as_str()),
        ]);
        Some((provider.id.clone(), location))
    });
    if let Some((provider, location)) = provider_logout {
        return local_logout(
            config,
            runtime,
            session.as_ref(),
            Response::redirect(location),
            format!("continues at provider {provider}"),
            now,
        );
    }
    let page = pages::logged_out(&config.site.look, &login_url(&config.site, ""));
    local_logout(
        config,
        runtime,
        session.as_ref(),
        Response::new(200).html(page),
        String::new(),
        now,
    )
}

/// Tinyauth's `/unauthorized?username=&resource=&groupErr=&ip=` page, the target
/// of `x-tinyauth-location` on API refusals. Anyone can write that query, so
/// the account it names comes from the request's own session, never from
/// `username`; `resource` is shown only when it looks like the host label
/// Tinyauth puts there.
fn unauthorized_page(
    config: &Config,
    runtime: &Runtime,
    req: &RequestView<'_>,
    now: u64,
) -> Decision {
    let param = |name: &str| {
        single_param(req.query(), name)
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    let resource = param("resource");
    let resource = if !resource.is_empty()
        && resource.len() <= 63
        && resource
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        resource
    } else {
        String::new()
    };
    let session = signed_in(config, &runtime.sessions, req, now);
    let refusal = match &session {
        _ if !param("ip").is_empty() => pages::Refusal::Network {
            resource: if resource.is_empty() {
                "This app"
            } else {
                &resource
            },
        },
        Some(session) => pages::Refusal::App {
            account: session.identity.display(),
            resource: if resource.is_empty() {
                "this app"
            } else {
                &resource
            },
            reason: if param("groupErr") == "true" {
                "You are not in a group that may use this app."
            } else {
                "Your account is not allowed to use this app."
            },
            switch_url: &switch_account_url(&config.site, ""),
        },
        None => pages::Refusal::NotSignedIn {
            resource: &resource,
            login_url: &login_url(&config.site, ""),
        },
    };
    let page = pages::unauthorized(&config.site.look, refusal);
    Decision::new(Action::Respond(Response::new(403).html(page)))
}

fn not_found(config: &Config) -> Decision {
    let page = pages::not_found(&config.site.look, &login_url(&config.site, ""));
    Decision::new(Action::Respond(Response::new(404).html(page)))
}
