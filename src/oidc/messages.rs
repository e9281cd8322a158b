//! The OAuth 2.0 / OpenID Connect messages the filter exchanges with a provider:
//! the authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636, and an OIDC
//! `nonce`), the token request and response (§4.1.3, §5.1, §5.2), and the
//! userinfo request (OIDC Core §5.3). Pure request building and response parsing.

use std::fmt;

use base64::Engine as _;

use serde::Deserialize;

use crate::document;

use crate::config::{Endpoint, Provider, TokenAuthMethod};
use crate::decision::{CallReply, OutboundCall};
use crate::http::url::{form, form_component, HttpUrl};
use crate::oidc::Tokens;
use crate::secret::Secret;
use crate::session::login_flow::LoginFlow;

/// The URL that sends the browser to the provider.
/// `prompt` is set only to let the user pick another account.
pub fn authorize_url(
    provider: &Provider,
    authorize: &HttpUrl,
    flow: &LoginFlow,
    prompt: Option<&str>,
) -> String {
    let challenge = flow.code_challenge();
    authorize.with_params(
        [
            ("response_type", "code"),
            ("client_id", provider.client_id.as_str()),
            ("redirect_uri", provider.redirect_uri.as_str()),
            ("scope", provider.scopes.as_str()),
            ("state", flow.state.as_str()),
            ("nonce", flow.nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]
        .into_iter()
        .chain(prompt.map(|prompt| ("prompt", prompt))),
    )
}

/// The authorization-code exchange.
///
/// With `client_secret_basic` the credentials go only in the `Authorization`
/// header, form-encoded first as RFC 6749 §2.3.1 requires; sending them one way
/// only works with every Pocket ID version (issue #1315).
pub fn token_request(
    provider: &Provider,
    token: &Endpoint,
    code: &str,
    flow: &LoginFlow,
) -> OutboundCall {
    client_call(
        provider,
        token,
        vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", provider.redirect_uri.as_str()),
            ("code_verifier", flow.verifier.as_str()),
        ],
    )
}

/// A session's re-check: the refresh-token grant (RFC 6749 §6).
pub fn refresh_request(provider: &Provider, token: &Endpoint, refresh: &Secret) -> OutboundCall {
    client_call(
        provider,
        token,
        vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose()),
        ],
    )
}

/// A logout's revocation of the session's refresh token (RFC 7009).
pub fn revocation_request(
    provider: &Provider,
    revocation: &Endpoint,
    refresh: &Secret,
) -> OutboundCall {
    client_call(
        provider,
        revocation,
        vec![
            ("token", refresh.expose()),
            ("token_type_hint", "refresh_token"),
        ],
    )
}

/// A form POST authenticated as the client (`tokenAuthMethod`).
fn client_call<'a>(
    provider: &'a Provider,
    endpoint: &Endpoint,
    mut params: Vec<(&'a str, &'a str)>,
) -> OutboundCall {
    let mut headers = base_headers("POST", endpoint);
    headers.push((
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    ));
    match (provider.auth_method, &provider.client_secret) {
        (TokenAuthMethod::ClientSecretBasic, Some(secret)) => {
            let credentials = format!(
                "{}:{}",
                form_component(&provider.client_id),
                form_component(secret.expose())
            );
            headers.push((
                "authorization".into(),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(credentials)
                ),
            ));
        }
        (TokenAuthMethod::ClientSecretPost, Some(secret)) => {
            params.push(("client_id", provider.client_id.as_str()));
            params.push(("client_secret", secret.expose()));
        }
        _ => params.push(("client_id", provider.client_id.as_str())),
    }
    OutboundCall {
        cluster: endpoint.cluster.clone(),
        headers,
        body: Some(form(params).into_bytes()),
        timeout_ms: provider.timeout_ms,
    }
}

/// The userinfo request, authenticated with the access token.
pub fn userinfo_request(
    provider: &Provider,
    userinfo: &Endpoint,
    access_token: &Secret,
) -> OutboundCall {
    let mut headers = base_headers("GET", userinfo);
    headers.push((
        "authorization".into(),
        format!("Bearer {}", access_token.expose()),
    ));
    OutboundCall {
        cluster: userinfo.cluster.clone(),
        headers,
        body: None,
        timeout_ms: provider.timeout_ms,
    }
}

