//! The remotes file (`remotes.toml`), resolved once into plain structs.
//!
//! A remote is `[remotes.NAME]` with `type = "s3" | "minio" | "azblob" | "gcs" | "fs"`, OpenDAL's own option
//! names for that service, and a few mbx keys (see [`MBX_KEYS`]). Values may reference the environment as
//! `${VAR}`, and `MBX_REMOTE_<NAME>_<KEY>` overrides any key (rclone's convention), so secrets never have to
//! be written in the file.

mod backup_yaml;
mod customer_key;
mod env;
mod foreign;
mod kind;
mod milvus;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use backup_yaml::BackupYaml;
pub use foreign::{ForeignRemote, NO_FOREIGN_REMOTES};
pub use kind::RemoteKind;
pub use milvus::MilvusSettings;

/// The remotes file shipped with mbx, used when no other file is found.
pub const EMBEDDED_EXAMPLE: &str = include_str!("../../remotes.example.toml");

/// Keys mbx reads itself; every other key is passed to OpenDAL.
pub const MBX_KEYS: &[&str] = &[
    "type",
    "retries",
    "timeout",
    "io_timeout",
    "max_requests",
    "bwlimit",
    "credential_lookup",
    "resumable_upload",
    "max_server_copy",
    "milvus",
];

/// Errors in the remotes file or the environment it refers to.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read remotes file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has the wrong shape.
    #[error("remotes file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A remote's key is missing, unknown, or has a bad value.
    #[error("remote '{remote}': {message}")]
    Remote {
        /// The remote's name.
        remote: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// No remote with that name.
    #[error("no remote named '{name}' in {source_desc}; known remotes: {known}")]
    UnknownRemote {
        /// The name asked for.
        name: String,
        /// Where the remotes came from.
        source_desc: String,
        /// The names that exist.
        known: String,
    },
}

/// Where the remotes came from, for messages.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A file on disk.
    File(PathBuf),
    /// The example file compiled into mbx (no file was found).
    Embedded,
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Embedded => write!(f, "the built-in example remotes"),
        }
    }
}

/// mbx's own per-remote settings, with their defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSettings {
    /// Retries per request (OpenDAL retry layer, jittered exponential backoff).
    pub retries: usize,
    /// Deadline for one non-streaming request.
    pub timeout: Duration,
    /// Deadline for one read or write of a body chunk: a stalled connection fails after this.
    pub io_timeout: Duration,
    /// Most requests in flight against this remote at once; unless set, the count mbx starts from and
    /// scales with the remote's round trip (see `requests_follow_round_trip`).
    pub max_requests: usize,
    /// `max_requests` was not set: up to four times as many requests in flight on a remote far away,
    /// where each takes longer, so that it serves the same rate (see `remote/request_slots.rs`).
    pub requests_follow_round_trip: bool,
    /// Bandwidth limit in bytes per second, if any.
    pub bwlimit: Option<u64>,
    /// Let the SDK look for credentials outside the file (config files, instance metadata).
    pub credential_lookup: bool,
    /// gcs only: upload through a resumable upload session (sequential chunks) instead of XML multipart,
    /// for servers without XML multipart (fake-gcs-server).
    pub resumable_upload: bool,
    /// The largest object one server-side copy request copies (`max_server_copy`); `None`: the kind's
    /// service limit (see [`RemoteConfig::single_copy_limit`]).
    pub max_server_copy: Option<u64>,
}

impl Default for RemoteSettings {
    fn default() -> Self {
        RemoteSettings {
            retries: 5,
            timeout: Duration::from_secs(60),
            io_timeout: Duration::from_secs(30),
            max_requests: 64,
            requests_follow_round_trip: true,
            bwlimit: None,
            credential_lookup: false,
            resumable_upload: false,
            max_server_copy: None,
        }
    }
}

/// One remote, fully resolved: environment references expanded, overrides applied.
#[derive(Clone)]
pub struct RemoteConfig {
    /// The name in the file.
    pub name: String,
    /// The kind of storage.
    pub kind: RemoteKind,
    /// OpenDAL options (secrets included: never print these, use [`RemoteConfig::redacted`]).
    pub options: BTreeMap<String, String>,
    /// mbx's own settings.
    pub settings: RemoteSettings,
    /// The Milvus instance whose storage this remote is, if any.
    pub milvus: Option<MilvusSettings>,
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("options", &self.redacted())
            .finish()
    }
}

