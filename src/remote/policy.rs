//! One remote's request policy: how many requests it may have in flight, how often a failed one is tried
//! again, how long one may take and how fast the remote may be written to.
//!
//! It is built once when the remote opens and shared by both ways mbx talks to a store: OpenDAL's operator
//! (through the layers [`RequestPolicy::layered`] adds) and the resumable-upload client (`upload/`), so a
//! knob set on the remote reaches every request, whichever path an object takes.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::ExponentialBuilder;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use opendal::layers::TimeoutLayer;
use opendal::layers::{ConcurrentLimitLayer, LoggingLayer, RetryLayer};
use opendal::raw::{
    OpCopy, OpCreateDir, OpList, OpPresign, OpRead, OpRename, OpRestore, OpStat, OpWrite,
    RpCreateDir, RpPresign, RpRename, RpRestore, RpStat, Service, ServiceInfo, Servicer, oio,
};
use opendal::{Buffer, BytesRange, Capability, Metadata, OperationContext, Operator};
use tokio::sync::{Notify, Semaphore};

use super::request_slots::{RequestSlot, RequestSlots};
use crate::config::{RemoteConfig, RemoteKind};

/// Bytes a paced body is let through at a time: small enough that a slow link shows progress often (which
/// is how a stall is told from slowness) and that pacing is smooth.
pub(crate) const PACE_PIECE: usize = 256 << 10;

/// The first and the longest wait between two tries of a request.
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// The least time a server is given to assemble an object from its parts and answer: a large one can take
/// it minutes, and cutting it short would make the retry find the upload already gone.
const MIN_COMMIT_DEADLINE: Duration = Duration::from_secs(600);

/// The policy of one remote (see the module's documentation).
pub(crate) struct RequestPolicy {
    retries: usize,
    timeout: Duration,
    io_timeout: Duration,
    slots: RequestSlots,
    bandwidth: Option<Arc<BandwidthLimit>>,
}

impl std::fmt::Debug for RequestPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestPolicy")
            .field("retries", &self.retries)
            .field("timeout", &self.timeout)
            .field("io_timeout", &self.io_timeout)
            .field("limited", &self.bandwidth.is_some())
            .finish_non_exhaustive()
    }
}

impl RequestPolicy {
    /// The policy the remote's settings describe.
    pub(crate) fn for_remote(config: &RemoteConfig) -> Arc<RequestPolicy> {
        let s = &config.settings;
        Arc::new(RequestPolicy {
            // OpenDAL's `fs` marks every I/O error it does not know as temporary ("Is a directory",
            // "Read-only file system"), and a local file system gives the same answer again.
            retries: if config.kind == RemoteKind::Fs {
                0
            } else {
                s.retries
            },
            timeout: s.timeout,
            io_timeout: s.io_timeout,
            slots: if s.requests_follow_round_trip {
                RequestSlots::following_round_trip(s.max_requests)
            } else {
                RequestSlots::fixed(s.max_requests)
            },
            bandwidth: s.bwlimit.map(|bw| Arc::new(BandwidthLimit::new(bw))),
        })
    }

    /// `op` with the policy's layers: writes paced by the bandwidth limit, the timeouts, HTTP requests
    /// bounded by the remote's shared slots, retries, and logging.
    pub(crate) fn layered(&self, op: Operator) -> Operator {
        let op = op.layer(
            TimeoutLayer::new()
                .with_timeout(self.timeout)
                .with_io_timeout(self.io_timeout),
        );
        // Outside the timeouts: waiting for the bandwidth limit is not a slow request.
        let op = match &self.bandwidth {
            Some(bw) => op.layer(PaceLayer(bw.clone())),
            None => op,
        };
        op
            // Limit HTTP requests, not operations: an open reader or writer must not hold a slot while idle.
            .layer(
                ConcurrentLimitLayer::with_semaphore(RequestSlots::fixed(Semaphore::MAX_PERMITS))
                    .with_http_semaphore(self.slots.clone()),
            )
            .layer(
                RetryLayer::new()
                    .with_jitter()
                    .with_max_times(self.retries)
                    .with_min_delay(MIN_BACKOFF)
                    .with_max_delay(MAX_BACKOFF),
            )
            .layer(LoggingLayer::default())
    }

