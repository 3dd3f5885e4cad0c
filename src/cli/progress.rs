//! How a command shows the engine's events ([`mbx::transfer::Event`]): indicatif bars on a terminal, a
//! status line every few seconds otherwise, one JSON object per line with `--json`, or only failures with
//! `--quiet`. The JSON shapes are documented in docs/transfer.md.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mbx::outln;
use mbx::transfer::{Event, Outcome, Reporter, Stage};
use serde_json::json;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, plain status lines otherwise.
    Auto,
    /// JSON events on stdout, one per line.
    Json,
    /// Nothing but failures.
    Quiet,
}

/// Objects at least this large get a bar of their own.
const BIG_OBJECT: u64 = 64 << 20;

/// The reporter a command hands the engine. Its counts are the current stage's.
pub struct Progress {
    mode: Mode,
    started: Mutex<Instant>,
    stage: Mutex<Stage>,
    bytes: AtomicU64,
    objects: AtomicU64,
    total_bytes: AtomicU64,
    total_objects: AtomicU64,
    last_plain: Mutex<Instant>,
}

enum Mode {
    Bars {
        multi: MultiProgress,
        main: ProgressBar,
        /// Bars of large objects in flight, by source key; `open` counts them so that a byte count for a
        /// small object takes no lock.
        objects: Mutex<HashMap<String, ProgressBar>>,
        open: AtomicUsize,
    },
    Plain,
    Json,
    Quiet,
}

