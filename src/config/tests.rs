use super::*;
use serde_json::{json, Value};

fn base() -> Value {
    json!({
        "appUrl": "https://tinyauth.example.com",
        "secret": "0123456789abcdef0123456789abcdef",
        "oauth": {
            "providers": {
                "generic": {
                    "name": "Pocket ID",
                    "clientId": "client",
                    "clientSecret": "shh",
                    "authUrl": "https://pocket-id.example.com/authorize",
                    "tokenUrl": "https://pocket-id.example.com/api/oidc/token",
                    "userInfoUrl": "https://pocket-id.example.com/api/oidc/userinfo",
                    "scopes": "openid email profile groups"
                }
            }
        },
        "apps": {"whoami": {"oauth": {"groups": "admins"}}}
    })
}

fn load(value: &Value) -> Result<Config, ConfigError> {
    Config::from_json(value.to_string().as_bytes())
}

fn with(path: &[&str], value: Value) -> Value {
    let mut config = base();
    let mut node = &mut config;
    for key in path.iter().take(path.len() - 1) {
        node = node
            .as_object_mut()
            .unwrap()
            .entry(*key)
            .or_insert_with(|| json!({}));
    }
    node.as_object_mut()
        .unwrap()
        .insert((*path.last().unwrap()).to_owned(), value);
    config
}

fn without(path: &[&str]) -> Value {
    let mut config = base();
    let mut node = &mut config;
    for key in path.iter().take(path.len() - 1) {
        node = node.get_mut(*key).unwrap();
    }
    node.as_object_mut().unwrap().remove(*path.last().unwrap());
    config
}

#[test]
fn base_config_compiles_with_tinyauth_defaults() {
    let config = load(&base()).unwrap();
    assert_eq!(config.site.app_url.origin(), "https://tinyauth.example.com");
    assert_eq!(config.site.cookie_scope, "example.com");
    assert_eq!(config.site.cookies.domain.as_deref(), Some("example.com"));
    assert!(
        config.site.cookies.secure,
        "https appUrl defaults to Secure cookies"
    );
    assert!(config
        .site
        .cookies
        .session_name
        .starts_with("tinyauth-session-"));
    assert_eq!(config.session_expiry, 86_400);
    assert_eq!(config.session_max_lifetime, 0);
    let provider = &config.providers[0];
    assert_eq!(provider.id, "generic");
    assert_eq!(provider.auth_method, TokenAuthMethod::ClientSecretBasic);
    assert_eq!(
        provider.redirect_uri,
        "https://tinyauth.example.com/api/oauth/callback/generic"
    );
    assert_eq!(
        provider.token.as_ref().unwrap().cluster,
        "outbound|443||pocket-id.example.com"
    );
    assert_eq!(
        provider.token.as_ref().unwrap().authority,
        "pocket-id.example.com"
    );
    assert_eq!(provider.scopes, "openid email profile groups");
    assert_eq!(config.apps.list[0].name, "whoami");
    assert_eq!(config.apps.list[0].groups.matches("admins"), Some(true));
    assert_eq!(config.auto_redirect, None);
    assert!(format!("{config:?}").contains("[redacted]"));
    assert!(!format!("{config:?}").contains("shh"));
}

#[test]
fn cookie_scope_follows_tinyauth() {
    let two_labels = load(&with(&["appUrl"], json!("http://example.com"))).unwrap();
    assert_eq!(two_labels.site.cookie_scope, "example.com");
    assert!(!two_labels.site.cookies.secure);
    let nested = load(&with(&["appUrl"], json!("https://a.b.example.com"))).unwrap();
    assert_eq!(nested.site.cookie_scope, "b.example.com");
    let host_only = load(&with(&["auth", "subdomainsEnabled"], json!(false))).unwrap();
    assert_eq!(host_only.site.cookie_scope, "tinyauth.example.com");
    assert_eq!(host_only.site.cookies.domain, None);
}

