//! milvus-backup's `backup.yaml`, config v1 (`milvus:`, `minio:`, `backup:`) and v2 (`configVersion: v2`), read
//! into the remotes and Milvus settings mbx uses.
//!
//! Every key of milvus-backup's templates is listed in [`schema`], either read or ignored with the reason. Any
//! other key is refused by its path, so a typo (`minio.bucketNme`) is an error instead of a silent default that
//! points mbx at localhost. Keys match case-insensitively, as milvus-backup's config loader (viper) matches them.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::{MilvusSettings, RemoteConfig, RemoteKind, RemoteSettings};

/// What mbx does with a key of `backup.yaml`.
#[derive(Clone, Copy)]
enum Key {
    /// Read into the remotes or their Milvus settings (some values are refused there, by key).
    Read,
    /// Accepted and not used, for the reason given.
    Ignored(&'static str),
}
use Key::{Ignored, Read};

const LOGS: Key = Ignored("mbx logs to stderr (-v, --json)");
const SERVER: Key = Ignored("milvus-backup's HTTP server; mbx has none");
const CLOUD: Key = Ignored("Zilliz Cloud migration, which mbx does not do");
const ETCD: Key = Ignored("mbx reads collection metadata over gRPC, not from etcd");
const REPLICATE: Key = Ignored("the CDC replicate channel; mbx does not replicate");
const CONCURRENCY: Key = Ignored("mbx sets its concurrency with its own flags and remote settings");
const MULTIPART: Key = Ignored("mbx chooses its own multipart sizes");
const TEMP_FILES: Key = Ignored("mbx has no option to keep restore's temporary copies");

/// The v1 keys, from milvus-backup's v1 template (up to v0.5.16), including the v0.4 ones.
const V1_KEYS: &[(&str, Key)] = &[
    ("log.level", LOGS),
    ("log.console", LOGS),
    ("log.file.filename", LOGS),
    ("log.file.maxSize", LOGS),
    ("log.file.maxDays", LOGS),
    ("log.file.maxBackups", LOGS),
    ("http.enabled", SERVER),
    ("http.debugMode", SERVER),
    ("http.swaggerBasePath", SERVER),
    ("http.simpleResponse", SERVER),
    ("cloud.address", CLOUD),
    ("cloud.apikey", CLOUD),
    ("milvus.address", Read),
    ("milvus.port", Read),
    ("milvus.user", Read),
    ("milvus.password", Read),
    ("milvus.tlsMode", Read),
    ("milvus.caCertPath", Read),
    ("milvus.tlsCertPath", Read),
    ("milvus.serverName", Read),
    ("milvus.mtlsCertPath", Read),
    ("milvus.mtlsKeyPath", Read),
    (
        "milvus.authorizationEnabled",
        Ignored("mbx signs in whenever user is set"),
    ),
    ("milvus.rpcChannelName", REPLICATE),
    ("milvus.etcd.endpoints", ETCD),
    ("milvus.etcd.rootPath", ETCD),
    ("storage.storageType", Read),
    ("minio.storageType", Read),
    ("minio.cloudProvider", Read),
    ("minio.address", Read),
    ("minio.port", Read),
    ("minio.region", Read),
    ("minio.accessKeyID", Read),
    ("minio.secretAccessKey", Read),
    ("minio.token", Read),
    ("minio.gcpCredentialJSON", Read),
    ("minio.useSSL", Read),
    ("minio.useIAM", Read),
    (
        "minio.iamEndpoint",
        Ignored("used only with useIAM, which mbx refuses"),
    ),
    ("minio.bucketName", Read),
    ("minio.rootPath", Read),
    ("minio.backupStorageType", Read),
    ("minio.backupAddress", Read),
    ("minio.backupPort", Read),
    ("minio.backupRegion", Read),
    ("minio.backupAccessKeyID", Read),
    ("minio.backupSecretAccessKey", Read),
    ("minio.backupToken", Read),
    ("minio.backupGcpCredentialJSON", Read),
    ("minio.backupUseSSL", Read),
    ("minio.backupBucketName", Read),
    ("minio.backupRootPath", Read),
    ("minio.backupUseIAM", Read),
    (
        "minio.backupIamEndpoint",
        Ignored("used only with backupUseIAM, which mbx refuses"),
    ),
    (
        "minio.crossStorage",
        Ignored(
            "mbx always copies through itself when backups and Milvus are on different endpoints",
        ),
    ),
    ("minio.multipartCopyThresholdMiB", MULTIPART),
    ("backup.parallelism.copydata", CONCURRENCY),
    ("backup.parallelism.backupCollection", CONCURRENCY),
    ("backup.parallelism.backupSegment", CONCURRENCY),
    ("backup.parallelism.restoreCollection", CONCURRENCY),
    ("backup.parallelism.importJob", CONCURRENCY),
    ("backup.keepTempFiles", TEMP_FILES),
    ("backup.gcPause.enable", Read),
    ("backup.gcPause.address", Read),
    (
        "backup.gcPause.seconds",
        Ignored("mbx pauses garbage collection for the length of the copy"),
    ),
    (
        "backup.maxSegmentGroupSize",
        Ignored("only milvus-backup up to v0.4.3 grouped segments"),
    ),
];

/// The storage keys of config v2, under `milvus.storage.` and `backup.storage.`.
const V2_STORAGE_KEYS: &[&str] = &[
    "provider",
    "address",
    "port",
    "region",
    "useSSL",
    "accountName",
    "bucketName",
    "rootPath",
    "localPath",
    "auth.type",
    "auth.accessKeyID",
    "auth.secretAccessKey",
    "auth.sessionToken",
    "auth.accountKey",
    "auth.credentialsFile",
    "auth.endpoint",
];

/// The v2 keys other than storage, from milvus-backup's HEAD template.
const V2_KEYS: &[(&str, Key)] = &[
    ("configVersion", Read),
    ("log.level", LOGS),
    ("log.console", LOGS),
    ("log.file.path", LOGS),
    ("log.file.maxSizeMiB", LOGS),
    ("log.file.maxDays", LOGS),
    ("log.file.maxBackups", LOGS),
    ("server.debugMode", SERVER),
    ("server.swaggerBasePath", SERVER),
    ("milvus.user", Read),
    ("milvus.password", Read),
    ("milvus.grpc.address", Read),
    ("milvus.grpc.port", Read),
    ("milvus.grpc.tlsMode", Read),
    ("milvus.grpc.caCertPath", Read),
    ("milvus.grpc.serverName", Read),
    ("milvus.grpc.mtlsCertPath", Read),
    ("milvus.grpc.mtlsKeyPath", Read),
    (
        "milvus.rest.endpoint",
        Ignored("mbx talks to Milvus over gRPC only"),
    ),
    ("milvus.management.endpoint", Read),
    ("milvus.replicate.rpcChannelName", REPLICATE),
    ("milvus.etcd.endpoints", ETCD),
    ("milvus.etcd.rootPath", ETCD),
    (
        "backup.storage.milvusAddress",
        Ignored("used for snapshot-format URIs; mbx writes the binlog format"),
    ),
    (
        "backup.storage.milvusPort",
        Ignored("used for snapshot-format URIs; mbx writes the binlog format"),
    ),
    ("backup.concurrency.collections", CONCURRENCY),
    ("backup.concurrency.segments", CONCURRENCY),
    ("backup.pauseGC", Read),
    ("restore.concurrency.collections", CONCURRENCY),
    ("restore.concurrency.importJobs", CONCURRENCY),
    ("restore.maxSegmentsPerImportJob", CONCURRENCY),
    ("restore.keepTempFiles", TEMP_FILES),
    (
        "transfer.mode",
        Ignored("mbx always streams between endpoints and copies server-side within one"),
    ),
    ("transfer.concurrency", CONCURRENCY),
    ("transfer.multipartCopyThresholdMiB", MULTIPART),
    ("zillizCloud.endpoint", CLOUD),
    ("zillizCloud.apiKey", CLOUD),
];

/// The keys of one config version, with what mbx does with each.
fn schema(v2: bool) -> Vec<(String, Key)> {
    if !v2 {
        return V1_KEYS.iter().map(|(k, u)| (k.to_string(), *u)).collect();
    }
    let mut keys: Vec<(String, Key)> = V2_KEYS.iter().map(|(k, u)| (k.to_string(), *u)).collect();
    for side in ["milvus.storage", "backup.storage"] {
        keys.extend(
            V2_STORAGE_KEYS
                .iter()
                .map(|k| (format!("{side}.{k}"), Read)),
        );
    }
    keys
}

/// The values of a `backup.yaml`, by their canonical key path (`minio.bucketName`).
#[derive(Debug)]
pub struct BackupYaml {
    v2: bool,
    values: BTreeMap<String, Value>,
}

/// One side's object storage: Milvus's own, or where the backups go.
#[derive(Clone)]
struct Storage {
    /// The key the provider came from, for messages.
    provider_key: String,
    provider: String,
    address: String,
    port: String,
    ssl: bool,
    region: Option<String>,
    access_key: Option<String>,
    secret_key: Option<String>,
    token: Option<String>,
    bucket: String,
    root: String,
}

impl Default for Storage {
    /// milvus-backup's defaults: MinIO at `localhost:9000`, bucket `a-bucket`.
    fn default() -> Storage {
        Storage {
            provider_key: "minio.storageType".into(),
            provider: "minio".into(),
            address: "localhost".into(),
            port: "9000".into(),
            ssl: false,
            region: None,
            access_key: None,
            secret_key: None,
            token: None,
            bucket: "a-bucket".into(),
            root: "files".into(),
        }
    }
}

impl Storage {
    /// True when both sides are one endpoint reached with the same credentials.
    fn same_endpoint(&self, other: &Storage) -> bool {
        (
            &self.provider,
            &self.address,
            &self.port,
            self.ssl,
            &self.region,
            &self.access_key,
            &self.secret_key,
            &self.token,
        ) == (
            &other.provider,
            &other.address,
            &other.port,
            other.ssl,
            &other.region,
            &other.access_key,
            &other.secret_key,
            &other.token,
        )
    }

