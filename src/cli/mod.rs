//! Command-line definitions and one module per subcommand; each wires the library's parts together.

mod backup;
mod check;
mod cleanup;
mod ls;
mod migrate;
mod progress;
mod remotes;
mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use mbx::config::{ConfigError, RemotesConfig};
use mbx::remote::{Access, Fault, Remote, RemoteError, RemotePath};
use progress::{Progress, ProgressMode};

/// Exit codes, as in the README.
pub(crate) mod exit {
    /// Something failed (an object, a verification, a server).
    pub const FAILED: u8 = 1;
    /// Bad input: arguments, remotes file, names.
    pub const BAD_INPUT: u8 = 2;
    /// Interrupted by Ctrl-C (SIGINT); the next run resumes.
    pub const INTERRUPTED: u8 = 130;
    /// Stopped by SIGTERM (as Kubernetes stops a pod), as cleanly as by Ctrl-C; the next run resumes.
    pub const TERMINATED: u8 = 143;
}

/// mbx: Milvus backups, and a streaming, checksummed copier between object stores.
#[derive(Parser)]
#[command(name = "mbx", version, about, long_about = None)]
struct Cli {
    /// The remotes file (default: $MBX_CONFIG, ./remotes.toml, $XDG_CONFIG_HOME/mbx/remotes.toml, then the
    /// built-in example remotes).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Machine-readable output: one JSON object per line on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// More log output (-v info, -vv debug); RUST_LOG also works.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the configured remotes (secrets redacted).
    Remotes,
    /// Probe a remote (write, stat, read, list, delete, a multipart upload) and its Milvus, and report what works.
    Check(check::Args),
    /// List objects: `mbx ls REMOTE:PATH [-r]`.
    Ls(ls::Args),
    /// Copy every object under a source path to a destination: `mbx transfer a:backup/my_backup b:backup/`.
    Transfer(transfer::Args),
    /// Re-read a tree written by mbx and check every object against its manifest.
    Verify(transfer::VerifyArgs),
    /// Abort the unfinished uploads of abandoned transfers and remove their journals.
    Cleanup(cleanup::Args),
    /// Back up Milvus collections into a remote, in milvus-backup's layout.
    Create(backup::CreateArgs),
    /// Restore a backup into the Milvus of a remote.
    Restore(backup::RestoreArgs),
    /// Create on one Milvus, transfer, restore on another, as one resumable job: `mbx migrate --from a --to b
    /// -c coll --suffix _bak`.
    Migrate(migrate::Args),
    /// List the backups on a remote.
    List(backup::ListArgs),
    /// Show one backup's collections, partitions and segments.
    Get(backup::NameArgs),
    /// Delete a backup.
    Delete(backup::NameArgs),
}

/// Errors that are the user's to fix (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BadInput(pub String);

/// Global context every subcommand gets.
pub(crate) struct Context {
    config_path: Option<PathBuf>,
    pub json: bool,
    pub quiet: bool,
    pub cancel: CancellationToken,
}

impl Context {
    /// The remotes, found as documented on `--config`.
    pub fn remotes(&self) -> Result<RemotesConfig, ConfigError> {
        let config = RemotesConfig::discover(self.config_path.as_deref())?;
        if matches!(config.source, mbx::config::ConfigSource::Embedded) && !self.quiet && !self.json
        {
            eprintln!(
                "note: no remotes file found; using the built-in example remotes (see remotes.example.toml)"
            );
        }
        Ok(config)
    }

    /// Opens the remote named in `path` for reading and writing; also the path within it (see
    /// [`RemotesConfig::locate`]: for rclone's and mc's remotes, the bucket is the path's first part).
    pub fn open(
        &self,
        config: &RemotesConfig,
        path: &RemotePath,
    ) -> anyhow::Result<(Remote, RemotePath)> {
        self.open_for(config, path, Access::Write)
    }

    /// Opens the remote named in `path` for `access` (reading writes nothing, not even on `fs`), and the
    /// path within it.
    pub fn open_for(
        &self,
        config: &RemotesConfig,
        path: &RemotePath,
        access: Access,
    ) -> anyhow::Result<(Remote, RemotePath)> {
        let (remote, within) = config.locate(&path.remote, &path.path)?;
        let within = RemotePath {
            remote: path.remote.clone(),
            path: within,
        };
        Ok((Remote::open_for(&remote, access)?, within))
    }

    /// The reporter for a command, drawn as `--json` and `--quiet` say.
    pub fn progress(&self) -> std::sync::Arc<Progress> {
        let mode = if self.json {
            ProgressMode::Json
        } else if self.quiet {
            ProgressMode::Quiet
        } else {
            ProgressMode::Auto
        };
        std::sync::Arc::new(Progress::new(mode))
    }
}

/// Parses a `REMOTE:PATH` argument. A parser of its own rather than a function: clap would quote the whole
/// value in its message, and a mistaken one can be kilobytes long ([`RemotePath`]'s messages shorten it).
#[derive(Clone, Copy)]
pub(crate) struct RemotePathParser;