#[test]
fn accepts_env_style_values_and_lists() {
    let mut config = with(&["auth", "sessionExpiry"], json!("3600"));
    config["auth"]["secureCookie"] = json!("false");
    config["oauth"]["providers"]["generic"]["scopes"] = json!(["openid", "email"]);
    config["oauth"]["whitelist"] = json!(["a@example.com", "B@example.com"]);
    let config = load(&config).unwrap();
    assert_eq!(config.session_expiry, 3600);
    assert!(!config.site.cookies.secure);
    assert_eq!(config.providers[0].scopes, "openid email");
    assert_eq!(config.whitelist.matches("b@example.com"), Some(true));
    let float = load(&with(&["auth", "sessionExpiry"], json!(7200.0))).unwrap();
    assert_eq!(float.session_expiry, 7200);
}

#[test]
fn clusters_map_and_explicit_cluster() {
    let mut config = with(&["clusters"], json!({"pocket-id.example.com": "pocket_id"}));
    let loaded = load(&config).unwrap();
    assert_eq!(
        loaded.providers[0].token.as_ref().unwrap().cluster,
        "pocket_id"
    );
    // The map names clusters per host; a provider's `cluster` covers its hosts
    // that are not in the map (such as a discovered internal host).
    config["oauth"]["providers"]["generic"]["cluster"] = json!("explicit");
    config["oauth"]["providers"]["generic"]["authority"] = json!("id.internal");
    config["oauth"]["providers"]["generic"]["userInfoUrl"] =
        json!("http://pocket-id.internal:8080/api/oidc/userinfo");
    let loaded = load(&config).unwrap();
    let provider = &loaded.providers[0];
    assert_eq!(provider.token.as_ref().unwrap().cluster, "pocket_id");
    assert_eq!(provider.userinfo.as_ref().unwrap().cluster, "explicit");
    assert_eq!(provider.userinfo.as_ref().unwrap().authority, "id.internal");
    let internal = loaded.endpoint_for(
        crate::http::url::HttpUrl::parse("http://pocket-id.internal:8080/.well-known/jwks.json")
            .unwrap(),
        provider,
    );
    assert_eq!(internal.cluster, "explicit");
    let istio = with(
        &["oauth", "providers", "generic", "tokenUrl"],
        json!("http://pid.svc.cluster.local:1411/api/oidc/token"),
    );
    let loaded = load(&istio).unwrap();
    assert_eq!(
        loaded.providers[0].token.as_ref().unwrap().cluster,
        "outbound|1411||pid.svc.cluster.local"
    );
}

#[test]
fn discovery_is_needed_unless_everything_is_configured() {
    // The seed's plain configuration: verified by default, so the issuer and
    // JWKS are discovered from the authorize URL's origin.
    let seed = load(&base()).unwrap();
    let discovery = seed.providers[0].discovery.as_ref().unwrap();
    assert_eq!(
        discovery.url.to_string(),
        "https://pocket-id.example.com/.well-known/openid-configuration"
    );
    assert_eq!(
        seed.providers[0].expected_issuer(),
        "https://pocket-id.example.com"
    );
    // Everything explicit: no discovery.
    let mut explicit = base();
    explicit["oauth"]["providers"]["generic"]["issuer"] = json!("https://pocket-id.example.com/");
    explicit["oauth"]["providers"]["generic"]["jwksUrl"] =
        json!("https://pocket-id.example.com/.well-known/jwks.json");
    let explicit = load(&explicit).unwrap();
    assert!(explicit.providers[0].discovery.is_none());
    assert_eq!(
        explicit.providers[0].issuer.as_deref(),
        Some("https://pocket-id.example.com")
    );
    // Verification off and all three URLs: Tinyauth's behaviour, no discovery.
    let unverified = load(&with(
        &["oauth", "providers", "generic", "verifyIdToken"],
        json!(false),
    ))
    .unwrap();
    assert!(
        unverified.providers[0].discovery.is_none() || unverified.providers[0].issuer.is_none()
    );
    // Only an issuer: everything comes from discovery.
    let issuer_only = load(&json!({
        "appUrl": "https://auth.example.com", "secret": "0123456789abcdef0123456789abcdef",
        "oauth": {"providers": {"pid": {"issuer": "https://id.example.com", "clientId": "c", "clientSecret": "s"}}}
    }))
    .unwrap();
    let provider = &issuer_only.providers[0];
    assert!(provider.authorize_url.is_none() && provider.token.is_none());
    assert_eq!(
        provider.discovery.as_ref().unwrap().url.to_string(),
        "https://id.example.com/.well-known/openid-configuration"
    );
}