impl RemoteConfig {
    /// The options with every secret (see [`RemoteKind::secret_keys`]) replaced by `***`, safe to print.
    pub fn redacted(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .map(|(k, v)| {
                let v = if self.kind.is_secret(k) {
                    "***".to_string()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// A stable description of where this remote's objects live (no secrets): used to tell whether two
    /// remotes are the same store and to name journals.
    pub fn location(&self) -> String {
        let get = |k: &str| self.options.get(k).map(String::as_str).unwrap_or("");
        match self.kind {
            RemoteKind::Fs => format!("fs:{}", get("root")),
            RemoteKind::Azblob => format!(
                "azblob:{}/{}/{}",
                get("endpoint"),
                get("container"),
                get("root")
            ),
            _ => format!(
                "{}:{}/{}/{}",
                self.kind.scheme(),
                get("endpoint"),
                get("bucket"),
                get("root")
            ),
        }
    }

    /// The endpoint and account part of [`RemoteConfig::location`]: two remotes with the same endpoint can
    /// copy server-side when they also share bucket and credentials.
    pub fn same_store(&self, other: &RemoteConfig) -> bool {
        self.kind.scheme() == other.kind.scheme() && self.options == other.options
    }

    /// Whether the store can copy its own objects on the server (or, on `fs`, locally). Not on Azure with a
    /// customer-provided key: the service reads a copy's source without the key (a source key needs API
    /// version 2026-02-06), so every such copy would fail; objects are sent instead.
    pub fn copies_on_server(&self) -> bool {
        !(self.kind == RemoteKind::Azblob
            && self
                .options
                .get("encryption_key")
                .is_some_and(|k| !k.is_empty()))
    }

    /// The largest object one server-side copy request copies here; a larger one is copied in parts on the
    /// server (S3 UploadPartCopy, Azure Put Block From URL), resumably. S3's CopyObject takes at most 5 GiB;
    /// Azure's synchronous copy at most 256 MiB (its asynchronous Copy Blob may still be running when it
    /// answers, so it is not trusted with more). `None` on kinds whose copies have no such limit here (`fs`
    /// copies locally; GCS rewrites on the server).
    pub fn single_copy_limit(&self) -> Option<u64> {
        let service = match self.kind {
            RemoteKind::S3 | RemoteKind::Minio => 5 << 30,
            RemoteKind::Azblob => 256 << 20,
            RemoteKind::Fs | RemoteKind::Gcs => return None,
        };
        Some(
            self.settings
                .max_server_copy
                .unwrap_or(service)
                .min(service),
        )
    }
}

/// All remotes of one file.
#[derive(Debug, Clone)]
pub struct RemotesConfig {
    /// Where they came from.
    pub source: ConfigSource,
    // A remote that fails to resolve (say, an unset `${VAR}`) is an error only when it is used, so one
    // broken remote does not stop the others.
    remotes: BTreeMap<String, Result<RemoteConfig, String>>,
    // rclone's and mc's remotes whose names the file does not use: the origin, and the remote or its problem.
    foreign: foreign::Found,
}

impl RemotesConfig {
    /// Finds and loads the remotes file: `explicit` (from `--config`), then `$MBX_CONFIG`, then
    /// `./remotes.toml`, then `$XDG_CONFIG_HOME/mbx/remotes.toml` (or `~/.config/mbx/remotes.toml`); when
    /// none exists, the built-in example.
    ///
    /// rclone's remotes and mc's aliases are added under their names, unless the file has the name or
    /// `MBX_NO_FOREIGN_REMOTES=1` (see [`ForeignRemote`]).
    pub fn discover(explicit: Option<&Path>) -> Result<RemotesConfig, ConfigError> {
        let environment = env::process_env();
        let config = Self::discover_own(explicit, &environment)?;
        Ok(config.with_foreign(foreign::discover(&environment)))
    }

    /// Adds the foreign remotes whose names the remotes file does not use.
    fn with_foreign(mut self, found: foreign::Found) -> RemotesConfig {
        self.foreign = found
            .into_iter()
            .filter(|(name, _)| !self.remotes.contains_key(name))
            .collect();
        self
    }

    fn discover_own(
        explicit: Option<&Path>,
        environment: &BTreeMap<String, String>,
    ) -> Result<RemotesConfig, ConfigError> {
        match find_config_file(explicit) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Self::parse(&text, ConfigSource::File(path), environment)
            }
            None => Self::parse(EMBEDDED_EXAMPLE, ConfigSource::Embedded, environment),
        }
    }

    /// Parses a remotes file's text. `environment` supplies `${VAR}` values and `MBX_REMOTE_*` overrides.
    pub fn parse(
        text: &str,
        source: ConfigSource,
        environment: &BTreeMap<String, String>,
    ) -> Result<RemotesConfig, ConfigError> {
        let parse_err = |message: String| ConfigError::Parse {
            path: source.to_string(),
            message,
        };
        // Never the error's Display: it quotes the offending line, and that line may hold a secret.
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| parse_err(toml_error(text, &e)))?;
        for key in table.keys() {
            if key != "remotes" {
                return Err(parse_err(format!(
                    "unknown top-level key '{}': remotes are declared as [remotes.NAME]",
                    shown(key)
                )));
            }
        }
        let mut remotes = BTreeMap::new();
        if let Some(value) = table.get("remotes") {
            let toml::Value::Table(entries) = value else {
                return Err(parse_err(
                    "'remotes' must be a table of [remotes.NAME] sections".into(),
                ));
            };
            for (name, body) in entries {
                check_remote_name(name).map_err(parse_err)?;
                let toml::Value::Table(body) = body else {
                    return Err(parse_err(format!("remotes.{name} must be a table")));
                };
                let remote = resolve_remote(name, body, environment).map_err(|e| match e {
                    Problem {
                        key: Some(key),
                        message,
                    } => match key_position(text, name, &key) {
                        Some(line) => format!("line {line}, key '{key}': {message}"),
                        None => format!("key '{key}': {message}"),
                    },
                    Problem { key: None, message } => message,
                });
                remotes.insert(name.clone(), remote);
            }
        }
        Ok(RemotesConfig {
            source,
            remotes,
            foreign: BTreeMap::new(),
        })
    }

    /// The remote with this name, from the remotes file (see [`RemotesConfig::locate`] for rclone's and mc's).
    pub fn get(&self, name: &str) -> Result<&RemoteConfig, ConfigError> {
        if let Some((origin, _)) = self.foreign.get(name) {
            return Err(ConfigError::Remote {
                remote: name.to_string(),
                message: format!(
                    "comes from {origin}, which names no bucket: it is usable as {name}:BUCKET/PATH in \
                     transfer, ls, verify and check; for Milvus backups declare it in the remotes file"
                ),
            });
        }
        let entry = self.remotes.get(name).ok_or_else(|| self.unknown(name))?;
        entry.as_ref().map_err(|message| ConfigError::Remote {
            remote: name.to_string(),
            message: message.clone(),
        })
    }

    /// The remote for `NAME:PATH`, and the path within it. For a remote of rclone or mc, the bucket is the
    /// path's first part, as in those tools (`minio:bucket/dir` is `dir` in bucket `bucket`).
    pub fn locate(&self, name: &str, path: &str) -> Result<(RemoteConfig, String), ConfigError> {
        let Some((_, found)) = self.foreign.get(name) else {
            return Ok((self.get(name)?.clone(), path.to_string()));
        };
        found
            .as_ref()
            .map_err(String::clone)
            .and_then(|f| f.at(name, path))
            .map_err(|message| ConfigError::Remote {
                remote: name.to_string(),
                message,
            })
    }

    fn unknown(&self, name: &str) -> ConfigError {
        let known: Vec<&str> = self
            .remotes
            .keys()
            .chain(self.foreign.keys())
            .map(String::as_str)
            .collect();
        ConfigError::UnknownRemote {
            name: name.to_string(),
            source_desc: self.source.to_string(),
            known: if known.is_empty() {
                "(none)".into()
            } else {
                known.join(", ")
            },
        }
    }

    /// The remotes of rclone's and mc's configs by name: where each came from, and it or its problem.
    pub fn foreign(&self) -> impl Iterator<Item = (&str, &str, Result<&ForeignRemote, &str>)> {
        self.foreign.iter().map(|(name, (origin, r))| {
            (
                name.as_str(),
                origin.as_str(),
                r.as_ref().map_err(String::as_str),
            )
        })
    }

    /// Every remote by name, each resolved or with the reason it could not be.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Result<&RemoteConfig, &str>)> {
        self.remotes
            .iter()
            .map(|(name, r)| (name.as_str(), r.as_ref().map_err(String::as_str)))
    }
}