fn base_headers(method: &str, endpoint: &Endpoint) -> Vec<(String, String)> {
    vec![
        (":method".into(), method.into()),
        (":path".into(), endpoint.url.path_and_query().into()),
        (":authority".into(), endpoint.authority.clone()),
        ("accept".into(), "application/json".into()),
        ("user-agent".into(), "tinyauth-wasm".into()),
    ]
}

/// Why a provider call failed. `Display` is for operators' logs and never
/// includes tokens or bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderFailure {
    /// No response: timeout, reset, or nothing listening.
    Unreachable,
    /// An HTTP error status, with the RFC 6749 `error` code when one was
    /// given, or what Envoy said when the status is Envoy's own local reply.
    Status { status: u16, error: Option<String> },
    /// A 2xx answer that is not the JSON we need.
    Junk(&'static str),
    /// A token type other than Bearer.
    UnsupportedTokenType(String),
    /// Envoy has no cluster of this name, so nothing was sent.
    NoCluster(String),
}

impl fmt::Display for ProviderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable => f.write_str("no response (unreachable or timed out)"),
            Self::Status {
                status,
                error: Some(error),
            } => write!(f, "HTTP {status} ({error})"),
            Self::Status {
                status,
                error: None,
            } => write!(f, "HTTP {status}"),
            Self::Junk(what) => write!(f, "unusable answer: {what}"),
            Self::UnsupportedTokenType(kind) => {
                write!(f, "token_type `{kind}` is not Bearer")
            }
            Self::NoCluster(cluster) => write!(
                f,
                "Envoy has no cluster `{cluster}`: define a cluster of that name (Istio makes \
                 one for a ServiceEntry host), or name an existing one in the provider's \
                 `cluster` or in `clusters`"
            ),
        }
    }
}

/// The members of a token response the filter reads (RFC 6749 §5.1); each
/// must be a string when present.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    token_type: Option<String>,
    id_token: Option<String>,
    refresh_token: Option<String>,
}

/// An error reply (RFC 6749 §5.2).
#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
}

/// The OAuth `error` code of an error reply, if it has one. A code outside
/// RFC 6749's character set (§5.2) is kept for the log, cleaned and marked,
/// so that it can never compare equal to a real code: cleaning
/// `i\u{fffd}nvalid_grant` alone would turn it into `invalid_grant` and
/// end a session the provider never refused.
fn error_code(body: &[u8]) -> Option<String> {
    let code = document::parse::<ErrorResponse>(body).ok()?.error;
    let well_formed = !code.is_empty()
        && code.len() <= 64
        && code
            .chars()
            .all(|c| matches!(c, ' '..='!' | '#'..='[' | ']'..='~'));
    Some(if well_formed {
        code
    } else {
        format!("malformed error code: {}", printable(&code, 64))
    })
}

/// Checks the status and returns the body of a successful reply.
pub fn successful_body(reply: &CallReply) -> Result<&[u8], ProviderFailure> {
    if let Some(cluster) = &reply.missing_cluster {
        return Err(ProviderFailure::NoCluster(cluster.clone()));
    }
    match reply.status {
        None => Err(ProviderFailure::Unreachable),
        Some(status) if (200..300).contains(&status) => Ok(&reply.body),
        Some(status) => Err(ProviderFailure::Status {
            status,
            error: error_code(&reply.body).or_else(|| envoy_reason(&reply.body).map(str::to_owned)),
        }),
    }
}

/// Envoy answers a call it could not complete with a local reply whose body
/// names the reason; recognise the common ones so the log says what happened.
fn envoy_reason(body: &[u8]) -> Option<&'static str> {
    const REASONS: [(&[u8], &str); 3] = [
        (
            b"upstream connect error",
            "Envoy could not reach the provider",
        ),
        (
            b"upstream request timeout",
            "Envoy timed out waiting for the provider",
        ),
        (
            b"no healthy upstream",
            "the provider's cluster has no healthy endpoint",
        ),
    ];
    REASONS
        .iter()
        .find(|(prefix, _)| body.starts_with(prefix))
        .map(|(_, reason)| *reason)
}

