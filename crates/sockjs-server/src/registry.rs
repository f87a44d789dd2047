//! The live sessions of one service, in shards so that requests for
//! different sessions rarely contend on the same lock.

use crate::shared::Shared;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};

const SHARDS: usize = 16;

type Shard<K> = Mutex<HashMap<K, Arc<Shared>>>;

pub(crate) struct Registry<K> {
    shards: Box<[Shard<K>]>,
    // Randomly keyed: clients choose session ids, so they must not be able
    // to aim every id at one shard.
    hasher: RandomState,
}

impl<K: Hash + Eq> Registry<K> {
    pub(crate) fn new() -> Self {
        Registry {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Locks the shard holding `key`.
    pub(crate) fn shard<Q>(&self, key: &Q) -> MutexGuard<'_, HashMap<K, Arc<Shared>>>
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get<Q>(&self, key: &Q) -> Option<Arc<Shared>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(key).get(key).cloned()
    }

    /// Removes `key` if it still maps to `shared` (not to a newer session).
    pub(crate) fn remove_if_same<Q>(&self, key: &Q, shared: &Arc<Shared>)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.shard(key);
        if map.get(key).is_some_and(|s| Arc::ptr_eq(s, shared)) {
            map.remove(key);
        }
    }

    /// A snapshot of every session (no lock is held while the caller uses them).
    pub(crate) fn all(&self) -> Vec<Arc<Shared>> {
        self.shards
            .iter()
            .flat_map(|s| {
                s.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
