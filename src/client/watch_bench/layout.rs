//! Which watcher watches what. Key `j` is `bench/watch/<j % P>/<j>`, so
//! prefix `p` (`bench/watch/<p>/`) holds every key with `j % P == p`; key
//! watchers take the keys round-robin and prefix watchers the prefixes, so
//! the watchers a write must wake follow from the key's number alone.

use super::watchers::WatchTarget;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchLayout {
    /// Watchers on one key each (`GET /v1/kv/<key>`).
    pub key_watchers: usize,
    /// Watchers on one prefix each (`GET /v1/kv/<prefix>?recurse`).
    pub prefix_watchers: usize,
    pub keys: usize,
    pub prefixes: usize,
}

impl WatchLayout {
    pub fn watchers(&self) -> usize {
        self.key_watchers + self.prefix_watchers
    }

    pub fn key_name(&self, key: usize) -> String {
        format!("bench/watch/{}/{key}", key % self.prefixes)
    }

    pub fn prefix_name(&self, prefix: usize) -> String {
        format!("bench/watch/{prefix}/")
    }

    /// The path watcher `watcher` reads.
    pub fn path(&self, watcher: usize) -> String {
        if watcher < self.key_watchers {
            format!("/v1/kv/{}", self.key_name(watcher % self.keys))
        } else {
            let prefix = (watcher - self.key_watchers) % self.prefixes;
            format!("/v1/kv/{}?recurse", self.prefix_name(prefix))
        }
    }

    /// Every watcher a write to key `key` concerns: those on the key and
    /// those on its prefix.
    pub fn woken_by(&self, key: usize) -> Vec<usize> {
        let on_key = (key..self.key_watchers).step_by(self.keys);
        let prefix = key % self.prefixes;
        let on_prefix = (prefix..self.prefix_watchers)
            .step_by(self.prefixes)
            .map(|q| self.key_watchers + q);
        on_key.chain(on_prefix).collect()
    }

    /// The watchers dealt round-robin to `threads` threads.
    pub fn targets_by_thread(&self, threads: usize) -> Vec<Vec<WatchTarget>> {
        let mut by_thread: Vec<Vec<WatchTarget>> = vec![Vec::new(); threads];
        for watcher in 0..self.watchers() {
            by_thread[watcher % threads].push(WatchTarget {
                watcher,
                path: self.path(watcher),
            });
        }
        by_thread
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What watcher `watcher` would see change if `key` were written,
    /// judged from the names alone, as the agent judges it.
    fn concerns(layout: &WatchLayout, watcher: usize, key: usize) -> bool {
        let name = layout.key_name(key);
        let path = layout.path(watcher);
        let watched = path.strip_prefix("/v1/kv/").unwrap();
        match watched.strip_suffix("?recurse") {
            Some(prefix) => name.starts_with(prefix),
            None => name == watched,
        }
    }

    #[test]
    fn the_woken_set_is_exactly_the_watchers_whose_key_or_prefix_was_written() {
        for layout in [
            WatchLayout {
                key_watchers: 30,
                prefix_watchers: 12,
                keys: 10,
                prefixes: 3,
            },
            WatchLayout {
                key_watchers: 5,
                prefix_watchers: 0,
                keys: 11,
                prefixes: 11,
            },
            WatchLayout {
                key_watchers: 0,
                prefix_watchers: 7,
                keys: 12,
                prefixes: 1,
            },
        ] {
            for key in 0..layout.keys {
                let woken = layout.woken_by(key);
                let by_name: Vec<usize> = (0..layout.watchers())
                    .filter(|w| concerns(&layout, *w, key))
                    .collect();
                assert_eq!(woken, by_name, "{layout:?} key {key}");
            }
        }
    }

    #[test]
    fn every_watcher_goes_to_exactly_one_thread() {
        let layout = WatchLayout {
            key_watchers: 9,
            prefix_watchers: 4,
            keys: 5,
            prefixes: 2,
        };
        let threads = layout.targets_by_thread(3);
        let mut all: Vec<usize> = threads.iter().flatten().map(|t| t.watcher).collect();
        all.sort();
        assert_eq!(all, (0..13).collect::<Vec<_>>());
        assert!(threads.iter().all(|t| t.len() >= 4));
    }
}
