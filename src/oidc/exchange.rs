//! The login after the callback: the token response, the ID token (with one
//! JWKS refetch for an unknown key), the claims from userinfo or the ID token,
//! the whitelist, and the session cookie that ends it.

use std::cell::RefCell;

use crate::document::Object;

use crate::access;
use crate::config::{ClaimsSource, Config, Provider};
use crate::decision::{Audit, CallReply, Level, Response};
use crate::http::pages::{self, Incident};
use crate::http::respond::{self, login_url};
use crate::http::url::HttpUrl;
use crate::metrics::{Count, LoginFailure};
use crate::oidc::claims;
use crate::oidc::discovery::{self, Endpoints, Runtime, RuntimeUpdate};
use crate::oidc::id_token::{self, Expectations, Rejected};
use crate::oidc::jwks::Jwks;
use crate::oidc::login::provider_gone;
use crate::oidc::messages::{self, ProviderFailure};
use crate::oidc::{failed_login, Action, Decision, LoginStep, Pending, Tokens};
use crate::session::crypto::Entropy;
use crate::session::identity::Identity;
use crate::session::login_flow::LoginFlow;
use crate::session::{self, refresh_token, Session};

/// Continues a paused login with the provider's reply.
pub fn on_call_reply(
    config: &Config,
    runtime: &Runtime,
    pending: LoginStep,
    reply: &CallReply,
    now: u64,
    request_id: Option<&str>,
    rng: &mut dyn Entropy,
) -> Decision {
    let incident = Incident {
        at: now,
        request_id,
    };
    let flow = match &pending {
        LoginStep::Token { flow, .. }
        | LoginStep::Keys { flow, .. }
        | LoginStep::UserInfo { flow, .. } => flow,
    };
    let (Some(index), Some(provider)) = (
        config.provider_index(&flow.provider),
        config.provider(&flow.provider),
    ) else {
        let browser = !matches!(&pending, LoginStep::Token { browser: false, .. });
        return provider_gone(config, flow, browser, incident);
    };
    let login = Login {
        config,
        runtime,
        provider,
        index,
        now,
        request_id,
        rng: RefCell::new(rng),
    };
    match pending {
        LoginStep::Token { flow, browser } => match messages::parse_token_response(reply) {
            Ok(tokens) => login.verify(flow, browser, tokens, None),
            Err(failure) => login.failed(&flow, browser, "token", &failure),
        },
        LoginStep::Keys {
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
        LoginStep::UserInfo {
            flow,
            browser,
            tokens,
            id_claims,
        } => {
            let claims = messages::successful_body(reply).and_then(|body| {
                claims::parse(body)
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
    request_id: Option<&'a str>,
    /// Encrypts the refresh token kept in the session.
    rng: RefCell<&'a mut dyn Entropy>,
}

impl Login<'_> {
    /// What an error page quotes.
    fn incident(&self) -> Incident<'_> {
        Incident {
            at: self.now,
            request_id: self.request_id,
        }
    }

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
            return provider_gone(self.config, &flow, browser, self.incident());
        };
        let Some(id_token) = tokens.id_token.as_ref() else {
            return self.refused_token(&flow, browser, "the token response has no id_token");
        };
        let state = self.runtime.providers.get(self.index);
        let Some(jwks) = fresh_keys.or_else(|| state.and_then(|s| s.jwks.as_ref())) else {
            return provider_gone(self.config, &flow, browser, self.incident());
        };
        let expect = Expectations {
            issuer: &endpoints.issuer,
            client_id: &self.provider.client_id,
            nonce: Some(&flow.nonce),
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
                            pending: Pending::Login(LoginStep::Keys {
                                flow,
                                browser,
                                tokens,
                            }),
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
                    return provider_gone(self.config, &flow, browser, self.incident());
                };
                let call =
                    messages::userinfo_request(self.provider, userinfo, &tokens.access_token);
                Decision::new(Action::Call {
                    call,
                    pending: Pending::Login(LoginStep::UserInfo {
                        flow,
                        browser,
                        tokens,
                        id_claims,
                    }),
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
        let Ok(identity) = claims::identity(&provider.id, claims, &provider.claim_names) else {
            return self.failed(
                flow,
                browser,
                "userinfo",
                &ProviderFailure::Junk("the claims have no sub"),
            );
        };
        if let Err(reason) = claims::admitted(config, provider, &identity, claims) {
            let response = if browser {
                Response::new(403).html(pages::unauthorized(
                    &config.site.look,
                    pages::Refusal::Login {
                        account: identity.display(),
                        reason,
                        switch_url: &respond::switch_account_url(&config.site, &flow.return_to),
                    },
                ))
            } else {
                respond::json_status(403, "Forbidden")
            };
            return failed_login(
                response.header(
                    "set-cookie",
                    respond::clear_flow_cookie(&config.site, flow.id()),
                ),
                &provider.id,
                LoginFailure::Whitelist,
                reason.to_owned(),
                Some(&identity),
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
        let clear_flow = respond::clear_flow_cookie(&config.site, flow.id());
        let mut expires_at = now.saturating_add(config.session_expiry);
        if config.session_max_lifetime != 0 {
            expires_at = expires_at.min(now.saturating_add(config.session_max_lifetime));
        }
        let audit = Audit {
            event: "login",
            decision: "allow",
            reason: String::new(),
            user: identity.username.clone(),
            email: identity.email.clone().unwrap_or_default(),
            provider: provider.id.clone(),
            app: HttpUrl::parse(&flow.return_to)
                .ok()
                .and_then(|url| access::find_app(config, url.host()))
                .map(|app| app.name.clone())
                .unwrap_or_default(),
        };
        let login = flow.id().to_owned();
        // Kept only when sessions are re-checked with the provider.
        let refresh = tokens
            .refresh_token
            .as_ref()
            .filter(|_| config.refresh.interval != 0)
            .and_then(|token| {
                let key = config.keys.refresh_token.first()?;
                let mut rng = self.rng.try_borrow_mut().ok()?;
                refresh_token::seal(key, &login, token, &mut **rng).ok()
            });
        let session = Session {
            login,
            identity,
            created_at: now,
            expires_at,
            checked_at: now,
            refresh,
        };
        let Some(key) = config.keys.session.first() else {
            return provider_gone(config, flow, browser, self.incident());
        };
        let sealed = session.seal(key);
        if sealed.len() > session::MAX_COOKIE_VALUE {
            let response = respond::error(
                &config.site,
                self.incident(),
                browser,
                500,
                "Sign-in failed",
                "Your account has too much profile data (for example, too many groups) to fit in a browser cookie.",
                &login_url(&config.site, &flow.return_to),
            )
            .header("set-cookie", clear_flow);
            return failed_login(
                response,
                &provider.id,
                LoginFailure::Internal,
                format!(
                    "the session would be {} bytes, over the cookie limit",
                    sealed.len()
                ),
                Some(&session.identity),
            );
        }
        let location = if flow.return_to.is_empty() {
            format!("{}/", config.site.app_url.origin())
        } else {
            // Checked when the flow started; checked again in case the
            // configuration changed since.
            respond::safe_return_url(&config.site, &flow.return_to)
                .unwrap_or_else(|| format!("{}/", config.site.app_url.origin()))
        };
        let mut response = Response::redirect(location)
            .header(
                "set-cookie",
                respond::session_cookie(&config.site, &sealed, config.session_expiry),
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
                    respond::id_token_cookie(
                        &config.site,
                        id_token.expose(),
                        config.session_expiry,
                    ),
                );
            }
        }
        Decision::new(Action::Respond(response))
            .with_count(Count::LoginSucceeded)
            .with_audit(audit)
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
            why.to_owned(),
            LoginFailure::IdToken,
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
            format!("failed at the {step} endpoint: {failure}"),
            if *failure == ProviderFailure::Unreachable {
                LoginFailure::Timeout
            } else {
                LoginFailure::Provider
            },
        )
    }

    /// A 502 the user can retry from: the flow cookie is cleared and the page
    /// links back to the login with the same return address. The provider
    /// misbehaved, so besides the audit line an error is logged.
    #[inline(never)]
    fn sign_in_failed(
        &self,
        flow: &LoginFlow,
        browser: bool,
        explanation: &str,
        reason: String,
        failure: LoginFailure,
    ) -> Decision {
        let response = respond::error(
            &self.config.site,
            self.incident(),
            browser,
            502,
            "Sign-in failed",
            explanation,
            &login_url(&self.config.site, &flow.return_to),
        )
        .header(
            "set-cookie",
            respond::clear_flow_cookie(&self.config.site, flow.id()),
        );
        let log = format!("login via {} failed: {reason}", self.provider.id);
        failed_login(response, &self.provider.id, failure, reason, None).with_log(Level::Error, log)
    }
}
