//! What the engine tells whoever watches it, as typed events. The engine decides nothing about how they are
//! shown: the CLI supplies a [`Reporter`] that draws bars, status lines or JSON (`src/cli/progress.rs`); a
//! program using the library supplies its own.

use std::sync::Arc;

/// Receives the engine's events, from many tasks at once: keep `report` cheap (it is called for every chunk
/// of bytes moved).
pub trait Reporter: Send + Sync {
    /// One thing happened.
    fn report(&self, event: Event<'_>);
}

/// What a stage of a command does to each object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Copying objects to the destination.
    Copying,
    /// Copying a backup's objects to where Milvus imports them from (restore).
    Staging,
    /// Reading objects back to check them against a manifest.
    Verifying,
}

impl Stage {
    /// The verb for an object this stage has finished: "copied", "staged", "verified".
    pub fn verb(self) -> &'static str {
        match self {
            Stage::Copying => "copied",
            Stage::Staging => "staged",
            Stage::Verifying => "verified",
        }
    }
}

/// How one object ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Copied, with the BLAKE3 of what landed.
    Copied {
        /// Hex BLAKE3.
        blake3: &'a str,
    },
    /// Read back and found as its manifest says.
    Verified,
    /// Read back and found different from its manifest.
    Mismatch {
        /// What differs.
        reason: &'a str,
    },
    /// Could not be copied.
    Failed {
        /// Why.
        reason: &'a str,
    },
}

/// One thing the engine did or found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A stage begins; the counts that follow are the stage's own.
    StageStarted(Stage),
    /// Planning found more work: objects and their bytes.
    Planned {
        /// Objects.
        objects: u64,
        /// Their bytes.
        bytes: u64,
    },
    /// Planning is over: what the run copies and what it skips as already there.
    PlanFinished {
        /// Objects to copy.
        copy: u64,
        /// Their bytes.
        copy_bytes: u64,
        /// Objects already at the destination.
        skip: u64,
        /// Their bytes.
        skip_bytes: u64,
    },
    /// A large object starts (small ones are only counted as they move and settle).
    ObjectStarted {
        /// The source key.
        key: &'a str,
        /// Its size.
        size: u64,
    },
    /// Bytes of an object moved (sent, copied on the server, or read to verify).
    Moved {
        /// The source key.
        key: &'a str,
        /// How many.
        bytes: u64,
    },
    /// Bytes counted for an attempt that failed and will be retried are taken back.
    Retracted {
        /// The source key.
        key: &'a str,
        /// How many.
        bytes: u64,
    },
    /// A large object's work ended, however it ended (see [`Event::ObjectStarted`]).
    ObjectEnded {
        /// The source key.
        key: &'a str,
    },
    /// An object is settled.
    Settled {
        /// The key (the destination's for a copy, the manifest's for a verify).
        key: &'a str,
        /// Its size.
        size: u64,
        /// How it ended.
        outcome: Outcome<'a>,
    },
    /// A symbolic link in a local source that was not followed.
    SkippedLink {
        /// The link's key.
        key: &'a str,
        /// Why it was skipped.
        reason: &'a str,
    },
    /// A line for the operator: a retry, a warning, a step of a longer job.
    Notice(&'a str),
}

/// The reporter as the engine holds it, with a method per event so that call sites stay short.
#[derive(Clone)]
pub(crate) struct Events(Arc<dyn Reporter>);

impl Events {
    pub(crate) fn new(reporter: Arc<dyn Reporter>) -> Events {
        Events(reporter)
    }

    pub(crate) fn report(&self, event: Event<'_>) {
        self.0.report(event);
    }

    pub(crate) fn stage(&self, stage: Stage) {
        self.report(Event::StageStarted(stage));
    }

    pub(crate) fn note(&self, line: &str) {
        self.report(Event::Notice(line));
    }

    pub(crate) fn planned(&self, objects: u64, bytes: u64) {
        self.report(Event::Planned { objects, bytes });
    }

    pub(crate) fn moved(&self, key: &str, bytes: u64) {
        self.report(Event::Moved { key, bytes });
    }

    pub(crate) fn retracted(&self, key: &str, bytes: u64) {
        self.report(Event::Retracted { key, bytes });
    }

    pub(crate) fn settled(&self, key: &str, size: u64, outcome: Outcome<'_>) {
        self.report(Event::Settled { key, size, outcome });
    }

    /// Reports a large object started; the guard reports it ended when dropped.
    pub(crate) fn object_started(&self, key: &str, size: u64) -> ObjectInFlight {
        self.report(Event::ObjectStarted { key, size });
        ObjectInFlight {
            events: self.clone(),
            key: key.to_string(),
        }
    }
}

/// A large object in flight; reports [`Event::ObjectEnded`] on drop, on every path out of its copy.
pub(crate) struct ObjectInFlight {
    events: Events,
    key: String,
}

impl Drop for ObjectInFlight {
    fn drop(&mut self) {
        self.events.report(Event::ObjectEnded { key: &self.key });
    }
}