impl clap::builder::TypedValueParser for RemotePathParser {
    type Value = RemotePath;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<RemotePath, clap::Error> {
        let invalid = |message: String| {
            let arg = arg.map_or_else(|| "REMOTE:PATH".to_string(), ToString::to_string);
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for '{arg}': {message}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| invalid("a REMOTE:PATH must be valid UTF-8".into()))?;
        text.parse().map_err(invalid)
    }
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Local files are read, hashed and written on blocking threads (and OpenDAL's fs service does its file
        // calls there): with 64 objects in flight, tokio's default of up to 512 threads grew to ~380 at a
        // million small objects. Twice the default --transfers keeps every object busy with far fewer.
        .max_blocking_threads(256)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let cancel = CancellationToken::new();
    let ctx = Context {
        config_path: cli.config,
        json: cli.json,
        quiet: cli.quiet,
        cancel: cancel.clone(),
    };
    runtime.block_on(async move {
        tokio::spawn(watch_stop_signals(cancel));
        let result = match cli.command {
            Command::Remotes => remotes::run(&ctx).await,
            Command::Check(args) => check::run(&ctx, args).await,
            Command::Ls(args) => ls::run(&ctx, args).await,
            Command::Transfer(args) => transfer::run(&ctx, args).await,
            Command::Verify(args) => transfer::verify(&ctx, args).await,
            Command::Cleanup(args) => cleanup::run(&ctx, args).await,
            Command::Create(args) => backup::create(&ctx, args).await,
            Command::Restore(args) => backup::restore(&ctx, args).await,
            Command::Migrate(args) => migrate::run(&ctx, args).await,
            Command::List(args) => backup::list(&ctx, args).await,
            Command::Get(args) => backup::get(&ctx, args).await,
            Command::Delete(args) => backup::delete(&ctx, args).await,
        };
        match result {
            // A run stopped by SIGTERM says so in its exit code, as a shell reports 128 + 15.
            Ok(code) if code == ExitCode::from(exit::INTERRUPTED) && stopped_by_sigterm() => {
                ExitCode::from(exit::TERMINATED)
            }
            Ok(code) => code,
            Err(e) => {
                let code = if is_bad_input(&e) {
                    exit::BAD_INPUT
                } else {
                    exit::FAILED
                };
                eprintln!("error: {e:#}");
                ExitCode::from(code)
            }
        }
    })
}

fn is_bad_input(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ConfigError>().is_some()
        || e.downcast_ref::<BadInput>().is_some()
        || e.downcast_ref::<RemoteError>()
            .is_some_and(|r| r.fault == Fault::Input)
        || e.downcast_ref::<mbx::transfer::TransferError>()
            .is_some_and(|t| t.is_bad_input())
}

static SIGTERM_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn stopped_by_sigterm() -> bool {
    SIGTERM_SEEN.load(std::sync::atomic::Ordering::Relaxed)
}

/// First Ctrl-C or SIGTERM: stop cleanly (in-flight uploads are aborted, the journal kept). A second one:
/// leave now. SIGTERM is what Kubernetes and systemd send first, so it gets the same clean stop.
async fn watch_stop_signals(cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        // Without a SIGTERM handler, Ctrl-C still stops cleanly.
        return watch_ctrl_c_only(cancel).await;
    };
    let first_is_term = tokio::select! {
        r = tokio::signal::ctrl_c() => {
            if r.is_err() {
                return;
            }
            false
        }
        _ = term.recv() => true,
    };
    if first_is_term {
        SIGTERM_SEEN.store(true, std::sync::atomic::Ordering::Relaxed);
        eprintln!("\nterminated: stopping cleanly (again to quit at once); the next run resumes");
    } else {
        eprintln!(
            "\ninterrupted: stopping cleanly (Ctrl-C again to quit at once); the next run resumes"
        );
    }
    cancel.cancel();
    let code = tokio::select! {
        _ = tokio::signal::ctrl_c() => exit::INTERRUPTED,
        _ = term.recv() => exit::TERMINATED,
    };
    std::process::exit(code.into());
}

async fn watch_ctrl_c_only(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!(
            "\ninterrupted: stopping cleanly (Ctrl-C again to quit at once); the next run resumes"
        );
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(exit::INTERRUPTED.into());
        }
    }
}

/// Log targets of the request-signing crates OpenDAL uses (`reqsign`, `reqsign_core`, ...): a directive's target
/// matches every target it prefixes, so `reqsign` alone would lose to a user's more specific `reqsign_core=debug`.
const SIGNER_LOG_TARGETS: [&str; 7] = [
    "reqsign",
    "reqsign_core",
    "reqsign_aws_core",
    "reqsign_aws_v4",
    "reqsign_azure_storage",
    "reqsign_google",
    "reqsign_file_read_tokio",
];

fn init_logging(verbose: u8) {
    let default = match verbose {
        // OpenDAL logs every expected NotFound (a missing manifest, say) as a warning: keep it quiet.
        0 => "warn,opendal=off",
        1 => "info,opendal=warn",
        _ => "debug",
    };
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // The request signers log their credentials, secret keys included, at debug level: never let them speak,
    // whatever RUST_LOG asks (a directive for the same target replaces the user's).
    for signer in SIGNER_LOG_TARGETS {
        if let Ok(d) = format!("{signer}=off").parse() {
            filter = filter.add_directive(d);
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