    /// The retries of one request the upload client makes, as OpenDAL's layer retries its own.
    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(MIN_BACKOFF)
            .with_max_delay(MAX_BACKOFF)
            .with_max_times(self.retries)
            .with_jitter()
    }

    /// Waits for one of the remote's request slots; the request holds it until its answer is read.
    pub(crate) async fn request_slot(&self) -> RequestSlot {
        self.slots.take().await
    }

    /// Requests the remote may have in flight now (see `request_slots`).
    pub(crate) fn request_limit(&self) -> usize {
        self.slots.limit()
    }

    /// Deadline for a request without a large body.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// No byte of a body accepted, or no answer begun, for this long: the connection is stalled.
    pub(crate) fn io_timeout(&self) -> Duration {
        self.io_timeout
    }

    /// Deadline for the answer to a request that makes an object out of its parts.
    pub(crate) fn commit_deadline(&self) -> Duration {
        (self.timeout * 10).max(MIN_COMMIT_DEADLINE)
    }

    /// The remote's bandwidth limit, if it has one.
    pub(crate) fn bandwidth(&self) -> Option<&Arc<BandwidthLimit>> {
        self.bandwidth.as_ref()
    }
}

/// A bandwidth limit in bytes per second, shared by every write to one remote, that also lets resumable
/// uploads send one part at a time, oldest first (see [`BandwidthLimit::turn`]). Tokens count KiB, so that a
/// limit of up to 4 TiB/s fits governor's 32-bit quota.
pub(crate) struct BandwidthLimit {
    limiter: DefaultDirectRateLimiter,
    /// Parts waiting to send, by (priority, ticket); the first one holds the turn.
    queue: Mutex<std::collections::BTreeSet<(u64, u64)>>,
    next: Notify,
    tickets: AtomicU64,
}

impl BandwidthLimit {
    pub(crate) fn new(bytes_per_second: u64) -> BandwidthLimit {
        let kib = u32::try_from((bytes_per_second / 1024).max(1)).unwrap_or(u32::MAX);
        let burst = (PACE_PIECE / 1024) as u32;
        let quota = Quota::per_second(NonZeroU32::new(kib).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        BandwidthLimit {
            limiter: RateLimiter::direct(quota),
            queue: Mutex::new(Default::default()),
            next: Notify::new(),
            tickets: AtomicU64::new(0),
        }
    }

    /// Waits until the part of `priority` (lower first) may send, and holds the turn until the returned
    /// guard drops. One part at a time, oldest first: on a link the limit saturates, parts then land one
    /// after another instead of all together at the end, so an interruption finds at most one part
    /// half-sent. The turn is taken before the request starts, so no open request idles while it waits.
    pub(crate) async fn turn(self: &Arc<Self>, priority: u64) -> Turn {
        let me = (priority, self.tickets.fetch_add(1, Ordering::Relaxed));
        if let Ok(mut queue) = self.queue.lock() {
            queue.insert(me);
        }
        let turn = Turn {
            limit: self.clone(),
            me,
        };
        loop {
            let notified = self.next.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_first(me) {
                return turn;
            }
            notified.await;
        }
    }

    fn is_first(&self, me: (u64, u64)) -> bool {
        match self.queue.lock() {
            Ok(q) => q.first().is_none_or(|f| *f == me),
            Err(_) => true,
        }
    }

    /// Waits until `bytes` may pass, a piece at a time.
    pub(crate) async fn take_all(&self, bytes: usize) {
        let mut left = bytes;
        while left > 0 {
            let n = left.min(PACE_PIECE);
            self.take(n).await;
            left -= n;
        }
    }

    /// Waits until `bytes` (at most [`PACE_PIECE`]) may pass.
    pub(crate) async fn take(&self, bytes: usize) {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        if let Some(n) = NonZeroU32::new(kib) {
            // A piece is never larger than the burst, so this cannot be refused.
            let _ = self.limiter.until_n_ready(n).await;
        }
    }
}

/// The right to send one part. It passes on when the part's last byte is handed to the connection, or when
/// it is dropped (the part failed or was cancelled): the next part then sends while this one waits for its
/// answer, so the link does not idle a round trip between parts.
pub struct Turn {
    limit: Arc<BandwidthLimit>,
    me: (u64, u64),
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Ok(mut q) = self.limit.queue.lock() {
            q.remove(&self.me);
        }
        self.limit.next.notify_waiters();
    }
}

