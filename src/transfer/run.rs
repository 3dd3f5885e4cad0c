//! One run of a transfer, as named steps around one context:
//!
//! 1. [`Run::open`]: take the journal (one run at a time per transfer);
//! 2. [`Run::execute`]: plan each object as the source listing streams by ([`super::plan::Planner`]), copy
//!    what must be copied with bounded concurrency, make what landed durable in groups
//!    ([`GroupCommit`]) before journaling it, and spill the manifest in key order. Its steps: `plan` (the
//!    stream), `tally` (the account), then per event `admit` (a planned object), `settled` (an object
//!    ended), `committed` (a group commit ended), `planned_all` (the plan's end), and `executed` (totals and
//!    what landed);
//! 3. [`Run::finish`]: when every object is there, abort what earlier runs left unfinished, remove the
//!    journal and hand back the manifest.
//!
//! Memory is bounded by the objects in flight and a window of finished objects waiting for an earlier one to
//! finish (so the manifest is written in key order), never by the size of the tree.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio_util::sync::CancellationToken;

use super::copy::{Copier, CopyError, Durability, MemoryBudget};
use super::dedup::DedupIndex;
use super::events::{self, Event, Events};
use super::journal::{Journal, JournalHeader, OpenError};
use super::listing::{Listing, report_skipped};
use super::manifest::{ManifestEntry, ManifestWriter, SpilledManifest};
use super::plan::{Action, Endpoints, PlannedObject, Planner, vouched_by_metadata};
use super::{Mismatch, Summary, TransferError, TransferOptions};
use crate::remote::Remote;

/// Finished objects that may wait for an earlier one before the manifest takes them (each costs its
/// manifest entry, about 200 bytes): beyond this, no new object starts until the earliest one finishes.
const REORDER_WINDOW: u64 = 1 << 16;
/// Objects in flight under a bandwidth limit, unless `--transfers` says otherwise: two remotes' default requests
/// in flight (see [`Run::objects_in_flight`]).
const UNDER_A_LIMIT: usize = 128;

/// Everything a run needs, shared by its steps.
pub(crate) struct Run<'a> {
    src: &'a Remote,
    dst: &'a Remote,
    ends: &'a Endpoints,
    options: Arc<TransferOptions>,
    journal: Option<Arc<Journal>>,
    progress: Events,
    /// Ctrl-C.
    cancel: CancellationToken,
    /// Ctrl-C, or `--fail-fast` after a failure.
    stop: CancellationToken,
    /// What the trees beside the destination hold, read when the first object could use it.
    dedup: tokio::sync::OnceCell<DedupIndex>,
    /// Where the manifest this run trusts and writes is: the tree's, or its shard's.
    manifest_key: String,
    /// When the run took its journal: what killed runs left behind is older.
    opened: std::time::SystemTime,
}

/// What the copy step ended with.
pub(crate) struct Executed {
    pub summary: Summary,
    /// Set when every object is at the destination.
    pub landed: Option<Landed>,
}

/// Every object is at the destination.
pub(crate) enum Landed {
    /// A tree: its manifest, spilled, and whether it says something the destination's does not.
    Tree {
        manifest: SpilledManifest,
        changed: bool,
        /// The source named by the manifest it replaces, when that is another source.
        replaces: Option<String>,
    },
    /// One object.
    Object(ManifestEntry),
}

/// How one object ended.
enum Settled {
    /// Copied; the entry is journaled once its bytes are durable.
    Copied {
        entry: ManifestEntry,
        durability: Durability,
        /// From an object the destination already held, not from the source.
        found: bool,
    },
    /// Already there.
    Skipped(ManifestEntry),
    /// A dry run would copy it.
    WouldCopy,
}

type Outcome = (u64, PlannedObject, Result<Settled, CopyError>);

