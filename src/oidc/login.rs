//! A login's first half: sending the browser to the provider with a new flow
//! cookie, and checking the callback (its flow cookie, `state`, `iss` and the
//! provider's error) before the code is exchanged (see `exchange`).

use crate::config::{Config, Provider, FLOW_TTL_SECONDS};
use crate::decision::{loggable, Level, Response};
use crate::http::cookie;
use crate::http::pages::Incident;
use crate::http::request::RequestView;
use crate::http::respond::{self, login_url};
use crate::http::url::single_param;
use crate::metrics::{Count, LoginFailure};
use crate::oidc::discovery::{Endpoints, Runtime, RuntimeUpdate};
use crate::oidc::messages::{self, printable};
use crate::oidc::{failed_login, Action, Decision, LoginStep, Pending};
use crate::session::crypto::{ct_eq, Entropy};
use crate::session::login_flow::{flow_id, LoginFlow};

/// The provider's endpoints, or the 503 that says logins through it are not
/// possible yet (discovery or the JWKS has not succeeded). The 503 also makes
/// the provider's next fetch due at once (see [`RuntimeUpdate::RetryNow`]), so
/// a login works within a second or two of the provider becoming reachable
/// rather than after the back-off (up to a minute).
pub(super) fn ready<'r>(
    config: &Config,
    runtime: &'r Runtime,
    provider: &Provider,
    browser: bool,
    incident: Incident<'_>,
) -> Result<&'r Endpoints, Box<Decision>> {
    let index = config.provider_index(&provider.id).unwrap_or(usize::MAX);
    runtime
        .readiness(config, index, incident.at)
        .map_err(|(why, retry)| {
            let retry_now = runtime
                .providers
                .get(index)
                .is_some_and(|state| state.may_retry_now(incident.at));
            let retry = if retry_now { 1 } else { retry };
            let message = format!(
                "Sign-in with {} is temporarily unavailable. Please try again in a moment.",
                provider.name
            );
            let response = respond::error(
                &config.site,
                incident,
                browser,
                503,
                "Sign-in unavailable",
                &message,
                &login_url(&config.site, ""),
            )
            .header("retry-after", retry.to_string());
            let decision =
                failed_login(response, &provider.id, LoginFailure::Unavailable, why, None);
            Box::new(if retry_now {
                decision.with_update(RuntimeUpdate::RetryNow {
                    provider: index,
                    at: incident.at,
                })
            } else {
                decision
            })
        })
}

/// How a login starts.
#[derive(Debug)]
pub struct Start<'a> {
    /// Where to come back to (already validated, or empty).
    pub return_to: String,
    pub browser: bool,
    /// "Sign in with another account": ask the provider to authenticate again
    /// instead of reusing its session (`prompt`).
    pub switch_account: bool,
    pub request_id: Option<&'a str>,
}

impl<'a> Start<'a> {
    /// A browser's login, coming back to `return_to`.
    pub fn browser(return_to: String, request_id: Option<&'a str>) -> Self {
        Self {
            return_to,
            browser: true,
            switch_account: false,
            request_id,
        }
    }
}

/// Starts a login through `provider`: a new flow cookie and a redirect to the
/// provider.
pub fn start(
    config: &Config,
    runtime: &Runtime,
    provider: &Provider,
    how: Start<'_>,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    let Start {
        return_to,
        browser,
        switch_account,
        request_id,
    } = how;
    let incident = Incident {
        at: now,
        request_id,
    };
    let endpoints = match ready(config, runtime, provider, browser, incident) {
        Ok(endpoints) => endpoints,
        Err(unavailable) => return *unavailable,
    };
    let flow = match LoginFlow::start(&provider.id, return_to, now + FLOW_TTL_SECONDS, rng) {
        Ok(flow) => flow,
        Err(err) => {
            let response = respond::error(
                &config.site,
                incident,
                browser,
                500,
                "Sign-in unavailable",
                "The sign-in could not be started. Please try again.",
                &login_url(&config.site, ""),
            );
            return failed_login(
                response,
                &provider.id,
                LoginFailure::Internal,
                format!("cannot start a login: {err}"),
                None,
            );
        }
    };
    let prompt = if switch_account {
        endpoints.switch_account_prompt()
    } else {
        None
    };
    let location = messages::authorize_url(provider, &endpoints.authorize, &flow, prompt);
    let response = Response::redirect(location).header("set-cookie", flow_cookie(config, &flow));
    // Debug only: starts are counted in the metrics; the line lets an operator
    // follow one login through the log by its request ID.
    let started = match request_id {
        Some(id) => format!(
            "login started via {} request_id={}",
            provider.id,
            loggable(id)
        ),
        None => format!("login started via {}", provider.id),
    };
    Decision::new(Action::Respond(response))
        .with_count(Count::LoginStarted)
        .with_log(Level::Debug, started)
}

/// Tinyauth's `GET /api/oauth/url/<id>`: the same start, answered as JSON.
pub fn start_as_json(
    config: &Config,
    runtime: &Runtime,
    provider: &Provider,
    how: Start<'_>,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    let how = Start {
        browser: false,
        ..how
    };
    let mut decision = start(config, runtime, provider, how, now, rng);
    if let Action::Respond(response) = &mut decision.action {
        if let Some(location) = response.header_value("location").map(str::to_owned) {
            let cookie = response
                .header_value("set-cookie")
                .unwrap_or_default()
                .to_owned();
            *response = Response::new(200)
                .json(&LoginUrl {
                    status: 200,
                    message: "OK",
                    url: &location,
                })
                .header("set-cookie", cookie);
        }
    }
    decision
}