/// Paces what OpenDAL writes to the remote through the remote's [`BandwidthLimit`], the one the upload
/// client paces its parts through.
#[derive(Clone)]
struct PaceLayer(Arc<BandwidthLimit>);

impl std::fmt::Debug for PaceLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PaceLayer")
    }
}

impl opendal::raw::Layer for PaceLayer {
    fn apply_service(&self, inner: Servicer) -> Servicer {
        Arc::new(PacedService {
            inner,
            limit: self.0.clone(),
        })
    }
}

/// Every operation passes through unchanged, except that writers are paced.
struct PacedService {
    inner: Servicer,
    limit: Arc<BandwidthLimit>,
}

impl std::fmt::Debug for PacedService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacedService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Service for PacedService {
    type Reader = oio::Reader;
    type Writer = PacedWriter;
    type Lister = oio::Lister;
    type Deleter = oio::Deleter;
    type Copier = oio::Copier;
    type Composer = oio::Composer;

    fn info(&self) -> ServiceInfo {
        self.inner.info()
    }

    fn capability(&self) -> Capability {
        self.inner.capability()
    }

    async fn create_dir(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpCreateDir,
    ) -> opendal::Result<RpCreateDir> {
        self.inner.create_dir(ctx, path, args).await
    }

    async fn stat(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpStat,
    ) -> opendal::Result<RpStat> {
        self.inner.stat(ctx, path, args).await
    }

    fn read(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpRead,
    ) -> opendal::Result<Self::Reader> {
        self.inner.read(ctx, path, args)
    }

    fn write(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpWrite,
    ) -> opendal::Result<Self::Writer> {
        let inner = self.inner.write(ctx, path, args)?;
        Ok(PacedWriter {
            inner,
            limit: self.limit.clone(),
        })
    }

    fn delete(&self, ctx: &OperationContext) -> opendal::Result<Self::Deleter> {
        self.inner.delete(ctx)
    }

    fn list(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpList,
    ) -> opendal::Result<Self::Lister> {
        self.inner.list(ctx, path, args)
    }

    fn copy(
        &self,
        ctx: &OperationContext,
        from: &str,
        to: &str,
        args: OpCopy,
    ) -> opendal::Result<Self::Copier> {
        self.inner.copy(ctx, from, to, args)
    }

    fn compose(
        &self,
        ctx: &OperationContext,
        to: &str,
        args: opendal::raw::OpCompose,
    ) -> opendal::Result<Self::Composer> {
        self.inner.compose(ctx, to, args)
    }

    async fn rename(
        &self,
        ctx: &OperationContext,
        from: &str,
        to: &str,
        args: OpRename,
    ) -> opendal::Result<RpRename> {
        self.inner.rename(ctx, from, to, args).await
    }

    async fn restore(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpRestore,
    ) -> opendal::Result<RpRestore> {
        self.inner.restore(ctx, path, args).await
    }

    async fn presign(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpPresign,
    ) -> opendal::Result<RpPresign> {
        self.inner.presign(ctx, path, args).await
    }
}

/// A writer whose every buffer waits for the bandwidth limit before it goes on.
struct PacedWriter {
    inner: oio::Writer,
    limit: Arc<BandwidthLimit>,
}

impl oio::Write for PacedWriter {
    async fn write(&mut self, bs: Buffer) -> opendal::Result<()> {
        self.limit.take_all(bs.len()).await;
        self.inner.write(bs).await
    }