fn find_config_file(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("MBX_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let local = PathBuf::from("remotes.toml");
    if local.is_file() {
        return Some(local);
    }
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let user = config_home.join("mbx").join("remotes.toml");
    user.is_file().then_some(user)
}

/// What is wrong with one remote, and the key at fault when there is one.
struct Problem {
    key: Option<String>,
    message: String,
}

impl Problem {
    fn of(key: &str) -> impl Fn(String) -> Problem + '_ {
        move |message| Problem {
            key: Some(key.to_string()),
            message,
        }
    }
}

/// A value as written: the file's values keep their TOML type; an environment override is always text.
enum Value {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl Value {
    /// The type, for messages (never the value: it may be a secret).
    fn type_name(&self) -> &'static str {
        match self {
            Value::Text(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
        }
    }

    fn as_json(&self) -> serde_json::Value {
        match self {
            Value::Text(s) => serde_json::Value::from(s.as_str()),
            Value::Integer(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Value::from(*f),
            Value::Bool(b) => serde_json::Value::from(*b),
        }
    }

    fn into_text(self) -> String {
        match self {
            Value::Text(s) => s,
            Value::Integer(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
        }
    }
}

fn resolve_remote(
    name: &str,
    body: &toml::Table,
    environment: &BTreeMap<String, String>,
) -> Result<RemoteConfig, Problem> {
    let mut values: BTreeMap<String, Value> = BTreeMap::new();
    let mut milvus_table = None;
    for (key, value) in body {
        let at = Problem::of(key);
        let value = match value {
            toml::Value::Table(t) if key == "milvus" => {
                milvus_table = Some(t.clone());
                continue;
            }
            _ if key == "milvus" => {
                return Err(at(format!("must be a table: [remotes.{name}.milvus]")));
            }
            toml::Value::String(s) => Value::Text(env::expand(s, environment).map_err(at)?),
            toml::Value::Integer(i) => Value::Integer(*i),
            toml::Value::Float(f) => Value::Float(*f),
            toml::Value::Boolean(b) => Value::Bool(*b),
            _ => return Err(at("must be a string, number or boolean".into())),
        };
        values.insert(key.clone(), value);
    }
    for (key, value) in env::overrides_for(name, environment) {
        match key.strip_prefix("milvus_") {
            Some(milvus_key) => {
                milvus_table
                    .get_or_insert_with(toml::Table::new)
                    .insert(milvus_key.to_string(), toml::Value::String(value));
            }
            None => {
                values.insert(key, Value::Text(value));
            }
        }
    }
    let kind = match values.remove("type") {
        Some(Value::Text(t)) => RemoteKind::parse(&t).map_err(Problem::of("type"))?,
        Some(_) => return Err(Problem::of("type")("must be a string".into())),
        None => {
            return Err(Problem {
                key: None,
                message: "missing key 'type' (one of: s3, minio, azblob, gcs, fs)".into(),
            });
        }
    };
    let settings = take_settings(&mut values)?;
    let mut options = BTreeMap::new();
    for (key, value) in values {
        kind.check_known(&key)
            .map_err(|message| Problem { key: None, message })?;
        if !matches!(value, Value::Text(_)) && !kind.accepts_typed(&key, value.as_json()) {
            return Err(Problem {
                message: format!("must be a string (in quotes), not {}", value.type_name()),
                key: Some(key),
            });
        }
        options.insert(key, value.into_text());
    }
    let options = kind
        .resolve_options(options, &settings)
        .map_err(|message| Problem { key: None, message })?;
    let milvus = milvus_table
        .map(|t| MilvusSettings::from_table(&t, environment))
        .transpose()
        .map_err(|message| Problem { key: None, message })?;
    Ok(RemoteConfig {
        name: name.to_string(),
        kind,
        options,
        settings,
        milvus,
    })
}

fn take_settings(values: &mut BTreeMap<String, Value>) -> Result<RemoteSettings, Problem> {
    let mut s = RemoteSettings::default();
    let mut take = |key: &'static str| values.remove(key).map(|v| (v, Problem::of(key)));
    if let Some((v, at)) = take("retries") {
        s.retries = whole_number(v).map_err(at)?;
    }
    if let Some((v, at)) = take("timeout") {
        s.timeout = positive_duration(v).map_err(at)?;
    }
    if let Some((v, at)) = take("io_timeout") {
        s.io_timeout = positive_duration(v).map_err(at)?;
    }
    if let Some((v, at)) = take("max_requests") {
        s.max_requests = whole_number(v)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| at("must be a positive whole number".into()))?;
        s.requests_follow_round_trip = false;
    }
    if let Some((v, at)) = take("bwlimit") {
        // 0 is no limit, as in rclone.
        s.bwlimit = Some(size(v).map_err(&at)?).filter(|bw| *bw > 0);
    }
    if let Some((v, at)) = take("max_server_copy") {
        let limit = size(v).map_err(&at)?;
        if limit < 1 << 20 {
            return Err(at("must be at least 1MiB".into()));
        }
        s.max_server_copy = Some(limit);
    }
    if let Some((v, at)) = take("credential_lookup") {
        s.credential_lookup = boolean(v).map_err(at)?;
    }
    if let Some((v, at)) = take("resumable_upload") {
        s.resumable_upload = boolean(v).map_err(at)?;
    }
    Ok(s)
}

/// A byte size: a TOML integer, or text such as "10MiB" (see [`parse_size`]).
fn size(v: Value) -> Result<u64, String> {
    match v {
        Value::Integer(i) => u64::try_from(i).map_err(|_| "must not be negative".to_string()),
        Value::Text(t) => parse_size(&t),
        other => Err(format!(
            "must be a size such as \"10MiB\", not {}",
            other.type_name()
        )),
    }
}

/// A count: a TOML integer, or digits (from the environment).
fn whole_number(v: Value) -> Result<usize, String> {
    let n = match &v {
        Value::Integer(i) => usize::try_from(*i).ok(),
        Value::Text(t) => t.trim().parse().ok(),
        _ => None,
    };
    n.ok_or_else(|| match v {
        Value::Text(t) => format!("'{}' is not a whole number", shown(&t)),
        other => format!("must be a whole number, not {}", other.type_name()),
    })
}

/// A deadline: a duration string, or a number of seconds; zero would fail every request at once.
fn positive_duration(v: Value) -> Result<Duration, String> {
    let d = match v {
        Value::Text(t) => parse_duration(&t)?,
        Value::Integer(i) => {
            Duration::from_secs(u64::try_from(i).map_err(|_| "must not be negative".to_string())?)
        }
        other => {
            return Err(format!(
                "must be a duration such as \"30s\", not {}",
                other.type_name()
            ));
        }
    };
    if d.is_zero() {
        return Err("must be more than 0 (for example \"30s\")".into());
    }
    Ok(d)
}

/// A switch: a TOML boolean, or exactly `true`/`false` (from the environment). `yes`, `on` or `1` are
/// refused rather than guessed.
fn boolean(v: Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(b),
        Value::Text(t) if t == "true" => Ok(true),
        Value::Text(t) if t == "false" => Ok(false),
        Value::Text(t) => Err(format!(
            "'{}' is not a boolean: write true or false (without quotes)",
            shown(&t)
        )),
        other => Err(format!("must be true or false, not {}", other.type_name())),
    }
}

/// User input as echoed in messages: at most 80 characters, so that one over-long key or value cannot fill
/// the screen.
pub fn shown(input: &str) -> String {
    const MAX: usize = 80;
    match input.char_indices().nth(MAX) {
        None => input.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes)", &input[..cut], input.len()),
    }
}

