//! Azure block blobs as resumable uploads: each part is a Put Block whose id is derived from the upload
//! token and the part number, so a later run finds the landed parts in Get Block List (uncommitted) and
//! commits them with Put Block List. Committing discards every other uncommitted block of the blob; blocks
//! of an abandoned upload are discarded by the service after seven days.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use opendal::Buffer;
use reqsign_azure_storage::{
    Credential, DefaultCredentialProvider, EnvCredentialProvider, RequestSigner,
    StaticCredentialProvider,
};
use reqsign_core::{Context, OsEnv, Signer};
use serde::Deserialize;

use super::http::{
    Answer, Body, Http, ReqwestSend, encode_path, encode_query, error_code, retryable_status,
};
use super::{LandedPart, RequestPolicy, UploadError, absolute_key};
use crate::config::RemoteConfig;

const API_VERSION: &str = "2021-08-06";

pub(super) struct AzblobUploads {
    config: RemoteConfig,
    http: Http,
    signer: Signer<Credential>,
    source_signer: Signer<Credential>,
    /// `endpoint/container`.
    base: String,
    /// A customer-provided key (CPK): on every block and on the commit, as OpenDAL's writer sends it.
    customer_key: Vec<(String, String)>,
}

/// A customer-provided key's options and their headers (the configuration fills in the algorithm and the
/// SHA-256, see `config::customer_key`).
const CUSTOMER_KEY_HEADERS: [(&str, &str); 3] = [
    ("encryption_key", "x-ms-encryption-key"),
    ("encryption_key_sha256", "x-ms-encryption-key-sha256"),
    ("encryption_algorithm", "x-ms-encryption-algorithm"),
];

impl AzblobUploads {
    pub(super) fn new(
        config: &RemoteConfig,
        policy: Arc<RequestPolicy>,
    ) -> Result<AzblobUploads, String> {
        let opt = |k: &str| config.options.get(k).filter(|v| !v.is_empty()).cloned();
        let customer_key = CUSTOMER_KEY_HEADERS
            .iter()
            .filter_map(|(k, h)| opt(k).map(|v| (h.to_string(), v)))
            .collect();
        let container = opt("container").ok_or("missing key 'container'")?;
        let account = opt("account_name");
        let endpoint = match (opt("endpoint"), &account) {
            (Some(e), _) => e,
            (None, Some(a)) => format!("https://{a}.blob.core.windows.net"),
            (None, None) => {
                return Err("resumable uploads need 'endpoint' or 'account_name'".into());
            }
        };
        let http = Http::new(&config.name, policy)?;
        let ctx = Context::new()
            .with_file_read(reqsign_file_read_tokio::TokioFileRead)
            .with_http_send(ReqwestSend(http.client.clone()))
            .with_env(OsEnv);
        let signer = |request_signer: RequestSigner| match (
            &account,
            opt("account_key"),
            opt("sas_token"),
        ) {
            (Some(name), Some(key), _) => Signer::new(
                ctx.clone(),
                StaticCredentialProvider::new_shared_key(name, &key),
                request_signer,
            ),
            (_, _, Some(sas)) => Signer::new(
                ctx.clone(),
                StaticCredentialProvider::new_sas_token(&sas),
                request_signer,
            ),
            _ if config.settings.credential_lookup => Signer::new(
                ctx.clone(),
                DefaultCredentialProvider::new(),
                request_signer,
            ),
            _ => Signer::new(ctx.clone(), EnvCredentialProvider::new(), request_signer),
        };
        Ok(AzblobUploads {
            config: config.clone(),
            signer: signer(RequestSigner::new()),
            // A part copied on the server names its source by a URL that the service reads with a
            // read-only SAS (Put Block From URL takes no shared-key header for the source).
            source_signer: signer(RequestSigner::new().with_service_sas_permissions("r")),
            http,
            base: format!("{}/{container}", endpoint.trim_end_matches('/')),
            customer_key,
        })
    }

    fn url(&self, key: &str, query: &str) -> String {
        let path = encode_path(&absolute_key(&self.config, key));
        format!("{}/{path}?{query}", self.base)
    }

    /// Block ids of one blob must all have the same length: the token is always 16 hex digits and the
    /// number six digits.
    fn block_id(upload_id: &str, number: u32) -> String {
        BASE64.encode(format!("mbx-{upload_id}-{number:06}"))
    }