    async fn copy_from(
        &mut self,
        path: &str,
        args: OpRead,
        range: BytesRange,
    ) -> opendal::Result<()> {
        // The server copies: nothing crosses the link.
        self.inner.copy_from(path, args, range).await
    }

    async fn close(&mut self) -> opendal::Result<Metadata> {
        self.inner.close().await
    }

    async fn abort(&mut self) -> opendal::Result<()> {
        self.inner.abort().await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Instant;

    use super::*;
    use crate::remote::Remote;

    fn remote(toml_body: &str) -> Remote {
        let text = format!("[remotes.r]\n{toml_body}");
        Remote::open(&crate::remote::config_for_tests(&text, "r")).expect("an openable remote")
    }

    /// `max_requests` is one count for the remote: while the upload client's side holds the only slot,
    /// neither an OpenDAL request nor an upload request reaches the server; once it is free, both do.
    #[tokio::test]
    async fn opendal_and_the_upload_client_share_the_request_slots() {
        let (endpoint, seen) =
            crate::remote::test_server::start(|_| (404, Vec::new(), String::new())).await;
        let seen = move || seen.lock().expect("the log").len();
        let r = remote(&format!(
            "type = \"s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\nendpoint = \"{endpoint}\"\n\
             access_key_id = \"k\"\nsecret_access_key = \"s\"\nmax_requests = 1\nretries = 0\n"
        ));
        let uploads = r.uploads().expect("s3 has resumable uploads").clone();
        let held = r.policy().request_slot().await;
        let op = r.op().clone();
        let stat = tokio::spawn(async move { op.stat("some/key").await });
        let begin = tokio::spawn(async move { uploads.begin("other/key", &HashMap::new()).await });
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            seen(),
            0,
            "a request went out while the remote's only slot was taken"
        );
        assert!(!stat.is_finished() && !begin.is_finished());
        drop(held);
        let stat = tokio::time::timeout(Duration::from_secs(20), stat)
            .await
            .expect("the stat ends once the slot is free")
            .expect("the stat task");
        assert!(stat.is_err_and(|e| e.kind() == opendal::ErrorKind::NotFound));
        let begin = tokio::time::timeout(Duration::from_secs(20), begin)
            .await
            .expect("the upload request ends once the slot is free")
            .expect("the upload task");
        assert!(begin.is_err(), "the server answered 404");
        assert_eq!(seen(), 2);
    }

    /// One bandwidth limit for the remote: what OpenDAL writes and what the upload client writes at the same
    /// time draw on the same tokens, so together they take as long as their sum at the limit.
    #[tokio::test]
    async fn opendal_writes_and_upload_parts_share_the_bandwidth_limit() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let r = remote(&format!(
            "type = \"fs\"\nroot = {:?}\nbwlimit = \"4MiB\"\n",
            dir.path().display().to_string()
        ));
        let uploads = r.uploads().expect("fs has resumable uploads").clone();
        let id = uploads
            .begin("big", &HashMap::new())
            .await
            .expect("a partial file");
        // Let the bucket fill, so that its first burst is the same in every run.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let part = Buffer::from(vec![7u8; 2 << 20]);
        let (written, landed) = tokio::join!(
            r.op().write("small", vec![1u8; 2 << 20]),
            uploads.put_part(("big", &id, 1), 0, part, None)
        );
        written.expect("the OpenDAL write");
        landed.expect("the part");
        let took = started.elapsed();
        // 4 MiB at 4 MiB/s, less the bucket's burst of one piece (256 KiB); two limits would take half.
        assert!(
            took >= Duration::from_millis(850),
            "4 MiB passed a 4 MiB/s limit in {took:?}"
        );
    }

    #[test]
    fn a_commit_has_at_least_ten_minutes_and_ten_timeouts() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let policy = |timeout: &str| {
            remote(&format!(
                "type = \"fs\"\nroot = {:?}\ntimeout = \"{timeout}\"\n",
                dir.path().display().to_string()
            ))
            .policy()
            .commit_deadline()
        };
        assert_eq!(policy("60s"), Duration::from_secs(600));
        assert_eq!(policy("2m"), Duration::from_secs(1200));
    }
}
