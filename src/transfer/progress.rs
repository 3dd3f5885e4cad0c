//! What a transfer tells the person (or program) watching: indicatif bars on a terminal, a status line
//! every few seconds otherwise, or one JSON event per line with `--json`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, plain status lines otherwise.
    Auto,
    /// JSON events on stdout, one per line.
    Json,
    /// Nothing but errors.
    Quiet,
}

/// Objects at least this large get a bar of their own.
const BIG_OBJECT: u64 = 64 << 20;

/// Counters and output for one run (a transfer or a verify).
pub struct Progress {
    mode: Mode,
    started: Instant,
    bytes: AtomicU64,
    objects: AtomicU64,
    total_bytes: AtomicU64,
    total_objects: AtomicU64,
    last_plain: Mutex<Instant>,
    verb: &'static str,
}

enum Mode {
    Bars {
        multi: MultiProgress,
        main: ProgressBar,
    },
    Plain,
    Json,
    Quiet,
}

/// A bar for one large object in flight; finished on drop.
pub struct ObjectBar(Option<ProgressBar>);

impl ObjectBar {
    /// Adds `n` bytes to the object's bar.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
}

impl Drop for ObjectBar {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            b.finish_and_clear();
        }
    }
}

impl Progress {
    /// A new reporter; `verb` names the work ("copied", "verified").
    pub fn new(mode: ProgressMode, verb: &'static str) -> Progress {
        let mode = match mode {
            ProgressMode::Json => Mode::Json,
            ProgressMode::Quiet => Mode::Quiet,
            ProgressMode::Auto if std::io::stderr().is_terminal() => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5));
                let main = multi.add(ProgressBar::new(0));
                main.set_style(
                    ProgressStyle::with_template(
                        "{bar:30.cyan/blue} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                Mode::Bars { multi, main }
            }
            ProgressMode::Auto => Mode::Plain,
        };
        Progress {
            mode,
            started: Instant::now(),
            bytes: AtomicU64::new(0),
            objects: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            total_objects: AtomicU64::new(0),
            last_plain: Mutex::new(Instant::now()),
            verb,
        }
    }

    /// Sets the amount of work.
    pub fn set_total(&self, objects: u64, bytes: u64) {
        self.total_objects.store(objects, Ordering::Relaxed);
        self.total_bytes.store(bytes, Ordering::Relaxed);
        if let Mode::Bars { main, .. } = &self.mode {
            main.set_length(bytes);
        }
        self.refresh_message();
    }

    /// A new reporter for the next stage of the same command (verifying after copying), drawn as this one is:
    /// quiet stays quiet, JSON stays JSON.
    pub fn next_stage(&self, verb: &'static str) -> Progress {
        let mode = match self.mode {
            Mode::Json => ProgressMode::Json,
            Mode::Quiet => ProgressMode::Quiet,
            Mode::Bars { .. } | Mode::Plain => ProgressMode::Auto,
        };
        Progress::new(mode, verb)
    }

    /// Adds to the amount of work, as planning finds it.
    pub fn add_total(&self, objects: u64, bytes: u64) {
        self.total_objects.fetch_add(objects, Ordering::Relaxed);
        let total = self.total_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Mode::Bars { main, .. } = &self.mode {
            main.set_length(total);
        }
    }

    /// Starts the bar of one object (only large ones get a bar).
    pub fn object_started(&self, key: &str, size: u64) -> ObjectBar {
        match &self.mode {
            Mode::Bars { multi, .. } if size >= BIG_OBJECT => {
                let bar = multi.add(ProgressBar::new(size));
                bar.set_style(
                    ProgressStyle::with_template(
                        "  {wide_msg} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_message(key.to_string());
                ObjectBar(Some(bar))
            }
            _ => ObjectBar(None),
        }
    }

    /// Counts bytes moved.
    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        match &self.mode {
            Mode::Bars { main, .. } => main.inc(n),
            Mode::Plain => self.maybe_plain_line(),
            _ => {}
        }
    }

    /// Takes back bytes counted for an attempt that failed and will be retried.
    pub fn sub_bytes(&self, n: u64) {
        self.bytes
            .fetch_sub(n.min(self.bytes.load(Ordering::Relaxed)), Ordering::Relaxed);
        if let Mode::Bars { main, .. } = &self.mode {
            main.set_position(main.position().saturating_sub(n));
        }
    }

    /// Reports one object finished: `event` is `copied`, `skipped`, `verified`, `failed`...
    pub fn object_done(&self, event: &str, key: &str, size: u64, detail: serde_json::Value) {
        self.objects.fetch_add(1, Ordering::Relaxed);
        match &self.mode {
            Mode::Json => {
                let mut v = json!({"event": event, "key": key, "size": size});
                if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), detail) {
                    obj.extend(extra);
                }
                crate::outln!("{v}");
            }
            Mode::Bars { multi, .. } if event == "failed" => {
                let _ = multi.println(format!("failed: {key}: {}", detail_error(&detail)));
            }
            Mode::Plain | Mode::Quiet if event == "failed" => {
                eprintln!("failed: {key}: {}", detail_error(&detail));
            }
            Mode::Plain => self.maybe_plain_line(),
            _ => {}
        }
        self.refresh_message();
    }

    /// Prints a line above the bars (or to stderr).
    pub fn note(&self, line: &str) {
        match &self.mode {
            Mode::Bars { multi, .. } => {
                let _ = multi.println(line);
            }
            Mode::Json => crate::outln!("{}", json!({"event": "note", "message": line})),
            Mode::Plain => eprintln!("{line}"),
            Mode::Quiet => {}
        }
    }

    /// Emits a JSON event (JSON mode only).
    pub fn json_event(&self, value: serde_json::Value) {
        if let Mode::Json = self.mode {
            crate::outln!("{value}");
        }
    }

    /// Clears the bars.
    pub fn finish(&self) {
        if let Mode::Bars { main, .. } = &self.mode {
            main.finish_and_clear();
        }
    }

    /// Seconds since the run started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// True when output is JSON.
    pub fn is_json(&self) -> bool {
        matches!(self.mode, Mode::Json)
    }

    fn refresh_message(&self) {
        if let Mode::Bars { main, .. } = &self.mode {
            main.set_message(format!(
                "{}/{} objects {}",
                self.objects.load(Ordering::Relaxed),
                self.total_objects.load(Ordering::Relaxed),
                self.verb
            ));
        }
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
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        eprintln!(
            "{} {}/{} objects, {} of {} MiB, {:.1} MiB/s",
            self.verb,
            self.objects.load(Ordering::Relaxed),
            self.total_objects.load(Ordering::Relaxed),
            bytes >> 20,
            self.total_bytes.load(Ordering::Relaxed) >> 20,
            bytes as f64 / secs / 1048576.0
        );
    }
}

fn detail_error(detail: &serde_json::Value) -> String {
    detail
        .get("error")
        .and_then(|e| e.as_str())
        .unwrap_or("")
        .to_string()
}