    async fn call(
        &self,
        what: &str,
        method: http::Method,
        url: String,
        headers: &[(String, String)],
        body: impl Into<Body>,
        deadline: std::time::Duration,
    ) -> Result<Answer, UploadError> {
        let body = body.into();
        let mut builder = http::Request::builder()
            .method(method)
            .uri(&url)
            .header("x-ms-version", API_VERSION);
        if !body.data.is_empty() {
            builder = builder.header(http::header::CONTENT_LENGTH, body.data.len());
        }
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        let answer = self
            .http
            .send_signed(what, &self.signer, builder, body, deadline)
            .await?;
        if answer.status.is_success() {
            return Ok(answer);
        }
        let (code, message) = error_code(&answer.body);
        let message = message.lines().next().unwrap_or_default().to_string();
        Err(UploadError {
            message: format!(
                "{what} on remote '{}': {} {code} {message}",
                self.config.name, answer.status
            )
            .trim_end()
            .to_string(),
            retryable: retryable_status(answer.status),
            gone: answer.status == http::StatusCode::NOT_FOUND,
        })
    }

    pub(super) async fn put_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        data: Buffer,
        turn: Option<super::Turn>,
    ) -> Result<LandedPart, UploadError> {
        let size = data.len() as u64;
        let id = Self::block_id(upload_id, number);
        let url = self.url(key, &format!("comp=block&blockid={}", encode_query(&id)));
        let what = format!("uploading part {number} of '{key}'");
        self.call(
            &what,
            http::Method::PUT,
            url,
            &self.customer_key,
            Body { data, turn },
            self.http.policy.io_timeout(),
        )
        .await?;
        Ok(LandedPart {
            number,
            etag: id,
            size,
            checksum: None,
        })
    }

    /// Put Block From URL: the service copies `range` (offset, length) of `from`, a blob of the same
    /// container, into the block of part `number`, only while `from` still has the ETag `if_match`.
    pub(super) async fn copy_part(
        &self,
        (key, upload_id, number): (&str, &str, u32),
        from: &str,
        range: (u64, u64),
        if_match: Option<&str>,
    ) -> Result<LandedPart, UploadError> {
        let what = format!("copying part {number} of '{key}' from '{from}' on the server");
        let id = Self::block_id(upload_id, number);
        let url = self.url(key, &format!("comp=block&blockid={}", encode_query(&id)));
        let headers = self.copy_part_headers(&what, from, range, if_match).await?;
        self.call(
            &what,
            http::Method::PUT,
            url,
            &headers,
            Buffer::new(),
            self.http.policy.commit_deadline(),
        )
        .await?;
        Ok(LandedPart {
            number,
            etag: id,
            size: range.1,
            checksum: None,
        })
    }

    async fn copy_part_headers(
        &self,
        what: &str,
        from: &str,
        (offset, len): (u64, u64),
        if_match: Option<&str>,
    ) -> Result<Vec<(String, String)>, UploadError> {
        let source = format!(
            "{}/{}",
            self.base,
            encode_path(&absolute_key(&self.config, from))
        );
        let (mut parts, ()) = http::Request::get(&source)
            .body(())
            .map_err(|e| UploadError::new(format!("{what}: bad source URL: {e}"), false))?
            .into_parts();
        // The service reads the source within the hour: one part's copy.
        self.source_signer
            .sign(&mut parts, Some(std::time::Duration::from_secs(3600)))
            .await
            .map_err(|e| {
                UploadError::new(
                    format!(
                        "{what} on remote '{}': cannot sign a read-only URL for the source ({e}); server-side \
                         copies in parts need the account key or a SAS token with read permission",
                        self.config.name
                    ),
                    false,
                )
            })?;
        let mut headers = vec![
            ("x-ms-copy-source".to_string(), parts.uri.to_string()),
            (
                "x-ms-source-range".to_string(),
                format!("bytes={offset}-{}", offset + len.max(1) - 1),
            ),
            ("content-length".to_string(), "0".to_string()),
        ];
        if let Some(etag) = if_match {
            headers.push(("x-ms-source-if-match".to_string(), etag.to_string()));
        }
        Ok(headers)
    }

    pub(super) async fn landed(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<LandedPart>, UploadError> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "PascalCase")]
        struct BlockList {
            #[serde(default)]
            uncommitted_blocks: Blocks,
        }
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "PascalCase")]
        struct Blocks {
            #[serde(default)]
            block: Vec<Block>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Block {
            name: String,
            size: u64,
        }
        let what = format!("listing the blocks of '{key}'");
        let url = self.url(key, "comp=blocklist&blocklisttype=uncommitted");
        let answer = match self
            .call(
                &what,
                http::Method::GET,
                url,
                &[],
                Buffer::new(),
                self.http.policy.timeout(),
            )
            .await
        {
            // No blob and no block yet.
            Err(e) if e.gone => return Ok(Vec::new()),
            other => other?,
        };
        let list: BlockList = quick_xml::de::from_reader(answer.body.as_ref())
            .map_err(|e| UploadError::new(format!("{what}: unreadable answer: {e}"), true))?;
        let prefix = format!("mbx-{upload_id}-");
        Ok(list
            .uncommitted_blocks
            .block
            .into_iter()
            .filter_map(|b| {
                let decoded = String::from_utf8(BASE64.decode(&b.name).ok()?).ok()?;
                let number = decoded.strip_prefix(&prefix)?.parse().ok()?;
                Some(LandedPart {
                    number,
                    etag: b.name,
                    size: b.size,
                    checksum: None,
                })
            })
            .collect())
    }

    pub(super) async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[LandedPart],
        metadata: &HashMap<String, String>,
    ) -> Result<(), UploadError> {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for p in parts {
            xml.push_str(&format!(
                "<Latest>{}</Latest>",
                Self::block_id(upload_id, p.number)
            ));
        }
        xml.push_str("</BlockList>");
        let mut headers: Vec<(String, String)> = metadata
            .iter()
            .map(|(k, v)| (format!("x-ms-meta-{k}"), v.clone()))
            .collect();
        headers.push(("content-type".into(), "application/xml".into()));
        headers.extend(self.customer_key.iter().cloned());
        let what = format!("committing the blocks of '{key}'");
        let url = self.url(key, "comp=blocklist");
        self.call(
            &what,
            http::Method::PUT,
            url,
            &headers,
            Buffer::from(xml),
            self.http.policy.commit_deadline(),
        )
        .await?;
        Ok(())
    }

    /// Azure has no call that drops uncommitted blocks alone; they expire after seven days, or go when the
    /// blob is next committed. Nothing to do here.
    pub(super) async fn abort(&self, _key: &str, _upload_id: &str) -> Result<(), UploadError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_part_copied_on_the_server_reads_its_source_through_a_read_only_sas() {
        let text = "[remotes.z]\ntype = \"azblob\"\ncontainer = \"c\"\naccount_name = \"acct\"\n\
                    account_key = \"a2V5a2V5a2V5a2V5\"\nendpoint = \"http://127.0.0.1:9/acct\"\nroot = \"/bk\"\n";
        let config = crate::remote::config_for_tests(text, "z");
        let u =
            AzblobUploads::new(&config, crate::remote::RequestPolicy::for_remote(&config)).unwrap();
        let h: HashMap<_, _> = u
            .copy_part_headers("copying", "d/x.bin", (4 << 20, 4 << 20), Some("\"0x8\""))
            .await
            .unwrap()
            .into_iter()
            .collect();
        let source = &h["x-ms-copy-source"];
        assert!(
            source.starts_with("http://127.0.0.1:9/acct/c/bk/d/x.bin?"),
            "{source}"
        );
        // A service SAS: read permission only, signed, with an expiry; never the account key itself.
        assert!(
            source.contains("sp=r&") || source.ends_with("sp=r"),
            "{source}"
        );
        assert!(
            source.contains("sig=") && source.contains("se="),
            "{source}"
        );
        assert!(!source.contains("a2V5a2V5"), "{source}");
        assert_eq!(h["x-ms-source-range"], "bytes=4194304-8388607");
        assert_eq!(h["x-ms-source-if-match"], "\"0x8\"");
        assert_eq!(h["content-length"], "0");
    }

    /// A customer-provided key goes on every block and on the commit; such a store copies nothing on the
    /// server (the service could not read the source without its key).
    #[tokio::test]
    async fn a_customer_key_goes_on_every_block_and_the_commit() {
        let (endpoint, seen) =
            crate::remote::test_server::start(|_| (201, Vec::new(), String::new())).await;
        let text = format!(
            "[remotes.z]\ntype = \"azblob\"\ncontainer = \"c\"\naccount_name = \"acct\"\n\
             account_key = \"a2V5a2V5a2V5a2V5\"\nendpoint = \"{endpoint}/acct\"\n\
             encryption_key = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\n"
        );
        let config = &crate::remote::config_for_tests(&text, "z");
        assert!(!config.copies_on_server());
        let u =
            AzblobUploads::new(config, crate::remote::RequestPolicy::for_remote(config)).unwrap();
        let part = u
            .put_part("big", "0123456789abcdef", 1, Buffer::from("block"), None)
            .await
            .expect("the block");
        u.complete("big", "0123456789abcdef", &[part], &HashMap::new())
            .await
            .expect("the commit");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        for r in &seen {
            assert_eq!(
                r.headers["x-ms-encryption-key"], "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
                "{}",
                r.target
            );
            assert_eq!(r.headers["x-ms-encryption-algorithm"], "AES256");
            assert_eq!(
                r.headers["x-ms-encryption-key-sha256"],
                config.options["encryption_key_sha256"]
            );
        }
    }
}