impl<'a> Run<'a> {
    /// Step 1: takes the journal of this transfer (named after both sides), unless this is a dry run.
    pub fn open(
        (src, dst): (&'a Remote, &'a Remote),
        ends: &'a Endpoints,
        options: &TransferOptions,
        progress: Events,
        cancel: CancellationToken,
    ) -> Result<Run<'a>, TransferError> {
        let journal = if options.dry_run {
            None
        } else {
            let mut identity = format!(
                "{}\n{}\n{}\n{}",
                src.config().location(),
                ends.src_root(),
                dst.config().location(),
                ends.dst_root()
            );
            if let Some(shard) = options.shard {
                identity.push_str(&format!("\nshard {shard}"));
            }
            let header = JournalHeader {
                dst_remote: dst.name().to_string(),
                dst_location: dst.config().location(),
                dst_root: Some(ends.dst_root().to_string()),
                dst_bucket: ["bucket", "container"]
                    .iter()
                    .find_map(|k| dst.config().options.get(*k).cloned()),
            };
            let journal =
                Journal::open(&options.state_dir, &identity, header).map_err(|e| match e {
                    OpenError::Busy { .. } => TransferError::Busy(e.to_string()),
                    OpenError::Io(source) => TransferError::Journal {
                        path: options.state_dir.clone(),
                        source,
                    },
                })?;
            Some(Arc::new(journal))
        };
        Ok(Run {
            src,
            dst,
            ends,
            options: Arc::new(options.clone()),
            journal,
            progress,
            stop: cancel.child_token(),
            cancel,
            dedup: tokio::sync::OnceCell::new(),
            opened: std::time::SystemTime::now(),
            manifest_key: match options.shard {
                Some(shard) => shard.manifest_key(ends.dst_root()),
                None => crate::remote::join_key(ends.dst_root(), super::MANIFEST_KEY),
            },
        })
    }

    fn copier(&self) -> Copier {
        Copier {
            src: self.src.clone(),
            dst: self.dst.clone(),
            options: self.options.clone(),
            budget: MemoryBudget::new(self.options.memory_limit),
            progress: self.progress.clone(),
            cancel: self.stop.clone(),
            server_side: self.options.server_side
                && self.src.same_store(self.dst)
                && self.dst.config().copies_on_server(),
            journal: self.journal.clone(),
            resumed_bytes: Default::default(),
            started_objects: Default::default(),
            reads: super::read_gate::ReadGate::new(super::read_gate::RUN_READ_STREAMS),
        }
    }

    /// Objects the run may have in flight now: `--transfers`, or as many as both remotes' requests; under a
    /// bandwidth limit, as many as both remotes' default requests. A limit needs fewer in flight than the
    /// link (its rate times the round trip), and each one costs memory the budget does not count (a
    /// connection's read buffer): over a 100 ms link at 64 MiB/s, 128 objects in flight copied small objects
    /// as fast as 512 (5.5 s both) and kept mixed at 228-248 MiB peak, against 279-303 MiB with 512.
    fn objects_in_flight(&self) -> usize {
        let limited =
            self.src.policy().bandwidth().is_some() || self.dst.policy().bandwidth().is_some();
        self.options
            .transfers
            .unwrap_or_else(|| {
                if limited {
                    UNDER_A_LIMIT
                } else {
                    self.src.policy().request_limit() + self.dst.policy().request_limit()
                }
            })
            .max(1)
    }

    fn journal_error(&self, source: std::io::Error) -> TransferError {
        TransferError::Journal {
            path: self
                .journal
                .as_ref()
                .map(|j| j.path().to_path_buf())
                .unwrap_or_else(|| self.options.state_dir.clone()),
            source,
        }
    }

    /// Step 2: plans, copies and commits every object of `listing`. Three things can happen next, in this
    /// order of precedence: a group commit ends ([`Self::committed`]), an object ends ([`Self::settled`]), or,
    /// while there is room, the plan gives the next object ([`Self::admit`]) or its end ([`Self::planned_all`]).
    pub async fn execute(&self, listing: Listing) -> Result<Executed, TransferError> {
        let Listing { objects, skipped } = listing;
        let mut planned = self.plan(objects).await?;
        let copier = self.copier();
        let mut tally = self.tally()?;
        let mut commit = GroupCommit::new(self.dst);
        let mut in_flight: FuturesUnordered<futures::future::BoxFuture<'_, Outcome>> =
            FuturesUnordered::new();
        let mut planning = true;
        loop {
            let room = in_flight.len() < self.objects_in_flight()
                && tally.order.waiting() < REORDER_WINDOW
                && !self.stop.is_cancelled();
            tokio::select! {
                biased;
                synced = commit.synced(), if commit.is_syncing() => self.committed(&mut tally, synced)?,
                Some(outcome) = in_flight.next(), if !in_flight.is_empty() => {
                    self.settled(&mut tally, &mut commit, outcome)?;
                }
                next = planned.next(), if planning && room => match next {
                    None => planning = false,
                    Some(Err(e)) => return Err(e),
                    Some(Ok(Planned::End { differs, source })) => {
                        planning = false;
                        self.planned_all(&mut tally, differs, source, &skipped);
                    }
                    Some(Ok(Planned::Object(p))) => match self.admit(&mut tally, *p)? {
                        Some((seq, p)) => in_flight.push(Box::pin(self.settle(&copier, seq, p))),
                        // Already there: nothing new for the group commit.
                        None => continue,
                    },
                },
                else => break,
            }
            if !commit.is_syncing() {
                commit.start();
            }
        }
        let skipped_links = skipped.lock().map(|s| s.len() as u64).unwrap_or(0);
        self.executed(tally, &copier, skipped_links)
    }

    /// The plan as a stream, one [`Planned::Object`] per source object in listing order, then
    /// [`Planned::End`].
    async fn plan(
        &self,
        objects: super::listing::ObjectStream,
    ) -> Result<impl futures::Stream<Item = Result<Planned, TransferError>> + '_, TransferError>
    {
        let planner = Planner::open(
            (self.src, self.dst),
            self.ends,
            self.journal.as_deref(),
            &self.manifest_key,
        )
        .await?;
        Ok(Box::pin(futures::stream::unfold(
            Some((objects, planner)),
            |state| async move {
                let (mut objects, mut planner) = state?;
                match objects.next().await {
                    Some(Ok(o)) => {
                        let p = planner.plan(o).await.map(|p| Planned::Object(Box::new(p)));
                        Some((p, Some((objects, planner))))
                    }
                    Some(Err(e)) => Some((Err(e), None)),
                    None => {
                        let end = planner.finish().await.map(|()| Planned::End {
                            differs: planner.previous_differs,
                            source: planner.previous_source.clone(),
                        });
                        Some((end, None))
                    }
                }
            },
        )))
    }

    /// The run's account before its first object, with the manifest writer of a tree (not on a dry run).
    fn tally(&self) -> Result<Tally, TransferError> {
        let manifest = if self.ends.is_tree() && !self.options.dry_run {
            Some(
                ManifestWriter::create(&self.options.state_dir, self.source())
                    .map_err(|e| self.journal_error(e))?,
            )
        } else {
            None
        };
        Ok(Tally {
            summary: Summary {
                destination: format!("{}:{}", self.dst.name(), self.ends.dst_root()),
                ..Summary::default()
            },
            order: Reorder::default(),
            manifest,
            changed: false,
            object_entry: None,
            to_copy: (0, 0),
            previous: None,
        })
    }

    /// The source as the manifest names it.
    fn source(&self) -> String {
        format!("{}:{}", self.src.name(), self.ends.src_root())
    }

    /// A planned object: one already there is counted and settled at once; one to copy (or check) is given
    /// back with its place in the manifest's order, to be started.
    fn admit(
        &self,
        tally: &mut Tally,
        p: PlannedObject,
    ) -> Result<Option<(u64, PlannedObject)>, TransferError> {
        let seq = tally.order.next_seq();
        if let Action::Skip(entry) = &p.action {
            tally.summary.skipped += 1;
            tally.summary.skipped_bytes += entry.size;
            tally.landed(self.ends, &p, entry);
            tally
                .settle(seq, Some(entry.clone()))
                .map_err(|e| self.journal_error(e))?;
            return Ok(None);
        }
        tally.to_copy.0 += 1;
        tally.to_copy.1 += p.src.size;
        self.progress.planned(1, p.src.size);
        Ok(Some((seq, p)))
    }

    /// The plan has given its last object: what it found of the destination's manifest, and the plan's totals.
    fn planned_all(
        &self,
        tally: &mut Tally,
        differs: bool,
        previous: Option<String>,
        skipped: &std::sync::Mutex<Vec<super::listing::SkippedLink>>,
    ) {
        tally.changed |= differs || previous.as_deref() != Some(self.source().as_str());
        tally.previous = previous;
        self.progress.report(Event::PlanFinished {
            copy: tally.to_copy.0,
            copy_bytes: tally.to_copy.1,
            skip: tally.summary.skipped,
            skip_bytes: tally.summary.skipped_bytes,
        });
        report_skipped(
            &self.progress,
            &skipped.lock().map(|s| s.clone()).unwrap_or_default(),
        );
    }

    /// An object ended: counted, reported, journaled once durable (or handed to the group commit), and given
    /// to the manifest in its order.
    fn settled(
        &self,
        tally: &mut Tally,
        commit: &mut GroupCommit<'_>,
        (seq, p, result): Outcome,
    ) -> Result<(), TransferError> {
        let summary = &mut tally.summary;
        let entry = match result {
            Ok(Settled::Copied {
                entry,
                durability,
                found,
            }) => {
                if found {
                    summary.found += 1;
                    summary.found_bytes += entry.size;
                }
                summary.copied += 1;
                summary.copied_bytes += entry.size;
                self.progress.settled(
                    &p.dst_key,
                    entry.size,
                    events::Outcome::Copied {
                        blake3: &entry.blake3,
                    },
                );
                match durability {
                    Durability::Durable => self.journal_landed(&entry)?,
                    Durability::NeedsSync => commit.add(entry.clone()),
                }
                Some(entry)
            }
            Ok(Settled::Skipped(entry)) => {
                summary.skipped += 1;
                summary.skipped_bytes += entry.size;
                Some(entry)
            }
            Ok(Settled::WouldCopy) => {
                summary.would_copy.push(p.dst_key.clone());
                None
            }
            Err(e) if e.cancelled => {
                summary.interrupted = true;
                None
            }
            Err(e) => {
                self.failed(summary, &p.src.key, p.src.size, e.message);
                if self.options.fail_fast {
                    summary.interrupted = true;
                    self.stop.cancel();
                }
                None
            }
        };
        if let Some(e) = &entry {
            tally.landed(self.ends, &p, e);
        }
        tally.settle(seq, entry).map_err(|e| self.journal_error(e))
    }

    /// A group commit ended: what it made durable is journaled; if it failed, those objects failed.
    fn committed(
        &self,
        tally: &mut Tally,
        (entries, result): (Vec<ManifestEntry>, std::io::Result<()>),
    ) -> Result<(), TransferError> {
        for entry in entries {
            match &result {
                Ok(()) => self.journal_landed(&entry)?,
                Err(e) => {
                    let reason = format!("could not make it durable at the destination: {e}");
                    self.failed(&mut tally.summary, &entry.key, 0, reason);
                }
            }
        }
        Ok(())
    }

    /// The copy step's result: the summary's totals, and, when every object is there, the tree's manifest
    /// (or the single object's entry).
    fn executed(
        &self,
        tally: Tally,
        copier: &Copier,
        skipped_links: u64,
    ) -> Result<Executed, TransferError> {
        let Tally {
            mut summary,
            manifest,
            changed,
            object_entry,
            previous,
            ..
        } = tally;
        summary.resumed_bytes = copier
            .resumed_bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        // One store on both sides: its server made every copy, and nothing crossed a link.
        summary.sent_bytes = if copier.server_side {
            0
        } else {
            summary
                .copied_bytes
                .saturating_sub(summary.found_bytes)
                .saturating_sub(summary.resumed_bytes)
        };
        summary.interrupted |= self.cancel.is_cancelled();
        summary.failed.sort_by(|a, b| a.key.cmp(&b.key));
        summary.skipped_links = skipped_links;
        let complete = summary.failed.is_empty() && !summary.interrupted && !self.options.dry_run;
        let landed = match (complete, manifest) {
            (false, _) => None,
            (true, Some(writer)) => {
                let replaces = previous.filter(|p| p != writer.source());
                Some(Landed::Tree {
                    manifest: writer.finish().map_err(|e| self.journal_error(e))?,
                    changed,
                    replaces,
                })
            }
            (true, None) => object_entry.map(Landed::Object),
        };
        Ok(Executed { summary, landed })
    }

    /// Copies (or checks) one planned object.
    async fn settle(&self, copier: &Copier, seq: u64, p: PlannedObject) -> Outcome {
        let result = async {
            match &p.action {
                Action::Refuse(reason) => Err(CopyError::fatal(reason.clone())),
                Action::Skip(entry) => Ok(Settled::Skipped(entry.clone())),
                Action::CheckMetadata => {
                    match vouched_by_metadata(self.dst, &p.src, &p.dst_key).await {
                        Some(entry) => Ok(Settled::Skipped(entry)),
                        None if self.options.dry_run => Ok(Settled::WouldCopy),
                        None => self.copy(copier, &p).await,
                    }
                }
                Action::Copy if self.options.dry_run => Ok(Settled::WouldCopy),
                Action::Copy => self.copy(copier, &p).await,
            }
        }
        .await;
        (seq, p, result)
    }

    /// Copies one object: from an object the destination already holds with the same content, when there is
    /// one, else from the source.
    async fn copy(&self, copier: &Copier, p: &PlannedObject) -> Result<Settled, CopyError> {
        let dedup = self.options.dedup && self.dst.config().copies_on_server();
        if let (true, Endpoints::Tree { dst_root, .. }) = (dedup, self.ends) {
            let index = self
                .dedup
                .get_or_init(|| DedupIndex::beside(self.dst, dst_root))
                .await;
            // By content when the source's manifest gives it; else by key and source version.
            let found = match &p.expected_blake3 {
                Some(blake3) => index.find(blake3, p.src.size),
                None => index.find_same_version(&p.src),
            };
            if let Some(found) = found
                && let Some((entry, durability)) = copier.copy_found(p, &found).await
            {
                return Ok(Settled::Copied {
                    entry,
                    durability,
                    found: true,
                });
            }
        }
        let (entry, durability) = copier.copy(p).await?;
        Ok(Settled::Copied {
            entry,
            durability,
            found: false,
        })
    }

    /// Where the manifest this run writes goes (the tree's, or its shard's).
    pub fn manifest_key(&self) -> &str {
        &self.manifest_key
    }

    fn journal_landed(&self, entry: &ManifestEntry) -> Result<(), TransferError> {
        match &self.journal {
            Some(j) => j.record(entry).map_err(|e| self.journal_error(e)),
            None => Ok(()),
        }
    }

    fn failed(&self, summary: &mut Summary, key: &str, size: u64, reason: String) {
        self.progress
            .settled(key, size, events::Outcome::Failed { reason: &reason });
        summary.failed.push(Mismatch {
            key: key.to_string(),
            reason,
        });
    }

    /// Step 3, after a run that copied everything: aborts the uploads of objects that left the source since an
    /// earlier run (nothing will finish them), removes the journal and what killed runs left at the destination.
    pub async fn finish(&self) -> Result<(), TransferError> {
        let Some(j) = &self.journal else {
            return Ok(());
        };
        if let Some(uploads) = self.dst.uploads() {
            for u in j.unfinished_uploads() {
                if let Err(e) = uploads.abort(&u.dst_key, &u.upload_id).await {
                    self.progress.note(&format!(
                        "could not abort the unfinished upload of '{}': {e}",
                        u.dst_key
                    ));
                }
            }
        }
        j.finish().map_err(|e| self.journal_error(e))?;
        self.remove_stale_files().await;
        Ok(())
    }

    /// What killed runs left at the destination besides uploads (on `fs`, temporary files), from before this
    /// run started, so that no live writer's file is taken.
    async fn remove_stale_files(&self) {
        let Some(uploads) = self.dst.uploads() else {
            return;
        };
        if let Err(e) = uploads.remove_stale_files(self.opened).await {
            self.progress
                .note(&format!("could not remove stale temporary files: {e}"));
        }
    }
}