/// A remote name must be addressable as `NAME:PATH` and as `MBX_REMOTE_<NAME>_<KEY>`.
fn check_remote_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "remote name '{}' cannot be used: a name is letters, digits, '_', '-' and '.' (it is written \
             before the ':' of NAME:PATH)",
            shown(name)
        ))
    }
}

/// A TOML error as line, column and what is wrong, with the remote and key of that line when they can be
/// told: never the line itself, which may hold a secret.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let what = shown(e.message().lines().next().unwrap_or("invalid TOML"));
    let Some(span) = e.span() else {
        return what;
    };
    let start = span.start.min(text.len());
    let before = text.get(..start).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    let mut context = Vec::new();
    let mut section = None;
    for l in text.lines().take(line) {
        if let Some(header) = section_header(l) {
            section = header;
        }
    }
    if let Some(remote) = section {
        context.push(format!("remote '{}'", shown(&remote)));
    }
    if let Some(key) = text.lines().nth(line - 1).and_then(line_key) {
        context.push(format!("key '{}'", shown(&key)));
    }
    if context.is_empty() {
        format!("line {line}, column {column}: {what}")
    } else {
        format!(
            "line {line}, column {column} ({}): {what}",
            context.join(", ")
        )
    }
}

/// For a `[remotes.NAME...]` header line, `Some(Some(NAME))`; `Some(None)` for another header; `None` for
/// a line that is not a header.
fn section_header(line: &str) -> Option<Option<String>> {
    let inner = line.trim().strip_prefix('[')?.trim_start_matches('[');
    let inner = inner.split(']').next()?.trim();
    let name = inner.strip_prefix("remotes.").map(|rest| {
        rest.split('.')
            .next()
            .unwrap_or("")
            .trim_matches('"')
            .to_string()
    });
    Some(name)
}

