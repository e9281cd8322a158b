#![allow(clippy::type_complexity)]

use super::*;
use crate::config::raw::RawConfig;
use crate::config::shape::Shape;
use crate::config::{Config, ConfigError};
use serde_json::{json, Value};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(json: &Value, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_sources(json.to_string().as_bytes(), &env(pairs))
}

/// The seed guide's environment block, pasted as is, plus `APP_URL` and `SECRET`.
const SEED: &[(&str, &str)] = &[
    ("APP_URL", "https://tinyauth.example.com"),
    ("SECRET", "0123456789abcdef0123456789abcdef"),
    ("GENERIC_CLIENT_ID", "your-pocket-id-client-id"),
    ("GENERIC_CLIENT_SECRET", "your-pocket-id-client-secret"),
    (
        "GENERIC_AUTH_URL",
        "https://pocket-id.example.com/authorize",
    ),
    (
        "GENERIC_TOKEN_URL",
        "https://pocket-id.example.com/api/oidc/token",
    ),
    (
        "GENERIC_USER_URL",
        "https://pocket-id.example.com/api/oidc/userinfo",
    ),
    ("GENERIC_SCOPES", "openid email profile groups"),
    ("GENERIC_NAME", "Pocket ID"),
    ("OAUTH_AUTO_REDIRECT", "generic"),
    ("OAUTH_WHITELIST", "alice@example.com"),
    // What else is in a container's environment is not Tinyauth's business.
    ("PATH", "/usr/bin"),
    ("ISTIO_META_WASM_PLUGIN_RESOURCE_VERSION", "42"),
];

#[test]
fn the_seed_environment_block_is_a_complete_configuration() {
    let config = Config::from_sources(b"", &env(SEED)).unwrap();
    let provider = &config.providers[0];
    assert_eq!(provider.id, "generic");
    assert_eq!(provider.name, "Pocket ID");
    assert_eq!(provider.client_id, "your-pocket-id-client-id");
    assert_eq!(provider.scopes, "openid email profile groups");
    assert_eq!(
        provider.redirect_uri,
        "https://tinyauth.example.com/api/oauth/callback/generic"
    );
    // No cluster configured: the name Istio gives the ServiceEntry host.
    assert_eq!(
        provider.token.as_ref().unwrap().cluster,
        "outbound|443||pocket-id.example.com"
    );
    assert_eq!(config.auto_redirect, Some(0));
    assert_eq!(config.whitelist.matches("alice@example.com"), Some(true));
}

#[test]
fn tinyauth_v5_names_resolve_case_insensitively() {
    let config = Config::from_sources(
        b"",
        &env(&[
            ("TINYAUTH_APPURL", "https://auth.example.com"),
            ("TINYAUTH_SECRET", "0123456789abcdef0123456789abcdef"),
            ("TINYAUTH_AUTH_SESSIONEXPIRY", "3600"),
            ("TINYAUTH_AUTH_SECURECOOKIE", "true"),
            ("TINYAUTH_AUTH_ACLS_POLICY", "deny"),
            ("TINYAUTH_AUTH_IP_BYPASS", "10.0.0.5"),
            ("TINYAUTH_AUTH_TRUSTEDPROXIES", "10.0.0.0/8"),
            ("TINYAUTH_OAUTH_AUTOREDIRECT", "pocketid"),
            (
                "TINYAUTH_OAUTH_PROVIDERS_POCKETID_ISSUER",
                "https://pocket-id.example.com",
            ),
            ("TINYAUTH_OAUTH_PROVIDERS_POCKETID_CLIENTID", "c"),
            ("TINYAUTH_OAUTH_PROVIDERS_POCKETID_CLIENTSECRET", "s"),
            ("TINYAUTH_OAUTH_PROVIDERS_POCKETID_CLAIMS_GROUPS", "roles"),
            (
                "TINYAUTH_OAUTH_PROVIDERS_POCKETID_REDIRECTURL",
                "https://auth.example.com/api/oauth/callback/pocketid",
            ),
            ("TINYAUTH_APPS_WHOAMI_CONFIG_DOMAIN", "who.example.com"),
            ("TINYAUTH_APPS_WHOAMI_OAUTH_GROUPS", "admins"),
            ("TINYAUTH_APPS_WHOAMI_RESPONSE_BASICAUTH_USERNAME", "svc"),
            ("TINYAUTH_APPS_WHOAMI_RESPONSE_BASICAUTH_PASSWORD", "pw"),
            ("TINYAUTH_UI_TITLE", "Example"),
            ("TINYAUTH_SERVER_PORT", "3000"),
            ("TINYAUTH_LOG_LEVEL", "debug"),
        ]),
    )
    .unwrap();
    assert_eq!(config.session_expiry, 3600);
    assert_eq!(config.policy, crate::config::Policy::Deny);
    assert_eq!(config.providers[0].id, "pocketid");
    assert_eq!(config.providers[0].claim_names.groups, "roles");
    assert_eq!(config.apps.list[0].domains, ["who.example.com"]);
    assert!(config.apps.list[0].basic_auth.is_some());
    assert_eq!(config.site.look.title, "Example");
    assert_eq!(config.notes.len(), 2, "{:?}", config.notes);
    assert!(config.notes[0].contains("TINYAUTH_SERVER_PORT ignored"));
}