/// An item of the planning stream.
enum Planned {
    Object(Box<PlannedObject>),
    /// After the last object: whether the destination's manifest lists something this run does not (or is
    /// missing or damaged), and the source it names.
    End {
        differs: bool,
        source: Option<String>,
    },
}

/// What the copy step has counted so far, and the manifest it writes in key order.
struct Tally {
    summary: Summary,
    order: Reorder,
    manifest: Option<ManifestWriter>,
    /// Whether this run's manifest says something the destination's does not.
    changed: bool,
    /// A single object's entry, once it is there.
    object_entry: Option<ManifestEntry>,
    /// Objects and bytes the plan gave to copy (or check).
    to_copy: (u64, u64),
    /// The source the destination's manifest named before this run.
    previous: Option<String>,
}

impl Tally {
    /// Object `p` is at the destination as `entry`.
    fn landed(&mut self, ends: &Endpoints, p: &PlannedObject, entry: &ManifestEntry) {
        self.changed |= p.previous.as_ref() != Some(entry);
        if !ends.is_tree() {
            self.object_entry = Some(entry.clone());
        }
    }

    /// Object `seq` ended with `entry` (none when it did not land): into the manifest, in order.
    fn settle(&mut self, seq: u64, entry: Option<ManifestEntry>) -> std::io::Result<()> {
        self.order.settle(seq, entry, self.manifest.as_mut())
    }
}