    fn remote(&self, name: &str) -> Result<RemoteConfig, String> {
        if !matches!(self.provider.as_str(), "minio" | "s3" | "aws") {
            return Err(format!(
                "backup.yaml: key '{}' is '{}', which --backup-yaml does not support (minio, s3 and aws are); \
                 declare the remote in remotes.toml instead (docs/remotes.md)",
                self.provider_key, self.provider
            ));
        }
        let scheme = if self.ssl { "https" } else { "http" };
        let mut opts = BTreeMap::new();
        opts.insert(
            "endpoint".into(),
            format!("{scheme}://{}:{}", self.address, self.port),
        );
        opts.insert("bucket".into(), self.bucket.clone());
        let optional = [
            ("region", &self.region),
            ("access_key_id", &self.access_key),
            ("secret_access_key", &self.secret_key),
            ("session_token", &self.token),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                opts.insert(key.into(), v.clone());
            }
        }
        let settings = RemoteSettings::default();
        let options = RemoteKind::Minio.resolve_options(opts, &settings)?;
        Ok(RemoteConfig {
            name: name.to_string(),
            kind: RemoteKind::Minio,
            options,
            settings,
            milvus: None,
        })
    }
}

impl BackupYaml {
    /// Parses the text of a `backup.yaml`, refusing keys milvus-backup does not have.
    pub fn parse(text: &str) -> Result<BackupYaml, String> {
        // serde_yaml's own messages name a position, never a value, so no secret is quoted.
        let doc: Value = serde_yaml::from_str(text).map_err(|e| format!("backup.yaml: {e}"))?;
        let root = match doc {
            Value::Mapping(m) => m,
            Value::Null => serde_yaml::Mapping::new(),
            _ => {
                return Err(
                    "backup.yaml: the file must be a mapping of sections (milvus:, minio:, …)"
                        .into(),
                );
            }
        };
        let version = root
            .iter()
            .find(|(k, _)| {
                k.as_str()
                    .is_some_and(|k| k.eq_ignore_ascii_case("configVersion"))
            })
            .map(|(_, v)| v);
        let v2 = match version.and_then(Value::as_str) {
            None if version.is_none() => false,
            Some(v) if v.eq_ignore_ascii_case("v1") => false,
            Some(v) if v.eq_ignore_ascii_case("v2") => true,
            _ => return Err("backup.yaml: key 'configVersion' must be v1 or v2".into()),
        };
        let keys = schema(v2);
        let mut values = BTreeMap::new();
        walk("", &root, &keys, v2, &mut values)?;
        Ok(BackupYaml { v2, values })
    }

