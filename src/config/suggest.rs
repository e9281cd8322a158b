//! "Did you mean …?" for an environment variable the filter does not know:
//! the closest name it does know (by Damerau–Levenshtein distance, from
//! `strsim`), among the seed guide's and Tinyauth v4's fixed names and every
//! `TINYAUTH_*` name the configuration's shape has, with the provider IDs and
//! app names the misspelt variable itself uses.

use super::shape::Shape;

/// The seed guide's and Tinyauth v4's names (`<ID>` stands for a provider).
const LEGACY: &[&str] = &[
    "APP_URL",
    "SECRET",
    "COOKIE_SECURE",
    "SECURE_COOKIE",
    "SESSION_EXPIRY",
    "TRUSTED_PROXIES",
    "OAUTH_WHITELIST",
    "OAUTH_AUTO_REDIRECT",
    "APP_TITLE",
    "BACKGROUND_IMAGE",
    "GENERIC_CLIENT_ID",
    "GENERIC_CLIENT_SECRET",
    "GENERIC_AUTH_URL",
    "GENERIC_TOKEN_URL",
    "GENERIC_USER_URL",
    "GENERIC_SCOPES",
    "GENERIC_NAME",
    "GENERIC_REDIRECT_URL",
];

/// Names longer than this (in characters) get no suggestion. A hint is for a
/// name someone typed, and each candidate's distance costs the product of the
/// two lengths: a name of a few KB whose segments are taken as app names (so
/// every candidate is as long) made one configuration load take 11 s (fuzz
/// finding 12).
const LONGEST_NAME: usize = 128;

/// The known name closest to `name`, if one is close enough to be a typo.
pub(super) fn closest(name: &str, root: &Shape) -> Option<String> {
    let length = name.chars().count();
    if length > LONGEST_NAME {
        return None;
    }
    let mut candidates: Vec<String> = LEGACY.iter().map(|n| (*n).to_owned()).collect();
    if let Some(rest) = name.strip_prefix("TINYAUTH_") {
        let segments: Vec<&str> = rest.split('_').collect();
        v5_names(root, &segments, "TINYAUTH", &mut candidates);
    }
    let limit = (name.len() / 5).max(2);
    candidates
        .into_iter()
        // The distance is at least the difference in length: a candidate
        // that differs by more is not worth computing.
        .filter(|candidate| candidate.chars().count().abs_diff(length) <= limit)
        .map(|candidate| (strsim::damerau_levenshtein(name, &candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Every `TINYAUTH_*` leaf name under `shape`, taking the keys of maps
/// (provider IDs, app names) from `segments` at the same depth.
fn v5_names(shape: &Shape, segments: &[&str], prefix: &str, out: &mut Vec<String>) {
    match shape {
        Shape::Leaf => out.push(prefix.to_owned()),
        Shape::Object(fields) => {
            let rest = segments.get(1..).unwrap_or_default();
            for (key, child) in *fields {
                let name = format!("{prefix}_{}", key.to_ascii_uppercase());
                v5_names(child, rest, &name, out);
            }
        }
        Shape::Map(child) => {
            if let Some(key) = segments.first() {
                let rest = segments.get(1..).unwrap_or_default();
                v5_names(child, rest, &format!("{prefix}_{key}"), out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::shape::ROOT;

    #[test]
    fn typos_get_the_name_they_meant() {
        let cases = [
            ("OAUTH_WHITELST", Some("OAUTH_WHITELIST")),
            ("OAUTH_AUTOREDIRECT", Some("OAUTH_AUTO_REDIRECT")),
            ("GENERIC_CLIENTID", Some("GENERIC_CLIENT_ID")),
            ("APP_ULR", Some("APP_URL")),
            (
                "TINYAUTH_AUTH_SESIONEXPIRY",
                Some("TINYAUTH_AUTH_SESSIONEXPIRY"),
            ),
            (
                "TINYAUTH_OAUTH_PROVIDERS_POCKETID_CLIENTSECRT",
                Some("TINYAUTH_OAUTH_PROVIDERS_POCKETID_CLIENTSECRET"),
            ),
            (
                "TINYAUTH_APPS_WHOAMI_OAUTH_GRUPS",
                Some("TINYAUTH_APPS_WHOAMI_OAUTH_GROUPS"),
            ),
            ("OAUTH_SOMETHING_ELSE_ENTIRELY", None),
        ];
        for (typo, want) in cases {
            assert_eq!(closest(typo, &ROOT).as_deref(), want, "{typo}");
        }
    }

    #[test]
    fn only_names_someone_could_have_typed_get_a_hint() {
        // At the limit, with a long app name taken from the variable itself.
        let around = "TINYAUTH_APPS__OAUTH_GRUPS".len();
        let app = "A".repeat(LONGEST_NAME - around);
        let typed = format!("TINYAUTH_APPS_{app}_OAUTH_GRUPS");
        assert_eq!(typed.len(), LONGEST_NAME);
        assert_eq!(
            closest(&typed, &ROOT),
            Some(format!("TINYAUTH_APPS_{app}_OAUTH_GROUPS"))
        );
        // One past it, none, however close a known name would be.
        let app = "A".repeat(LONGEST_NAME - around + 1);
        let pasted = format!("TINYAUTH_APPS_{app}_OAUTH_GRUPS");
        assert_eq!(closest(&pasted, &ROOT), None);
        // Counted in characters, not bytes.
        let app = "é".repeat(60);
        let accented = format!("TINYAUTH_APPS_{app}_OAUTH_GRUPS");
        assert!(accented.len() > LONGEST_NAME);
        assert_eq!(
            closest(&accented, &ROOT),
            Some(format!("TINYAUTH_APPS_{app}_OAUTH_GROUPS"))
        );
    }

    #[test]
    fn longer_names_may_have_more_typos() {
        // Three edits in twenty characters: within a fifth of the length.
        assert_eq!(
            closest("GENERIK_CLIANT_SECRT", &ROOT).as_deref(),
            Some("GENERIC_CLIENT_SECRET")
        );
        // Three edits in eight characters are a different name.
        assert_eq!(closest("APX_UXRY", &ROOT), None);
    }
}