#[test]
fn v4_provider_names() {
    let config = Config::from_sources(
        b"",
        &env(&[
            ("APP_URL", "https://auth.example.com"),
            ("SECRET", "0123456789abcdef0123456789abcdef"),
            ("PROVIDERS_POCKETID_CLIENT_ID", "c"),
            ("PROVIDERS_POCKETID_CLIENT_SECRET", "s"),
            (
                "PROVIDERS_POCKETID_AUTH_URL",
                "https://id.example.com/authorize",
            ),
            (
                "PROVIDERS_POCKETID_TOKEN_URL",
                "https://id.example.com/token",
            ),
            (
                "PROVIDERS_POCKETID_USER_INFO_URL",
                "https://id.example.com/userinfo",
            ),
            ("SECURE_COOKIE", "false"),
        ]),
    )
    .unwrap();
    assert_eq!(config.providers[0].id, "pocketid");
    assert!(!config.site.cookies.secure);
}

#[test]
fn json_and_environment_merge_and_must_agree() {
    let json = json!({"appUrl": "https://tinyauth.example.com", "auth": {"sessionExpiry": 7200}});
    let config = load(
        &json,
        &[
            ("SESSION_EXPIRY", "7200"),
            ("SECRET", "0123456789abcdef0123456789abcdef"),
            ("GENERIC_CLIENT_ID", "c"),
            ("GENERIC_CLIENT_SECRET", "s"),
            ("GENERIC_AUTH_URL", "https://id.example.com/a"),
        ],
    )
    .unwrap();
    assert_eq!(config.session_expiry, 7200, "the same value twice is fine");

    let err = load(&json, &[("SESSION_EXPIRY", "3600")]).unwrap_err();
    assert_eq!(err.field, "auth.sessionExpiry");
    assert!(err.problem.contains("the JSON configuration"), "{err}");
    assert!(
        err.problem.contains("environment variable SESSION_EXPIRY"),
        "{err}"
    );
    assert!(err.problem.contains("`7200` and `3600`"), "{err}");

    let err = load(
        &json!({}),
        &[
            ("SESSION_EXPIRY", "3600"),
            ("TINYAUTH_AUTH_SESSIONEXPIRY", "60"),
        ],
    )
    .unwrap_err();
    assert!(
        err.problem.contains("SESSION_EXPIRY")
            && err.problem.contains("TINYAUTH_AUTH_SESSIONEXPIRY"),
        "{err}"
    );
}

#[test]
fn conflicting_secrets_are_not_echoed() {
    let json = json!({"secret": "json-secret-json-secret-json-secret-00"});
    let err = load(
        &json,
        &[("SECRET", "env-secret-env-secret-env-secret-0000")],
    )
    .unwrap_err();
    assert_eq!(err.field, "secret");
    assert!(
        !err.to_string().contains("json-secret") && !err.to_string().contains("env-secret"),
        "{err}"
    );
}

#[test]
fn environment_errors_name_the_variable() {
    let cases: &[(&[(&str, &str)], &str, &str)] = &[
        (
            &[("TINYAUTH_AUTH_SESIONEXPIRY", "1")],
            "environment variable TINYAUTH_AUTH_SESIONEXPIRY",
            "not a Tinyauth setting",
        ),
        (
            &[("TINYAUTH_FOO", "1")],
            "environment variable TINYAUTH_FOO",
            "not a Tinyauth setting",
        ),
        (
            &[("TINYAUTH_AUTH_USERS", "a:b")],
            "environment variable TINYAUTH_AUTH_USERS",
            "local users",
        ),
        (
            &[("TINYAUTH_OAUTH_PROVIDERS_X_CLIENTSECRETFILE", "/run/s")],
            "environment variable TINYAUTH_OAUTH_PROVIDERS_X_CLIENTSECRETFILE",
            "files cannot be read",
        ),
        (
            &[("TINYAUTH_LDAP_ADDRESS", "ldap://x")],
            "environment variable TINYAUTH_LDAP_ADDRESS",
            "ldap",
        ),
        (
            &[("TINYAUTH_OAUTH_PROVIDERS_X_INSECURE", "true")],
            "environment variable TINYAUTH_OAUTH_PROVIDERS_X_INSECURE",
            "Envoy cluster",
        ),
        (
            &[("SECRET_FILE", "/run/secret")],
            "environment variable SECRET_FILE",
            "files cannot be read",
        ),
        (
            &[("USERS", "a:hash")],
            "environment variable USERS",
            "local users",
        ),
        (
            &[("GITHUB_CLIENT_ID", "x")],
            "environment variable GITHUB_CLIENT_ID",
            "presets",
        ),
        (
            &[("GENERIC_SKIP_SSL", "true")],
            "environment variable GENERIC_SKIP_SSL",
            "Envoy cluster",
        ),
    ];
    for (pairs, field, problem) in cases {
        let err = load(&json!({}), pairs).unwrap_err();
        assert_eq!(err.field, *field);
        assert!(err.problem.contains(problem), "{err}");
    }
}