    /// The remotes this file describes, the first named `name`: the backup storage, with the Milvus instance.
    /// When Milvus's own storage is another bucket or endpoint, it is returned second, as `NAME_storage`, and
    /// `milvus.storage_remote` names it.
    pub fn into_remotes(self, name: &str) -> Result<(RemoteConfig, Option<RemoteConfig>), String> {
        let defaults = Storage::default();
        let (milvus_side, backup_side, milvus) = if self.v2 {
            let milvus_side = self.v2_storage("milvus", &defaults)?;
            let backup_side = self.v2_storage("backup", &milvus_side)?;
            (milvus_side, backup_side, self.v2_milvus()?)
        } else {
            let milvus_side = self.v1_storage(false, &defaults)?;
            let backup_side = self.v1_storage(true, &milvus_side)?;
            (milvus_side, backup_side, self.v1_milvus()?)
        };
        let mut backup = backup_side.remote(name)?;
        let storage = if backup_side.same_endpoint(&milvus_side)
            && backup_side.bucket == milvus_side.bucket
        {
            None
        } else {
            Some(milvus_side.remote(&format!("{name}_storage"))?)
        };
        backup.milvus = Some(MilvusSettings {
            root_path: milvus_side.root,
            backup_root: backup_side.root,
            storage_remote: storage.as_ref().map(|s| s.name.clone()),
            ..milvus
        });
        Ok((backup, storage))
    }