impl Progress {
    /// A reporter; the engine names each stage as it starts ([`Event::StageStarted`]).
    pub fn new(mode: ProgressMode) -> Progress {
        let mode = match mode {
            ProgressMode::Json => Mode::Json,
            ProgressMode::Quiet => Mode::Quiet,
            ProgressMode::Auto if std::io::stderr().is_terminal() => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5));
                let main = main_bar(&multi);
                Mode::Bars {
                    multi,
                    main,
                    objects: Mutex::new(HashMap::new()),
                    open: AtomicUsize::new(0),
                }
            }
            ProgressMode::Auto => Mode::Plain,
        };
        Progress {
            mode,
            started: Mutex::new(Instant::now()),
            stage: Mutex::new(Stage::Copying),
            bytes: AtomicU64::new(0),
            objects: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            total_objects: AtomicU64::new(0),
            last_plain: Mutex::new(Instant::now()),
        }
    }

    /// Clears the bars; call before printing the summary.
    pub fn finish(&self) {
        if let Mode::Bars { main, .. } = &self.mode {
            main.finish_and_clear();
        }
    }

    /// A line for the operator, above the bars (or on stderr; a `note` event with `--json`).
    pub fn note(&self, line: &str) {
        self.report(Event::Notice(line));
    }

    fn verb(&self) -> &'static str {
        self.stage.lock().map(|s| s.verb()).unwrap_or("copied")
    }

    fn with_main(&self, f: impl FnOnce(&ProgressBar)) {
        if let Mode::Bars { main, .. } = &self.mode {
            f(main);
        }
    }

    fn new_stage(&self, stage: Stage) {
        if let Ok(mut s) = self.stage.lock() {
            *s = stage;
        }
        if let Ok(mut t) = self.started.lock() {
            *t = Instant::now();
        }
        for counter in [
            &self.bytes,
            &self.objects,
            &self.total_bytes,
            &self.total_objects,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        // One bar for every stage, started again: a stage after `finish` draws it anew.
        self.with_main(|main| {
            main.reset();
            main.set_length(0);
        });
    }

    fn moved(&self, key: &str, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        match &self.mode {
            Mode::Bars {
                main,
                objects,
                open,
                ..
            } => {
                main.inc(n);
                if open.load(Ordering::Relaxed) > 0
                    && let Ok(objects) = objects.lock()
                    && let Some(bar) = objects.get(key)
                {
                    bar.inc(n);
                }
            }
            Mode::Plain => self.maybe_plain_line(),
            _ => {}
        }
    }

    fn retracted(&self, key: &str, n: u64) {
        self.bytes
            .fetch_sub(n.min(self.bytes.load(Ordering::Relaxed)), Ordering::Relaxed);
        if let Mode::Bars { main, objects, .. } = &self.mode {
            main.set_position(main.position().saturating_sub(n));
            if let Ok(objects) = objects.lock()
                && let Some(bar) = objects.get(key)
            {
                bar.set_position(bar.position().saturating_sub(n));
            }
        }
    }

    fn object_started(&self, key: &str, size: u64) {
        if let Mode::Bars {
            multi,
            objects,
            open,
            ..
        } = &self.mode
            && size >= BIG_OBJECT
            && let Ok(mut objects) = objects.lock()
        {
            let bar = multi.add(ProgressBar::new(size));
            bar.set_style(
                ProgressStyle::with_template(
                    "  {wide_msg} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(key.to_string());
            if let Some(old) = objects.insert(key.to_string(), bar) {
                old.finish_and_clear();
            } else {
                open.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn object_ended(&self, key: &str) {
        if let Mode::Bars { objects, open, .. } = &self.mode
            && let Ok(mut objects) = objects.lock()
            && let Some(bar) = objects.remove(key)
        {
            bar.finish_and_clear();
            open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn settled(&self, key: &str, size: u64, outcome: Outcome<'_>) {
        self.objects.fetch_add(1, Ordering::Relaxed);
        match &self.mode {
            Mode::Json => {
                let line = match outcome {
                    Outcome::Copied { blake3 } => {
                        json!({"event": "copied", "key": key, "size": size, "blake3": blake3})
                    }
                    Outcome::Verified => json!({"event": "verified", "key": key, "size": size}),
                    Outcome::Mismatch { reason } => {
                        json!({"event": "mismatch", "key": key, "size": size, "error": reason})
                    }
                    Outcome::Failed { reason } => {
                        json!({"event": "failed", "key": key, "size": size, "error": reason})
                    }
                };
                outln!("{line}");
            }
            Mode::Bars { multi, .. } => {
                if let Outcome::Failed { reason } = outcome {
                    let _ = multi.println(format!("failed: {key}: {reason}"));
                }
            }
            Mode::Plain | Mode::Quiet => {
                if let Outcome::Failed { reason } = outcome {
                    eprintln!("failed: {key}: {reason}");
                }
                if matches!(self.mode, Mode::Plain) {
                    self.maybe_plain_line();
                }
            }
        }
        self.refresh_message();
    }

    fn line(&self, line: &str) {
        match &self.mode {
            Mode::Bars { multi, .. } => {
                let _ = multi.println(line);
            }
            Mode::Json => outln!("{}", json!({"event": "note", "message": line})),
            Mode::Plain => eprintln!("{line}"),
            Mode::Quiet => {}
        }
    }

    fn refresh_message(&self) {
        let message = format!(
            "{}/{} objects {}",
            self.objects.load(Ordering::Relaxed),
            self.total_objects.load(Ordering::Relaxed),
            self.verb()
        );
        self.with_main(|main| main.set_message(message));
    }

    fn maybe_plain_line(&self) {
        let Ok(mut last) = self.last_plain.lock() else {
            return;
        };
        if last.elapsed() < Duration::from_secs(5) {
            return;
        }
        *last = Instant::now();
        let bytes = self.bytes.load(Ordering::Relaxed);
        let secs = self
            .started
            .lock()
            .map(|t| t.elapsed().as_secs_f64())
            .unwrap_or(0.0)
            .max(0.001);
        eprintln!(
            "{} {}/{} objects, {} of {} MiB, {:.1} MiB/s",
            self.verb(),
            self.objects.load(Ordering::Relaxed),
            self.total_objects.load(Ordering::Relaxed),
            bytes >> 20,
            self.total_bytes.load(Ordering::Relaxed) >> 20,
            bytes as f64 / secs / 1048576.0
        );
    }
}

impl Reporter for Progress {
    fn report(&self, event: Event<'_>) {
        match event {
            Event::StageStarted(stage) => self.new_stage(stage),
            Event::Planned { objects, bytes } => {
                self.total_objects.fetch_add(objects, Ordering::Relaxed);
                let total = self.total_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
                self.with_main(|main| main.set_length(total));
            }
            Event::PlanFinished {
                copy,
                copy_bytes,
                skip,
                skip_bytes,
            } => {
                if let Mode::Json = self.mode {
                    outln!(
                        "{}",
                        json!({
                            "event": "plan", "copy": copy, "copy_bytes": copy_bytes,
                            "skip": skip, "skip_bytes": skip_bytes,
                        })
                    );
                }
            }
            Event::ObjectStarted { key, size } => self.object_started(key, size),
            Event::Moved { key, bytes } => self.moved(key, bytes),
            Event::Retracted { key, bytes } => self.retracted(key, bytes),
            Event::ObjectEnded { key } => self.object_ended(key),
            Event::Settled { key, size, outcome } => self.settled(key, size, outcome),
            Event::SkippedLink { key, reason } => match self.mode {
                Mode::Json => outln!(
                    "{}",
                    json!({"event": "skipped_link", "key": key, "reason": reason})
                ),
                _ => self.line(&format!("warning: skipped {key}: {reason}")),
            },
            Event::Notice(line) => self.line(line),
        }
    }
}

fn main_bar(multi: &MultiProgress) -> ProgressBar {
    let main = multi.add(ProgressBar::new(0));
    main.set_style(
        ProgressStyle::with_template(
            "{bar:30.cyan/blue} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    main
}