/// The bare key a `key = value` line assigns, if it looks like one.
fn line_key(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    plain.then(|| key.to_string())
}

/// The line where remote `name` assigns `key` in the file, if it does (an override comes from the
/// environment instead).
fn key_position(text: &str, name: &str, key: &str) -> Option<usize> {
    let mut section = None;
    for (i, l) in text.lines().enumerate() {
        if let Some(header) = section_header(l) {
            section = header;
        } else if section.as_deref() == Some(name) && line_key(l).as_deref() == Some(key) {
            return Some(i + 1);
        }
    }
    None
}

/// Parses a duration: a number of seconds, or a number with `ms`, `s`, `m` or `h`.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    let (num, unit) = split_unit(v);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{v}' is not a duration (e.g. 30s, 500ms, 2m)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("'{v}': unknown unit '{unit}' (use ms, s, m or h)")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("'{v}' is not a duration"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("'{v}' is too long a duration"))
}

/// Parses a byte size: `1048576`, `64KiB`, `16MiB`, `1GiB`, `10M` (binary units; `B` optional).
pub fn parse_size(v: &str) -> Result<u64, String> {
    let v = v.trim();
    let (num, unit) = split_unit(v);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{v}' is not a size (e.g. 16MiB, 512KiB, 1GiB)"))?;
    let mult: u64 = match unit
        .to_ascii_lowercase()
        .trim_end_matches('b')
        .trim_end_matches('i')
    {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("'{v}': unknown unit '{unit}' (use KiB, MiB, GiB)")),
    };
    if !(n.is_finite() && n >= 0.0) {
        return Err(format!("'{v}' is not a size"));
    }
    let bytes = n * mult as f64;
    // u64::MAX as f64 is 2^64, the first size that does not fit (a cast would saturate silently).
    if bytes >= u64::MAX as f64 {
        return Err(format!("'{v}' is too large a size (at most 16EiB)"));
    }
    Ok(bytes as u64)
}

