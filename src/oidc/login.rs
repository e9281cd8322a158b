//! The login exchange: sending the browser to the provider, checking the
//! callback, exchanging the code, verifying the ID token, reading the claims,
//! and issuing the session.

use crate::oidc::document::Object;

use crate::config::{ClaimsSource, Config, Provider, FLOW_TTL_SECONDS};
use crate::decision::{Action, CallReply, Decision, Level, Pending, Response, Tokens};
use crate::http::request::RequestView;
use crate::http::respond::{self, login_url, respond};
use crate::http::url::single_param;
use crate::http::{cookie, pages};
use crate::oidc::discovery::{self, Endpoints, Runtime, RuntimeUpdate};
use crate::oidc::id_token::{self, Expectations, Rejected};
use crate::oidc::jwks::Jwks;
use crate::oidc::messages::{self, printable, ProviderFailure};
use crate::session::crypto::{ct_eq, Entropy};
use crate::session::identity::Identity;
use crate::session::login_flow::{flow_id, LoginFlow};
use crate::session::{self, Session};

/// The provider's endpoints, or the 503 that says logins through it are not
/// possible yet (discovery or the JWKS has not succeeded).
fn ready<'r>(
    config: &Config,
    runtime: &'r Runtime,
    provider: &Provider,
    browser: bool,
    now: u64,
) -> Result<&'r Endpoints, Box<Decision>> {
    let index = config.provider_index(&provider.id).unwrap_or(usize::MAX);
    runtime
        .readiness(config, index, now)
        .map_err(|(why, retry)| {
            let message = format!(
                "Sign-in with {} is temporarily unavailable. Please try again in a moment.",
                provider.name
            );
            let response = respond::error(
                config,
                browser,
                503,
                "Sign-in unavailable",
                &message,
                &login_url(config, ""),
            )
            .header("retry-after", retry.to_string());
            Box::new(respond(
                response,
                Level::Warn,
                format!("login via {} refused: {why}", provider.id),
            ))
        })
}

/// Starts a login through `provider` that returns to `return_to` (already
/// validated, or empty): a new flow cookie and a redirect to the provider.
pub fn start(
    config: &Config,
    runtime: &Runtime,
    provider: &Provider,
    return_to: String,
    browser: bool,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    let endpoints = match ready(config, runtime, provider, browser, now) {
        Ok(endpoints) => endpoints,
        Err(unavailable) => return *unavailable,
    };
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
    let location = messages::authorize_url(provider, &endpoints.authorize, &flow);
    let response =
        Response::redirect(location).header("set-cookie", respond::set_flow_cookie(config, &flow));
    Decision::new(Action::Respond(response))
        .with_log(Level::Debug, format!("login started via {}", provider.id))
}

/// Tinyauth's `GET /api/oauth/url/<id>`: the same start, answered as JSON.
pub fn start_as_json(
    config: &Config,
    runtime: &Runtime,
    provider: &Provider,
    return_to: String,
    now: u64,
    rng: &mut dyn Entropy,
) -> Decision {
    let mut decision = start(config, runtime, provider, return_to, false, now, rng);
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
    let fail = |message: &str, log: String, clear: Option<&str>| {
        let mut response = respond::error(
            config,
            true,
            400,
            "Sign-in failed",
            message,
            &login_url(config, ""),
        );
        if let Some(id) = clear {
            response = response.header("set-cookie", respond::clear_flow_cookie(config, id));
        }
        respond(
            response,
            Level::Warn,
            format!("callback for {}: {log}", provider.id),
        )
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
    let cookie_name = format!("{}{id}", config.cookies.flow_prefix);
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
        now,
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
    now: u64,
) -> Decision {
    let retry = login_url(config, &flow.return_to);
    let fail = |status: u16, message: &str, log: String| {
        let response = respond::error(config, true, status, "Sign-in failed", message, &retry)
            .header("set-cookie", respond::clear_flow_cookie(config, flow.id()));
        respond(
            response,
            Level::Warn,
            format!("callback for {}: {log}", provider.id),
        )
    };
    if flow.provider != provider.id {
        return fail(
            400,
            "The sign-in response does not belong to this login.",
            format!("the login was started with {}", flow.provider),
        );
    }
    let endpoints = match ready(config, runtime, provider, true, now) {
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
        pending: Pending::Token {
            flow,
            browser: true,
        },
    })
}