    /// The v1 storage of one side: Milvus's (`minio.x`), or the backups' (`minio.backupX`, each defaulting to
    /// Milvus's `minio.x`, as in milvus-backup).
    fn v1_storage(&self, backup: bool, base: &Storage) -> Result<Storage, String> {
        let key = |k: &str| -> String {
            if !backup {
                return format!("minio.{k}");
            }
            let mut c = k.chars();
            let first = c.next().map(|f| f.to_ascii_uppercase()).unwrap_or_default();
            format!("minio.backup{first}{}", c.as_str())
        };
        for k in ["useIAM", "gcpCredentialJSON"] {
            self.refuse_if_set(
                &key(k),
                "IAM and GCP credential files are not read from backup.yaml",
            )?;
        }
        let provider_keys: &[&str] = if backup {
            &["minio.backupStorageType"]
        } else {
            &[
                "minio.storageType",
                "storage.storageType",
                "minio.cloudProvider",
            ]
        };
        let mut s = base.clone();
        for k in provider_keys {
            if let Some(p) = self.text(k)? {
                s.provider = p.to_ascii_lowercase();
                s.provider_key = k.to_string();
                break;
            }
        }
        self.override_storage(&mut s, key)?;
        s.root = self
            .text(&key("rootPath"))?
            .unwrap_or_else(|| if backup { "backup" } else { "files" }.into());
        Ok(s)
    }

    /// The v2 storage of one side, `milvus.storage.*` or `backup.storage.*`; the backup side inherits every key
    /// from Milvus's except rootPath, as in milvus-backup.
    fn v2_storage(&self, side: &str, base: &Storage) -> Result<Storage, String> {
        let key = |k: &str| format!("{side}.storage.{k}");
        if let Some(t) = self.text(&key("auth.type"))?
            && !t.eq_ignore_ascii_case("static")
        {
            return Err(format!(
                "backup.yaml: key '{}' is '{t}'; --backup-yaml reads static keys only (auth.accessKeyID, \
                 auth.secretAccessKey): declare the remote in remotes.toml for other credentials",
                key("auth.type")
            ));
        }
        for k in [
            "accountName",
            "localPath",
            "auth.accountKey",
            "auth.credentialsFile",
            "auth.endpoint",
        ] {
            self.refuse_if_set(
                &key(k),
                "--backup-yaml reads S3-compatible storage with static keys only",
            )?;
        }
        let mut s = base.clone();
        if let Some(p) = self.text(&key("provider"))? {
            s.provider = p.to_ascii_lowercase();
            s.provider_key = key("provider");
        }
        self.override_storage(&mut s, |k| match k {
            "accessKeyID" | "secretAccessKey" => key(&format!("auth.{k}")),
            "token" => key("auth.sessionToken"),
            other => key(other),
        })?;
        s.root = self
            .text(&key("rootPath"))?
            .unwrap_or_else(|| if side == "backup" { "backup" } else { "files" }.into());
        Ok(s)
    }

    /// Sets each field of `s` whose key (named by `key` from its v1 Milvus-side name) is in the file.
    fn override_storage(
        &self,
        s: &mut Storage,
        key: impl Fn(&str) -> String,
    ) -> Result<(), String> {
        let texts: [(&str, &mut String); 3] = [
            ("address", &mut s.address),
            ("port", &mut s.port),
            ("bucketName", &mut s.bucket),
        ];
        for (k, field) in texts {
            if let Some(v) = self.text(&key(k))? {
                *field = v;
            }
        }
        let optional: [(&str, &mut Option<String>); 4] = [
            ("region", &mut s.region),
            ("accessKeyID", &mut s.access_key),
            ("secretAccessKey", &mut s.secret_key),
            ("token", &mut s.token),
        ];
        for (k, field) in optional {
            if let Some(v) = self.text(&key(k))? {
                *field = Some(v);
            }
        }
        if let Some(b) = self.flag(&key("useSSL"))? {
            s.ssl = b;
        }
        Ok(())
    }