#[test]
fn bad_environment_values_name_their_variable() {
    let mut pairs = SEED.to_vec();
    pairs.push(("SESSION_EXPIRY", "soon"));
    let err = Config::from_sources(b"", &env(&pairs)).unwrap_err();
    assert_eq!(err.field, "auth.sessionExpiry");
    assert!(
        err.problem
            .contains("(set by environment variable SESSION_EXPIRY)"),
        "{err}"
    );
    let mut pairs = SEED.to_vec();
    pairs.retain(|(k, _)| *k != "GENERIC_TOKEN_URL");
    pairs.push(("GENERIC_TOKEN_URL", "pocket-id/token"));
    let err = Config::from_sources(b"", &env(&pairs)).unwrap_err();
    assert_eq!(err.field, "oauth.providers.generic.tokenUrl");
    assert!(err.problem.contains("GENERIC_TOKEN_URL"), "{err}");
}

#[test]
fn a_foreign_redirect_url_is_refused() {
    let mut pairs = SEED.to_vec();
    pairs.push((
        "PROVIDERS_GENERIC_REDIRECT_URL",
        "https://elsewhere.example.com/cb",
    ));
    let err = Config::from_sources(b"", &env(&pairs)).unwrap_err();
    assert_eq!(err.field, "oauth.providers.generic.redirectUrl");
    assert!(err
        .problem
        .contains("https://tinyauth.example.com/api/oauth/callback/generic"));
}

fn base() -> Value {
    json!({
        "appUrl": "https://auth.example.com", "secret": "0123456789abcdef0123456789abcdef",
        "oauth": {"providers": {"generic": {"clientId": "c", "clientSecret": "s", "authUrl": "https://id.example.com/a"}}}
    })
}

#[test]
fn v3_container_labels_configure_their_app() {
    let mut json = base();
    json["apps"] = json!({
        "whoami": {"labels": {
            "tinyauth.oauth.groups": "admins",
            "tinyauth.domain": "who.example.com",
            "tinyauth.allowed": "^/health",
            "tinyauth.headers": "X-Tenant=acme",
            "tinyauth.ip.bypass": "10.0.0.5",
            "tinyauth.basic.username": "svc",
            "tinyauth.basic.password.plain": "pw",
            "tinyauth.users": "alice"
        }},
        "grafana": {"labels": ["tinyauth.oauth.whitelist=alice@example.com", "tinyauth.ip.block=203.0.113.0/24"]}
    });
    let config = load(&json, &[]).unwrap();
    let whoami = config
        .apps
        .list
        .iter()
        .find(|a| a.name == "whoami")
        .unwrap();
    assert_eq!(whoami.groups.matches("admins"), Some(true));
    assert_eq!(whoami.domains, ["who.example.com"]);
    assert!(whoami.path_allow.is_some());
    assert_eq!(whoami.headers, [("x-tenant".to_owned(), "acme".to_owned())]);
    assert_eq!(whoami.users_allow.matches("alice"), Some(true));
    assert!(whoami.basic_auth.is_some());
    let grafana = config
        .apps
        .list
        .iter()
        .find(|a| a.name == "grafana")
        .unwrap();
    assert_eq!(grafana.whitelist.matches("alice@example.com"), Some(true));
    assert!(!grafana.ip.block.is_empty());
}

#[test]
fn v5_labels_name_their_app() {
    let mut json = base();
    json["labels"] = json!({
        "tinyauth.apps.whoami.oauth.groups": "admins",
        "tinyauth.apps.whoami.Config.Domain": "who.example.com",
        "tinyauth.apps.nextcloud.path.allow": "^/status.php$"
    });
    json["apps"] = json!({"whoami": {"labels": ["tinyauth.apps.whoami.users.block=bot"]}});
    let config = load(&json, &[]).unwrap();
    let whoami = config
        .apps
        .list
        .iter()
        .find(|a| a.name == "whoami")
        .unwrap();
    assert_eq!(whoami.domains, ["who.example.com"]);
    assert_eq!(whoami.users_block.matches("bot"), Some(true));
    assert!(config
        .apps
        .list
        .iter()
        .any(|a| a.name == "nextcloud" && a.path_allow.is_some()));
}

