//! A queue of per-key deadlines with lazy deletion, shared by the media loop
//! and the SIP engine: each key has at most one live deadline; rescheduling
//! leaves the old heap entry behind, and popping skips entries that no longer
//! match. Cost: O(log n) per reschedule, O(1) to peek the earliest.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::Instant;

#[derive(Debug)]
pub struct DeadlineQueue<K: Copy + Eq + Hash + Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
    live: HashMap<K, Instant>,
}

impl<K: Copy + Eq + Hash + Ord> Default for DeadlineQueue<K> {
    fn default() -> Self {
        DeadlineQueue { heap: BinaryHeap::new(), live: HashMap::new() }
    }
}

impl<K: Copy + Eq + Hash + Ord> DeadlineQueue<K> {
    /// Sets (or moves, or with `None` clears) the deadline of `key`.
    pub fn schedule(&mut self, key: K, at: Option<Instant>) {
        match at {
            None => {
                self.live.remove(&key);
            }
            Some(at) => {
                if self.live.insert(key, at) != Some(at) {
                    self.heap.push(Reverse((at, key)));
                }
            }
        }
        // Keep stale entries from piling up when deadlines move a lot.
        if self.heap.len() > 64 && self.heap.len() > 4 * self.live.len() {
            self.heap = self.live.iter().map(|(&k, &at)| Reverse((at, k))).collect();
        }
    }

    /// The earliest live deadline.
    pub fn next(&mut self) -> Option<Instant> {
        self.drop_stale();
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns a key whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        self.drop_stale();
        let Reverse((at, key)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        self.live.remove(&key);
        Some(key)
    }

    fn drop_stale(&mut self) {
        while let Some(Reverse((at, key))) = self.heap.peek() {
            if self.live.get(key) == Some(at) {
                return;
            }
            self.heap.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_and_honours_moves_and_clears() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut q = DeadlineQueue::default();
        q.schedule(1u32, Some(t0 + ms(30)));
        q.schedule(2, Some(t0 + ms(10)));
        q.schedule(3, Some(t0 + ms(20)));
        q.schedule(2, Some(t0 + ms(40))); // moved later
        q.schedule(3, None); // cleared
        assert_eq!(q.next(), Some(t0 + ms(30)));
        assert_eq!(q.pop_due(t0 + ms(29)), None);
        assert_eq!(q.pop_due(t0 + ms(50)), Some(1));
        assert_eq!(q.pop_due(t0 + ms(50)), Some(2));
        assert_eq!(q.pop_due(t0 + ms(50)), None);
        assert_eq!(q.next(), None);
    }

    #[test]
    fn stale_entries_do_not_accumulate() {
        let t0 = Instant::now();
        let mut q = DeadlineQueue::default();
        for i in 0..10_000u64 {
            q.schedule(7u32, Some(t0 + Duration::from_micros(i)));
        }
        assert!(q.heap.len() <= 64 + 4);
        assert_eq!(q.next(), Some(t0 + Duration::from_micros(9_999)));
    }
}