/// Continues a paused login with the provider's reply.
pub fn on_call_reply(
    config: &Config,
    runtime: &Runtime,
    pending: Pending,
    reply: &CallReply,
    now: u64,
) -> Decision {
    let flow = match &pending {
        Pending::Token { flow, .. }
        | Pending::Keys { flow, .. }
        | Pending::UserInfo { flow, .. } => flow,
    };
    let (Some(index), Some(provider)) = (
        config.provider_index(&flow.provider),
        config.provider(&flow.provider),
    ) else {
        let browser = !matches!(&pending, Pending::Token { browser: false, .. });
        return provider_gone(config, flow, browser);
    };
    let login = Login {
        config,
        runtime,
        provider,
        index,
        now,
    };
    match pending {
        Pending::Token { flow, browser } => match messages::parse_token_response(reply) {
            Ok(tokens) => login.verify(flow, browser, tokens, None),
            Err(failure) => login.failed(&flow, browser, "token", &failure),
        },
        Pending::Keys {
            flow,
            browser,
            tokens,
        } => {
            let jwks = messages::successful_body(reply).and_then(|body| {
                Jwks::parse(body).map_err(|_| ProviderFailure::Junk("the JWKS is not a key set"))
            });
            match jwks {
                Ok(jwks) => {
                    let decision = login.verify(flow, browser, tokens, Some(&jwks));
                    decision.with_update(RuntimeUpdate::Jwks {
                        provider: index,
                        jwks,
                        at: now,
                    })
                }
                Err(failure) => login.failed(&flow, browser, "JWKS", &failure),
            }
        }
        Pending::UserInfo {
            flow,
            browser,
            tokens,
            id_claims,
        } => {
            let claims = messages::successful_body(reply).and_then(|body| {
                Identity::parse_claims(body)
                    .map_err(|_| ProviderFailure::Junk("userinfo is not a JSON object"))
            });
            let claims = match claims {
                Ok(claims) => claims,
                Err(failure) => return login.failed(&flow, browser, "userinfo", &failure),
            };
            if let Some(id_claims) = &id_claims {
                if id_claims.get("sub") != claims.get("sub") {
                    return login.failed(
                        &flow,
                        browser,
                        "userinfo",
                        &ProviderFailure::Junk("its sub does not match the ID token's sub"),
                    );
                }
            }
            login.finish(&flow, browser, &claims, &tokens)
        }
    }
}

/// One login in progress, for the steps after the callback.
struct Login<'a> {
    config: &'a Config,
    runtime: &'a Runtime,
    provider: &'a Provider,
    index: usize,
    now: u64,
}

