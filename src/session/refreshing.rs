//! One refresh per session at a time across the VMs of an Envoy, and its
//! outcome shared with the session's other requests. Each session maps to one
//! of a fixed number of shared-data slots (bounded memory); a slot names the
//! session it holds, so a slot taken by another session just reads as free.
//!
//! A slot keeps the session's latest cookie: requests still carrying an
//! older one (sent before the browser got the new one) switch to it, since
//! the provider rotated the refresh token inside and the old one is dead.
//!
//! Requests of a session whose refresh is running elsewhere go on with the
//! identity they have (within `auth.refreshGrace`) rather than wait: a
//! refresh takes one or two provider calls, and holding every parallel
//! request of a page for them would slow the page down for no safety gain
//! (the identity was confirmed one interval ago).

use std::hash::{DefaultHasher, Hasher};

use serde::{Deserialize, Serialize};

use crate::shared::SharedStore;

const KEY_PREFIX: &str = "tinyauth/refresh/";
/// Slots for sessions being refreshed (each holds at most one session
/// cookie). A slot is busy only for the seconds between a refresh and the
/// browser's next request.
const SLOTS: u64 = 1024;
/// A refresh still marked running after this long is taken to be lost (its VM
/// went away) and may be started again.
pub const IN_FLIGHT_SECONDS: u64 = 30;
/// After a refresh could not reach the provider, the next try waits this
/// long (or the refresh interval, if that is shorter).
pub const RETRY_SECONDS: u64 = 10;

/// What is going on with one session's refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Nothing running: a request may start a refresh.
    Idle,
    /// A VM is refreshing the session since `since`.
    InFlight { since: u64 },
    /// The provider could not be reached at `at`; the next try waits.
    Unreachable { at: u64 },
    /// The provider refused the refresh: the session is over.
    Ended,
}

/// One session's slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub state: State,
    /// The session's newest cookie value, when a refresh re-issued it.
    pub latest: Option<String>,
    /// The slot's version, for [`claim`].
    version: Option<u32>,
}

/// A slot's content: `[session id, state, time, latest cookie]`.
#[derive(Serialize, Deserialize)]
struct Entry(String, u8, u64, String);

const IDLE: u8 = 0;
const IN_FLIGHT: u8 = 1;
const UNREACHABLE: u8 = 2;
const ENDED: u8 = 3;

/// The slot key of a session. The hash must be the same in every VM, so it
/// is the standard library's `SipHash` with its fixed default keys.
fn key(session_id: &str) -> String {
    let mut hasher = DefaultHasher::new();
    hasher.write(session_id.as_bytes());
    format!("{KEY_PREFIX}{}", hasher.finish() % SLOTS)
}

/// The session's slot at `now`; a failed refresh is retried `retry` seconds
/// after it.
pub fn read(store: &dyn SharedStore, session_id: &str, now: u64, retry: u64) -> Slot {
    let Some((bytes, version)) = store.get(&key(session_id)) else {
        return Slot {
            state: State::Idle,
            latest: None,
            version: None,
        };
    };
    let (state, latest) = match serde_json::from_slice::<Entry>(&bytes) {
        Ok(Entry(id, kind, at, latest)) if id == session_id => {
            let state = match kind {
                IN_FLIGHT if now < at.saturating_add(IN_FLIGHT_SECONDS) => {
                    State::InFlight { since: at }
                }
                UNREACHABLE if now < at.saturating_add(retry) => State::Unreachable { at },
                ENDED => State::Ended,
                _ => State::Idle,
            };
            (state, Some(latest).filter(|l| !l.is_empty()))
        }
        _ => (State::Idle, None),
    };
    Slot {
        state,
        latest,
        version: Some(version),
    }
}

/// Creates the slots that do not exist yet, when a VM starts. Envoy's
/// compare-and-set cannot guard a key that does not exist (any write creates
/// it), so claims are only made on existing slots.
pub fn prepare(store: &dyn SharedStore) {
    for slot in 0..SLOTS {
        let key = format!("{KEY_PREFIX}{slot}");
        if store.get(&key).is_none() {
            store.set(&key, b"", None);
        }
    }
}

