//! The requests one remote may have in flight: a count shared by OpenDAL's HTTP requests and the upload
//! client's, that follows the remote's round trip unless the remote sets `max_requests`.
//!
//! A server far away needs more requests in flight for the same rate: requests in flight are the rate
//! times the time of one request (Little's law), so over a 100 ms link 64 small objects in flight copy a
//! fortieth of what they copy over a 2.5 ms one. The server sees no more requests per second for the
//! larger count. The count is therefore the default (64) while the quickest request seen takes up to
//! [`REFERENCE`], and grows in proportion beyond it, up to [`MOST`] times the default. The quickest
//! request, from its slot taken to its answer read, is a round trip plus the server's least time; a
//! queue at the server makes requests slower, not quicker, so it never raises the count. Anything that
//! makes one request quick (a failure, a cancelled request) lowers it, back to the default at worst.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opendal::layers::ConcurrentLimitSemaphore;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The quickest request at which the default count keeps a remote busy.
const REFERENCE: Duration = Duration::from_millis(25);
/// How many times the default count a far remote may reach (at 100 ms and above).
const MOST: usize = 4;
/// Requests seen before the count moves: a first listing page, which a server may take seconds to walk,
/// must not set it alone.
const SAMPLES: u32 = 8;

/// The slots of one remote; clones share them.
#[derive(Clone)]
pub(crate) struct RequestSlots(Arc<Slots>);

struct Slots {
    semaphore: Arc<Semaphore>,
    /// The count when nothing has been seen, and the least it falls to.
    base: usize,
    /// The most it rises to; `base` when it is fixed.
    most: usize,
    count: Mutex<Count>,
}

struct Count {
    /// Slots the remote has now: those free in the semaphore, those held, less `owed`.
    limit: usize,
    /// Slots to take out of use as they come back (a lowered count whose slots were held).
    owed: usize,
    quickest: Duration,
    seen: u32,
}

impl RequestSlots {
    /// Exactly `n` requests at once, whatever the round trip.
    pub(crate) fn fixed(n: usize) -> RequestSlots {
        RequestSlots::new(n, n)
    }

    /// `base` requests at once near the remote, up to [`MOST`] times that far from it (see the module).
    pub(crate) fn following_round_trip(base: usize) -> RequestSlots {
        RequestSlots::new(base, base.saturating_mul(MOST))
    }

    fn new(base: usize, most: usize) -> RequestSlots {
        let base = base.max(1);
        RequestSlots(Arc::new(Slots {
            semaphore: Arc::new(Semaphore::new(base)),
            base,
            most: most.max(base),
            count: Mutex::new(Count {
                limit: base,
                owed: 0,
                quickest: Duration::MAX,
                seen: 0,
            }),
        }))
    }

    /// Requests the remote may have in flight now.
    pub(crate) fn limit(&self) -> usize {
        if self.0.is_fixed() {
            return self.0.base;
        }
        self.0.count.lock().map(|c| c.limit).unwrap_or(self.0.base)
    }

    /// Waits for a slot; the request holds it until its answer is read.
    pub(crate) async fn take(&self) -> RequestSlot {
        let permit = self.0.semaphore.clone().acquire_owned().await.ok();
        RequestSlot {
            permit,
            taken: Instant::now(),
            slots: self.0.clone(),
        }
    }
}

impl Slots {
    /// A fixed count never moves and never owes a slot, so its requests skip the count's lock (every OpenDAL
    /// operation goes through a fixed one, see `RequestPolicy::layered`).
    fn is_fixed(&self) -> bool {
        self.most == self.base
    }

    /// The count for the quickest request seen so far.
    fn count_for(&self, quickest: Duration) -> usize {
        let scaled = (self.base as u128 * quickest.as_micros()) / REFERENCE.as_micros();
        usize::try_from(scaled)
            .unwrap_or(usize::MAX)
            .clamp(self.base, self.most)
    }