#[test]
fn auto_redirect_names_a_provider() {
    let config = load(&with(&["oauth", "autoRedirect"], json!("generic"))).unwrap();
    assert_eq!(config.auto_redirect, Some(0));
    let none = load(&with(&["oauth", "autoRedirect"], json!("none"))).unwrap();
    assert_eq!(none.auto_redirect, None);
}

#[test]
fn app_domains_are_normalised() {
    let config = load(&with(
        &["apps", "whoami", "config"],
        json!({"domain": "https://Who.Example.com:8443/x, other.example.com."}),
    ))
    .unwrap();
    assert_eq!(
        config.apps.list[0].domains,
        ["who.example.com", "other.example.com"]
    );
}

/// Each case: a broken configuration and the field its error must name.
#[test]
fn invalid_configurations_name_the_field() {
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("missing appUrl", without(&["appUrl"]), "appUrl", "required"),
        ("appUrl not a URL", with(&["appUrl"], json!("tinyauth.example.com")), "appUrl", "http"),
        ("appUrl is an IP", with(&["appUrl"], json!("http://10.0.0.1")), "appUrl", "IP"),
        ("appUrl one label", with(&["appUrl"], json!("http://localhost")), "appUrl", "two labels"),
        ("appUrl with path", with(&["appUrl"], json!("https://a.example.com/auth")), "appUrl", "path"),
        ("missing secret", without(&["secret"]), "secret", "required"),
        ("short secret", with(&["secret"], json!("short")), "secret", "too short"),
        ("short previous secret", with(&["previousSecrets"], json!(["x"])), "previousSecrets[0]", "too short"),
        ("unknown top-level key", with(&["colour"], json!("blue")), "colour", "unknown field `colour`"),
        ("unknown nested key", with(&["auth", "sesionExpiry"], json!(1)), "auth.sesionExpiry", "unknown field `sesionExpiry`"),
        ("wrong type", with(&["auth", "sessionExpiry"], json!("soon")), "auth.sessionExpiry", "not a non-negative"),
        ("negative", with(&["auth", "sessionExpiry"], json!(-5)), "auth.sessionExpiry", "negative"),
        ("zero expiry", with(&["auth", "sessionExpiry"], json!(0)), "auth.sessionExpiry", "at least 1"),
        ("max lifetime below expiry", with(&["auth", "sessionMaxLifetime"], json!(10)), "auth.sessionMaxLifetime", "at least"),
        ("bad flag", with(&["auth", "secureCookie"], json!("maybe")), "auth.secureCookie", "true or false"),
        ("no providers", with(&["oauth", "providers"], json!({})), "oauth.providers", "at least one"),
        ("missing clientId", without(&["oauth", "providers", "generic", "clientId"]), "oauth.providers.generic.clientId", "required"),
        ("missing clientSecret", without(&["oauth", "providers", "generic", "clientSecret"]), "oauth.providers.generic.clientSecret", "required"),
        ("malformed tokenUrl", with(&["oauth", "providers", "generic", "tokenUrl"], json!("https://user@pocket-id/x")), "oauth.providers.generic.tokenUrl", "user info"),
        ("neither issuer nor authUrl", without(&["oauth", "providers", "generic", "authUrl"]), "oauth.providers.generic.issuer", "required when authUrl"),
        ("malformed issuer", with(&["oauth", "providers", "generic", "issuer"], json!("pocket-id")), "oauth.providers.generic.issuer", "absolute http"),
        ("claims from an unverified ID token", with(&["oauth", "providers", "generic"], json!({"clientId": "c", "clientSecret": "s", "authUrl": "https://id.example.com/a", "verifyIdToken": false, "claimsFrom": "idToken"})), "oauth.providers.generic.claimsFrom", "needs verifyIdToken"),
        ("unknown claims source", with(&["oauth", "providers", "generic", "claimsFrom"], json!("accessToken")), "oauth.providers.generic.claimsFrom", "not userinfo or idToken"),
        ("no openid scope", with(&["oauth", "providers", "generic", "scopes"], json!("email profile")), "oauth.providers.generic.scopes", "must include openid"),
        ("huge clock skew", with(&["oauth", "providers", "generic", "clockSkewSeconds"], json!(3600)), "oauth.providers.generic.clockSkewSeconds", "at most 600"),
        ("bad post-logout URL", with(&["oauth", "providers", "generic", "postLogoutRedirectUri"], json!("/done")), "oauth.providers.generic.postLogoutRedirectUri", "absolute http"),
        ("unknown claim key", with(&["oauth", "providers", "generic", "claims"], json!({"role": "x"})), "oauth.providers.generic.claims.role", "unknown field"),
        ("bad auth method", with(&["oauth", "providers", "generic", "tokenAuthMethod"], json!("private_key_jwt")), "oauth.providers.generic.tokenAuthMethod", "not one of"),
        ("secret on public client", with(&["oauth", "providers", "generic", "tokenAuthMethod"], json!("none")), "oauth.providers.generic.clientSecret", "must be empty"),
        ("bad timeout", with(&["oauth", "providers", "generic", "timeoutMs"], json!(5)), "oauth.providers.generic.timeoutMs", "between"),
        ("reserved provider", with(&["oauth", "providers", "local"], json!({})), "oauth.providers.local", "reserved"),
        ("upper-case provider", with(&["oauth", "providers", "Generic2"], json!({})), "oauth.providers.Generic2", "lower-case"),
        ("unknown autoRedirect", with(&["oauth", "autoRedirect"], json!("github")), "oauth.autoRedirect", "not a configured provider"),
        ("bad whitelist regex", with(&["oauth", "whitelist"], json!("/(/")), "oauth.whitelist", "invalid regex"), ("bad group regex", with(&["apps", "whoami", "oauth", "groups"], json!("/[/")), "apps.whoami.oauth.groups", "invalid regex"), ("bad app domain", with(&["apps", "whoami", "config"], json!({"domain": "exa mple.com"})), "apps.whoami.config.domain", "not a host"), ("duplicate app names", with(&["apps", "WhoAmI"], json!({})), "apps.whoami", "twice"), ("unknown app key", with(&["apps", "whoami", "oauth", "group"], json!("x")), "apps.whoami.oauth.group", "unknown field `group`"), ("wrong list type", with(&["oauth", "whitelist"], json!(5)), "oauth.whitelist", "a string or a list"),
    ];
    for (name, config, field, problem) in cases {
        let err = load(&config).expect_err(name);
        assert_eq!(err.field, field, "{name}: {err}");
        assert!(
            err.problem.contains(problem),
            "{name}: `{}` should mention `{problem}`",
            err.problem
        );
    }
}

