//! The persistent map that registry snapshots and data-plane views are made of, and how to
//! build a large one quickly.
//!
//! [`Map`] is [`immutable_chunkmap`]'s medium-chunk map: cloning one is a reference-count
//! increment, and a change to a clone copies only the path to the changed chunk, so a new
//! view shares all but what changed with the old one. Every crate of the workspace names it
//! from here, so they all hold the same type.
//!
//! Building one entry at a time costs a walk down the tree per entry (about 2,000
//! instructions per entry at 10,000 tenants). [`from_entries`] sorts the entries and
//! adds them a whole chunk at a time, one walk per chunk: the registry's start-up builds
//! its tenant, certificate and route maps this way. (The library's own `insert_many`
//! drains its input from the front, a copy of the rest per chunk, so it is quadratic in the
//! number of entries; here it is only ever given one chunk.)
//!
//! ```
//! use mtls_persistent_map::{Map, from_entries};
//!
//! let map: Map<u32, &str> = from_entries(vec![(3, "c"), (1, "a"), (2, "b")]);
//! assert_eq!(map.len(), 3);
//! assert_eq!(map.get(&2), Some(&"b"));
//!
//! // A change to a clone leaves the original as it was.
//! let mut next = map.clone();
//! next.insert_cow(4, "d");
//! assert_eq!((map.len(), next.len()), (3, 4));
//! ```

pub use immutable_chunkmap::map::MapM as Map;

/// How many entries [`from_entries`] adds at once: one chunk of [`Map`].
const CHUNK: usize = immutable_chunkmap::map::DEFAULT_SIZE;

/// The map of `entries`, whose keys must be distinct (of equal keys, one entry is kept:
/// which one is unspecified). Sorts the entries, then adds them one chunk at a time; costs
/// the sort plus a logarithm of the map's size per chunk.
pub fn from_entries<K: Ord + Clone, V: Clone>(mut entries: Vec<(K, V)>) -> Map<K, V> {
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    debug_assert!(
        entries.windows(2).all(|w| w[0].0 < w[1].0),
        "from_entries: keys must be distinct"
    );
    let mut map = Map::new();
    let mut entries = entries.into_iter();
    loop {
        let chunk: Vec<(K, V)> = entries.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            return map;
        }
        // Every key of this chunk is above every key in the map: the chunk goes down the
        // right spine whole.
        map = map.insert_many(chunk);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The bulk build holds exactly the entries, in key order, as a balanced tree;
        /// sizes span several chunks.
        #[test]
        fn holds_the_entries(keys in proptest::collection::btree_set(any::<u32>(), 0..3000)) {
            let entries: Vec<(u32, u64)> = keys.iter().rev().map(|k| (*k, u64::from(*k) * 7)).collect();
            let map = from_entries(entries.clone());
            map.invariant();
            let expected: BTreeMap<u32, u64> = entries.into_iter().collect();
            prop_assert_eq!(map.len(), expected.len());
            let got: Vec<(u32, u64)> = map.into_iter().map(|(k, v)| (*k, *v)).collect();
            let want: Vec<(u32, u64)> = expected.into_iter().collect();
            prop_assert_eq!(got, want);
        }
    }

    /// A map built in bulk takes later changes like any other.
    #[test]
    fn takes_changes_after_the_build() {
        let mut map = from_entries((0..2000u32).map(|k| (k * 2, k)).collect());
        map.insert_cow(1, 99);
        map.remove_cow(&0);
        map.invariant();
        assert_eq!(map.len(), 2000);
        assert_eq!(map.get(&1), Some(&99));
        assert_eq!(map.get(&0), None);
        assert_eq!(map.get(&3998), Some(&1999));
    }
}