#[test]
fn label_errors_and_conflicts() {
    let cases = [
        (
            json!({"labels": {"tinyauth.oauth.groups": "admins"}}),
            "labels",
            "per-container",
        ),
        (
            json!({"labels": {"tinyauth.apps.whoami.oauth.group": "x"}}),
            "labels",
            "not a Tinyauth app setting",
        ),
        (
            json!({"labels": {"traefik.enable": "true"}}),
            "labels",
            "not a Tinyauth label",
        ),
        (
            json!({"labels": "tinyauth.oauth.groups=admins"}),
            "labels",
            "must be an object",
        ),
        (
            json!({"apps": {"whoami": {"labels": {"tinyauth.apps.other.oauth.groups": "x"}}}}),
            "apps.whoami.labels",
            "is for app other",
        ),
        (
            json!({"apps": {"whoami": {"labels": {"tinyauth.basic.password.file": "/run/p"}}}}),
            "apps.whoami.labels",
            "files cannot be read",
        ),
        (
            json!({"apps": {"whoami": {"oauth": {"groups": "admins"}, "labels": {"tinyauth.oauth.groups": "users"}}}}),
            "apps.whoami.oauth.groups",
            "label tinyauth.oauth.groups",
        ),
    ];
    for (extra, field, problem) in cases {
        let mut json = base();
        for (k, v) in extra.as_object().unwrap() {
            json[k] = v.clone();
        }
        let err = load(&json, &[]).unwrap_err();
        assert_eq!(err.field, field, "{extra}: {err}");
        assert!(err.problem.contains(problem), "{extra}: {err}");
    }
}

/// Every key path in `filter-config/schema.json` resolves through the shape the
/// environment and labels use, every shape path is in the schema, and every
/// one is a field the serde structs read.
#[test]
fn the_shape_matches_the_schema_and_the_serde_structs() {
    let schema: Value =
        serde_json::from_str(include_str!("../../../filter-config/schema.json")).unwrap();
    let mut from_schema = std::collections::BTreeSet::new();
    collect_schema(&schema, &schema, "", &mut from_schema);
    let mut from_shape = std::collections::BTreeSet::new();
    collect_shape(&ROOT, "", &mut from_shape);
    let only_schema: Vec<_> = from_schema.difference(&from_shape).collect();
    let only_shape: Vec<_> = from_shape.difference(&from_schema).collect();
    assert!(
        only_schema.is_empty() && only_shape.is_empty(),
        "schema only: {only_schema:?}; shape only: {only_shape:?}"
    );
    for path in &from_shape {
        let mut value = json!({});
        let mut node = &mut value;
        for key in path.split('.') {
            node = node
                .as_object_mut()
                .unwrap()
                .entry(key.replace('*', "x"))
                .or_insert_with(|| json!({}));
        }
        *node = json!("1");
        if let Err(err) = serde_path_to_error::deserialize::<_, RawConfig>(&value) {
            assert!(
                !err.inner().to_string().starts_with("unknown field"),
                "{path}: {err}"
            );
        }
    }
}

fn collect_schema(
    root: &Value,
    node: &Value,
    prefix: &str,
    out: &mut std::collections::BTreeSet<String>,
) {
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/");
        return collect_schema(root, &root["$defs"][name], prefix, out);
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (key, child) in props {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            let is_leaf = child.get("properties").is_none()
                && child
                    .get("additionalProperties")
                    .and_then(Value::as_object)
                    .is_none()
                && child.get("$ref").and_then(Value::as_str).is_none_or(|r| {
                    !r.ends_with("/ipRules") && !r.ends_with("/provider") && !r.ends_with("/app")
                });
            if is_leaf && key != "labels" {
                out.insert(path.clone());
            }
            collect_schema(root, child, &path, out);
        }
    }
    if let Some(additional) = node.get("additionalProperties").filter(|a| a.is_object()) {
        let path = format!("{prefix}.*");
        if additional.get("$ref").is_none() && additional.get("properties").is_none() {
            out.insert(path);
        } else {
            collect_schema(root, additional, &path, out);
        }
    }
}

fn collect_shape(shape: &Shape, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    match shape {
        Shape::Leaf => {
            if !prefix.ends_with("labels") {
                out.insert(prefix.to_owned());
            }
        }
        Shape::Object(fields) => {
            for (key, child) in *fields {
                let path = if prefix.is_empty() {
                    (*key).to_owned()
                } else {
                    format!("{prefix}.{key}")
                };
                collect_shape(child, &path, out);
            }
        }
        Shape::Map(child) => collect_shape(child, &format!("{prefix}.*"), out),
    }
}
