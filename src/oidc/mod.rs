//! OpenID Connect: what the filter learns about each provider (discovery, key
//! sets), ID-token verification, the messages it exchanges with the provider,
//! the login exchange, and the endpoints of the auth host.

pub mod auth_host;
pub mod claims;
pub mod discovery;
pub mod exchange;
pub mod id_token;
pub mod jwks;
pub mod login;
pub mod messages;
pub mod refresh;

use crate::document::Object;
use crate::oidc::discovery::RuntimeUpdate;
use crate::secret::Secret;
use crate::session::login_flow::LoginFlow;

/// What the core decides (see `decision`), with the OIDC layer's paused logins
/// and provider-state updates.
pub type Decision = crate::decision::Decision<Pending, RuntimeUpdate>;
/// What happens to a request (see `decision`).
pub type Action = crate::decision::Action<Pending>;

/// A request paused while the provider is called, with what comes next.
#[derive(Debug)]
pub enum Pending {
    /// A login's callback.
    Login(LoginStep),
    /// A request whose session is being re-checked (`auth.refreshInterval`).
    Refresh {
        request: crate::http::request::PausedRequest,
        refreshing: Box<refresh::Refreshing>,
    },
    /// A logout waiting for `provider` to revoke the session's refresh
    /// token; then `response` goes out.
    Revoke {
        response: Box<crate::decision::Response>,
        provider: String,
    },
}

impl Pending {
    /// Which provider endpoint the call goes to (for the stats).
    pub fn endpoint(&self) -> crate::metrics::Endpoint {
        use crate::metrics::Endpoint;
        match self {
            Self::Login(LoginStep::Token { .. }) => Endpoint::Token,
            Self::Login(LoginStep::Keys { .. }) => Endpoint::Jwks,
            Self::Login(LoginStep::UserInfo { .. }) => Endpoint::UserInfo,
            Self::Refresh { refreshing, .. } => refreshing.endpoint(),
            Self::Revoke { .. } => Endpoint::Revocation,
        }
    }
}

/// A login paused while the provider is called, with what the next step needs.
#[derive(Debug)]
pub enum LoginStep {
    /// Waiting for the token endpoint.
    Token { flow: LoginFlow, browser: bool },
    /// Waiting for a fresh JWKS: the ID token names a key we have not seen.
    Keys {
        flow: LoginFlow,
        browser: bool,
        tokens: Tokens,
    },
    /// Waiting for the userinfo endpoint; `id_claims` are the verified ID
    /// token's, whose `sub` userinfo must repeat.
    UserInfo {
        flow: LoginFlow,
        browser: bool,
        tokens: Tokens,
        id_claims: Option<Object>,
    },
}

/// What the token endpoint returned that the filter keeps using.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: Secret,
    pub id_token: Option<Secret>,
    /// Kept (encrypted) in the session for `auth.refreshInterval`.
    pub refresh_token: Option<Secret>,
}

/// A login that ends without a session: answered with `response`, counted
/// under `failure`, and one audit line saying why.
pub(crate) fn failed_login(
    response: crate::decision::Response,
    provider: &str,
    failure: crate::metrics::LoginFailure,
    reason: String,
    identity: Option<&crate::session::identity::Identity>,
) -> Decision {
    Decision::new(Action::Respond(response))
        .with_count(crate::metrics::Count::LoginFailed(failure))
        .with_audit(crate::decision::Audit {
            event: "login_failed",
            decision: "deny",
            reason,
            user: identity.map(|id| id.username.clone()).unwrap_or_default(),
            email: identity.and_then(|id| id.email.clone()).unwrap_or_default(),
            provider: provider.to_owned(),
            app: String::new(),
        })
}
