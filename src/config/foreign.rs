//! Remotes people already have: the remotes of an rclone config (`rclone.conf`) and the aliases of the MinIO
//! client (`mc`'s `config.json`), usable by name without rewriting them.
//!
//! As in rclone and mc, these name an account, not a bucket: the bucket (or Azure container) is the first part
//! of the path, `NAME:BUCKET/PATH`. mbx's own remotes file wins on a name clash. `MBX_NO_FOREIGN_REMOTES=1`
//! turns this off.
//!
//! rclone's obscured values (`rclone obscure`) are not revealed: none of the options read here is obscured by
//! rclone (`secret_access_key`, `key` and `service_account_credentials` are stored as written).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;

use super::{RemoteConfig, RemoteKind, RemoteSettings, check_remote_name};

/// The environment variable that turns reading rclone and mc configs off.
pub const NO_FOREIGN_REMOTES: &str = "MBX_NO_FOREIGN_REMOTES";

/// A remote from another tool's config, the bucket still to come from the path.
#[derive(Clone)]
pub struct ForeignRemote {
    /// The tool and file it came from, for `mbx remotes` and messages (`rclone /home/u/.config/rclone/rclone.conf`).
    pub origin: String,
    /// The kind of storage.
    pub kind: RemoteKind,
    /// OpenDAL options, without the bucket (secrets included: print [`ForeignRemote::redacted`]).
    options: BTreeMap<String, String>,
    /// The option the first path component goes to (`bucket`, `container`); `None` for a local folder.
    bucket_key: Option<&'static str>,
    settings: RemoteSettings,
}

impl std::fmt::Debug for ForeignRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForeignRemote")
            .field("origin", &self.origin)
            .field("kind", &self.kind)
            .field("options", &self.redacted())
            .finish()
    }
}

