//! Issue #20 item 7: a provider that comes up after Envoy (the usual order in a
//! compose file) is usable within a second or two. A login that finds
//! discovery or the key set missing makes the provider's next fetch due at
//! once instead of waiting out the back-off, with one fetch in flight per
//! provider and VM and at most one such retry per second.

// Test code fails loudly by design; the no-panic rule is for `src/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::idp::{jwks, TestKey};
use common::*;
use serde_json::json;
use tinyauth_wasm::config::Config;
use tinyauth_wasm::decision::CallReply;
use tinyauth_wasm::oidc::discovery::{self, Fetch, Runtime, RuntimeUpdate};
use tinyauth_wasm::oidc::Decision;

fn unready() -> Env {
    let mut value = base_config();
    value["oauth"]["autoRedirect"] = json!("generic");
    let config = Config::from_json(value.to_string().as_bytes()).unwrap();
    let runtime = Runtime::new(&config);
    Env { config, runtime }
}

/// Fails `n` discovery fetches in a row, each as soon as it is due, and
/// returns the time the last one failed.
fn fail_discovery(env: &mut Env, n: usize) -> u64 {
    let mut now = NOW;
    for i in 0..n {
        let due = discovery::due_fetches(&env.config, &mut env.runtime, now);
        assert_eq!(due.len(), 1, "fetch {i} is due at {now}");
        discovery::on_fetch_reply(
            &env.config,
            &mut env.runtime,
            0,
            Fetch::Discovery,
            &CallReply::default(),
            now,
        );
        if i + 1 < n {
            let (_, retry) = env.runtime.readiness(&env.config, 0, now).unwrap_err();
            now += retry;
        }
    }
    now
}

/// A browser's login attempt at `now` (autoRedirect: straight to the provider).
fn login_at(env: &Env, now: u64) -> Decision {
    Browser::new().get_at(
        env,
        "https://who.example.com/",
        &[],
        now,
        &mut Counter::default(),
    )
}

fn retry_after(decision: &Decision) -> u64 {
    let r = response(decision);
    assert_eq!(r.status, 503);
    r.header_value("retry-after").unwrap().parse().unwrap()
}

fn retries_now(decision: &Decision) -> bool {
    decision
        .updates
        .iter()
        .any(|u| matches!(u, RuntimeUpdate::RetryNow { provider: 0, .. }))
}

fn apply(env: &mut Env, decision: Decision) {
    for update in decision.updates {
        env.runtime.apply(update);
    }
}

#[test]
fn a_login_during_the_back_off_makes_the_next_fetch_due_at_once() {
    let mut env = unready();
    // Five failures: the next attempt is 16 s away.
    let failed_at = fail_discovery(&mut env, 5);
    let (_, wait) = env
        .runtime
        .readiness(&env.config, 0, failed_at)
        .unwrap_err();
    assert_eq!(wait, 16);
    let now = failed_at + 3;
    assert!(discovery::due_fetches(&env.config, &mut env.runtime, now).is_empty());

    let decision = login_at(&env, now);
    assert_eq!(retry_after(&decision), 1, "the retry happens now");
    assert!(retries_now(&decision), "{:?}", decision.updates);
    apply(&mut env, decision);
    let due = discovery::due_fetches(&env.config, &mut env.runtime, now);
    assert_eq!(due.len(), 1, "the discovery fetch is due at once");
    assert_eq!(due[0].1, Fetch::Discovery);

    // The provider answers: discovery, then the key set, and logins work.
    discovery::on_fetch_reply(
        &env.config,
        &mut env.runtime,
        0,
        Fetch::Discovery,
        &ok_json(&discovery_document("https://id.example.com")),
        now,
    );
    let due = discovery::due_fetches(&env.config, &mut env.runtime, now);
    assert_eq!(due[0].1, Fetch::Jwks, "the key set is fetched right after");
    discovery::on_fetch_reply(
        &env.config,
        &mut env.runtime,
        0,
        Fetch::Jwks,
        &ok_json(&jwks(&[&TestKey::rs256()])),
        now,
    );
    let ok = login_at(&env, now);
    assert!(location(&ok).starts_with("https://id.example.com/authorize?"));
    assert!(ok.updates.is_empty());
}

#[test]
fn one_fetch_in_flight_and_at_most_one_retry_per_second() {
    let mut env = unready();
    let failed_at = fail_discovery(&mut env, 4);
    let now = failed_at + 1;
    let first = login_at(&env, now);
    assert!(retries_now(&first));
    apply(&mut env, first);
    // Another login in the same second, before the tick ran: nothing more.
    let second = login_at(&env, now);
    assert!(!retries_now(&second), "{:?}", second.updates);
    apply(&mut env, second);
    assert_eq!(
        discovery::due_fetches(&env.config, &mut env.runtime, now).len(),
        1
    );
    // While that fetch is in flight, logins ask for no other.
    let during = login_at(&env, now);
    assert!(!retries_now(&during), "a fetch is in flight");
    assert_eq!(retry_after(&during), 1);
    // It fails at once (the provider is still down, nothing listens): the
    // back-off goes on growing.
    discovery::on_fetch_reply(
        &env.config,
        &mut env.runtime,
        0,
        Fetch::Discovery,
        &CallReply::default(),
        now,
    );
    let (_, wait) = env.runtime.readiness(&env.config, 0, now).unwrap_err();
    assert_eq!(wait, 16, "8 doubled");
    // Another forced retry in the same clock second: refused.
    let soon = login_at(&env, now);
    assert!(!retries_now(&soon), "at most one forced retry per second");
    assert_eq!(retry_after(&soon), 16);
    let later = login_at(&env, now + 1);
    assert!(retries_now(&later));
    apply(&mut env, later);
    assert_eq!(
        discovery::due_fetches(&env.config, &mut env.runtime, now + 1).len(),
        1
    );
}

#[test]
fn a_missing_key_set_is_retried_like_discovery() {
    let mut env = unready();
    let now = NOW;
    // Discovery works, the key set fetch fails twice.
    discovery::due_fetches(&env.config, &mut env.runtime, now);
    discovery::on_fetch_reply(
        &env.config,
        &mut env.runtime,
        0,
        Fetch::Discovery,
        &ok_json(&discovery_document("https://id.example.com")),
        now,
    );
    for at in [now, now + 1] {
        let due = discovery::due_fetches(&env.config, &mut env.runtime, at);
        assert_eq!(due[0].1, Fetch::Jwks);
        discovery::on_fetch_reply(
            &env.config,
            &mut env.runtime,
            0,
            Fetch::Jwks,
            &CallReply::default(),
            at,
        );
    }
    let decision = login_at(&env, now + 2);
    assert!(retries_now(&decision));
    apply(&mut env, decision);
    let due = discovery::due_fetches(&env.config, &mut env.runtime, now + 2);
    assert_eq!(due[0].1, Fetch::Jwks);
}

#[test]
fn no_forced_retry_when_a_fetch_is_due_anyway() {
    let env = unready();
    // Before the first fetch: it is due already, the root's tick runs it.
    let decision = login_at(&env, NOW);
    assert_eq!(response(&decision).status, 503);
    assert!(decision.updates.is_empty());
}
