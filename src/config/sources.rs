//! Where settings come from besides the JSON configuration: the VM environment
//! (the seed guide's names such as `APP_URL` and `GENERIC_CLIENT_ID`, Tinyauth
//! v4's `PROVIDERS_<ID>_*`, and Tinyauth v5's `TINYAUTH_*`), and Tinyauth's
//! compose labels (v3 `tinyauth.oauth.groups`, v5 `tinyauth.apps.<app>.*`).
//!
//! Everything is merged into one JSON value before it is compiled. Each setting
//! may come from any one source; when two sources give it different values the
//! configuration is refused, naming both.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::shape::{resolve, APP, ROOT};
use super::{suggest, ConfigError};

/// The merged configuration, with where each environment/label setting came from.
#[derive(Debug)]
pub(crate) struct Merged {
    pub value: Value,
    /// Dotted path → the environment variable or label that set it.
    pub provenance: BTreeMap<String, String>,
    /// Settings that were recognised but have no meaning in the filter.
    pub notes: Vec<String>,
}

/// Keys whose values must never appear in an error message.
fn is_secret(path: &[String]) -> bool {
    path.last().is_some_and(|key| {
        matches!(
            key.as_str(),
            "secret" | "previousSecrets" | "clientSecret" | "password"
        )
    })
}

/// A value as text, for comparing settings from different sources: `3600`,
/// `"3600"` and `" 3600 "` agree; so do `["a","b"]` and `"a,b"`.
fn normalised(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(|s| s.trim().to_owned()))
            .collect::<Option<Vec<_>>>()
            .map(|items| items.join(",")),
        Value::Null | Value::Object(_) => None,
    }
}

impl Merged {
    /// Sets `path` to `value`, coming from `source`. Refuses a different value
    /// already given by another source.
    fn set(&mut self, path: &[String], value: Value, source: &str) -> Result<(), ConfigError> {
        let dotted = path.join(".");
        let Some((last, parents)) = path.split_last() else {
            return Ok(());
        };
        let conflict = || ConfigError::new(dotted.clone(), "conflicts with a non-object value");
        let mut object = self.value.as_object_mut().ok_or_else(conflict)?;
        for key in parents {
            let member = object
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            // A section given as `null` means "not set": the setting creates it.
            if member.is_null() {
                *member = Value::Object(Map::new());
            }
            object = member.as_object_mut().ok_or_else(conflict)?;
        }
        if let Some(existing) = object.get(last) {
            if normalised(existing).is_some() && normalised(existing) == normalised(&value) {
                return Ok(());
            }
            let earlier = self
                .provenance
                .get(&dotted)
                .cloned()
                .unwrap_or_else(|| "the JSON configuration".into());
            let detail = if is_secret(path) {
                String::new()
            } else {
                format!(
                    " (`{}` and `{}`)",
                    normalised(existing).unwrap_or_else(|| "an object".into()),
                    normalised(&value).unwrap_or_default()
                )
            };
            return Err(ConfigError::new(
                dotted,
                format!("is set differently by {earlier} and by {source}{detail}; give it once"),
            ));
        }
        object.insert(last.clone(), value);
        self.provenance.insert(dotted, source.to_owned());
        Ok(())
    }
}

/// Merges the environment and labels into the JSON configuration.
#[inline(never)]
pub(crate) fn merge(json: Value, env: &[(String, String)]) -> Result<Merged, ConfigError> {
    if !json.is_object() {
        return Err(ConfigError::new("configuration", "must be a JSON object"));
    }
    let mut merged = Merged {
        value: json,
        provenance: BTreeMap::new(),
        notes: Vec::new(),
    };
    for (name, value) in env {
        match classify_env(name) {
            Env::Setting(path) => {
                merged.set(
                    &path,
                    Value::String(value.clone()),
                    &format!("environment variable {name}"),
                )?;
            }
            Env::Ignored(why) => merged.notes.push(format!("{name} ignored: {why}")),
            Env::Unsupported(why) => {
                return Err(ConfigError::new(
                    format!("environment variable {name}"),
                    why,
                ));
            }
            Env::Unknown => {
                let hint = suggest::closest(name, &ROOT).map_or_else(
                    || {
                        "check the spelling; see docs/configuration.md, \"Environment variables\""
                            .to_owned()
                    },
                    |known| format!("did you mean {known}?"),
                );
                return Err(ConfigError::new(
                    format!("environment variable {name}"),
                    format!("is not a Tinyauth setting the filter knows ({hint})"),
                ));
            }
            Env::Foreign => {}
        }
    }
    apply_labels(&mut merged)?;
    Ok(merged)
}

