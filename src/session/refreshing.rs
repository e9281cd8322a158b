//! One refresh per session at a time across the VMs of an Envoy, and its
//! outcome shared with the session's other requests. Each session may use
//! four of a fixed number of shared-data slots (bounded memory); a slot names
//! the session it holds. A session's entry goes to whichever of its four
//! slots was written longest ago, so a slot another session wrote seconds
//! ago is passed over rather than overwritten: with one slot per session, a
//! busy Envoy (the soak: 14 refreshes a second over 1,024 slots) evicted the
//! latest cookie of a session whose older copies were still arriving, and
//! those copies then ended the session with a refresh token the provider had
//! already rotated away.
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
/// Slots a session may use, consecutive from its hash.
const WAYS: u64 = 4;
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
    /// Which shared-data key, and its version, for [`claim`].
    key: String,
    version: Option<u32>,
}

/// A slot's content: `[session id, state, time, latest cookie]`.
#[derive(Serialize, Deserialize)]
struct Entry(String, u8, u64, String);

const IDLE: u8 = 0;
const IN_FLIGHT: u8 = 1;
const UNREACHABLE: u8 = 2;
const ENDED: u8 = 3;

/// The slot keys a session may use. The hash must be the same in every VM,
/// so it is the standard library's `SipHash` with its fixed default keys.
fn candidates(session_id: &str) -> impl Iterator<Item = String> {
    let mut hasher = DefaultHasher::new();
    hasher.write(session_id.as_bytes());
    let first = hasher.finish() % SLOTS;
    (0..WAYS).map(move |way| format!("{KEY_PREFIX}{}", (first + way) % SLOTS))
}

/// A slot as read: its key, the session's own entry when the slot holds it,
/// and its version.
struct Found {
    key: String,
    entry: Option<Entry>,
    version: Option<u32>,
}

/// The slot holding the session, else the one of its slots written longest
/// ago (never written counts as oldest).
fn place(store: &dyn SharedStore, session_id: &str) -> Option<Found> {
    let mut oldest: Option<(u64, Found)> = None;
    for key in candidates(session_id) {
        let (entry, version) = match store.get(&key) {
            Some((bytes, version)) => (serde_json::from_slice::<Entry>(&bytes).ok(), Some(version)),
            None => (None, None),
        };
        if entry.as_ref().is_some_and(|entry| entry.0 == session_id) {
            return Some(Found {
                key,
                entry,
                version,
            });
        }
        // A slot that was never prepared cannot be claimed: last choice.
        let written = match (&entry, version) {
            (_, None) => u64::MAX,
            (Some(entry), Some(_)) => entry.2,
            (None, Some(_)) => 0,
        };
        if oldest.as_ref().is_none_or(|(at, _)| written < *at) {
            oldest = Some((
                written,
                Found {
                    key,
                    entry: None,
                    version,
                },
            ));
        }
    }
    oldest.map(|(_, found)| found)
}

/// The session's slot at `now`; a failed refresh is retried `retry` seconds
/// after it.
pub fn read(store: &dyn SharedStore, session_id: &str, now: u64, retry: u64) -> Slot {
    let Some(Found {
        key,
        entry,
        version,
    }) = place(store, session_id)
    else {
        return Slot {
            state: State::Idle,
            latest: None,
            key: String::new(),
            version: None,
        };
    };
    let (state, latest) = match entry {
        Some(Entry(_, kind, at, latest)) => {
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
        None => (State::Idle, None),
    };
    Slot {
        state,
        latest,
        key,
        version,
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
    serde_json::to_vec(&entry).is_ok_and(|entry| store.set(&slot.key, &entry, Some(version)))
}

/// Records how this VM's refresh of the session ended, and its newest cookie.
pub fn record(store: &dyn SharedStore, session_id: &str, state: State, latest: &str, now: u64) {
    let kind = match state {
        State::Idle | State::InFlight { .. } => IDLE,
        State::Unreachable { .. } => UNREACHABLE,
        State::Ended => ENDED,
    };
    let Some(Found { key, .. }) = place(store, session_id) else {
        return;
    };
    let entry = Entry(session_id.to_owned(), kind, now, latest.to_owned());
    if let Ok(entry) = serde_json::to_vec(&entry) {
        store.set(&key, &entry, None);
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

    /// Session IDs whose first slot is the same.
    fn colliding(count: usize) -> Vec<String> {
        let first = |id: &str| candidates(id).next().unwrap();
        let target = first("s0");
        (0..)
            .map(|n| format!("s{n}"))
            .filter(|id| first(id) == target)
            .take(count)
            .collect()
    }

    #[test]
    fn a_recent_entry_of_another_session_is_passed_over() {
        let store = MemoryStore::default();
        prepare(&store);
        let ids = colliding(5);
        for (at, id) in (100..).zip(&ids[..4]) {
            record(&store, id, State::Idle, &format!("cookie-of-{id}"), at);
        }
        // Four sessions that share a first slot all keep their latest cookie.
        for id in &ids[..4] {
            let slot = read(&store, id, 110, RETRY_SECONDS);
            assert_eq!(slot.latest, Some(format!("cookie-of-{id}")), "{id}");
        }
        // A fifth takes the slot written longest ago, the first session's.
        let slot = read(&store, &ids[4], 110, RETRY_SECONDS);
        assert_eq!((slot.state, slot.latest.as_deref()), (State::Idle, None));
        assert!(claim(&store, &ids[4], &slot, 110));
        assert_eq!(read(&store, &ids[0], 111, RETRY_SECONDS).latest, None);
        for id in &ids[1..4] {
            let slot = read(&store, id, 111, RETRY_SECONDS);
            assert_eq!(slot.latest, Some(format!("cookie-of-{id}")), "{id}");
        }
        // Its outcome goes to the slot it claimed.
        record(&store, &ids[4], State::Ended, "", 112);
        assert_eq!(
            read(&store, &ids[4], 113, RETRY_SECONDS).state,
            State::Ended
        );
        assert_eq!(
            read(&store, &ids[1], 113, RETRY_SECONDS).latest,
            Some(format!("cookie-of-{}", ids[1]))
        );
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
        let first = |id: &str| candidates(id).next().unwrap();
        let other = (0..100_000)
            .map(|i| format!("x{i}"))
            .find(|id| first(id) == first("s1"))
            .unwrap();
        let slot = read(&store, &other, 401, RETRY_SECONDS);
        assert_eq!((slot.state, slot.latest), (State::Idle, None));
    }
}