#[test]
fn non_json_inputs_are_refused() {
    for input in [&b"{"[..], b"[]", b"null", b"\xff", b"{} x"] {
        let err = Config::from_json(input).unwrap_err();
        assert_eq!(err.field, "configuration", "{err}");
    }
    let err = Config::from_json(br#"{"appUrl": "#).unwrap_err();
    assert!(err.problem.starts_with("is not valid JSON"), "{err}");
    // An empty configuration is allowed (the environment may carry it all),
    // so what is missing is reported by name.
    for input in [&b""[..], b"   ", b"{}"] {
        let err = Config::from_json(input).unwrap_err();
        assert_eq!(err.field, "appUrl", "{err}");
    }
}

#[test]
fn error_display_is_one_line() {
    let err = load(&with(&["secret"], json!("short"))).unwrap_err();
    let line = err.to_string();
    assert!(line.starts_with("secret: is too short"));
    assert!(!line.contains('\n'));
    assert!(!line.contains("short\""), "the secret itself is not echoed");
}

#[test]
fn line_breaks_in_a_quoted_name_are_escaped_unicode_separators_included() {
    let mut config = base();
    config["bad\u{2028}[critical] forged\r\n"] = json!(1);
    let err = load(&config).unwrap_err();
    let line = err.to_string();
    assert!(
        !line.contains(['\n', '\r', '\u{2028}', '\u{2029}']),
        "{line:?}"
    );
    assert!(
        line.contains(r"bad\u{2028}[critical] forged\r\n"),
        "{line:?}"
    );
}

#[test]
fn a_key_given_twice_is_refused_rather_than_read_one_way() {
    let text =
        base()
            .to_string()
            .replacen('{', r#"{"secret":"another-secret-another-secret-xx","#, 1);
    let err = Config::from_json(text.as_bytes()).unwrap_err();
    assert_eq!(err.field, "configuration");
    assert!(err.problem.contains("given twice"), "{err}");
}

#[test]
fn a_section_given_as_a_list_is_refused_not_read_in_order() {
    // serde would read `[3600]` as the first field of the section.
    let err = load(&with(&["auth"], json!([3600]))).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.problem.as_str()),
        ("auth", "invalid type: sequence, expected a map")
    );
    let err = load(&with(&["apps", "whoami", "response"], json!([["X=1"]]))).unwrap_err();
    assert_eq!(err.field, "apps.whoami.response");
    let err = load(&with(
        &["oauth", "providers", "generic", "claims"],
        json!(["sub"]),
    ))
    .unwrap_err();
    assert_eq!(err.field, "oauth.providers.generic.claims");
    // `null` sections mean "not set".
    assert!(load(&with(&["auth"], Value::Null)).is_ok());
}

