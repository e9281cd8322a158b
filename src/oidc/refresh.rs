//! Re-checking a session's identity with the provider
//! (`auth.refreshInterval`): the refresh-token grant, then userinfo (or the
//! refreshed ID token), then the login's rules (same `sub`, verified email,
//! whitelist); the session is re-issued with the current groups, email and
//! name. The provider refusing (`invalid_grant`: user disabled or deleted,
//! token revoked) ends the session; a provider that cannot be reached leaves
//! the identity as it was for `auth.refreshGrace`, after which the session is
//! refused until the provider answers. VMs coordinate through
//! `session::refreshing`, so a session is refreshed once at a time.

use crate::config::{ClaimsSource, Config, Provider};
use crate::decision::{loggable, Audit, CallReply, Level, LogLine, OutboundCall};
use crate::document::Object;
use crate::metrics::{Count, Endpoint, SessionEnd};
use crate::oidc::claims;
use crate::oidc::discovery::Runtime;
use crate::oidc::id_token::{self, Expectations};
use crate::oidc::messages::{self, ProviderFailure};
use crate::secret::Secret;
use crate::session::crypto::Entropy;
use crate::session::refreshing::{self, State};
use crate::session::{self, refresh_token, Session};

/// A re-check waiting for the provider.
#[derive(Debug)]
pub struct Refreshing {
    /// The session as the request carried it (or its newer cookie).
    session: Session,
    /// A newer cookie of the session than the request carried, to send on.
    cookie: Option<String>,
    provider: usize,
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    /// Waiting for the refresh-token grant.
    Token,
    /// Waiting for userinfo, with the token the provider may have rotated.
    UserInfo { rotated: Option<Secret> },
}

impl Refreshing {
    /// The provider endpoint it waits for.
    pub fn endpoint(&self) -> Endpoint {
        match self.stage {
            Stage::Token => Endpoint::Token,
            Stage::UserInfo { .. } => Endpoint::UserInfo,
        }
    }
}

/// How a session due for a re-check comes out.
#[derive(Debug)]
pub enum Outcome {
    /// Go on with `session`; `cookie` is its new value for the browser.
    Continue {
        session: Box<Session>,
        cookie: Option<String>,
    },
    /// The session is over: sign in again.
    Ended,
    /// Not confirmed by the provider for longer than the grace period:
    /// refused until it answers; `cookie` as above.
    Unverified { cookie: Option<String> },
}

/// A finished re-check, with what to count and log.
#[derive(Debug)]
pub struct Done {
    pub outcome: Outcome,
    pub counts: Vec<Count>,
    pub log: Vec<LogLine>,
    pub audit: Option<Audit>,
}

impl Done {
    fn quiet(outcome: Outcome) -> Self {
        Self {
            outcome,
            counts: Vec::new(),
            log: Vec::new(),
            audit: None,
        }
    }
}

/// What happens next with a due session.
#[derive(Debug)]
pub enum Next {
    /// Call the provider, then [`on_reply`].
    Call {
        call: OutboundCall,
        refreshing: Refreshing,
    },
    Done(Done),
}