    fn v1_milvus(&self) -> Result<MilvusSettings, String> {
        let tls = match self.text("milvus.tlsMode")?.as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some("2") => return Err(mutual_tls("milvus.tlsMode")),
            Some(_) => return Err("backup.yaml: key 'milvus.tlsMode' must be 0, 1 or 2".into()),
        };
        for k in ["milvus.mtlsCertPath", "milvus.mtlsKeyPath"] {
            if self.text(k)?.is_some() {
                return Err(mutual_tls(k));
            }
        }
        // v0.4 named the CA file `tlsCertPath`.
        let ca_cert = match self.text("milvus.caCertPath")? {
            Some(c) => Some(c),
            None => self.text("milvus.tlsCertPath")?,
        };
        Ok(MilvusSettings {
            address: format!(
                "{}:{}",
                self.text("milvus.address")?
                    .unwrap_or_else(|| "localhost".into()),
                self.text("milvus.port")?.unwrap_or_else(|| "19530".into())
            ),
            tls,
            ca_cert,
            server_name: self.text("milvus.serverName")?,
            user: self.text("milvus.user")?,
            password: self.text("milvus.password")?,
            root_path: String::new(),
            backup_root: String::new(),
            storage_remote: None,
            management_address: self.text("backup.gcPause.address")?,
            pause_gc: self.flag("backup.gcPause.enable")?.unwrap_or(true),
        })
    }

    fn v2_milvus(&self) -> Result<MilvusSettings, String> {
        let tls = match self
            .text("milvus.grpc.tlsMode")?
            .map(|m| m.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("disabled") | Some("0") => false,
            Some("server") | Some("1") => true,
            Some("mutual") | Some("2") => return Err(mutual_tls("milvus.grpc.tlsMode")),
            Some(_) => {
                return Err(
                    "backup.yaml: key 'milvus.grpc.tlsMode' must be disabled, server or mutual"
                        .into(),
                );
            }
        };
        for k in ["milvus.grpc.mtlsCertPath", "milvus.grpc.mtlsKeyPath"] {
            if self.text(k)?.is_some() {
                return Err(mutual_tls(k));
            }
        }
        Ok(MilvusSettings {
            address: format!(
                "{}:{}",
                self.text("milvus.grpc.address")?
                    .unwrap_or_else(|| "localhost".into()),
                self.text("milvus.grpc.port")?
                    .unwrap_or_else(|| "19530".into())
            ),
            tls,
            ca_cert: self.text("milvus.grpc.caCertPath")?,
            server_name: self.text("milvus.grpc.serverName")?,
            user: self.text("milvus.user")?,
            password: self.text("milvus.password")?,
            root_path: String::new(),
            backup_root: String::new(),
            storage_remote: None,
            management_address: self.text("milvus.management.endpoint")?,
            pause_gc: self.flag("backup.pauseGC")?.unwrap_or(true),
        })
    }

    /// The text of a key, `None` when absent or empty. Numbers and booleans are taken as their text, so a
    /// numeric password is still the password; a type error never quotes the value.
    fn text(&self, key: &str) -> Result<Option<String>, String> {
        let text = match self.values.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(_) => {
                return Err(format!(
                    "backup.yaml: key '{key}' must be a single value (text or a number)"
                ));
            }
        };
        Ok(Some(text).filter(|t| !t.is_empty()))
    }

    /// A boolean key; `"true"` and `"false"` in quotes count too.
    fn flag(&self, key: &str) -> Result<Option<bool>, String> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(format!("backup.yaml: key '{key}' must be true or false")),
        }
    }

    fn refuse_if_set(&self, key: &str, why: &str) -> Result<(), String> {
        let set = match self.values.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => !s.is_empty() && !s.eq_ignore_ascii_case("false"),
            Some(_) => true,
        };
        if set {
            return Err(format!(
                "backup.yaml: key '{key}' is set: {why}; declare the remote in remotes.toml instead (docs/remotes.md)"
            ));
        }
        Ok(())
    }
}

fn mutual_tls(key: &str) -> String {
    format!(
        "backup.yaml: key '{key}' asks for mutual TLS, which mbx does not support; use tlsMode 1 (server TLS) or none"
    )
}

/// Collects the leaves of `map` (at key path `prefix`) into `out` by their canonical path, refusing unknown keys.
fn walk(
    prefix: &str,
    map: &serde_yaml::Mapping,
    keys: &[(String, Key)],
    v2: bool,
    out: &mut BTreeMap<String, Value>,
) -> Result<(), String> {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    for (k, v) in map {
        let Some(k) = k.as_str() else {
            return Err(format!("backup.yaml: a key under '{prefix}' is not text"));
        };
        let path = join(k);
        if let Some((canonical, use_)) = keys.iter().find(|(p, _)| p.eq_ignore_ascii_case(&path)) {
            if let Ignored(reason) = use_ {
                tracing::debug!("backup.yaml: key '{canonical}' ignored: {reason}");
            }
            out.insert(canonical.clone(), v.clone());
            continue;
        }
        let section = format!("{}.", path.to_ascii_lowercase());
        if let Some((canonical, _)) = keys
            .iter()
            .find(|(p, _)| p.to_ascii_lowercase().starts_with(&section))
        {
            let canonical = &canonical[..path.len()];
            match v {
                Value::Mapping(m) => walk(canonical, m, keys, v2, out)?,
                Value::Null => {}
                _ => {
                    return Err(format!(
                        "backup.yaml: '{canonical}' must be a section of keys, not a value"
                    ));
                }
            }
            continue;
        }
        return Err(unknown_key(prefix, &path, keys, v2));
    }
    Ok(())
}

