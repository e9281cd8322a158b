//! Named configuration entries (providers, apps, clusters, where each field
//! was set) kept in name order in a plain vector.
//!
//! A `BTreeMap` did the same job, but its node code and the stable sort behind
//! `collect` were instantiated once per value type: about 32 KB of the module
//! for maps that hold a handful of entries and are read once at configure
//! time (and, for clusters, on a provider call). The apps' domain and name
//! indexes use it too: a binary search over a hundred names is a few string
//! comparisons, no slower than hashing the host.

/// Entries sorted by name, names unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named<V>(Vec<(String, V)>);

impl<V> Default for Named<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> Named<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the entry `name`; returns the value it replaced.
    pub fn insert(&mut self, name: String, value: V) -> Option<V> {
        match self
            .0
            .binary_search_by(|(entry, _)| entry.as_str().cmp(&name))
        {
            Ok(index) => self
                .0
                .get_mut(index)
                .map(|(_, old)| std::mem::replace(old, value)),
            Err(index) => {
                self.0.insert(index, (name, value));
                None
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&V> {
        let index = self
            .0
            .binary_search_by(|(entry, _)| entry.as_str().cmp(name))
            .ok()?;
        self.0.get(index).map(|(_, value)| value)
    }

    /// The entries in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.into_iter()
    }
}

impl<V> FromIterator<(String, V)> for Named<V> {
    /// Later entries with the same name replace earlier ones, as in a map.
    fn from_iter<I: IntoIterator<Item = (String, V)>>(entries: I) -> Self {
        let mut named = Self::new();
        for (name, value) in entries {
            named.insert(name, value);
        }
        named
    }
}

impl<'a, V> IntoIterator for &'a Named<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, V)>,
        fn(&'a (String, V)) -> (&'a String, &'a V),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(name, value)| (name, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_name_order_and_replaces_like_a_map() {
        let mut named: Named<u32> = [("b", 2), ("c", 3), ("a", 1)]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        assert_eq!(named.insert("b".into(), 20), Some(2));
        assert_eq!(named.insert("aa".into(), 11), None);
        let entries: Vec<(&str, u32)> = named.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        assert_eq!(entries, [("a", 1), ("aa", 11), ("b", 20), ("c", 3)]);
        assert_eq!(named.get("aa"), Some(&11));
        assert_eq!(named.get("d"), None);
        assert_eq!(named.iter().count(), 4);
        assert_eq!(Named::<u32>::new().iter().count(), 0);
    }

    /// Same entries, same order, same lookups as a `BTreeMap` on random keys.
    #[test]
    fn agrees_with_btreemap() {
        let mut rng = crate::testing::XorShift::new(0x5851_f42d_4c95_7f2d);
        for _ in 0..200 {
            let mut ours = Named::new();
            let mut theirs = std::collections::BTreeMap::new();
            for step in 0..rng.below(40) {
                let name = format!("k{}", rng.below(25));
                assert_eq!(ours.insert(name.clone(), step), theirs.insert(name, step));
            }
            assert!(ours.iter().eq(theirs.iter()));
            for probe in 0..25 {
                let name = format!("k{probe}");
                assert_eq!(ours.get(&name), theirs.get(&name));
            }
        }
    }
}