/// A session whose identity is older than `auth.refreshInterval`: use the
/// session's newer cookie if another request refreshed it, go on while a
/// refresh runs elsewhere, or start one.
pub fn begin(config: &Config, runtime: &Runtime, session: Session, now: u64) -> Next {
    let store = &*runtime.sessions.shared;
    let slot = refreshing::read(store, &session.login, now, retry_seconds(config));
    let (session, cookie) = match newer(config, slot.latest.as_deref(), &session, now) {
        Some(newer) => newer,
        None => (session, None),
    };
    let Some(sealed) = session
        .refresh
        .clone()
        .filter(|_| session.refresh_due(now, config.refresh.interval))
    else {
        return Next::Done(Done::quiet(Outcome::Continue {
            session: Box::new(session),
            cookie,
        }));
    };
    match slot.state {
        State::Ended => return Next::Done(Done::quiet(Outcome::Ended)),
        State::InFlight { .. } | State::Unreachable { .. } => {
            return Next::Done(Done::quiet(meanwhile(config, session, cookie, now)));
        }
        State::Idle => {}
    }
    if !refreshing::claim(store, &session.login, &slot, now) {
        // Another VM started it between the read and the claim.
        return Next::Done(Done::quiet(meanwhile(config, session, cookie, now)));
    }
    let Some((index, provider)) = config
        .provider_index(&session.identity.provider)
        .and_then(|index| Some((index, config.providers.get(index)?)))
    else {
        return Next::Done(end(
            runtime,
            session,
            SessionEnd::Refused,
            "its provider is no longer configured".into(),
            now,
        ));
    };
    let Some(token) = refresh_token::open(&config.keys.refresh_token, &session.login, &sealed)
    else {
        return Next::Done(end(
            runtime,
            session,
            SessionEnd::Refused,
            "its refresh token cannot be decrypted with the configured secrets".into(),
            now,
        ));
    };
    let Some(endpoints) = runtime
        .providers
        .get(index)
        .and_then(|state| state.endpoints.as_ref())
    else {
        let why = "the provider's endpoints are not known yet (discovery)".to_owned();
        return Next::Done(unreachable(
            config, runtime, provider, session, cookie, &why, now,
        ));
    };
    Next::Call {
        call: messages::refresh_request(provider, &endpoints.token, &token),
        refreshing: Refreshing {
            session,
            cookie,
            provider: index,
            stage: Stage::Token,
        },
    }
}

/// Continues a re-check with the provider's reply.
pub fn on_reply(
    config: &Config,
    runtime: &Runtime,
    refreshing: Refreshing,
    reply: &CallReply,
    now: u64,
    rng: &mut dyn Entropy,
) -> Next {
    let Refreshing {
        session,
        cookie,
        provider: index,
        stage,
    } = refreshing;
    let Some(provider) = config.providers.get(index) else {
        // The configuration changed during the refresh; the next request
        // starts over under the new one.
        return Next::Done(Done::quiet(meanwhile(config, session, cookie, now)));
    };
    let mut check = Check {
        config,
        runtime,
        provider,
        index,
        now,
        rng,
    };
    match stage {
        Stage::Token => match messages::parse_token_response(reply) {
            Err(ProviderFailure::Status {
                error: Some(error), ..
            }) if error == "invalid_grant" => Next::Done(end(
                runtime,
                session,
                SessionEnd::Refused,
                "the provider refused the refresh (invalid_grant: user disabled or deleted, or token revoked)".into(),
                now,
            )),
            Err(failure) => {
                let why = format!("token endpoint: {failure}");
                Next::Done(check.failed(session, cookie, None, &why))
            }
            Ok(tokens) => check.tokens(session, cookie, tokens),
        },
        Stage::UserInfo { rotated } => {
            let claims = messages::successful_body(reply).and_then(|body| {
                claims::parse(body)
                    .map_err(|_| ProviderFailure::Junk("userinfo is not a JSON object"))
            });
            match claims {
                Ok(claims) => Next::Done(check.finish(session, cookie, rotated, &claims)),
                Err(failure) => {
                    let why = format!("userinfo: {failure}");
                    Next::Done(check.failed(session, cookie, rotated, &why))
                }
            }
        }
    }
}

/// One re-check after the provider answered the grant.
struct Check<'a> {
    config: &'a Config,
    runtime: &'a Runtime,
    provider: &'a Provider,
    index: usize,
    now: u64,
    rng: &'a mut dyn Entropy,
}