impl ForeignRemote {
    /// The options with every secret replaced by `***`, safe to print.
    pub fn redacted(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .map(|(k, v)| {
                let v = if self.kind.is_secret(k) {
                    "***".into()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect()
    }

    /// The remote for `path` (`BUCKET/REST`) and the rest of the path within it.
    pub fn at(&self, name: &str, path: &str) -> Result<(RemoteConfig, String), String> {
        let mut options = self.options.clone();
        let rest = match self.bucket_key {
            Some(key) => {
                let (bucket, rest) = path.split_once('/').unwrap_or((path, ""));
                if bucket.is_empty() {
                    return Err(format!(
                        "this remote comes from {}, where the {key} is the first part of the path: write \
                         {name}:{key_upper}/PATH",
                        self.origin,
                        key_upper = key.to_ascii_uppercase()
                    ));
                }
                options.insert(key.to_string(), bucket.to_string());
                rest.to_string()
            }
            None => path.to_string(),
        };
        let options = self
            .kind
            .resolve_options(options, &self.settings)
            .map_err(|e| format!("{e} (from {})", self.origin))?;
        let remote = RemoteConfig {
            name: name.to_string(),
            kind: self.kind,
            options,
            settings: self.settings.clone(),
            milvus: None,
        };
        Ok((remote, rest))
    }
}

/// Each remote found, by name: the tool and file it came from, and the remote or why it cannot be used.
pub(super) type Found = BTreeMap<String, (String, Result<ForeignRemote, String>)>;

/// Where rclone's and mc's configs are, from the environment.
pub(super) fn discover(environment: &BTreeMap<String, String>) -> Found {
    let mut found = BTreeMap::new();
    if environment
        .get(NO_FOREIGN_REMOTES)
        .is_some_and(|v| !v.is_empty() && v != "0")
    {
        return found;
    }
    let var = |k: &str| {
        environment
            .get(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let config_home = var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config")));
    let rclone =
        var("RCLONE_CONFIG").or_else(|| config_home.map(|c| c.join("rclone").join("rclone.conf")));
    let mc = var("MC_CONFIG_DIR")
        .or_else(|| var("HOME").map(|h| h.join(".mc")))
        .map(|d| d.join("config.json"));
    // mc first, so that rclone's remote wins when both tools name one the same.
    if let Some(path) = mc.filter(|p| p.is_file()) {
        read_into(&path, "mc", parse_mc, &mut found);
    }
    if let Some(path) = rclone.filter(|p| p.is_file()) {
        read_into(&path, "rclone", parse_rclone, &mut found);
    }
    found
}

/// The remotes of one file by name, each usable or with its problem.
type Named = Vec<(String, Result<ForeignRemote, String>)>;

type Parser = fn(&str, &str) -> Result<Named, String>;

fn read_into(path: &Path, tool: &str, parse: Parser, found: &mut Found) {
    let origin = format!("{tool} {}", path.display());
    let parsed = std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|text| parse(&text, &origin));
    match parsed {
        Ok(remotes) => found.extend(remotes.into_iter().map(|(n, r)| (n, (origin.clone(), r)))),
        // The other tool's file is not mbx's to judge: say so, and go on without it.
        Err(e) => tracing::warn!("ignoring {origin}: {e}"),
    }
}

/// The remotes of an rclone config (INI: `[name]`, then `key = value` lines). Remotes of types mbx does not
/// speak (drive, sftp, crypt, ...) are left out; those it does are `s3`, `azureblob`, `google cloud storage`
/// and `local`.
pub(super) fn parse_rclone(text: &str, origin: &str) -> Result<Named, String> {
    if text.trim_start().starts_with("RCLONE_ENCRYPT_V0:") {
        return Err(
            "the config is encrypted (rclone config encryption); mbx cannot read it".into(),
        );
    }
    let mut sections: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((name.trim().to_string(), BTreeMap::new()));
            continue;
        }
        let (Some((_, keys)), Some((k, v))) = (sections.last_mut(), line.split_once('=')) else {
            // Never the line itself: it may hold a secret.
            return Err(format!("line {} is neither [name] nor key = value", n + 1));
        };
        keys.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(sections
        .into_iter()
        .filter_map(|(name, keys)| {
            let remote = rclone_remote(&keys, origin)?;
            Some((name.clone(), check_remote_name(&name).and(remote)))
        })
        .collect())
}

/// One rclone remote; `None` for a type mbx does not speak.
fn rclone_remote(
    keys: &BTreeMap<String, String>,
    origin: &str,
) -> Option<Result<ForeignRemote, String>> {
    let get = |k: &str| keys.get(k).filter(|v| !v.is_empty()).cloned();
    let truthy = |k: &str| get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut settings = RemoteSettings::default();
    let mut options = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            options.insert(k.to_string(), v);
        }
    };
    let (kind, bucket_key) = match get("type")?.as_str() {
        "s3" => {
            let provider = get("provider").unwrap_or_else(|| "AWS".into());
            let endpoint = get("endpoint").map(|e| with_scheme(&e));
            put("access_key_id", get("access_key_id"));
            put("secret_access_key", get("secret_access_key"));
            put("session_token", get("session_token"));
            put("region", get("region"));
            settings.credential_lookup = truthy("env_auth");
            let kind = if provider.eq_ignore_ascii_case("AWS") && endpoint.is_none() {
                RemoteKind::S3
            } else {
                if endpoint.is_none() {
                    return Some(Err(format!(
                        "rclone s3 remote of provider {provider} has no endpoint"
                    )));
                }
                RemoteKind::Minio
            };
            put("endpoint", endpoint);
            (kind, Some("bucket"))
        }
        "azureblob" => {
            if get("sas_url").is_some() || truthy("use_msi") || get("client_id").is_some() {
                return Some(Err(
                    "rclone azureblob remote uses SAS URL or Azure AD credentials, which mbx \
                                 reads only from its own remotes file"
                        .into(),
                ));
            }
            let account = get("account");
            let endpoint = get("endpoint").or_else(|| {
                account
                    .as_ref()
                    .map(|a| format!("https://{a}.blob.core.windows.net"))
            });
            put("account_name", account);
            put("account_key", get("key"));
            put("endpoint", endpoint);
            settings.credential_lookup = truthy("env_auth");
            (RemoteKind::Azblob, Some("container"))
        }
        "google cloud storage" | "gcs" => {
            put("credential_path", get("service_account_file"));
            // OpenDAL takes the key itself base64-encoded.
            put(
                "credential",
                get("service_account_credentials")
                    .map(|json| base64::engine::general_purpose::STANDARD.encode(json)),
            );
            put("endpoint", get("endpoint").map(|e| with_scheme(&e)));
            if truthy("anonymous") {
                put("allow_anonymous", Some("true".into()));
            }
            settings.credential_lookup = truthy("env_auth");
            (RemoteKind::Gcs, Some("bucket"))
        }
        "local" => {
            put("root", Some("/".into()));
            (RemoteKind::Fs, None)
        }
        _ => return None,
    };
    Some(Ok(ForeignRemote {
        origin: origin.to_string(),
        kind,
        options,
        bucket_key,
        settings,
    }))
}

/// The aliases of an mc `config.json`: `{"aliases": {NAME: {url, accessKey, secretKey, api, path}}}`.
pub(super) fn parse_mc(text: &str, origin: &str) -> Result<Named, String> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        aliases: BTreeMap<String, Alias>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Alias {
        url: String,
        access_key: Option<String>,
        secret_key: Option<String>,
        session_token: Option<String>,
        path: Option<String>,
    }
    // serde_json's messages name a line and column, never a value.
    let file: File =
        serde_json::from_str(text).map_err(|e| format!("not mc's config.json: {e}"))?;
    Ok(file
        .aliases
        .into_iter()
        .map(|(name, a)| {
            let mut options = BTreeMap::new();
            options.insert("endpoint".to_string(), a.url);
            let keys = [
                ("access_key_id", a.access_key),
                ("secret_access_key", a.secret_key),
                ("session_token", a.session_token),
            ];
            for (k, v) in keys {
                if let Some(v) = v.filter(|v| !v.is_empty()) {
                    options.insert(k.to_string(), v);
                }
            }
            // mc's `path: off` is virtual-host style; `auto` and `on` work path-style.
            if a.path.as_deref() == Some("off") {
                options.insert("enable_virtual_host_style".into(), "true".into());
            }
            let remote = ForeignRemote {
                origin: origin.to_string(),
                kind: RemoteKind::Minio,
                options,
                bucket_key: Some("bucket"),
                settings: RemoteSettings::default(),
            };
            let checked = check_remote_name(&name).map(|_| remote);
            (name, checked)
        })
        .collect())
}