    /// A request that held its slot for `took` has ended; returns whether its slot goes out of use.
    fn ended(&self, took: Duration) -> bool {
        if self.is_fixed() {
            return false;
        }
        let Ok(mut c) = self.count.lock() else {
            return false;
        };
        c.seen = c.seen.saturating_add(1);
        c.quickest = c.quickest.min(took);
        if c.seen >= SAMPLES {
            let want = self.count_for(c.quickest);
            if want > c.limit {
                let more = want - c.limit;
                let repaid = more.min(c.owed);
                c.owed -= repaid;
                self.semaphore.add_permits(more - repaid);
            } else if want < c.limit {
                let fewer = c.limit - want;
                let free = self.semaphore.forget_permits(fewer);
                c.owed += fewer - free;
            }
            c.limit = want;
        }
        if c.owed > 0 {
            c.owed -= 1;
            return true;
        }
        false
    }
}

/// One request's slot: given back (or taken out of use, when the count fell) when dropped.
pub(crate) struct RequestSlot {
    // `None` only if the semaphore were closed, which it never is: the request then goes unbounded rather
    // than failing.
    permit: Option<OwnedSemaphorePermit>,
    taken: Instant,
    slots: Arc<Slots>,
}

impl Drop for RequestSlot {
    fn drop(&mut self) {
        if self.slots.ended(self.taken.elapsed())
            && let Some(p) = self.permit.take()
        {
            p.forget();
        }
    }
}

impl ConcurrentLimitSemaphore for RequestSlots {
    type Permit = RequestSlot;

    async fn acquire(&self) -> Self::Permit {
        self.take().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ends `n` requests that each held a slot for `took`, one after another.
    async fn end(slots: &RequestSlots, n: u32, took: Duration) {
        for _ in 0..n {
            let mut slot = slots.take().await;
            slot.taken = Instant::now()
                .checked_sub(took)
                .expect("a clock past `took`");
            drop(slot);
        }
    }

    async fn held(slots: &RequestSlots, n: usize) -> Vec<RequestSlot> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(slots.take().await);
        }
        v
    }

    fn free(slots: &RequestSlots) -> usize {
        slots.0.semaphore.available_permits()
    }

    #[tokio::test]
    async fn a_near_remote_keeps_the_default_and_a_far_one_grows_in_proportion() {
        let near = RequestSlots::following_round_trip(64);
        end(&near, 20, Duration::from_millis(2)).await;
        assert_eq!((near.limit(), free(&near)), (64, 64));

        let region = RequestSlots::following_round_trip(64);
        end(&region, SAMPLES - 1, Duration::from_millis(40)).await;
        assert_eq!(
            region.limit(),
            64,
            "moved before {SAMPLES} requests were seen"
        );
        end(&region, 1, Duration::from_millis(40)).await;
        assert_eq!((region.limit(), free(&region)), (102, 102));

        let continent = RequestSlots::following_round_trip(64);
        end(&continent, SAMPLES, Duration::from_millis(400)).await;
        assert_eq!(continent.limit(), 256, "at most {MOST} times the default");

        let fixed = RequestSlots::fixed(64);
        end(&fixed, 20, Duration::from_millis(400)).await;
        assert_eq!((fixed.limit(), free(&fixed)), (64, 64));
    }

    /// A quicker request lowers the count; slots held above it go out of use as they come back, so no more
    /// than the new count are ever in flight again.
    #[tokio::test]
    async fn a_lowered_count_takes_held_slots_out_of_use_as_they_come_back() {
        let slots = RequestSlots::following_round_trip(4);
        end(&slots, SAMPLES, Duration::from_millis(100)).await;
        assert_eq!(slots.limit(), 16);
        let mut in_flight = held(&slots, 16).await;
        assert_eq!(free(&slots), 0);
        // Each ends quickly: the count falls to the default, and those slots are owed.
        for _ in 0..12 {
            drop(in_flight.pop());
        }
        assert_eq!(slots.limit(), 4);
        assert_eq!(
            free(&slots),
            0,
            "4 still held, the 12 returned were over the count"
        );
        drop(in_flight);
        assert_eq!(free(&slots), 4);
        // A slower request later does not raise it again: the count follows the quickest.
        end(&slots, 1, Duration::from_secs(1)).await;
        assert_eq!(
            (slots.limit(), free(&slots)),
            (4, 4),
            "the quickest stays the quickest"
        );
    }
}