impl Check<'_> {
    /// The claims come from the refreshed ID token or from userinfo.
    fn tokens(&mut self, session: Session, cookie: Option<String>, tokens: super::Tokens) -> Next {
        let rotated = tokens.refresh_token;
        let endpoints = self
            .runtime
            .providers
            .get(self.index)
            .and_then(|state| Some((state.endpoints.as_ref()?, state.jwks.as_ref())));
        let Some((endpoints, jwks)) = endpoints else {
            let why = "the provider's endpoints are gone";
            return Next::Done(self.failed(session, cookie, rotated, why));
        };
        if self.provider.claims_from == ClaimsSource::IdToken {
            let expect = Expectations {
                issuer: &endpoints.issuer,
                client_id: &self.provider.client_id,
                nonce: None,
                now: self.now,
                skew: self.provider.clock_skew,
            };
            let verified = match (tokens.id_token.as_ref(), jwks) {
                (Some(id_token), Some(jwks)) => {
                    id_token::verify(id_token.expose(), jwks, &expect).map_err(|e| e.to_string())
                }
                (None, _) => Err("the refresh response has no id_token".into()),
                (_, None) => Err("no key set".into()),
            };
            return Next::Done(match verified {
                Ok(claims) => self.finish(session, cookie, rotated, &claims),
                Err(why) => self.failed(session, cookie, rotated, &format!("ID token: {why}")),
            });
        }
        let Some(userinfo) = endpoints.userinfo.as_ref() else {
            let why = "the provider has no userinfo endpoint";
            return Next::Done(self.failed(session, cookie, rotated, why));
        };
        Next::Call {
            call: messages::userinfo_request(self.provider, userinfo, &tokens.access_token),
            refreshing: Refreshing {
                session,
                cookie,
                provider: self.index,
                stage: Stage::UserInfo { rotated },
            },
        }
    }

    /// The provider's current view of the user, under the login's rules.
    fn finish(
        &mut self,
        session: Session,
        cookie: Option<String>,
        rotated: Option<Secret>,
        claims: &Object,
    ) -> Done {
        let (config, provider) = (self.config, self.provider);
        let Ok(identity) = claims::identity(&provider.id, claims, &provider.claim_names) else {
            return self.failed(session, cookie, rotated, "the claims have no sub");
        };
        if identity.sub != session.identity.sub {
            let why = "the provider answered for another user (sub changed)".to_owned();
            return end(self.runtime, session, SessionEnd::Refused, why, self.now);
        }
        if let Err(reason) = claims::admitted(config, provider, &identity, claims) {
            let mut refreshed = session;
            refreshed.identity = identity;
            return end(
                self.runtime,
                refreshed,
                SessionEnd::Whitelist,
                format!("the whitelist refuses the refreshed identity: {reason}"),
                self.now,
            );
        }
        let groups_before = session.identity.groups.clone();
        let mut refreshed = self.with_token(session, rotated);
        refreshed.identity = identity;
        refreshed.checked_at = self.now;
        let Some(sealed) = config.keys.session.first().map(|key| refreshed.seal(key)) else {
            return Done::quiet(Outcome::Continue {
                session: Box::new(refreshed),
                cookie,
            });
        };
        if sealed.len() > session::MAX_COOKIE_VALUE {
            let why = format!(
                "the refreshed session would be {} bytes, over the cookie limit",
                sealed.len()
            );
            return end(self.runtime, refreshed, SessionEnd::Refused, why, self.now);
        }
        refreshing::record(
            &*self.runtime.sessions.shared,
            &refreshed.login,
            State::Idle,
            &sealed,
            self.now,
        );
        let mut log = Vec::new();
        if groups_before != refreshed.identity.groups {
            log.push(LogLine {
                level: Level::Info,
                message: format!(
                    "session of {} refreshed: groups now [{}]",
                    loggable(&refreshed.identity.username),
                    loggable(&refreshed.identity.groups.join(","))
                ),
            });
        }
        Done {
            outcome: Outcome::Continue {
                session: Box::new(refreshed),
                cookie: Some(sealed),
            },
            counts: vec![Count::SessionRefreshed],
            log,
            audit: None,
        }
    }

    /// The session with the provider's rotated refresh token, if it sent
    /// one: from then on only that one works.
    fn with_token(&mut self, session: Session, rotated: Option<Secret>) -> Session {
        let Some(rotated) = rotated else {
            return session;
        };
        let Some(key) = self.config.keys.refresh_token.first() else {
            return session;
        };
        match refresh_token::seal(key, &session.login, &rotated, self.rng) {
            Ok(sealed) => Session {
                refresh: Some(sealed),
                ..session
            },
            Err(_) => session,
        }
    }

    /// The re-check failed without a verdict: keep the identity for the
    /// grace period (with any rotated token saved in a new cookie), retry
    /// after a pause.
    fn failed(
        &mut self,
        session: Session,
        cookie: Option<String>,
        rotated: Option<Secret>,
        why: &str,
    ) -> Done {
        let had_rotation = rotated.is_some();
        let session = self.with_token(session, rotated);
        let cookie = match self.config.keys.session.first() {
            Some(key) if had_rotation => Some(session.seal(key)),
            _ => cookie,
        };
        unreachable(
            self.config,
            self.runtime,
            self.provider,
            session,
            cookie,
            why,
            self.now,
        )
    }
}

