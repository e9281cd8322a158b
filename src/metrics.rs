//! What the filter counts, and the names under which Envoy shows it (admin
//! `/stats` and `/stats/prometheus`, Istio's scraping): every protected
//! request's outcome (once per request), logins and their failures by reason,
//! logouts, renewed sessions, and each provider call by endpoint and outcome
//! with its latency. The core attaches [`Count`]s to its decisions; the shell
//! adds them up per VM and hands the sums to Envoy on its timer, so counting
//! costs a request no call into the proxy.

/// Why a signed-in user or a client was refused with 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not in any of the app's `oauth.groups`.
    Group,
    /// The app's `oauth.whitelist` refused the email.
    Whitelist,
    /// `users.allow` / `users.block` refused the username.
    User,
    /// An IP rule refused the client.
    Ip,
    /// No rule allowed the user and `auth.acls.policy` is `deny`.
    Policy,
    /// The host is outside the domain the session cookie covers.
    Domain,
}

/// Why a login did not end with a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    /// The callback did not match a login this browser started (no or expired
    /// flow cookie, wrong `state`, `iss` or provider, malformed parameters).
    State,
    /// The provider answered the callback with an `error`.
    ProviderError,
    /// The ID token did not verify.
    IdToken,
    /// The email whitelist (or a required verified email) refused the user.
    Whitelist,
    /// A provider call got no answer (unreachable, reset, or timed out).
    Timeout,
    /// A provider call was answered with an error status or an unusable body.
    Provider,
    /// Discovery or the key set is not ready yet (503).
    Unavailable,
    /// The session would not fit in a cookie, or another local failure.
    Internal,
}

/// One event to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Forwarded with a valid session.
    AllowedSession,
    /// Forwarded without login: a public path.
    AllowedPublic,
    /// Forwarded without login: an IP on a bypass list.
    AllowedBypass,
    /// A browser sent to log in.
    RedirectedToLogin,
    /// An API client told to log in (401).
    Refused401,
    /// Refused with 403, and why.
    Refused403(Refusal),
    LoginStarted,
    LoginSucceeded,
    LoginFailed(LoginFailure),
    Logout,
    /// A session cookie renewed on its sliding window.
    SessionRenewed,
    /// A session's identity re-checked with the provider and re-issued.
    SessionRefreshed,
    /// A re-check that could not reach the provider (or got junk): the
    /// session goes on within `auth.refreshGrace`.
    RefreshFailed,
    /// A session ended, and why.
    SessionEnded(SessionEnd),
}

/// Why a session ended before its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The provider refused the refresh (user disabled or deleted, token
    /// revoked).
    Refused,
    /// The refreshed identity no longer passes the whitelist.
    Whitelist,
    /// The provider could not confirm it for longer than the grace period.
    Unverified,
    /// Logged out (a copied cookie), or ended by `sessionsNotBefore` /
    /// `revokedUsers`.
    Revoked,
}