impl Login<'_> {
    fn endpoints(&self) -> Option<&Endpoints> {
        self.runtime
            .providers
            .get(self.index)
            .and_then(|s| s.endpoints.as_ref())
    }

    /// Verifies the ID token (when configured), refetching the JWKS once if it
    /// names an unknown key, then moves on to the claims.
    fn verify(
        &self,
        flow: LoginFlow,
        browser: bool,
        tokens: Tokens,
        fresh_keys: Option<&Jwks>,
    ) -> Decision {
        if !self.provider.verify_id_token {
            return self.claims(flow, browser, tokens, None);
        }
        let Some(endpoints) = self.endpoints() else {
            return provider_gone(self.config, &flow, browser);
        };
        let Some(id_token) = tokens.id_token.as_ref() else {
            return self.refused_token(&flow, browser, "the token response has no id_token");
        };
        let state = self.runtime.providers.get(self.index);
        let Some(jwks) = fresh_keys.or_else(|| state.and_then(|s| s.jwks.as_ref())) else {
            return provider_gone(self.config, &flow, browser);
        };
        let expect = Expectations {
            issuer: &endpoints.issuer,
            client_id: &self.provider.client_id,
            nonce: &flow.nonce,
            now: self.now,
            skew: self.provider.clock_skew,
        };
        match id_token::verify(id_token.expose(), jwks, &expect) {
            Ok(claims) => self.claims(flow, browser, tokens, Some(claims)),
            Err(Rejected::UnknownKeyId(kid)) if fresh_keys.is_none() => {
                let allowed = state.is_some_and(|s| s.may_refetch_for(&kid, self.now));
                match &endpoints.jwks {
                    Some(jwks_endpoint) if allowed => {
                        let call = discovery::get_request(jwks_endpoint, self.provider.timeout_ms);
                        let log = format!(
                            "provider {}: ID token signed with unknown kid `{kid}`; refetching the JWKS",
                            self.provider.id
                        );
                        Decision::new(Action::Call {
                            call,
                            pending: Pending::Keys {
                                flow,
                                browser,
                                tokens,
                            },
                        })
                        .with_update(RuntimeUpdate::KidRefetch {
                            provider: self.index,
                            kid,
                            at: self.now,
                        })
                        .with_log(Level::Info, log)
                    }
                    _ => {
                        self.refused_token(&flow, browser, &Rejected::UnknownKeyId(kid).to_string())
                    }
                }
            }
            Err(rejected) => self.refused_token(&flow, browser, &rejected.to_string()),
        }
    }

    /// Reads the claims from the ID token, or asks userinfo for them.
    fn claims(
        &self,
        flow: LoginFlow,
        browser: bool,
        tokens: Tokens,
        id_claims: Option<Object>,
    ) -> Decision {
        match (self.provider.claims_from, id_claims) {
            (ClaimsSource::IdToken, Some(claims)) => self.finish(&flow, browser, &claims, &tokens),
            (_, id_claims) => {
                let userinfo = self.endpoints().and_then(|e| e.userinfo.as_ref());
                let Some(userinfo) = userinfo else {
                    return provider_gone(self.config, &flow, browser);
                };
                let call =
                    messages::userinfo_request(self.provider, userinfo, &tokens.access_token);
                Decision::new(Action::Call {
                    call,
                    pending: Pending::UserInfo {
                        flow,
                        browser,
                        tokens,
                        id_claims,
                    },
                })
            }
        }
    }

    fn finish(
        &self,
        flow: &LoginFlow,
        browser: bool,
        claims: &Object,
        tokens: &Tokens,
    ) -> Decision {
        let (config, provider) = (self.config, self.provider);
        let Ok(identity) = Identity::from_claims(&provider.id, claims, &provider.claim_names)
        else {
            return self.failed(
                flow,
                browser,
                "userinfo",
                &ProviderFailure::Junk("the claims have no sub"),
            );
        };
        let refusal = if provider.require_email_verified
            && !(identity.email.is_some() && Identity::email_verified(claims))
        {
            Err("Your email address is not verified with the sign-in provider.")
        } else {
            whitelisted(config, provider, &identity)
        };
        if let Err(reason) = refusal {
            let who = identity.email.as_deref().unwrap_or(&identity.username);
            let response = if browser {
                Response::new(403).html(pages::unauthorized(
                    &config.title,
                    &config.title,
                    who,
                    reason,
                    &login_url(config, &flow.return_to),
                ))
            } else {
                respond::json_status(403, "Forbidden")
            };
            return respond(
                response.header("set-cookie", respond::clear_flow_cookie(config, flow.id())),
                Level::Info,
                format!(
                    "login refused: user={} provider={}: {reason}",
                    identity.username, provider.id
                ),
            );
        }
        self.issue_session(flow, browser, identity, tokens)
    }

    /// Signs the session cookie and sends the user back where the login began.
    fn issue_session(
        &self,
        flow: &LoginFlow,
        browser: bool,
        identity: Identity,
        tokens: &Tokens,
    ) -> Decision {
        let (config, provider, now) = (self.config, self.provider, self.now);
        let clear_flow = respond::clear_flow_cookie(config, flow.id());
        let mut expires_at = now.saturating_add(config.session_expiry);
        if config.session_max_lifetime != 0 {
            expires_at = expires_at.min(now.saturating_add(config.session_max_lifetime));
        }
        let username = identity.username.clone();
        let session = Session {
            login: flow.id().to_owned(),
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
            // Checked when the flow started; checked again in case the
            // configuration changed since.
            respond::safe_return_url(config, &flow.return_to)
                .unwrap_or_else(|| format!("{}/", config.app_url.origin()))
        };
        let mut response = Response::redirect(location)
            .header(
                "set-cookie",
                respond::session_cookie(config, &sealed, config.session_expiry),
            )
            .header("set-cookie", clear_flow);
        // Kept (host-only, path /logout) for RP-initiated logout's id_token_hint.
        if let Some(id_token) = tokens
            .id_token
            .as_ref()
            .filter(|_| provider.logout_at_provider)
        {
            if id_token.expose().len() <= session::MAX_COOKIE_VALUE {
                response = response.header(
                    "set-cookie",
                    respond::id_token_cookie(config, id_token.expose(), config.session_expiry),
                );
            }
        }
        respond(
            response,
            Level::Info,
            format!("login: user={username} provider={}", provider.id),
        )
    }

    #[inline(never)]
    fn refused_token(&self, flow: &LoginFlow, browser: bool, why: &str) -> Decision {
        self.sign_in_failed(
            flow,
            browser,
            &format!(
                "The answer from {} could not be verified. Please try again.",
                self.provider.name
            ),
            format!("login via {} refused: {why}", self.provider.id),
        )
    }

    #[inline(never)]
    fn failed(
        &self,
        flow: &LoginFlow,
        browser: bool,
        step: &str,
        failure: &ProviderFailure,
    ) -> Decision {
        self.sign_in_failed(
            flow,
            browser,
            &format!(
                "{} did not answer correctly. Please try again in a moment.",
                self.provider.name
            ),
            format!(
                "login via {} failed at the {step} endpoint: {failure}",
                self.provider.id
            ),
        )
    }

    /// A 502 the user can retry from: the flow cookie is cleared and the page
    /// links back to the login with the same return address.
    #[inline(never)]
    fn sign_in_failed(
        &self,
        flow: &LoginFlow,
        browser: bool,
        explanation: &str,
        log_line: String,
    ) -> Decision {
        let response = respond::error(
            self.config,
            browser,
            502,
            "Sign-in failed",
            explanation,
            &login_url(self.config, &flow.return_to),
        )
        .header(
            "set-cookie",
            respond::clear_flow_cookie(self.config, flow.id()),
        );
        respond(response, Level::Error, log_line)
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

#[inline(never)]
fn provider_gone(config: &Config, flow: &LoginFlow, browser: bool) -> Decision {
    let response = respond::error(
        config,
        browser,
        500,
        "Sign-in failed",
        "The sign-in service changed during sign-in. Please sign in again.",
        &login_url(config, &flow.return_to),
    );
    respond(
        response,
        Level::Warn,
        "login lost its provider state (configuration or discovery changed)",
    )
}
