//! The part reads of a whole run, a few at a time, the oldest object's lowest part first.
//!
//! Reads that share the source's link share its bandwidth. With every started object reading its parts
//! at once (five large objects at two parts each is ten 8 MiB reads), each part arrives late and all of
//! them at about the same moment, and the destination's link idles until the first one has: on a 40 ms,
//! 200 Mbit/s link that was the first 3 to 4 s of a copy. With a few reads at a time, taken in the order the
//! objects started, the first parts arrive early and the uploads start while the later parts are read.

use std::collections::BTreeSet;
use std::sync::Mutex;

use tokio::sync::Notify;

/// Part reads of the run in flight at once. Measured against no gate (same run, same data, s3s-fs behind
/// `benches/shaped-link`): four took mixed over a 40 ms, 200 Mbit/s link from 19.5 to 19.9 MiB/s and big over
/// a 100 ms, 1 Gbit/s link from 94 to 97 MiB/s; two reached 20.7 MiB/s on the first but cost the second 17%
/// (83 against 100 MiB/s): a long, fast link needs more bytes on the way than two parts.
pub(super) const RUN_READ_STREAMS: usize = 4;

/// Admits up to `capacity` reads at once, lowest priority number first (ties in arrival order).
pub(super) struct ReadGate {
    capacity: usize,
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Default)]
struct State {
    /// Reads waiting, by (priority, ticket).
    waiting: BTreeSet<(u64, u64)>,
    reading: usize,
    tickets: u64,
}

/// A read's place in the gate; it passes on when dropped.
pub(super) struct ReadTurn<'a> {
    gate: &'a ReadGate,
}

/// A read still waiting; dropped before it is admitted (its copy cancelled), it leaves the queue.
struct Waiting<'a> {
    gate: &'a ReadGate,
    me: (u64, u64),
    admitted: bool,
}

impl ReadGate {
    pub(super) fn new(capacity: usize) -> ReadGate {
        ReadGate {
            capacity: capacity.max(1),
            state: Mutex::default(),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent under a panic elsewhere: every change is one statement.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the read of `priority` (lower first) may start, and holds its place until the turn drops.
    pub(super) async fn enter(&self, priority: u64) -> ReadTurn<'_> {
        let me = {
            let mut s = self.state();
            let me = (priority, s.tickets);
            s.tickets += 1;
            s.waiting.insert(me);
            me
        };
        let mut waiting = Waiting {
            gate: self,
            me,
            admitted: false,
        };
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.state();
                if s.reading < self.capacity && s.waiting.first() == Some(&me) {
                    s.waiting.remove(&me);
                    s.reading += 1;
                    waiting.admitted = true;
                    drop(s);
                    // The next in line may fit too.
                    self.changed.notify_waiters();
                    return ReadTurn { gate: self };
                }
            }
            notified.await;
        }
    }
}

impl Drop for ReadTurn<'_> {
    fn drop(&mut self) {
        self.gate.state().reading -= 1;
        self.gate.changed.notify_waiters();
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.admitted {
            self.gate.state().waiting.remove(&self.me);
            self.gate.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn reads_are_admitted_up_to_capacity_lowest_priority_first() {
        let gate = Arc::new(ReadGate::new(2));
        let order = Arc::new(Mutex::new(Vec::new()));
        // Two reads hold the gate; five wait, queued in an order other than their priorities.
        let a = gate.enter(50).await;
        let b = gate.enter(60).await;
        let mut waiters = Vec::new();
        for p in [9u64, 3, 7, 1, 5] {
            let (gate, order) = (gate.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let _turn = gate.enter(p).await;
                order.lock().unwrap().push(p);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(order.lock().unwrap().is_empty(), "admitted past capacity");
        drop(a);
        drop(b);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![1, 3, 5, 7, 9]);
        assert_eq!(gate.state().reading, 0);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_leaves_the_queue() {
        let gate = ReadGate::new(1);
        let held = gate.enter(5).await;
        // A waiter of the highest priority that gives up must not block the ones behind it.
        let gave_up = tokio::time::timeout(Duration::from_millis(20), gate.enter(0)).await;
        assert!(gave_up.is_err());
        drop(held);
        let next = tokio::time::timeout(Duration::from_secs(5), gate.enter(9)).await;
        assert!(next.is_ok(), "the cancelled waiter still blocks the gate");
        assert!(gate.state().waiting.is_empty());
    }
}