fn unknown_key(prefix: &str, path: &str, keys: &[(String, Key)], v2: bool) -> String {
    let mut known: Vec<&str> = keys
        .iter()
        .filter_map(|(p, _)| {
            let rest = if prefix.is_empty() {
                Some(p.as_str())
            } else {
                p.strip_prefix(&format!("{prefix}."))
            }?;
            rest.split('.').next()
        })
        .collect();
    known.dedup();
    known.sort_unstable();
    known.dedup();
    let place = if prefix.is_empty() {
        "at the top".to_string()
    } else {
        format!("under '{prefix}'")
    };
    let hint = if v2 {
        " (this file says configVersion: v2, whose keys are milvus.grpc.*, milvus.storage.*, backup.storage.*)"
    } else if schema(true).iter().any(|(p, _)| {
        p.to_ascii_lowercase()
            .starts_with(&path.to_ascii_lowercase())
    }) {
        " (a milvus-backup config v2 key: add `configVersion: v2` at the top of the file)"
    } else {
        ""
    };
    format!(
        "backup.yaml: unknown key '{path}'{hint}; the keys known {place} are {}. Fix the spelling or remove the key",
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_yaml_of_the_seed_page() {
        let y = BackupYaml::parse(
            r#"
milvus:
  address: milvus_A
  port: 19530
  authorizationEnabled: false
  tlsMode: 0
  user: "root"
  password: "Milvus"
minio:
  storageType: "minio"
  address: minio_A
  port: 9000
  accessKeyID: minioadmin
  secretAccessKey: minioadmin
  useSSL: false
  useIAM: false
  iamEndpoint: ""
  bucketName: "bucket_A"
  rootPath: "files"
  backupAccessKeyID: minioadmin
  backupSecretAccessKey: minioadmin
  backupBucketName: "bucket_A"
  backupRootPath: "backup"
"#,
        )
        .unwrap();
        let (r, storage) = y.into_remotes("a").unwrap();
        assert!(storage.is_none());
        assert_eq!(r.options["endpoint"], "http://minio_A:9000");
        assert_eq!(r.options["bucket"], "bucket_A");
        let m = r.milvus.unwrap();
        assert_eq!(m.address, "milvus_A:19530");
        assert_eq!(m.root_path, "files");
        assert_eq!(m.backup_root, "backup");
        assert!(m.pause_gc);
        assert!(!format!("{m:?}").contains("Milvus\""));
    }

    /// A secret that YAML reads as a number is still the secret, and no type error quotes it.
    #[test]
    fn numeric_secrets_in_backup_yaml_are_taken_as_text() {
        let y = BackupYaml::parse(
            "milvus:\n  password: 123456\nminio:\n  accessKeyID: ak\n  secretAccessKey: 987654\n",
        )
        .unwrap();
        let (r, _) = y.into_remotes("a").unwrap();
        assert_eq!(r.options["secret_access_key"], "987654");
        assert_eq!(r.milvus.unwrap().password.as_deref(), Some("123456"));
    }

    /// milvus-backup v0.5's full v1 template (every key of milvus-backup.md §4.1) is accepted.
    #[test]
    fn the_whole_v1_template_is_accepted() {
        let y = BackupYaml::parse(
            r#"
log: {level: info, console: true, file: {filename: logs/backup.log, maxSize: 300, maxDays: 0, maxBackups: 0}}
http: {enabled: true, debugMode: false, swaggerBasePath: "", simpleResponse: true}
cloud: {address: "https://api.cloud.zilliz.com", apikey: ""}
milvus:
  address: m1
  port: 19530
  user: ""
  password: ""
  tlsMode: 0
  caCertPath: ""
  serverName: ""
  mtlsCertPath: ""
  mtlsKeyPath: ""
  rpcChannelName: by-dev-replicate-msg
  etcd: {endpoints: "localhost:2379", rootPath: by-dev}
minio:
  storageType: minio
  address: s1
  port: 9000
  region: ""
  accessKeyID: ak
  secretAccessKey: sk
  token: ""
  gcpCredentialJSON: ""
  useSSL: false
  useIAM: false
  iamEndpoint: ""
  bucketName: a-bucket
  rootPath: files
  backupStorageType: minio
  backupAddress: s1
  backupPort: 9000
  backupRegion: ""
  backupAccessKeyID: ak
  backupSecretAccessKey: sk
  backupToken: ""
  backupGcpCredentialJSON: ""
  backupUseSSL: false
  backupBucketName: a-bucket
  backupRootPath: backup
  backupUseIAM: false
  backupIamEndpoint: ""
  crossStorage: false
  multipartCopyThresholdMiB: 500
backup:
  parallelism: {copydata: 128, backupCollection: 4, backupSegment: 1024, restoreCollection: 2, importJob: 768}
  keepTempFiles: false
  gcPause: {enable: false, address: "http://m1:9091", seconds: 7200}
  maxSegmentGroupSize: 2G
"#,
        )
        .unwrap();
        let (r, storage) = y.into_remotes("a").unwrap();
        assert!(storage.is_none());
        let m = r.milvus.unwrap();
        assert_eq!(m.address, "m1:19530");
        assert!(!m.pause_gc);
        assert_eq!(m.management_address.as_deref(), Some("http://m1:9091"));
    }

    #[test]
    fn a_misspelt_key_is_refused_by_its_path() {
        let e =
            BackupYaml::parse("minio:\n  bucketNme: b\n  secretAccessKey: hunter22\n").unwrap_err();
        assert!(e.contains("'minio.bucketNme'"), "{e}");
        assert!(e.contains("bucketName"), "{e}");
        assert!(!e.contains("hunter22"), "{e}");
        let e = BackupYaml::parse("milvsu:\n  address: x\n").unwrap_err();
        assert!(e.contains("'milvsu'") && e.contains("milvus"), "{e}");
    }

    #[test]
    fn keys_match_case_insensitively_as_in_milvus_backup() {
        let y = BackupYaml::parse("minio:\n  bucketname: b\n  Address: h\n").unwrap();
        let (r, _) = y.into_remotes("a").unwrap();
        assert_eq!(r.options["bucket"], "b");
        assert_eq!(r.options["endpoint"], "http://h:9000");
    }

    #[test]
    fn a_v2_key_in_a_v1_file_says_to_add_the_version() {
        let e = BackupYaml::parse("milvus:\n  grpc:\n    address: m\n").unwrap_err();
        assert!(
            e.contains("'milvus.grpc'") && e.contains("configVersion: v2"),
            "{e}"
        );
    }

    #[test]
    fn a_v2_file_is_read() {
        let y = BackupYaml::parse(
            r#"
configVersion: v2
log: {level: info, console: true, file: {path: x.log, maxSizeMiB: 300, maxDays: 0, maxBackups: 0}}
milvus:
  user: root
  password: pw
  grpc: {address: m2, port: 19531, tlsMode: server, caCertPath: /ca.pem, serverName: milvus.local}
  rest: {endpoint: ""}
  management: {endpoint: "http://m2:9091"}
  etcd: {endpoints: ["e1:2379", "e2:2379"], rootPath: by-dev}
  storage:
    provider: minio
    address: s2
    port: 9100
    useSSL: true
    bucketName: milvus-bucket
    rootPath: data
    auth: {type: static, accessKeyID: ak, secretAccessKey: sk}
backup:
  storage:
    bucketName: backups
    milvusAddress: ""
  pauseGC: false
  concurrency: {collections: 4, segments: 1024}
transfer: {mode: auto, concurrency: 128, multipartCopyThresholdMiB: 500}
"#,
        )
        .unwrap();
        let (r, storage) = y.into_remotes("a").unwrap();
        assert_eq!(r.options["endpoint"], "https://s2:9100");
        assert_eq!(r.options["bucket"], "backups");
        assert_eq!(r.options["access_key_id"], "ak");
        let s = storage.expect("Milvus's bucket differs from the backup bucket");
        assert_eq!(s.name, "a_storage");
        assert_eq!(s.options["bucket"], "milvus-bucket");
        assert_eq!(s.options["endpoint"], "https://s2:9100");
        let m = r.milvus.unwrap();
        assert_eq!(m.address, "m2:19531");
        assert!(m.tls);
        assert_eq!(m.ca_cert.as_deref(), Some("/ca.pem"));
        assert_eq!(m.server_name.as_deref(), Some("milvus.local"));
        assert_eq!(m.user.as_deref(), Some("root"));
        assert_eq!(m.root_path, "data");
        assert_eq!(m.backup_root, "backup");
        assert_eq!(m.storage_remote.as_deref(), Some("a_storage"));
        assert_eq!(m.management_address.as_deref(), Some("http://m2:9091"));
        assert!(!m.pause_gc);
    }

    #[test]
    fn v2_parts_mbx_does_not_read_are_refused_by_key() {
        let e =
            BackupYaml::parse("configVersion: v2\nmilvus:\n  storage:\n    auth: {type: iam}\n")
                .and_then(|y| y.into_remotes("a"))
                .unwrap_err();
        assert!(e.contains("'milvus.storage.auth.type'"), "{e}");
        let e = BackupYaml::parse("configVersion: v2\nmilvus:\n  storage:\n    provider: azure\n")
            .and_then(|y| y.into_remotes("a"))
            .unwrap_err();
        assert!(
            e.contains("'milvus.storage.provider'") && e.contains("azure"),
            "{e}"
        );
        let e = BackupYaml::parse("configVersion: v2\nminio:\n  address: x\n").unwrap_err();
        assert!(e.contains("'minio'"), "{e}");
        let e = BackupYaml::parse("configVersion: v3\n").unwrap_err();
        assert!(e.contains("configVersion"), "{e}");
        let e = BackupYaml::parse("configVersion: v2\nmilvus:\n  grpc: {tlsMode: mutual}\n")
            .and_then(|y| y.into_remotes("a"))
            .unwrap_err();
        assert!(e.contains("mutual TLS"), "{e}");
    }

    /// Backups on another endpoint (`minio.backupAddress`…) become the backup remote, Milvus's own bucket the
    /// storage remote, each with its own keys.
    #[test]
    fn v1_backup_storage_on_another_endpoint() {
        let y = BackupYaml::parse(
            r#"
minio:
  address: s1
  port: 9000
  accessKeyID: ak1
  secretAccessKey: sk1
  bucketName: milvus-bucket
  backupStorageType: s3
  backupAddress: s3.example.com
  backupPort: 443
  backupUseSSL: true
  backupRegion: eu-west-1
  backupAccessKeyID: ak2
  backupSecretAccessKey: sk2
  backupBucketName: backups
  backupRootPath: mbx
  crossStorage: true
"#,
        )
        .unwrap();
        let (r, storage) = y.into_remotes("a").unwrap();
        assert_eq!(r.options["endpoint"], "https://s3.example.com:443");
        assert_eq!(r.options["bucket"], "backups");
        assert_eq!(r.options["access_key_id"], "ak2");
        assert_eq!(r.options["secret_access_key"], "sk2");
        assert_eq!(r.options["region"], "eu-west-1");
        let s = storage.unwrap();
        assert_eq!(s.options["endpoint"], "http://s1:9000");
        assert_eq!(s.options["bucket"], "milvus-bucket");
        assert_eq!(s.options["access_key_id"], "ak1");
        let m = r.milvus.unwrap();
        assert_eq!(m.backup_root, "mbx");
        assert_eq!(m.storage_remote.as_deref(), Some("a_storage"));
        // Same bucket name, other endpoint: still two remotes.
        let y = BackupYaml::parse("minio:\n  bucketName: b\n  backupAddress: other\n").unwrap();
        let (r, storage) = y.into_remotes("a").unwrap();
        assert_eq!(r.options["endpoint"], "http://other:9000");
        assert_eq!(
            storage.unwrap().options["endpoint"],
            "http://localhost:9000"
        );
    }

    #[test]
    fn v1_gc_pause_and_refused_credentials() {
        let y = BackupYaml::parse(
            "backup:\n  gcPause:\n    enable: false\n    address: http://m:9091\n",
        )
        .unwrap();
        let m = y.into_remotes("a").unwrap().0.milvus.unwrap();
        assert!(!m.pause_gc);
        assert_eq!(m.management_address.as_deref(), Some("http://m:9091"));
        let e = BackupYaml::parse("minio:\n  useIAM: true\n")
            .and_then(|y| y.into_remotes("a"))
            .unwrap_err();
        assert!(e.contains("'minio.useIAM'"), "{e}");
        let e =
            BackupYaml::parse("minio:\n  backupGcpCredentialJSON: '{\"private_key\": \"xyz\"}'\n")
                .and_then(|y| y.into_remotes("a"))
                .unwrap_err();
        assert!(
            e.contains("'minio.backupGcpCredentialJSON'") && !e.contains("xyz"),
            "{e}"
        );
        let e = BackupYaml::parse("milvus:\n  password: [secretpw]\n")
            .and_then(|y| y.into_remotes("a"))
            .unwrap_err();
        assert!(
            e.contains("'milvus.password'") && !e.contains("secretpw"),
            "{e}"
        );
    }
}
