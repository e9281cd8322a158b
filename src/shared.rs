//! State shared by every worker VM of one Envoy: proxy-wasm shared data, a
//! key-value store with a version per key for compare-and-set. The core sees
//! it through [`SharedStore`] so it stays pure; the shell implements it with
//! host calls, and tests share one [`MemoryStore`] between simulated workers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

/// Shared data as proxy-wasm offers it.
pub trait SharedStore {
    /// The value and its version, if the key was ever set.
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Sets the value if `version` is still the key's version (`None`:
    /// whatever it is). `false` when another VM wrote first, or the host
    /// refused.
    fn set(&self, key: &str, value: &[u8], version: Option<u32>) -> bool;
}

/// An in-process store with the host's semantics: for tests, and for a VM
/// without a host (which then shares nothing).
#[derive(Debug, Default)]
pub struct MemoryStore(RefCell<HashMap<String, (Vec<u8>, u32)>>);

impl SharedStore for MemoryStore {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.0.try_borrow().ok()?.get(key).cloned()
    }

    fn set(&self, key: &str, value: &[u8], version: Option<u32>) -> bool {
        let Ok(mut entries) = self.0.try_borrow_mut() else {
            return false;
        };
        let current = entries.get(key).map(|(_, v)| *v);
        if version.is_some() && version != current {
            return false;
        }
        let next = current.map_or(1, |v| v.wrapping_add(1).max(1));
        entries.insert(key.to_owned(), (value.to_vec(), next));
        true
    }
}

/// A handle on the store, cheap to clone into every VM's runtime state.
#[derive(Clone)]
pub struct Shared(pub Rc<dyn SharedStore>);

impl Shared {
    pub fn new(store: impl SharedStore + 'static) -> Self {
        Self(Rc::new(store))
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new(MemoryStore::default())
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Shared(..)")
    }
}

impl std::ops::Deref for Shared {
    type Target = dyn SharedStore;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_and_set_like_the_host() {
        let store = MemoryStore::default();
        assert!(store.get("k").is_none());
        assert!(store.set("k", b"a", None));
        let (value, version) = store.get("k").unwrap();
        assert_eq!(value, b"a");
        assert!(store.set("k", b"b", Some(version)));
        assert!(
            !store.set("k", b"c", Some(version)),
            "stale version refused"
        );
        assert_eq!(store.get("k").unwrap().0, b"b");
    }
}
