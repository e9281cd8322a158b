//! Sessions ended by a logout, refused by every worker VM of this Envoy even
//! when someone kept a copy of the cookie. The list lives in shared data,
//! bounded in size, each entry dropped when its session would have expired
//! anyway. Each VM keeps a copy and rereads it only when the list's epoch (a
//! tiny key rewritten on every change) moves, so an authenticated request
//! pays one small shared-data read.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use crate::shared::SharedStore;

const LIST_KEY: &str = "tinyauth/revoked-sessions";
const EPOCH_KEY: &str = "tinyauth/revoked-sessions/epoch";
/// Entries kept; past this the ones that would expire soonest are dropped
/// (about 60 bytes each, so at most about 1 MiB of shared data).
pub const CAPACITY: usize = 16_384;
/// Attempts at a compare-and-set against other VMs writing at once.
const ATTEMPTS: usize = 8;

/// This VM's copy of the revoked sessions.
#[derive(Debug, Default, Clone)]
pub struct Revoked {
    /// The epoch key's version when `sessions` was read.
    epoch: Cell<Option<u32>>,
    /// Session ID → when it would have expired.
    sessions: RefCell<HashMap<String, u64>>,
}

impl Revoked {
    /// Whether the session `id` was logged out (on any VM of this Envoy).
    pub fn contains(&self, store: &dyn SharedStore, id: &str, now: u64) -> bool {
        self.sync(store);
        self.sessions
            .try_borrow()
            .ok()
            .and_then(|sessions| sessions.get(id).copied())
            .is_some_and(|until| now < until)
    }

    /// Refuses the session `id` from now until `until` on every VM. `false`
    /// when the shared list could not be written (other VMs kept winning).
    pub fn revoke(&self, store: &dyn SharedStore, id: &str, until: u64, now: u64) -> bool {
        self.revoke_bounded(store, id, until, now, CAPACITY)
    }

    fn revoke_bounded(
        &self,
        store: &dyn SharedStore,
        id: &str,
        until: u64,
        now: u64,
        capacity: usize,
    ) -> bool {
        for _ in 0..ATTEMPTS {
            let (mut list, version) = read_list(store);
            list.retain(|(_, expires)| *expires > now);
            list.retain(|(known, _)| known != id);
            list.push((id.to_owned(), until));
            if list.len() > capacity {
                list.sort_by_key(|(_, expires)| std::cmp::Reverse(*expires));
                list.truncate(capacity);
            }
            let Ok(encoded) = serde_json::to_vec(&list) else {
                return false;
            };
            if store.set(LIST_KEY, &encoded, version) {
                // Any write moves the epoch key's version, which is the epoch.
                store.set(EPOCH_KEY, b"", None);
                self.epoch.set(None);
                self.sync(store);
                return true;
            }
        }
        false
    }

    /// Rereads the list when its epoch moved since the last read.
    fn sync(&self, store: &dyn SharedStore) {
        let epoch = store.get(EPOCH_KEY).map(|(_, version)| version);
        if epoch.is_none() || epoch == self.epoch.get() {
            return;
        }
        let (list, _) = read_list(store);
        if let Ok(mut sessions) = self.sessions.try_borrow_mut() {
            *sessions = list.into_iter().collect();
            self.epoch.set(epoch);
        }
    }
}

/// The shared list and its version; an unreadable list counts as empty.
fn read_list(store: &dyn SharedStore) -> (Vec<(String, u64)>, Option<u32>) {
    match store.get(LIST_KEY) {
        Some((bytes, version)) => (
            serde_json::from_slice(&bytes).unwrap_or_default(),
            Some(version),
        ),
        None => (Vec::new(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::MemoryStore;

    #[test]
    fn a_logout_on_one_vm_is_seen_by_another() {
        let store = MemoryStore::default();
        let (worker1, worker2) = (Revoked::default(), Revoked::default());
        assert!(!worker2.contains(&store, "s1", 100));
        assert!(worker1.revoke(&store, "s1", 500, 100));
        assert!(worker2.contains(&store, "s1", 101));
        assert!(!worker2.contains(&store, "s2", 101));
        assert!(!worker2.contains(&store, "s1", 500), "gone once it expires");
    }

    #[test]
    fn expired_entries_are_dropped_and_the_list_is_bounded() {
        let store = MemoryStore::default();
        let revoked = Revoked::default();
        revoked.revoke(&store, "old", 150, 100);
        revoked.revoke(&store, "new", 1000, 200);
        let (list, _) = read_list(&store);
        assert_eq!(list, vec![("new".to_owned(), 1000)]);
        for i in 0..15_u64 {
            revoked.revoke_bounded(&store, &format!("s{i}"), 10_000 + i, 300, 10);
        }
        let (list, _) = read_list(&store);
        assert_eq!(list.len(), 10);
        assert!(list.iter().any(|(id, _)| id == "s14"));
        assert!(
            !list.iter().any(|(id, _)| id == "s0"),
            "soonest expiry dropped"
        );
    }
}