#[test]
fn partial_regexes_are_warned_about_once_each_with_their_source() {
    let config = Config::from_sources(
        with(&["apps", "whoami", "oauth", "groups"], json!("/admins/"))
            .to_string()
            .as_bytes(),
        &[("OAUTH_WHITELIST".to_owned(), r"/@example\.com$/".to_owned())],
    )
    .unwrap();
    assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
    assert!(config.warnings.iter().any(|w| w.starts_with(
        "apps.whoami.oauth.groups: the regex /admins/ matches any value that contains a match"
    )));
    let whitelist = config
        .warnings
        .iter()
        .find(|w| w.starts_with("oauth.whitelist:"))
        .unwrap();
    assert!(
        whitelist.contains(r"anchor it with ^…$ (`/^admins$/`, `/^.*@example\.com$/`)"),
        "{whitelist}"
    );
    assert!(whitelist.ends_with("(set by environment variable OAUTH_WHITELIST)"));
    // Whole-value regexes and lists need no warning.
    let quiet = load(&with(
        &["apps", "whoami", "oauth", "groups"],
        json!("/^(admins|ops)$/"),
    ))
    .unwrap();
    assert!(quiet.warnings.is_empty(), "{:?}", quiet.warnings);
    assert!(load(&base()).unwrap().warnings.is_empty());
}

#[test]
fn rules_that_differ_from_tinyauth_are_warned_about_at_load() {
    let config = load(&with(
        &["apps", "whoami"],
        json!({"users": {"allow": "alice"}, "ip": {"block": "10.0.0.0/8"}}),
    ))
    .unwrap();
    let users = config
        .warnings
        .iter()
        .find(|w| w.starts_with("apps.whoami.users.allow:"))
        .unwrap();
    assert!(
        users.contains("Tinyauth applies users rules to local users only"),
        "{users}"
    );
    assert!(config.warnings.iter().any(|w| w
        .starts_with("apps.whoami.ip: Tinyauth applies IP rules only when trustedProxies is set")));
    // With trusted proxies the IP rules mean the same in both.
    let mut value = with(&["apps", "whoami"], json!({"ip": {"block": "10.0.0.0/8"}}));
    value["auth"] = json!({"trustedProxies": "192.0.2.1"});
    assert!(load(&value).unwrap().warnings.is_empty());
}

#[test]
fn a_misspelt_variable_of_the_filters_families_is_refused_with_a_suggestion() {
    let env = |name: &str| vec![(name.to_owned(), "x@example.com".to_owned())];
    let text = base().to_string();
    let err = Config::from_sources(text.as_bytes(), &env("OAUTH_WHITELST")).unwrap_err();
    assert_eq!(err.field, "environment variable OAUTH_WHITELST");
    assert!(
        err.problem.contains("did you mean OAUTH_WHITELIST?"),
        "{err}"
    );
    let err = Config::from_sources(text.as_bytes(), &env("GENERIC_CLIENTSECRET")).unwrap_err();
    assert!(
        err.problem.contains("did you mean GENERIC_CLIENT_SECRET?"),
        "{err}"
    );
    // Variables of other families (Istio's, the shell's) are left alone.
    for foreign in ["ISTIO_META_CLUSTER_ID", "HOME", "POD_NAME"] {
        assert!(
            Config::from_sources(text.as_bytes(), &env(foreign)).is_ok(),
            "{foreign}"
        );
    }
}