/// The cookie a refresh elsewhere left for this session, if it is newer
/// than the one the request carries.
fn newer(
    config: &Config,
    latest: Option<&str>,
    session: &Session,
    now: u64,
) -> Option<(Session, Option<String>)> {
    let latest = latest?;
    let newer = Session::open_at(
        latest,
        &config.keys.session,
        now,
        config.session_max_lifetime,
    )
    .ok()?;
    let moved_on = newer.login == session.login
        && newer.checked_at >= session.checked_at
        && newer.refresh != session.refresh;
    moved_on.then(|| (newer, Some(latest.to_owned())))
}

/// How long after a failed refresh the next one may start.
pub fn retry_seconds(config: &Config) -> u64 {
    refreshing::RETRY_SECONDS
        .min(config.refresh.interval)
        .max(1)
}

/// While a refresh runs elsewhere or the provider is unreachable: the
/// identity stands for the grace period after it fell due.
fn meanwhile(config: &Config, session: Session, cookie: Option<String>, now: u64) -> Outcome {
    let deadline = session
        .checked_at
        .saturating_add(config.refresh.interval)
        .saturating_add(config.refresh.grace);
    if now < deadline {
        Outcome::Continue {
            session: Box::new(session),
            cookie,
        }
    } else {
        Outcome::Unverified { cookie }
    }
}

/// The provider could not give a verdict: recorded so no VM retries for a
/// while, counted, logged, and the identity kept within the grace period.
fn unreachable(
    config: &Config,
    runtime: &Runtime,
    provider: &Provider,
    session: Session,
    cookie: Option<String>,
    why: &str,
    now: u64,
) -> Done {
    refreshing::record(
        &*runtime.sessions.shared,
        &session.login,
        State::Unreachable { at: now },
        cookie.as_deref().unwrap_or_default(),
        now,
    );
    let user = loggable(&session.identity.username).to_string();
    let outcome = meanwhile(config, session, cookie, now);
    let kept = if matches!(outcome, Outcome::Continue { .. }) {
        "kept within auth.refreshGrace"
    } else {
        "refused: past auth.refreshGrace"
    };
    let mut done = Done::quiet(outcome);
    done.counts.push(Count::RefreshFailed);
    done.log.push(LogLine {
        level: Level::Warn,
        message: format!(
            "could not re-check the session of {user} with provider {}: {why}; session {kept}",
            provider.id
        ),
    });
    if kept.starts_with("refused") {
        done.counts
            .push(Count::SessionEnded(SessionEnd::Unverified));
    }
    done
}

/// The session is over: recorded for every VM, counted and audited.
fn end(runtime: &Runtime, session: Session, why: SessionEnd, reason: String, now: u64) -> Done {
    refreshing::record(
        &*runtime.sessions.shared,
        &session.login,
        State::Ended,
        "",
        now,
    );
    let identity = session.identity;
    Done {
        outcome: Outcome::Ended,
        counts: vec![Count::SessionEnded(why)],
        log: Vec::new(),
        audit: Some(Audit {
            event: "session_ended",
            decision: "deny",
            reason,
            user: identity.username,
            email: identity.email.unwrap_or_default(),
            provider: identity.provider,
            app: String::new(),
        }),
    }
}