/// Finished objects in the order they were planned (key order), so the manifest can be written as a stream.
#[derive(Default)]
struct Reorder {
    planned: u64,
    written: u64,
    waiting: BTreeMap<u64, Option<ManifestEntry>>,
}

impl Reorder {
    fn next_seq(&mut self) -> u64 {
        self.planned += 1;
        self.planned - 1
    }

    fn waiting(&self) -> u64 {
        self.planned - self.written
    }

    /// Object `seq` ended with `entry` (none when it did not land): writes every entry now in order.
    fn settle(
        &mut self,
        seq: u64,
        entry: Option<ManifestEntry>,
        manifest: Option<&mut ManifestWriter>,
    ) -> std::io::Result<()> {
        self.waiting.insert(seq, entry);
        let mut manifest = manifest;
        while let Some(next) = self.waiting.remove(&self.written) {
            if let (Some(e), Some(m)) = (next, manifest.as_deref_mut()) {
                m.push(&e)?;
            }
            self.written += 1;
        }
        Ok(())
    }
}

/// Group commit for destinations where a write is not durable until flushed (a local disk): objects that
/// landed are flushed to disk together, one `syncfs` for all those that landed since the last one began, and
/// only then journaled. A journal entry never leads its bytes, and no object pays a serial `fsync` of its own.
struct GroupCommit<'a> {
    dst: &'a Remote,
    waiting: Vec<ManifestEntry>,
    syncing: Option<Syncing>,
}

struct Syncing {
    entries: Vec<ManifestEntry>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl<'a> GroupCommit<'a> {
    fn new(dst: &'a Remote) -> GroupCommit<'a> {
        GroupCommit {
            dst,
            waiting: Vec::new(),
            syncing: None,
        }
    }

    fn add(&mut self, entry: ManifestEntry) {
        self.waiting.push(entry);
    }

    fn is_syncing(&self) -> bool {
        self.syncing.is_some()
    }

    /// Starts flushing what is waiting, if anything is.
    fn start(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let task = match self.dst.uploads() {
            Some(uploads) => uploads.sync_local(),
            None => tokio::spawn(async { Ok(()) }),
        };
        self.syncing = Some(Syncing {
            entries: std::mem::take(&mut self.waiting),
            task,
        });
    }

    /// Waits for the flush in progress: the entries it made durable, or why it failed.
    async fn synced(&mut self) -> (Vec<ManifestEntry>, std::io::Result<()>) {
        let Some(s) = self.syncing.as_mut() else {
            return (Vec::new(), Ok(()));
        };
        let result = match (&mut s.task).await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        };
        let entries = self.syncing.take().map(|s| s.entries).unwrap_or_default();
        (entries, result)
    }
}
