//! The remotes file (`remotes.toml`), resolved once into plain structs.
//!
//! A remote is `[remotes.NAME]` with `type = "s3" | "minio" | "azblob" | "gcs" | "fs"`, OpenDAL's own option
//! names for that service, and a few mbx keys (see [`MBX_KEYS`]). Values may reference the environment as
//! `${VAR}`, and `MBX_REMOTE_<NAME>_<KEY>` overrides any key (rclone's convention), so secrets never have to
//! be written in the file.

mod env;
mod kind;
mod milvus;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use kind::RemoteKind;
pub use milvus::{BackupYaml, MilvusSettings};

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
    /// Most requests in flight against this remote at once.
    pub max_requests: usize,
    /// Bandwidth limit in bytes per second, if any.
    pub bwlimit: Option<u64>,
    /// Let the SDK look for credentials outside the file (config files, instance metadata).
    pub credential_lookup: bool,
    /// gcs only: upload through a resumable upload session (sequential chunks) instead of XML multipart,
    /// for servers without XML multipart (fake-gcs-server).
    pub resumable_upload: bool,
}

impl Default for RemoteSettings {
    fn default() -> Self {
        RemoteSettings {
            retries: 5,
            timeout: Duration::from_secs(60),
            io_timeout: Duration::from_secs(30),
            max_requests: 64,
            bwlimit: None,
            credential_lookup: false,
            resumable_upload: false,
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

/// True for option names whose values are secrets.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "secret",
        "password",
        "token",
        "credential",
        "account_key",
        "sas",
        "encryption_key",
    ]
    .iter()
    .any(|s| k.contains(s))
}

impl RemoteConfig {
    /// The options with every secret replaced by `***`, safe to print.
    pub fn redacted(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .map(|(k, v)| {
                let v = if is_secret_key(k) {
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
}

/// All remotes of one file.
#[derive(Debug, Clone)]
pub struct RemotesConfig {
    /// Where they came from.
    pub source: ConfigSource,
    // A remote that fails to resolve (say, an unset `${VAR}`) is an error only when it is used, so one
    // broken remote does not stop the others.
    remotes: BTreeMap<String, Result<RemoteConfig, String>>,
}

impl RemotesConfig {
    /// Finds and loads the remotes file: `explicit` (from `--config`), then `$MBX_CONFIG`, then
    /// `./remotes.toml`, then `$XDG_CONFIG_HOME/mbx/remotes.toml` (or `~/.config/mbx/remotes.toml`); when
    /// none exists, the built-in example.
    pub fn discover(explicit: Option<&Path>) -> Result<RemotesConfig, ConfigError> {
        match find_config_file(explicit) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Self::parse(&text, ConfigSource::File(path), &env::process_env())
            }
            None => Self::parse(
                EMBEDDED_EXAMPLE,
                ConfigSource::Embedded,
                &env::process_env(),
            ),
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
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| parse_err(e.to_string()))?;
        for key in table.keys() {
            if key != "remotes" {
                return Err(parse_err(format!(
                    "unknown top-level key '{key}': remotes are declared as [remotes.NAME]"
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
                let toml::Value::Table(body) = body else {
                    return Err(parse_err(format!("remotes.{name} must be a table")));
                };
                let remote = resolve_remote(name, body, environment).map_err(|e| match e {
                    ConfigError::Remote { message, .. } => message,
                    other => other.to_string(),
                });
                remotes.insert(name.clone(), remote);
            }
        }
        Ok(RemotesConfig { source, remotes })
    }

    /// The remote with this name.
    pub fn get(&self, name: &str) -> Result<&RemoteConfig, ConfigError> {
        let entry = self
            .remotes
            .get(name)
            .ok_or_else(|| ConfigError::UnknownRemote {
                name: name.to_string(),
                source_desc: self.source.to_string(),
                known: if self.remotes.is_empty() {
                    "(none)".into()
                } else {
                    self.remotes.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            })?;
        entry.as_ref().map_err(|message| ConfigError::Remote {
            remote: name.to_string(),
            message: message.clone(),
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

fn resolve_remote(
    name: &str,
    body: &toml::Table,
    environment: &BTreeMap<String, String>,
) -> Result<RemoteConfig, ConfigError> {
    let err = |message: String| ConfigError::Remote {
        remote: name.to_string(),
        message,
    };
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut milvus_table = None;
    for (key, value) in body {
        match value {
            toml::Value::Table(t) if key == "milvus" => milvus_table = Some(t.clone()),
            toml::Value::String(s) => {
                let expanded =
                    env::expand(s, environment).map_err(|e| err(format!("key '{key}': {e}")))?;
                values.insert(key.clone(), expanded);
            }
            toml::Value::Integer(i) => {
                values.insert(key.clone(), i.to_string());
            }
            toml::Value::Float(f) => {
                values.insert(key.clone(), f.to_string());
            }
            toml::Value::Boolean(b) => {
                values.insert(key.clone(), b.to_string());
            }
            _ => {
                return Err(err(format!(
                    "key '{key}' must be a string, number or boolean"
                )));
            }
        }
    }
    for (key, value) in env::overrides_for(name, environment) {
        match key.strip_prefix("milvus_") {
            Some(milvus_key) => {
                milvus_table
                    .get_or_insert_with(toml::Table::new)
                    .insert(milvus_key.to_string(), toml::Value::String(value));
            }
            None => {
                values.insert(key, value);
            }
        }
    }
    let type_name = values
        .remove("type")
        .ok_or_else(|| err("missing key 'type' (one of: s3, minio, azblob, gcs, fs)".into()))?;
    let kind = RemoteKind::parse(&type_name).map_err(err)?;
    let settings = take_settings(&mut values).map_err(err)?;
    let options = kind.resolve_options(values, &settings).map_err(err)?;
    let milvus = milvus_table
        .map(|t| MilvusSettings::from_table(&t, environment))
        .transpose()
        .map_err(err)?;
    Ok(RemoteConfig {
        name: name.to_string(),
        kind,
        options,
        settings,
        milvus,
    })
}

fn take_settings(values: &mut BTreeMap<String, String>) -> Result<RemoteSettings, String> {
    let mut s = RemoteSettings::default();
    if let Some(v) = values.remove("retries") {
        s.retries = v
            .parse()
            .map_err(|_| format!("key 'retries': '{v}' is not a whole number"))?;
    }
    if let Some(v) = values.remove("timeout") {
        s.timeout = parse_duration(&v).map_err(|e| format!("key 'timeout': {e}"))?;
    }
    if let Some(v) = values.remove("io_timeout") {
        s.io_timeout = parse_duration(&v).map_err(|e| format!("key 'io_timeout': {e}"))?;
    }
    if let Some(v) = values.remove("max_requests") {
        s.max_requests =
            v.parse().ok().filter(|n: &usize| *n > 0).ok_or_else(|| {
                format!("key 'max_requests': '{v}' is not a positive whole number")
            })?;
    }
    if let Some(v) = values.remove("bwlimit") {
        // 0 is no limit, as in rclone.
        s.bwlimit =
            Some(parse_size(&v).map_err(|e| format!("key 'bwlimit': {e}"))?).filter(|bw| *bw > 0);
    }
    if let Some(v) = values.remove("credential_lookup") {
        s.credential_lookup =
            parse_bool(&v).map_err(|e| format!("key 'credential_lookup': {e}"))?;
    }
    if let Some(v) = values.remove("resumable_upload") {
        s.resumable_upload = parse_bool(&v).map_err(|e| format!("key 'resumable_upload': {e}"))?;
    }
    Ok(s)
}

/// Parses `true`/`false` (and `1`/`0`, `yes`/`no`).
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("'{v}' is not true or false")),
    }
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
        assert!(e.contains("remote"), "{e}");
    }

    #[test]
    fn unknown_remote_lists_known_ones() {
        let c = parse("[remotes.a]\ntype = \"fs\"\nroot = \"/x\"\n", &[]).unwrap();
        let e = c.get("b").unwrap_err().to_string();
        assert!(e.contains("'b'") && e.contains("a"), "{e}");
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