/// Tinyauth's answer to `GET /api/oauth/url/<id>`, members in its order.
#[derive(Debug, serde::Serialize)]
struct LoginUrl<'a> {
    status: u16,
    message: &'a str,
    url: &'a str,
}

/// The parameters of a callback, each read at most once (RFC 6749 §3.1).
struct CallbackParams {
    code: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// The provider sent the browser back to `/api/oauth/callback/<id>`: find the
/// login this response belongs to (its cookie and `state`), then check it.
pub fn callback(
    config: &Config,
    runtime: &Runtime,
    provider: &Provider,
    req: &RequestView<'_>,
    now: u64,
) -> Decision {
    let query = req.query();
    let param = |name: &str| single_param(query, name);
    let incident = Incident {
        at: now,
        request_id: req.request_id,
    };
    let fail = |message: &str, reason: String, clear: Option<&str>| {
        let mut response = respond::error(
            &config.site,
            incident,
            true,
            400,
            "Sign-in failed",
            message,
            &login_url(&config.site, ""),
        );
        if let Some(id) = clear {
            response = response.header("set-cookie", respond::clear_flow_cookie(&config.site, id));
        }
        failed_login(response, &provider.id, LoginFailure::State, reason, None)
    };
    let (Ok(state), Ok(code), Ok(error), Ok(iss)) =
        (param("state"), param("code"), param("error"), param("iss"))
    else {
        return fail(MALFORMED, "repeated or undecodable parameters".into(), None);
    };
    let Some(state) = state.filter(|s| !s.is_empty()) else {
        return fail(MALFORMED, "no state".into(), None);
    };
    let id = flow_id(&state);
    let cookie_name = format!("{}{id}", config.site.cookies.flow_prefix);
    let flow = cookie::values(&req.cookies, &cookie_name)
        .filter_map(|value| LoginFlow::open_at(value, &config.keys.flow, now))
        .find(|flow| ct_eq(flow.state.as_bytes(), state.as_bytes()));
    let Some(flow) = flow else {
        return fail(
            "This sign-in link has expired or was started in another browser. Please sign in again.",
            "no valid login cookie for this state".into(),
            (!id.is_empty()).then_some(id),
        );
    };
    check_callback(
        config,
        runtime,
        provider,
        flow,
        CallbackParams { code, error, iss },
        incident,
    )
}

const MALFORMED: &str = "The sign-in response was malformed.";

/// The callback of a known login: provider, issuer (RFC 9207), provider error,
/// then the code exchange.
#[inline(never)]
fn check_callback(
    config: &Config,
    runtime: &Runtime,
    provider: &Provider,
    flow: LoginFlow,
    params: CallbackParams,
    incident: Incident<'_>,
) -> Decision {
    let retry = login_url(&config.site, &flow.return_to);
    let fail = |status: u16, message: &str, reason: String| {
        let response = respond::error(
            &config.site,
            incident,
            true,
            status,
            "Sign-in failed",
            message,
            &retry,
        )
        .header(
            "set-cookie",
            respond::clear_flow_cookie(&config.site, flow.id()),
        );
        let failure = if status == 403 {
            LoginFailure::ProviderError
        } else {
            LoginFailure::State
        };
        failed_login(response, &provider.id, failure, reason, None)
    };
    if flow.provider != provider.id {
        return fail(
            400,
            "The sign-in response does not belong to this login.",
            format!("the login was started with {}", flow.provider),
        );
    }
    let endpoints = match ready(config, runtime, provider, true, incident) {
        Ok(endpoints) => endpoints,
        Err(unavailable) => return *unavailable,
    };
    // RFC 9207: the response names its issuer, so a mix-up with another
    // provider is caught before any code is sent anywhere.
    match &params.iss {
        Some(iss)
            if !endpoints.issuer.is_empty() && iss.trim_end_matches('/') != endpoints.issuer =>
        {
            return fail(
                400,
                MALFORMED,
                format!("iss `{}` is not the provider's issuer", printable(iss, 200)),
            );
        }
        None if endpoints.iss_parameter_supported => {
            return fail(
                400,
                MALFORMED,
                "no iss although the provider promises it (RFC 9207)".into(),
            );
        }
        _ => {}
    }
    if let Some(error) = params.error {
        let error = printable(&error, 64);
        return fail(
            403,
            &format!("{} did not sign you in ({error}).", provider.name),
            format!("provider returned error `{error}`"),
        );
    }
    let Some(code) = params.code.filter(|c| !c.is_empty()) else {
        return fail(400, MALFORMED, "no code".into());
    };
    let call = messages::token_request(provider, &endpoints.token, &code, &flow);
    Decision::new(Action::Call {
        call,
        pending: Pending::Login(LoginStep::Token {
            flow,
            browser: true,
        }),
    })
}

/// The signed cookie that carries this login until the callback.
fn flow_cookie(config: &Config, flow: &LoginFlow) -> String {
    let sealed = config
        .keys
        .flow
        .first()
        .map(|key| flow.seal(key))
        .unwrap_or_default();
    respond::flow_cookie(&config.site, flow.id(), &sealed, FLOW_TTL_SECONDS)
}

#[inline(never)]
pub(super) fn provider_gone(
    config: &Config,
    flow: &LoginFlow,
    browser: bool,
    incident: Incident<'_>,
) -> Decision {
    let response = respond::error(
        &config.site,
        incident,
        browser,
        500,
        "Sign-in failed",
        "The sign-in service changed during sign-in. Please sign in again.",
        &login_url(&config.site, &flow.return_to),
    );
    failed_login(
        response,
        &flow.provider,
        LoginFailure::Internal,
        "the login lost its provider state (configuration or discovery changed)".into(),
        None,
    )
}