/// What an environment variable means to the filter.
enum Env {
    Setting(Vec<String>),
    /// A Tinyauth server setting with no meaning inside Envoy.
    Ignored(&'static str),
    /// A Tinyauth feature the filter does not have; silently ignoring it
    /// would change who gets in.
    Unsupported(String),
    /// A `TINYAUTH_*` name that is not a setting.
    Unknown,
    /// Not a Tinyauth variable (Istio, the shell, ...).
    Foreign,
}

const SERVER_ONLY: &str = "a Tinyauth server setting with no meaning in the filter";
const NO_FILES: &str =
    "files cannot be read inside the Wasm VM; give the value itself (from a Kubernetes secret through vmConfig.env)";

#[inline(never)]
fn classify_env(name: &str) -> Env {
    if let Some(rest) = name.strip_prefix("TINYAUTH_") {
        return classify_v5(rest);
    }
    classify_legacy(name)
}

/// Tinyauth v5: `TINYAUTH_<SECTION>_<KEY>`, resolved case-insensitively.
#[inline(never)]
fn classify_v5(rest: &str) -> Env {
    let lower = rest.to_ascii_lowercase();
    let segments: Vec<&str> = lower.split('_').collect();
    let first = segments.first().copied().unwrap_or_default();
    if matches!(
        first,
        "server" | "database" | "analytics" | "resources" | "log" | "labelprovider"
    ) || matches!(
        lower.as_str(),
        "auth_logintimeout"
            | "auth_loginmaxretries"
            | "ui_forgotpasswordmessage"
            | "ui_warningsenabled"
    ) {
        return Env::Ignored(SERVER_ONLY);
    }
    if lower.ends_with("file") {
        return Env::Unsupported(NO_FILES.into());
    }
    if lower.starts_with("auth_users") || lower.starts_with("auth_userattributes") {
        return Env::Unsupported("local users (passwords, TOTP) are not supported: sign in through an OAuth/OIDC provider".into());
    }
    if matches!(first, "ldap" | "tailscale" | "oidc" | "experimental") {
        return Env::Unsupported(format!(
            "Tinyauth's {first} feature is not part of the filter"
        ));
    }
    if first == "configfile" {
        return Env::Unsupported(
            "put the configuration in the filter's JSON configuration instead".into(),
        );
    }
    if segments.last() == Some(&"insecure") {
        return Env::Unsupported(
            "TLS to the provider is configured on the Envoy cluster, not in the filter".into(),
        );
    }
    if first == "apps" && lower.ends_with("_ldap_groups") {
        return Env::Unsupported("LDAP groups are not supported".into());
    }
    match resolve(&ROOT, &segments) {
        Some(path) => Env::Setting(path),
        None => Env::Unknown,
    }
}

/// The filter's own families of legacy names: a name in one of them that is
/// not one of its settings is a typo, which ignoring would turn into a
/// silently missing rule (`OAUTH_WHITELST` and no whitelist).
const FAMILIES: [&str; 8] = [
    "OAUTH_",
    "GENERIC_",
    "PROVIDERS_",
    "APP_",
    "SESSION_",
    "COOKIE_",
    "SECURE_",
    "TRUSTED_",
];

/// The seed guide's (Tinyauth v3) names and v4's `PROVIDERS_<ID>_*`.
#[inline(never)]
fn classify_legacy(name: &str) -> Env {
    let path = |keys: &[&str]| Env::Setting(keys.iter().map(|k| (*k).to_owned()).collect());
    match name {
        "APP_URL" => path(&["appUrl"]),
        "SECRET" => path(&["secret"]),
        "COOKIE_SECURE" | "SECURE_COOKIE" => path(&["auth", "secureCookie"]),
        "SESSION_EXPIRY" => path(&["auth", "sessionExpiry"]),
        "TRUSTED_PROXIES" => path(&["auth", "trustedProxies"]),
        "OAUTH_WHITELIST" => path(&["oauth", "whitelist"]),
        "OAUTH_AUTO_REDIRECT" => path(&["oauth", "autoRedirect"]),
        "APP_TITLE" => path(&["ui", "title"]),
        "BACKGROUND_IMAGE" => path(&["ui", "backgroundImage"]),
        "SECRET_FILE" | "USERS_FILE" | "GENERIC_CLIENT_SECRET_FILE" | "OAUTH_WHITELIST_FILE" => {
            Env::Unsupported(NO_FILES.into())
        }
        "USERS" => Env::Unsupported(
            "local users are not supported: sign in through an OAuth/OIDC provider".into(),
        ),
        "GENERIC_SKIP_SSL" => Env::Unsupported(
            "TLS to the provider is configured on the Envoy cluster, not in the filter".into(),
        ),
        "DISABLE_CONTINUE"
        | "LOGIN_TIMEOUT"
        | "LOGIN_MAX_RETRIES"
        | "LOG_LEVEL"
        | "FORGOT_PASSWORD_MESSAGE"
        | "PORT"
        | "ADDRESS"
        | "DATABASE_PATH"
        | "RESOURCES_DIR"
        | "DISABLE_ANALYTICS"
        | "DISABLE_RESOURCES"
        | "DISABLE_UI_WARNINGS" => Env::Ignored(SERVER_ONLY),
        _ => {
            if let Some(key) = name.strip_prefix("GENERIC_") {
                return provider_key("generic", key);
            }
            if name.starts_with("GITHUB_") || name.starts_with("GOOGLE_") {
                return Env::Unsupported(
                    "the github/google presets are not built in: configure the provider as oauth.providers.<id> with its issuer".into(),
                );
            }
            if name.starts_with("LDAP_") {
                return Env::Unsupported("LDAP is not supported".into());
            }
            if let Some(rest) = name.strip_prefix("PROVIDERS_") {
                // v4: PROVIDERS_<ID>_<KEY>, where the key itself has underscores.
                for key in [
                    "CLIENT_ID",
                    "CLIENT_SECRET",
                    "AUTH_URL",
                    "TOKEN_URL",
                    "USER_INFO_URL",
                    "SCOPES",
                    "NAME",
                    "REDIRECT_URL",
                    "CLIENT_SECRET_FILE",
                    "INSECURE_SKIP_VERIFY",
                ] {
                    if let Some(id) = rest.strip_suffix(key).and_then(|id| id.strip_suffix('_')) {
                        return provider_key(&id.to_ascii_lowercase(), key);
                    }
                }
            }
            if FAMILIES.iter().any(|family| name.starts_with(family)) {
                return Env::Unknown;
            }
            Env::Foreign
        }
    }
}

fn provider_key(id: &str, key: &str) -> Env {
    let field = match key {
        "CLIENT_ID" => "clientId",
        "CLIENT_SECRET" => "clientSecret",
        "AUTH_URL" => "authUrl",
        "TOKEN_URL" => "tokenUrl",
        "USER_URL" | "USER_INFO_URL" => "userInfoUrl",
        "SCOPES" => "scopes",
        "NAME" => "name",
        "REDIRECT_URL" => "redirectUrl",
        "CLIENT_SECRET_FILE" => return Env::Unsupported(NO_FILES.into()),
        "SKIP_SSL" | "INSECURE_SKIP_VERIFY" => {
            return Env::Unsupported(
                "TLS to the provider is configured on the Envoy cluster, not in the filter".into(),
            )
        }
        _ => return Env::Unknown,
    };
    Env::Setting(vec![
        "oauth".into(),
        "providers".into(),
        id.to_owned(),
        field.into(),
    ])
}

/// Tinyauth v3's flat container labels and what they became in v5.
const V3_LABELS: &[(&str, &[&str])] = &[
    ("tinyauth.domain", &["config", "domain"]),
    ("tinyauth.users", &["users", "allow"]),
    ("tinyauth.allowed", &["path", "allow"]),
    ("tinyauth.headers", &["response", "headers"]),
    ("tinyauth.oauth.whitelist", &["oauth", "whitelist"]),
    ("tinyauth.oauth.groups", &["oauth", "groups"]),
    (
        "tinyauth.basic.username",
        &["response", "basicauth", "username"],
    ),
    (
        "tinyauth.basic.password.plain",
        &["response", "basicauth", "password"],
    ),
    ("tinyauth.ip.allow", &["ip", "allow"]),
    ("tinyauth.ip.block", &["ip", "block"]),
    ("tinyauth.ip.bypass", &["ip", "bypass"]),
];

/// Label pairs from an object (`{"k": "v"}`) or a compose list (`["k=v"]`).
#[inline(never)]
fn label_pairs(value: &Value, field: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let bad = || {
        ConfigError::new(
            field,
            "must be an object of label → value, or a list of \"label=value\" strings",
        )
    };
    match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), normalised(v).ok_or_else(bad)?)))
            .collect(),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let text = item.as_str().ok_or_else(bad)?;
                let (k, v) = text.split_once('=').ok_or_else(bad)?;
                Ok((k.trim().to_owned(), v.to_owned()))
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// Applies `labels` (v5 keys) and `apps.<app>.labels` (v3 or v5 keys).
#[inline(never)]
fn apply_labels(merged: &mut Merged) -> Result<(), ConfigError> {
    let Some(object) = merged.value.as_object_mut() else {
        return Ok(());
    };
    let mut pending: Vec<(Option<String>, String, String)> = Vec::new();
    if let Some(top) = object.remove("labels") {
        for (key, value) in label_pairs(&top, "labels")? {
            pending.push((None, key, value));
        }
    }
    if let Some(Value::Object(apps)) = object.get_mut("apps") {
        for (app, config) in apps.iter_mut() {
            if let Some(labels) = config.as_object_mut().and_then(|c| c.remove("labels")) {
                for (key, value) in label_pairs(&labels, &format!("apps.{app}.labels"))? {
                    pending.push((Some(app.to_ascii_lowercase()), key, value));
                }
            }
        }
    }
    for (app, key, value) in pending {
        let path = label_path(app.as_deref(), &key)?;
        merged.set(&path, Value::String(value), &format!("label {key}"))?;
    }
    Ok(())
}