/// Marks the session as being refreshed by this VM, unless another VM wrote
/// the slot since `slot` was read. `true`: this VM refreshes.
pub fn claim(store: &dyn SharedStore, session_id: &str, slot: &Slot, now: u64) -> bool {
    // A slot that was never prepared cannot be claimed safely.
    let Some(version) = slot.version else {
        return false;
    };
    let entry = Entry(
        session_id.to_owned(),
        IN_FLIGHT,
        now,
        slot.latest.clone().unwrap_or_default(),
    );
    serde_json::to_vec(&entry).is_ok_and(|entry| store.set(&key(session_id), &entry, Some(version)))
}

/// Records how this VM's refresh of the session ended, and its newest cookie.
pub fn record(store: &dyn SharedStore, session_id: &str, state: State, latest: &str, now: u64) {
    let kind = match state {
        State::Idle | State::InFlight { .. } => IDLE,
        State::Unreachable { .. } => UNREACHABLE,
        State::Ended => ENDED,
    };
    let entry = Entry(session_id.to_owned(), kind, now, latest.to_owned());
    if let Ok(entry) = serde_json::to_vec(&entry) {
        store.set(&key(session_id), &entry, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::MemoryStore;

    #[test]
    fn only_one_vm_claims_a_session() {
        let store = MemoryStore::default();
        assert!(
            !claim(&store, "s1", &read(&store, "s1", 100, RETRY_SECONDS), 100),
            "not prepared"
        );
        prepare(&store);
        let slot = read(&store, "s1", 100, RETRY_SECONDS);
        assert_eq!((slot.state, slot.latest.as_deref()), (State::Idle, None));
        // Two VMs read the same free slot; the first claim wins.
        assert!(claim(&store, "s1", &slot, 100));
        assert!(!claim(&store, "s1", &slot, 100));
        assert_eq!(
            read(&store, "s1", 101, RETRY_SECONDS).state,
            State::InFlight { since: 100 }
        );
        // A claim that never finishes is given up after a while.
        let slot = read(&store, "s1", 100 + IN_FLIGHT_SECONDS, RETRY_SECONDS);
        assert_eq!(slot.state, State::Idle);
        assert!(claim(&store, "s1", &slot, 100 + IN_FLIGHT_SECONDS));
    }

    #[test]
    fn outcomes_and_the_latest_cookie_are_shared() {
        let store = MemoryStore::default();
        prepare(&store);
        record(&store, "s1", State::Idle, "cookie-2", 100);
        let slot = read(&store, "s1", 200, RETRY_SECONDS);
        assert_eq!(
            (slot.state, slot.latest.as_deref()),
            (State::Idle, Some("cookie-2"))
        );
        // A new claim keeps the latest cookie for the requests that need it.
        assert!(claim(&store, "s1", &slot, 200));
        assert_eq!(
            read(&store, "s1", 201, RETRY_SECONDS).latest.as_deref(),
            Some("cookie-2")
        );
        record(
            &store,
            "s1",
            State::Unreachable { at: 300 },
            "cookie-2",
            300,
        );
        assert_eq!(
            read(&store, "s1", 301, RETRY_SECONDS).state,
            State::Unreachable { at: 300 }
        );
        assert_eq!(
            read(&store, "s1", 300 + RETRY_SECONDS, RETRY_SECONDS).state,
            State::Idle
        );
        record(&store, "s1", State::Ended, "", 400);
        assert_eq!(read(&store, "s1", 401, RETRY_SECONDS).state, State::Ended);
        // Another session that lands in the same slot sees it as free.
        let other = (0..100_000)
            .map(|i| format!("x{i}"))
            .find(|id| key(id) == key("s1"))
            .unwrap();
        let slot = read(&store, &other, 401, RETRY_SECONDS);
        assert_eq!((slot.state, slot.latest), (State::Idle, None));
    }
}
