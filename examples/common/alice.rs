//! The session the examples seal: alice, in the groups `admins` and
//! `developers`, signed in a minute before `now`, valid for a day.

use tinyauth_wasm::session::identity::Identity;
use tinyauth_wasm::session::Session;

pub(crate) fn alice_session(now: u64) -> Session {
    Session {
        login: "x3Jq0bQw4c9dT2aZ".into(),
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
    }
}