fn label_path(app: Option<&str>, key: &str) -> Result<Vec<String>, ConfigError> {
    let field = match app {
        Some(app) => format!("apps.{app}.labels"),
        None => "labels".into(),
    };
    let lower = key.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("tinyauth.apps.") {
        let segments: Vec<&str> = rest.split('.').collect();
        let (name, fields) = segments
            .split_first()
            .ok_or_else(|| ConfigError::new(&field, format!("label {key} names no app")))?;
        if let Some(app) = app {
            if app != *name {
                return Err(ConfigError::new(
                    field,
                    format!("label {key} is for app {name}, not {app}"),
                ));
            }
        }
        if lower.ends_with("file") {
            return Err(ConfigError::new(field, format!("label {key}: {NO_FILES}")));
        }
        let inner = resolve(&APP, fields).ok_or_else(|| {
            ConfigError::new(&field, format!("label {key} is not a Tinyauth app setting"))
        })?;
        let mut path = vec!["apps".to_owned(), (*name).to_owned()];
        path.extend(inner);
        return Ok(path);
    }
    if let Some((_, target)) = V3_LABELS.iter().find(|(label, _)| *label == lower) {
        let app = app.ok_or_else(|| {
            ConfigError::new(
                &field,
                format!("label {key} is a per-container label: put it under apps.<app>.labels"),
            )
        })?;
        let mut path = vec!["apps".to_owned(), app.to_owned()];
        path.extend(target.iter().map(|k| (*k).to_owned()));
        return Ok(path);
    }
    if lower == "tinyauth.basic.password.file" {
        return Err(ConfigError::new(field, format!("label {key}: {NO_FILES}")));
    }
    Err(ConfigError::new(
        field,
        format!("label {key} is not a Tinyauth label"),
    ))
}

#[cfg(test)]
mod tests;