/// Parses a token response (RFC 6749 §5.1). `token_type` is compared without
/// regard to case: Pocket ID sends `bearer`, others `Bearer`.
pub fn parse_token_response(reply: &CallReply) -> Result<Tokens, ProviderFailure> {
    let body = successful_body(reply)?;
    let parsed = document::parse::<TokenResponse>(body)
        .map_err(|_| ProviderFailure::Junk("token response is not a JSON object"))?;
    let access_token = parsed
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or(ProviderFailure::Junk("token response has no access_token"))?;
    match parsed.token_type.as_deref() {
        Some(kind) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(kind) => return Err(ProviderFailure::UnsupportedTokenType(printable(kind, 32))),
        None => return Err(ProviderFailure::Junk("token response has no token_type")),
    }
    Ok(Tokens {
        access_token: Secret::new(access_token),
        id_token: parsed.id_token.filter(|t| !t.is_empty()).map(Secret::new),
        refresh_token: parsed
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(Secret::new),
    })
}

/// Keeps provider-supplied text safe for a log line: printable ASCII only, bounded.
pub fn printable(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::session::crypto::{Entropy, EntropyUnavailable};

    struct Fixed;
    impl Entropy for Fixed {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyUnavailable> {
            buf.fill(7);
            Ok(())
        }
    }

    fn config(method: &str, secret: &str) -> Config {
        let json = serde_json::json!({
            "appUrl": "https://tinyauth.example.com",
            "secret": "0123456789abcdef0123456789abcdef",
            "oauth": {"providers": {"generic": {
                "clientId": "my client",
                "clientSecret": secret,
                "tokenAuthMethod": method,
                "authUrl": "https://id.example.com/authorize?prompt=login",
                "tokenUrl": "https://id.example.com/api/oidc/token",
                "userInfoUrl": "https://id.example.com/api/oidc/userinfo",
                "cluster": "pocket_id"
            }}}
        });
        Config::from_json(json.to_string().as_bytes()).unwrap()
    }

    fn form(body: &[u8]) -> Vec<(String, String)> {
        url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn flow() -> LoginFlow {
        LoginFlow::start("generic", String::new(), 600, &mut Fixed).unwrap()
    }

    #[test]
    fn authorize_url_carries_everything_pocket_id_needs() {
        let config = config("client_secret_basic", "s3cret");
        let flow = flow();
        let p = &config.providers[0];
        let url = authorize_url(p, p.authorize_url.as_ref().unwrap(), &flow, None);
        let (base, query) = url.split_once("?prompt=login&").unwrap();
        assert_eq!(base, "https://id.example.com/authorize");
        let params = form(query.as_bytes());
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("client_id"), Some("my client"));
        assert_eq!(
            get("redirect_uri"),
            Some("https://tinyauth.example.com/api/oauth/callback/generic")
        );
        assert_eq!(get("scope"), Some("openid email profile groups"));
        assert_eq!(get("state"), Some(flow.state.as_str()));
        assert_eq!(get("nonce"), Some(flow.nonce.as_str()));
        assert_eq!(get("code_challenge"), Some(flow.code_challenge().as_str()));
        assert_eq!(get("code_challenge_method"), Some("S256"));
    }

    #[test]
    fn token_request_with_basic_auth() {
        let config = config("client_secret_basic", "se:cr+t");
        let call = token_request(
            &config.providers[0],
            config.providers[0].token.as_ref().unwrap(),
            "the-code",
            &flow(),
        );
        assert_eq!(call.cluster, "pocket_id");
        assert_eq!(call.header_value(":method"), Some("POST"));
        assert_eq!(call.header_value(":path"), Some("/api/oidc/token"));
        assert_eq!(call.header_value(":authority"), Some("id.example.com"));
        let basic = call.header_value("authorization").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(decoded, b"my+client:se%3Acr%2Bt");
        let params = form(call.body.as_deref().unwrap());
        assert!(params.contains(&("grant_type".into(), "authorization_code".into())));
        assert!(params.contains(&("code".into(), "the-code".into())));
        assert!(params
            .iter()
            .any(|(k, v)| k == "code_verifier" && v.len() == 43));
        assert!(!params
            .iter()
            .any(|(k, _)| k == "client_id" || k == "client_secret"));
    }

    #[test]
    fn token_request_with_post_and_public_client() {
        let post = config("client_secret_post", "s3cret");
        let call = token_request(
            &post.providers[0],
            post.providers[0].token.as_ref().unwrap(),
            "c",
            &flow(),
        );
        assert_eq!(call.header_value("authorization"), None);
        let params = form(call.body.as_deref().unwrap());
        assert!(params.contains(&("client_id".into(), "my client".into())));
        assert!(params.contains(&("client_secret".into(), "s3cret".into())));

        let public = config("none", "");
        let call = token_request(
            &public.providers[0],
            public.providers[0].token.as_ref().unwrap(),
            "c",
            &flow(),
        );
        assert_eq!(call.header_value("authorization"), None);
        let params = form(call.body.as_deref().unwrap());
        assert!(params.contains(&("client_id".into(), "my client".into())));
        assert!(!params.iter().any(|(k, _)| k == "client_secret"));
    }

    fn reply(status: Option<u16>, body: &str) -> CallReply {
        CallReply {
            status,
            body: body.as_bytes().to_vec(),
            missing_cluster: None,
        }
    }

    #[test]
    fn token_responses() {
        let ok = parse_token_response(&reply(
            Some(200),
            r#"{"access_token":"at","token_type":"bearer","id_token":"a.b.c","expires_in":3599}"#,
        ))
        .unwrap();
        assert_eq!(ok.access_token.expose(), "at");
        assert_eq!(ok.id_token.unwrap().expose(), "a.b.c");
        assert!(parse_token_response(&reply(
            Some(200),
            r#"{"access_token":"at","token_type":"Bearer"}"#
        ))
        .is_ok());

        let failures = [
            (reply(None, ""), ProviderFailure::Unreachable),
            (
                reply(
                    Some(400),
                    r#"{"error":"invalid_grant","error_description":"x"}"#,
                ),
                ProviderFailure::Status {
                    status: 400,
                    error: Some("invalid_grant".into()),
                },
            ),
            (
                // Found by fuzzing: cleaning the code for the log must not
                // turn it into another one.
                reply(Some(400), "{\"error\":\"i\u{fffd}nvalid_grant\"}"),
                ProviderFailure::Status {
                    status: 400,
                    error: Some("malformed error code: invalid_grant".into()),
                },
            ),
            (
                reply(Some(400), "{\"error\":\"invalid_\\\"grant\"}"),
                ProviderFailure::Status {
                    status: 400,
                    error: Some("malformed error code: invalid_\"grant".into()),
                },
            ),
            (
                reply(Some(500), "<html>"),
                ProviderFailure::Status {
                    status: 500,
                    error: None,
                },
            ),
            (
                reply(Some(200), "<html>oops</html>"),
                ProviderFailure::Junk("token response is not a JSON object"),
            ),
            (
                reply(Some(200), r#"{"foo":1}"#),
                ProviderFailure::Junk("token response has no access_token"),
            ),
            (
                reply(Some(200), r#"{"access_token":"at"}"#),
                ProviderFailure::Junk("token response has no token_type"),
            ),
            (
                reply(Some(200), r#"{"access_token":"at","token_type":"DPoP"}"#),
                ProviderFailure::UnsupportedTokenType("DPoP".into()),
            ),
            (
                reply(Some(200), r#"{"access_token":5,"token_type":"bearer"}"#),
                ProviderFailure::Junk("token response is not a JSON object"),
            ),
        ];
        for (reply, want) in failures {
            assert_eq!(parse_token_response(&reply).unwrap_err(), want);
        }
    }

    #[test]
    fn failure_text_is_log_safe() {
        let failure = successful_body(&reply(
            Some(400),
            "{\"error\":\"bad\\nline\\u0000 \u{1F600}\"}",
        ))
        .unwrap_err();
        assert_eq!(
            failure.to_string(),
            "HTTP 400 (malformed error code: badline )"
        );
        let envoy = successful_body(&reply(
            Some(503),
            "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
        ))
        .unwrap_err();
        assert_eq!(
            envoy.to_string(),
            "HTTP 503 (Envoy could not reach the provider)"
        );
    }

    #[test]
    fn userinfo_request_uses_bearer() {
        let config = config("client_secret_basic", "s");
        let p = &config.providers[0];
        let call = userinfo_request(p, p.userinfo.as_ref().unwrap(), &Secret::new("at"));
        assert_eq!(call.header_value(":method"), Some("GET"));
        assert_eq!(call.header_value(":path"), Some("/api/oidc/userinfo"));
        assert_eq!(call.header_value("authorization"), Some("Bearer at"));
        assert_eq!(call.body, None);
    }
}