impl Count {
    /// Every count.
    pub const ALL: &'static [Self] = &[
        Self::AllowedSession,
        Self::AllowedPublic,
        Self::AllowedBypass,
        Self::RedirectedToLogin,
        Self::Refused401,
        Self::Refused403(Refusal::Group),
        Self::Refused403(Refusal::Whitelist),
        Self::Refused403(Refusal::User),
        Self::Refused403(Refusal::Ip),
        Self::Refused403(Refusal::Policy),
        Self::Refused403(Refusal::Domain),
        Self::LoginStarted,
        Self::LoginSucceeded,
        Self::LoginFailed(LoginFailure::State),
        Self::LoginFailed(LoginFailure::ProviderError),
        Self::LoginFailed(LoginFailure::IdToken),
        Self::LoginFailed(LoginFailure::Whitelist),
        Self::LoginFailed(LoginFailure::Timeout),
        Self::LoginFailed(LoginFailure::Provider),
        Self::LoginFailed(LoginFailure::Unavailable),
        Self::LoginFailed(LoginFailure::Internal),
        Self::Logout,
        Self::SessionRenewed,
        Self::SessionRefreshed,
        Self::RefreshFailed,
        Self::SessionEnded(SessionEnd::Refused),
        Self::SessionEnded(SessionEnd::Whitelist),
        Self::SessionEnded(SessionEnd::Unverified),
        Self::SessionEnded(SessionEnd::Revoked),
    ];

    /// Its place in [`Count::ALL`].
    pub fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|count| *count == self)
            .unwrap_or_default()
    }

    /// Its Envoy stat name.
    pub fn name(self) -> &'static str {
        match self {
            Self::AllowedSession => "tinyauth.requests.allowed_session",
            Self::AllowedPublic => "tinyauth.requests.allowed_public",
            Self::AllowedBypass => "tinyauth.requests.allowed_bypass",
            Self::RedirectedToLogin => "tinyauth.requests.redirected_to_login",
            Self::Refused401 => "tinyauth.requests.refused_401",
            Self::Refused403(Refusal::Group) => "tinyauth.requests.refused_403.group",
            Self::Refused403(Refusal::Whitelist) => "tinyauth.requests.refused_403.whitelist",
            Self::Refused403(Refusal::User) => "tinyauth.requests.refused_403.user",
            Self::Refused403(Refusal::Ip) => "tinyauth.requests.refused_403.ip",
            Self::Refused403(Refusal::Policy) => "tinyauth.requests.refused_403.policy",
            Self::Refused403(Refusal::Domain) => "tinyauth.requests.refused_403.domain",
            Self::LoginStarted => "tinyauth.logins.started",
            Self::LoginSucceeded => "tinyauth.logins.succeeded",
            Self::LoginFailed(LoginFailure::State) => "tinyauth.logins.failed.state",
            Self::LoginFailed(LoginFailure::ProviderError) => {
                "tinyauth.logins.failed.provider_error"
            }
            Self::LoginFailed(LoginFailure::IdToken) => "tinyauth.logins.failed.id_token",
            Self::LoginFailed(LoginFailure::Whitelist) => "tinyauth.logins.failed.whitelist",
            Self::LoginFailed(LoginFailure::Timeout) => "tinyauth.logins.failed.timeout",
            Self::LoginFailed(LoginFailure::Provider) => "tinyauth.logins.failed.provider",
            Self::LoginFailed(LoginFailure::Unavailable) => "tinyauth.logins.failed.unavailable",
            Self::LoginFailed(LoginFailure::Internal) => "tinyauth.logins.failed.internal",
            Self::Logout => "tinyauth.logouts",
            Self::SessionRenewed => "tinyauth.sessions.renewed",
            Self::SessionRefreshed => "tinyauth.sessions.refreshed",
            Self::RefreshFailed => "tinyauth.sessions.refresh_failed",
            Self::SessionEnded(SessionEnd::Refused) => "tinyauth.sessions.ended.refused",
            Self::SessionEnded(SessionEnd::Whitelist) => "tinyauth.sessions.ended.whitelist",
            Self::SessionEnded(SessionEnd::Unverified) => "tinyauth.sessions.ended.unverified",
            Self::SessionEnded(SessionEnd::Revoked) => "tinyauth.sessions.ended.revoked",
        }
    }
}

/// A provider endpoint the filter calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Discovery,
    Jwks,
    Token,
    UserInfo,
    Revocation,
}

/// How a provider call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// A 2xx answer.
    Ok,
    /// Any other status.
    Error,
    /// No answer: unreachable, reset, timed out, or the cluster is missing.
    Unreachable,
}

impl Endpoint {
    pub const ALL: [Self; 5] = [
        Self::Discovery,
        Self::Jwks,
        Self::Token,
        Self::UserInfo,
        Self::Revocation,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Discovery => "discovery",
            Self::Jwks => "jwks",
            Self::Token => "token",
            Self::UserInfo => "userinfo",
            Self::Revocation => "revocation",
        }
    }

    /// The counter of calls to this endpoint that ended with `outcome`.
    pub fn calls_name(self, outcome: CallOutcome) -> String {
        let outcome = match outcome {
            CallOutcome::Ok => "ok",
            CallOutcome::Error => "error",
            CallOutcome::Unreachable => "unreachable",
        };
        format!("tinyauth.provider_calls.{}.{outcome}", self.label())
    }

    /// The histogram of this endpoint's call latency in milliseconds.
    pub fn latency_name(self) -> String {
        format!("tinyauth.provider_calls.{}.latency_ms", self.label())
    }
}

impl CallOutcome {
    pub const ALL: [Self; 3] = [Self::Ok, Self::Error, Self::Unreachable];

    /// The outcome of a reply with `status` (`None`: no answer).
    pub fn of(status: Option<u16>) -> Self {
        match status {
            None => Self::Unreachable,
            Some(200..=299) => Self::Ok,
            Some(_) => Self::Error,
        }
    }
}

/// The gauge of the filter's VMs' linear memory in bytes, summed over the
/// VMs (the main thread's and each worker's): flat under steady load.
pub const VM_MEMORY: &str = "tinyauth.vm.memory_bytes";

/// The gauge that is 1 while logins through provider `id` can run (its
/// discovery document and key set are loaded), else 0.
pub fn ready_name(provider: &str) -> String {
    format!("tinyauth.provider.{provider}.ready")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_count_has_its_own_name_and_place() {
        let mut names: Vec<&str> = Count::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Count::ALL.len());
        for (at, count) in Count::ALL.iter().enumerate() {
            assert_eq!(count.index(), at);
            assert!(count.name().starts_with("tinyauth."));
        }
    }
}