fn with_scheme(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        // rclone's default for an endpoint without a scheme.
        format!("https://{endpoint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(list: Named, name: &str) -> ForeignRemote {
        list.into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .1
            .unwrap()
    }

    #[test]
    fn rclone_remotes_of_the_kinds_mbx_speaks() {
        let text = "\
# a comment
[minio]
type = s3
provider = Minio
endpoint = http://127.0.0.1:9000
access_key_id = ak
secret_access_key = sk

[aws]
type = s3
provider = AWS
region = eu-west-1
env_auth = true

[blob]
type = azureblob
account = acct
key = a2V5

[gcs]
type = google cloud storage
service_account_file = /sa.json

[disk]
type = local

[drive]
type = drive
";
        let list = parse_rclone(text, "rclone x").unwrap();
        assert!(!list.iter().any(|(n, _)| n == "drive"));
        let m = one(list.clone(), "minio");
        assert_eq!(m.kind, RemoteKind::Minio);
        let (r, rest) = m.at("minio", "bucket1/some/dir").unwrap();
        assert_eq!(r.options["bucket"], "bucket1");
        assert_eq!(r.options["endpoint"], "http://127.0.0.1:9000");
        assert_eq!(r.options["secret_access_key"], "sk");
        assert_eq!(rest, "some/dir");
        assert_eq!(m.redacted()["secret_access_key"], "***");
        let e = m.at("minio", "").unwrap_err();
        assert!(e.contains("minio:BUCKET/PATH"), "{e}");
        let a = one(list.clone(), "aws");
        assert_eq!(a.kind, RemoteKind::S3);
        assert!(a.settings.credential_lookup);
        let b = one(list.clone(), "blob");
        let (r, _) = b.at("blob", "cont/x").unwrap();
        assert_eq!(r.options["container"], "cont");
        assert_eq!(r.options["endpoint"], "https://acct.blob.core.windows.net");
        assert_eq!(b.redacted()["account_key"], "***");
        let g = one(list.clone(), "gcs");
        assert_eq!(
            g.at("gcs", "b/x").unwrap().0.options["credential_path"],
            "/sa.json"
        );
        let d = one(list, "disk");
        let (r, rest) = d.at("disk", "srv/backups").unwrap();
        assert_eq!(
            (r.options["root"].as_str(), rest.as_str()),
            ("/", "srv/backups")
        );
    }

    #[test]
    fn a_broken_rclone_file_names_the_line_not_the_value() {
        let e = parse_rclone("secret_access_key_without_section hunter2\n", "x").unwrap_err();
        assert!(e.contains("line 1") && !e.contains("hunter2"), "{e}");
        let e = parse_rclone("RCLONE_ENCRYPT_V0:\nabc", "x").unwrap_err();
        assert!(e.contains("encrypted"), "{e}");
    }

    #[test]
    fn mc_aliases() {
        let text = r#"{"version": "10", "aliases": {
            "local": {"url": "http://localhost:9000", "accessKey": "ak", "secretKey": "sk", "api": "S3v4", "path": "auto"},
            "vh": {"url": "https://s3.example.com", "accessKey": "", "secretKey": "", "api": "s3v4", "path": "off"},
            "bad name": {"url": "http://x"}
        }}"#;
        let list = parse_mc(text, "mc x").unwrap();
        let l = one(list.clone(), "local");
        let (r, rest) = l.at("local", "b/p").unwrap();
        assert_eq!(r.options["endpoint"], "http://localhost:9000");
        assert_eq!(r.options["bucket"], "b");
        assert_eq!(r.options["access_key_id"], "ak");
        assert_eq!(rest, "p");
        let v = one(list.clone(), "vh");
        assert_eq!(v.options["enable_virtual_host_style"], "true");
        assert!(!v.options.contains_key("access_key_id"));
        assert!(list.iter().any(|(n, r)| n == "bad name" && r.is_err()));
    }

    #[test]
    fn discovery_follows_the_environment_and_can_be_turned_off() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rc.conf"), "[r]\ntype = local\n").unwrap();
        std::fs::create_dir(dir.path().join("mc")).unwrap();
        std::fs::write(
            dir.path().join("mc/config.json"),
            r#"{"aliases": {"m": {"url": "http://h:9000"}}}"#,
        )
        .unwrap();
        let mut env = BTreeMap::new();
        env.insert(
            "HOME".to_string(),
            dir.path().join("nohome").display().to_string(),
        );
        env.insert(
            "RCLONE_CONFIG".to_string(),
            dir.path().join("rc.conf").display().to_string(),
        );
        env.insert(
            "MC_CONFIG_DIR".to_string(),
            dir.path().join("mc").display().to_string(),
        );
        let found = discover(&env);
        assert_eq!(found.keys().collect::<Vec<_>>(), ["m", "r"]);
        assert!(found["r"].0.starts_with("rclone ") && found["r"].1.is_ok());
        env.insert(NO_FOREIGN_REMOTES.to_string(), "1".to_string());
        assert!(discover(&env).is_empty());
    }
}
