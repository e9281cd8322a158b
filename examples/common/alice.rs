//! The session the examples seal: alice, in the groups `admins` and
//! `developers`, signed in a minute before `now`, valid for a day, holding a
//! refresh token the size of Pocket ID's (fosite's `ory_rt_…`, 94 characters)
//! encrypted as the filter keeps it.

use tinyauth_wasm::config::Config;
use tinyauth_wasm::secret::Secret;
use tinyauth_wasm::session::crypto::{Entropy, EntropyUnavailable};
use tinyauth_wasm::session::identity::Identity;
use tinyauth_wasm::session::{refresh_token, Session};

/// Fixed bytes for the token's nonce: the examples must be reproducible.
struct Fixed;

impl Entropy for Fixed {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyUnavailable> {
        buf.fill(0x5a);
        Ok(())
    }
}

pub(crate) fn alice_session(config: &Config, now: u64) -> Session {
    let login = "x3Jq0bQw4c9dT2aZ".to_owned();
    let token = Secret::new(format!("ory_rt_{}.{}", "r".repeat(43), "s".repeat(43)));
    let refresh = config
        .keys
        .refresh_token
        .first()
        .and_then(|key| refresh_token::seal(key, &login, &token, &mut Fixed).ok());
    Session {
        login,
        identity: Identity {
            provider: "generic".into(),
            sub: "5f0c9c3e-1d2b-4c7e-9a6f-2b8d0e4a7c11".into(),
            username: "alice".into(),
            email: Some("alice@example.test".into()),
            name: "Alice Example".into(),
            groups: vec!["admins".into(), "developers".into()],
        },
        created_at: now.saturating_sub(60),
        expires_at: now.saturating_add(86_000),
        checked_at: now.saturating_sub(60),
        refresh,
    }
}
