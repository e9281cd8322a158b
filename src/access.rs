//! Per-app access control: which app a host belongs to, and whether a signed-in
//! user may use it. Rules come from the compiled configuration; nothing here
//! allocates on the allow path.

use std::fmt;

use crate::config::{App, Config};
use crate::identity::Identity;

/// Why a signed-in user was refused. `Display` is for logs; pages use
/// [`Denial::public_reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// `oauth.groups` is set and none of the user's groups match.
    NotInGroup,
    /// The app's `oauth.whitelist` does not include the user's email.
    NotWhitelisted,
}

impl Denial {
    /// What the user is told, in plain words, without revealing configuration.
    pub fn public_reason(self) -> &'static str {
        match self {
            Self::NotInGroup => "You are not in a group that may use this app.",
            Self::NotWhitelisted => "Your account is not allowed to use this app.",
        }
    }

    /// Tinyauth's `groupErr` flag on the unauthorized page.
    pub fn is_group_error(self) -> bool {
        matches!(self, Self::NotInGroup)
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotInGroup => "not in any of the app's oauth.groups",
            Self::NotWhitelisted => "email not in the app's oauth.whitelist",
        })
    }
}

/// The app for `host` (lower-case, without port): an exact `config.domain` match
/// first, else the app named like the host's first label.
pub fn find_app<'c>(config: &'c Config, host: &str) -> Option<&'c App> {
    config
        .apps
        .iter()
        .find(|app| app.domains.iter().any(|domain| domain == host))
        .or_else(|| {
            let label = host.split('.').next()?;
            config.apps.iter().find(|app| app.name == label)
        })
}

/// Applies the app's user and group rules to a signed-in user.
pub fn authorize(app: Option<&App>, identity: &Identity) -> Result<(), Denial> {
    let Some(app) = app else {
        return Ok(());
    };
    let email = identity.email.as_deref().unwrap_or_default();
    if app.whitelist.matches(email) == Some(false) {
        return Err(Denial::NotWhitelisted);
    }
    if app
        .groups
        .matches_any(identity.groups.iter().map(String::as_str))
        == Some(false)
    {
        return Err(Denial::NotInGroup);
    }
    Ok(())
}