fn split_unit(v: &str) -> (&str, &str) {
    let idx = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    (v[..idx].trim(), v[idx..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_remotes_take_the_bucket_from_the_path_and_lose_name_clashes() {
        let own = RemotesConfig::parse(
            "[remotes.disk]\ntype = \"fs\"\nroot = \"/tmp\"\n",
            ConfigSource::Embedded,
            &BTreeMap::new(),
        )
        .unwrap();
        let rclone = "[disk]\ntype = s3\nprovider = Minio\nendpoint = http://h:1\n\
                      [rc]\ntype = s3\nprovider = Minio\nendpoint = http://h:9000\n";
        let found = foreign::parse_rclone(rclone, "rclone f")
            .unwrap()
            .into_iter()
            .map(|(n, r)| (n, ("rclone f".to_string(), r)))
            .collect();
        let config = own.with_foreign(found);
        assert_eq!(config.get("disk").unwrap().kind, RemoteKind::Fs);
        assert_eq!(
            config.foreign().map(|(n, _, _)| n).collect::<Vec<_>>(),
            ["rc"]
        );
        let (r, rest) = config.locate("rc", "b/x/y").unwrap();
        assert_eq!((r.options["bucket"].as_str(), rest.as_str()), ("b", "x/y"));
        let (r, rest) = config.locate("disk", "x").unwrap();
        assert_eq!((r.kind, rest.as_str()), (RemoteKind::Fs, "x"));
        let e = config.get("rc").unwrap_err().to_string();
        assert!(
            e.contains("rc:BUCKET/PATH") && e.contains("rclone f"),
            "{e}"
        );
        let e = config.get("nope").unwrap_err().to_string();
        assert!(e.contains("disk, rc"), "{e}");
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(text: &str, e: &[(&str, &str)]) -> Result<RemotesConfig, ConfigError> {
        RemotesConfig::parse(text, ConfigSource::Embedded, &env(e))
    }

    #[test]
    fn minio_gets_path_style_region_and_no_credential_lookup() {
        let c = parse(
            r#"[remotes.a]
type = "minio"
endpoint = "http://127.0.0.1:9000"
bucket = "bucket-a"
access_key_id = "ak"
secret_access_key = "${SK}"
"#,
            &[("SK", "s3cr3t")],
        )
        .unwrap();
        let a = c.get("a").unwrap();
        assert_eq!(a.kind, RemoteKind::Minio);
        assert_eq!(a.options["region"], "us-east-1");
        assert_eq!(a.options["secret_access_key"], "s3cr3t");
        assert_eq!(a.options["disable_config_load"], "true");
        assert_eq!(a.options["disable_ec2_metadata"], "true");
        assert_eq!(a.redacted()["secret_access_key"], "***");
        assert!(!format!("{a:?}").contains("s3cr3t"));
    }

    #[test]
    fn env_override_wins_over_file() {
        let c = parse(
            "[remotes.my-a]\ntype = \"fs\"\nroot = \"/tmp/x\"\n",
            &[("MBX_REMOTE_MY_A_ROOT", "/tmp/y")],
        )
        .unwrap();
        assert_eq!(c.get("my-a").unwrap().options["root"], "/tmp/y");
    }

    /// `max_requests` unset follows the round trip from 64; set in the file or the environment, it is fixed.
    #[test]
    fn max_requests_set_anywhere_is_fixed() {
        let file = "[remotes.a]\ntype = \"fs\"\nroot = \"/tmp/x\"\n";
        let settings = |text: &str, vars: &[(&str, &str)]| {
            let s = parse(text, vars)
                .unwrap()
                .get("a")
                .unwrap()
                .settings
                .clone();
            (s.max_requests, s.requests_follow_round_trip)
        };
        assert_eq!(settings(file, &[]), (64, true));
        assert_eq!(
            settings(&format!("{file}max_requests = 16\n"), &[]),
            (16, false)
        );
        assert_eq!(
            settings(file, &[("MBX_REMOTE_A_MAX_REQUESTS", "128")]),
            (128, false)
        );
    }

    #[test]
    fn errors_name_the_remote_and_key() {
        let get_err = |text: &str| parse(text, &[]).unwrap().get("a").unwrap_err().to_string();
        let e = get_err("[remotes.a]\ntype = \"s3\"\nbucket = \"b\"\nbukcet = \"x\"\n");
        assert!(e.contains("remote 'a'") && e.contains("bukcet"), "{e}");
        let e = get_err("[remotes.a]\ntype = \"s3\"\n");
        assert!(e.contains("remote 'a'") && e.contains("bucket"), "{e}");
        let e = get_err("[remotes.a]\ntype = \"ftp\"\n");
        assert!(e.contains("ftp"), "{e}");
        let e = get_err("[remotes.a]\ntype = \"fs\"\nroot = \"${NOPE}\"\n");
        assert!(e.contains("NOPE") && e.contains("root"), "{e}");
        let e = get_err("[remotes.a]\ntype = \"fs\"\nroot = \"/x\"\ntimeout = \"soon\"\n");
        assert!(e.contains("timeout"), "{e}");
        let e = parse("[remote.a]\ntype = \"fs\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("top-level key 'remote'"), "{e}");
    }

    /// A remotes file with a syntax error in a secret's line: the message gives the place, never the line.
    #[test]
    fn toml_errors_name_the_place_not_the_line() {
        for (text, line) in [
            (
                "[remotes.a]\ntype = \"minio\"\nsecret_access_key = \"S3CR3T-unterminated\n",
                3,
            ),
            (
                "[remotes.a]\ntype = \"minio\"\nsecret_access_key = \"S3CR3T\\q-bad-escape\"\n",
                3,
            ),
            (
                "[remotes.a]\ntype = \"fs\"\n\n[remotes.b]\nsecret_access_key = S3CR3T-unquoted\n",
                5,
            ),
        ] {
            let e = parse(text, &[]).unwrap_err().to_string();
            assert!(!e.contains("S3CR3T"), "{e}");
            assert!(e.contains(&format!("line {line}, column")), "{e}");
            assert!(e.contains("key 'secret_access_key'"), "{e}");
            assert!(e.contains("remote 'a'") || e.contains("remote 'b'"), "{e}");
        }
    }

    #[test]
    fn interpolation_errors_do_not_quote_the_value() {
        let c = parse(
            "[remotes.a]\ntype = \"minio\"\nendpoint = \"http://x\"\nbucket = \"b\"\n\
             secret_access_key = \"S3CR3T${x\"\n",
            &[],
        )
        .unwrap();
        let e = c.get("a").unwrap_err().to_string();
        assert!(!e.contains("S3CR3T"), "{e}");
        assert!(
            e.contains("remote 'a'") && e.contains("line 5, key 'secret_access_key'"),
            "{e}"
        );
    }

    /// Redaction follows what an option is, for every kind: SSE-C keys, external ids, SAS tokens, GCS
    /// credentials. A name that merely contains "key" or "token" is not the test.
    #[test]
    fn every_secret_option_is_redacted() {
        let c = parse(
            r#"[remotes.s]
type = "s3"
bucket = "b"
secret_access_key = "V1"
session_token = "V2"
server_side_encryption_customer_key = "VjNWM1YzVjNWM1YzVjNWM1YzVjNWM1YzVjNWM1YzVjM="
external_id = "V4"
access_key_id = "public-id"
[remotes.z]
type = "azblob"
container = "c"
account_key = "V5"
sas_token = "V6"
encryption_key = "VjdWN1Y3VjdWN1Y3VjdWN1Y3VjdWN1Y3VjdWN1Y3Vjc="
[remotes.g]
type = "gcs"
bucket = "b"
credential = "V8"
token = "V9"
[remotes.m]
type = "fs"
root = "/x"
[remotes.m.milvus]
address = "h:1"
password = "V0"
"#,
            &[],
        )
        .unwrap();
        let mut printed = String::new();
        for (_, r) in c.iter() {
            let r = r.unwrap();
            printed += &format!("{:?} {:?} {:?}", r.redacted(), r, r.milvus);
        }
        for i in 0..10 {
            assert!(
                !printed.contains(&format!("V{i}")),
                "V{i} printed: {printed}"
            );
        }
        // The customer-provided keys (base64 of "V3V3..." and "V7V7...") and the digests mbx derives from them.
        for secret in ["VjNWM1YzVjNW", "VjdWN1Y3VjdW", "B1dARlu+UYDl"] {
            assert!(!printed.contains(secret), "{secret} printed: {printed}");
        }
        let z = c.get("z").unwrap();
        assert!(z.options.contains_key("encryption_key_sha256"));
        assert!(
            !printed.contains(&z.options["encryption_key_sha256"][..12]),
            "{printed}"
        );
        assert!(printed.contains("public-id"), "{printed}");
    }

    #[test]
    fn unusable_remote_names_are_refused() {
        for name in ["\"a:b\"", "\"\"", "\"a b\"", "\"x/y\""] {
            let e = parse(
                &format!("[remotes.{name}]\ntype = \"fs\"\nroot = \"/x\"\n"),
                &[],
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("cannot be used"), "{name}: {e}");
        }
        assert!(parse("[remotes.\"a-b_c.d\"]\ntype = \"fs\"\nroot = \"/x\"\n", &[]).is_ok());
    }

    #[test]
    fn values_of_the_wrong_type_are_refused() {
        let get_err = |body: &str| {
            parse(&format!("[remotes.a]\n{body}\n"), &[])
                .unwrap()
                .get("a")
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        for (body, key) in [
            ("type = \"fs\"\nroot = 5", "root"),
            (
                "type = \"fs\"\nroot = \"/x\"\ncredential_lookup = \"yes\"",
                "credential_lookup",
            ),
            (
                "type = \"fs\"\nroot = \"/x\"\nresumable_upload = 1",
                "resumable_upload",
            ),
            ("type = \"fs\"\nroot = \"/x\"\ntimeout = \"0s\"", "timeout"),
            ("type = \"fs\"\nroot = \"/x\"\nio_timeout = 0", "io_timeout"),
            ("type = \"fs\"\nroot = \"/x\"\nretries = true", "retries"),
            (
                "type = \"fs\"\nroot = \"/x\"\nmax_requests = 0",
                "max_requests",
            ),
            ("type = 3\nroot = \"/x\"", "type"),
        ] {
            let e = get_err(body);
            assert!(e.contains(&format!("key '{key}'")), "{body}: {e}");
        }
        let ok = parse(
            "[remotes.a]\ntype = \"s3\"\nbucket = \"b\"\nskip_signature = true\nretries = 2\n\
             credential_lookup = true\ntimeout = 5\n",
            &[("MBX_REMOTE_A_RESUMABLE_UPLOAD", "false")],
        )
        .unwrap();
        let a = ok.get("a").unwrap();
        assert_eq!(a.options["skip_signature"], "true");
        assert_eq!(a.settings.retries, 2);
        assert_eq!(a.settings.timeout, Duration::from_secs(5));
        assert!(a.settings.credential_lookup);
    }

    #[test]
    fn echoed_input_is_shortened() {
        let long = "k".repeat(5000);
        let e = parse(
            &format!("[remotes.a]\ntype = \"fs\"\nroot = \"/x\"\n{long} = \"v\"\n"),
            &[],
        )
        .unwrap()
        .get("a")
        .map(|_| ())
        .unwrap_err()
        .to_string();
        assert!(e.len() < 2000, "{} bytes", e.len());
        assert!(e.contains("(5000 bytes)"), "{e}");
    }

    #[test]
    fn unknown_remote_lists_known_ones() {
        let c = parse(
            "[remotes.alpha]\ntype = \"fs\"\nroot = \"/x\"\n[remotes.beta]\ntype = \"fs\"\nroot = \"/y\"\n",
            &[],
        )
        .unwrap();
        let e = c.get("gamma").unwrap_err().to_string();
        assert!(e.contains("'gamma'") && e.contains("alpha, beta"), "{e}");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("16MiB").unwrap(), 16 << 20);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("18446744073709551616").is_err());
        assert!(parse_size("16777216TiB").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("2d").is_err());
    }

    #[test]
    fn embedded_example_parses() {
        let c = RemotesConfig::parse(EMBEDDED_EXAMPLE, ConfigSource::Embedded, &env(&[])).unwrap();
        assert!(c.get("local_a").is_ok());
        assert!(c.get("local_b").is_ok());
    }
}
