//! S3 multipart uploads by their id: create, upload a part, list the parts, complete, abort, and list the
//! unfinished uploads of a bucket. Requests are signed with AWS SigV4 (reqsign, as OpenDAL does).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::Digest;
use opendal::Buffer;
use reqsign_aws_v4::{
    AssumeRoleCredentialProvider, Credential, DefaultCredentialProvider, EnvCredentialProvider,
    RequestSigner, StaticCredentialProvider,
};
use reqsign_core::{Context, OsEnv, ProvideCredentialChain, Signer};
use serde::Deserialize;

use super::http::{
    Answer, Body, Http, ReqwestSend, encode_path, encode_query, error_code, retryable_status,
    xml_escape,
};
use super::{
    IncompleteUpload, Landed, LandedPart, RequestPolicy, UploadError, absolute_key, relative_key,
};
use crate::config::RemoteConfig;

pub(super) struct S3Uploads {
    config: RemoteConfig,
    http: Http,
    signer: Signer<Credential>,
    /// `scheme://host[:port]` plus `/bucket` for path-style addressing.
    base: String,
    bucket: String,
    /// Headers the remote's options put on the request that starts an upload (encryption, storage class,
    /// ACL, checksum algorithm), as OpenDAL's own writer sends them.
    at_start: Vec<(String, String)>,
    /// Headers on every request (the requester pays).
    every: Vec<(String, String)>,
    /// A customer-provided key (SSE-C): on the start, every part, the listing of parts and the completion.
    customer_key: Vec<(String, String)>,
    /// How each part is checked on arrival (`checksum_algorithm`).
    checksum: PartChecksum,
}

/// The remote's `checksum_algorithm`, for parts: the store checks each part against it on arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartChecksum {
    None,
    /// `x-amz-checksum-crc32c` on each part; the upload is started with the algorithm, and the completion
    /// names each part's checksum (the store refuses it otherwise).
    Crc32c,
    /// `Content-MD5` on each part. S3 starts no upload with MD5 as its algorithm (OpenDAL's writer refuses
    /// one), but checks each part's MD5 all the same.
    Md5,
}

impl PartChecksum {
    fn of(option: Option<&str>) -> Result<PartChecksum, String> {
        match option {
            None => Ok(PartChecksum::None),
            Some("crc32c") => Ok(PartChecksum::Crc32c),
            Some("md5") => Ok(PartChecksum::Md5),
            Some(other) => Err(format!(
                "key 'checksum_algorithm' is '{other}': use crc32c or md5, or remove it"
            )),
        }
    }

    /// The header that carries `data`'s checksum, and the checksum, where parts have one.
    fn header(self, data: &Buffer) -> Option<(String, String)> {
        match self {
            PartChecksum::None => None,
            PartChecksum::Crc32c => {
                let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi);
                data.clone().for_each(|chunk| crc.update(&chunk));
                let crc = crc.finalize() as u32;
                Some((
                    "x-amz-checksum-crc32c".into(),
                    BASE64.encode(crc.to_be_bytes()),
                ))
            }
            PartChecksum::Md5 => {
                let mut md5 = md5::Md5::new();
                data.clone().for_each(|chunk| md5.update(&chunk));
                Some(("content-md5".into(), BASE64.encode(md5.finalize())))
            }
        }
    }
}

/// Options that become headers on the request that starts an upload.
const START_HEADERS: [(&str, &str); 4] = [
    ("server_side_encryption", "x-amz-server-side-encryption"),
    (
        "server_side_encryption_aws_kms_key_id",
        "x-amz-server-side-encryption-aws-kms-key-id",
    ),
    ("default_storage_class", "x-amz-storage-class"),
    ("default_acl", "x-amz-acl"),
];

/// A customer-provided key's options and their headers (the configuration fills in the algorithm and the
/// MD5, see `config::customer_key`).
const CUSTOMER_KEY_HEADERS: [(&str, &str); 3] = [
    (
        "server_side_encryption_customer_algorithm",
        "server-side-encryption-customer-algorithm",
    ),
    (
        "server_side_encryption_customer_key",
        "server-side-encryption-customer-key",
    ),
    (
        "server_side_encryption_customer_key_md5",
        "server-side-encryption-customer-key-md5",
    ),
];

impl S3Uploads {
    pub(super) fn new(
        config: &RemoteConfig,
        policy: Arc<RequestPolicy>,
    ) -> Result<S3Uploads, String> {
        let opt = |k: &str| config.options.get(k).filter(|v| !v.is_empty()).cloned();
        let checksum = PartChecksum::of(opt("checksum_algorithm").as_deref())?;
        let customer_key: Vec<(String, String)> = CUSTOMER_KEY_HEADERS
            .iter()
            .filter_map(|(k, h)| opt(k).map(|v| (format!("x-amz-{h}"), v)))
            .collect();
        let mut at_start: Vec<(String, String)> = START_HEADERS
            .iter()
            .filter_map(|(k, h)| opt(k).map(|v| (h.to_string(), v)))
            .chain(customer_key.iter().cloned())
            .collect();
        if checksum == PartChecksum::Crc32c {
            at_start.push(("x-amz-checksum-algorithm".into(), "CRC32C".into()));
        }
        let every = match opt("enable_request_payer").as_deref() {
            Some("true") => vec![("x-amz-request-payer".to_string(), "requester".to_string())],
            _ => Vec::new(),
        };
        let region = opt("region").unwrap_or_else(|| "us-east-1".into());
        let bucket = opt("bucket").ok_or("missing key 'bucket'")?;
        let endpoint = opt("endpoint")
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"))
            .trim_end_matches('/')
            .to_string();
        let virtual_host = opt("enable_virtual_host_style").is_some_and(|v| v == "true");
        let base = if virtual_host {
            match endpoint.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{bucket}.{host}"),
                None => format!("https://{bucket}.{endpoint}"),
            }
        } else {
            format!("{endpoint}/{bucket}")
        };
        let http = Http::new(&config.name, policy)?;
        let ctx = Context::new()
            .with_file_read(reqsign_file_read_tokio::TokioFileRead)
            .with_http_send(ReqwestSend(http.client.clone()))
            .with_env(OsEnv);
        let signer = Signer::new(
            ctx.clone(),
            credentials(config, &ctx, &region)?,
            RequestSigner::new("s3", &region),
        );
        Ok(S3Uploads {
            config: config.clone(),
            http,
            signer,
            base,
            bucket,
            at_start,
            every,
            customer_key,
            checksum,
        })
    }

    fn url(&self, key: &str, query: &str) -> String {
        let path = encode_path(&absolute_key(&self.config, key));
        if query.is_empty() {
            format!("{}/{path}", self.base)
        } else {
            format!("{}/{path}?{query}", self.base)
        }
    }

    async fn call(
        &self,
        what: &str,
        method: http::Method,
        url: String,
        headers: &[(String, String)],
        body: impl Into<Body>,
        deadline: Duration,
    ) -> Result<Answer, UploadError> {
        let body = body.into();
        let mut builder = http::Request::builder()
            .method(method)
            .uri(&url)
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
        for (k, v) in headers.iter().chain(&self.every) {
            builder = builder.header(k, v);
        }
        let answer = self
            .http
            .send_signed(what, &self.signer, builder, body, deadline)
            .await?;
        let (status, bytes) = (answer.status, &answer.body);
        // CompleteMultipartUpload can answer 200 with an error in the body.
        let error_in_body = status.is_success() && bytes.starts_with(b"<?xml") && {
            let (code, _) = error_code(bytes);
            !code.is_empty() && bytes.windows(7).any(|w| w == b"<Error>")
        };
        if status.is_success() && !error_in_body {
            return Ok(answer);
        }
        let (code, message) = error_code(bytes);
        Err(UploadError {
            message: format!(
                "{what} on remote '{}': {status} {code} {message}",
                self.config.name
            )
            .trim_end()
            .to_string(),
            retryable: retryable_status(status) || code == "SlowDown" || code == "InternalError",
            gone: code == "NoSuchUpload" || status == http::StatusCode::NOT_FOUND,
        })
    }

    pub(super) async fn begin(
        &self,
        key: &str,
        metadata: &HashMap<String, String>,
    ) -> Result<String, UploadError> {
        let headers: Vec<(String, String)> = metadata
            .iter()
            .map(|(k, v)| (format!("x-amz-meta-{k}"), v.clone()))
            .chain(self.at_start.iter().cloned())
            .collect();
        let what = format!("starting the upload of '{key}'");
        let body = self
            .call(
                &what,
                http::Method::POST,
                self.url(key, "uploads"),
                &headers,
                Buffer::new(),
                self.http.policy.timeout(),
            )
            .await?;
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Initiated {
            upload_id: String,
        }
        let parsed: Initiated = quick_xml::de::from_reader(body.body.as_ref())
            .map_err(|e| UploadError::new(format!("{what}: unreadable answer: {e}"), true))?;
        Ok(parsed.upload_id)
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
        let what = format!("uploading part {number} of '{key}'");
        let url = self.url(
            key,
            &format!("partNumber={number}&uploadId={}", encode_query(upload_id)),
        );
        let sum = self.checksum.header(&data);
        let headers: Vec<(String, String)> = self
            .customer_key
            .iter()
            .cloned()
            .chain(sum.clone())
            .collect();
        let answer = self
            .call(
                &what,
                http::Method::PUT,
                url,
                &headers,
                Body { data, turn },
                self.http.policy.io_timeout(),
            )
            .await?;
        let etag = answer
            .headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                UploadError::new(
                    format!("{what}: the server sent no ETag for the part"),
                    true,
                )
            })?;
        // Only a CRC32C upload names its parts' checksums when it completes.
        let checksum = sum
            .filter(|_| self.checksum == PartChecksum::Crc32c)
            .map(|(_, v)| v);
        Ok(LandedPart {
            number,
            etag,
            size,
            checksum,
        })
    }

    /// UploadPartCopy: the server copies `range` (offset, length) of `from`, an object of the same bucket,
    /// into part `number`, only while `from` still has the ETag `if_match`.
    pub(super) async fn copy_part(
        &self,
        (key, upload_id, number): (&str, &str, u32),
        from: &str,
        (offset, len): (u64, u64),
        if_match: Option<&str>,
    ) -> Result<LandedPart, UploadError> {
        let what = format!("copying part {number} of '{key}' from '{from}' on the server");
        let url = self.url(
            key,
            &format!("partNumber={number}&uploadId={}", encode_query(upload_id)),
        );
        let headers = self.copy_part_headers(from, (offset, len), if_match);
        let answer = self
            .call(
                &what,
                http::Method::PUT,
                url,
                &headers,
                Buffer::new(),
                self.http.policy.commit_deadline(),
            )
            .await?;
        #[derive(Deserialize)]
        struct CopyPartResult {
            #[serde(rename = "ETag")]
            etag: String,
            #[serde(rename = "ChecksumCRC32C")]
            checksum_crc32c: Option<String>,
        }
        let parsed: CopyPartResult = quick_xml::de::from_reader(answer.body.as_ref())
            .map_err(|e| UploadError::new(format!("{what}: unreadable answer: {e}"), true))?;
        Ok(LandedPart {
            number,
            etag: parsed.etag,
            size: len,
            checksum: parsed.checksum_crc32c,
        })
    }

    fn copy_part_headers(
        &self,
        from: &str,
        (offset, len): (u64, u64),
        if_match: Option<&str>,
    ) -> Vec<(String, String)> {
        let source = format!(
            "/{}/{}",
            self.bucket,
            encode_path(&absolute_key(&self.config, from))
        );
        let mut headers = vec![
            ("x-amz-copy-source".to_string(), source),
            (
                "x-amz-copy-source-range".to_string(),
                format!("bytes={offset}-{}", offset + len.max(1) - 1),
            ),
        ];
        if let Some(etag) = if_match {
            headers.push(("x-amz-copy-source-if-match".to_string(), etag.to_string()));
        }
        headers.extend(self.customer_key.iter().cloned());
        // The source is an object of this remote, so it has the same key.
        headers.extend(
            self.customer_key
                .iter()
                .map(|(h, v)| (h.replacen("x-amz-", "x-amz-copy-source-", 1), v.clone())),
        );
        headers
    }

    pub(super) async fn landed(&self, key: &str, upload_id: &str) -> Result<Landed, UploadError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct ListParts {
            #[serde(default)]
            part: Vec<Part>,
            #[serde(default)]
            is_truncated: bool,
            next_part_number_marker: Option<u32>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Part {
            part_number: u32,
            #[serde(rename = "ETag")]
            etag: Option<String>,
            size: Option<u64>,
            #[serde(rename = "ChecksumCRC32C")]
            checksum_crc32c: Option<String>,
        }
        let what = format!("listing the parts of '{key}'");
        let mut out = Vec::new();
        let mut marker = 0u32;
        loop {
            let url = self.url(
                key,
                &format!(
                    "part-number-marker={marker}&uploadId={}",
                    encode_query(upload_id)
                ),
            );
            let body = match self
                .call(
                    &what,
                    http::Method::GET,
                    url,
                    &self.customer_key,
                    Buffer::new(),
                    self.http.policy.timeout(),
                )
                .await
            {
                Err(e) if e.gone => return Ok(Landed::Gone),
                other => other?,
            };
            let page: ListParts = quick_xml::de::from_reader(body.body.as_ref())
                .map_err(|e| UploadError::new(format!("{what}: unreadable answer: {e}"), true))?;
            for p in page.part {
                // Without its ETag and size, a listed part cannot be told from another upload's.
                let (Some(etag), Some(size)) = (p.etag.filter(|e| !e.is_empty()), p.size) else {
                    return Ok(Landed::Untrusted {
                        why: format!(
                            "remote '{}' lists part {} of '{key}' without its ETag or size",
                            self.http.remote, p.part_number
                        ),
                    });
                };
                out.push(LandedPart {
                    number: p.part_number,
                    etag,
                    size,
                    checksum: p.checksum_crc32c.filter(|c| !c.is_empty()),
                });
            }
            match page.next_part_number_marker {
                Some(next) if page.is_truncated && next > marker => marker = next,
                _ => break,
            }
        }
        Ok(Landed::Parts(out))
    }

    pub(super) async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[LandedPart],
    ) -> Result<(), UploadError> {
        let what = format!("completing the upload of '{key}'");
        let listed = self.checksums_of(key, upload_id, parts).await?;
        let mut xml = String::from("<CompleteMultipartUpload>");
        for p in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag>",
                p.number,
                xml_escape(&p.etag)
            ));
            if self.checksum == PartChecksum::Crc32c {
                let sum = p
                    .checksum
                    .as_ref()
                    .or_else(|| listed.get(&p.number))
                    .ok_or_else(|| {
                        UploadError::new(
                            format!("{what}: the store lists no CRC32C for part {}", p.number),
                            false,
                        )
                    })?;
                xml.push_str(&format!(
                    "<ChecksumCRC32C>{}</ChecksumCRC32C>",
                    xml_escape(sum)
                ));
            }
            xml.push_str("</Part>");
        }
        xml.push_str("</CompleteMultipartUpload>");
        let url = self.url(key, &format!("uploadId={}", encode_query(upload_id)));
        let headers: Vec<(String, String)> =
            [("content-type".to_string(), "application/xml".to_string())]
                .into_iter()
                .chain(self.customer_key.iter().cloned())
                .collect();
        self.call(
            &what,
            http::Method::POST,
            url,
            &headers,
            Buffer::from(xml),
            self.http.policy.commit_deadline(),
        )
        .await?;
        Ok(())
    }

    /// For a CRC32C upload, the checksums the store holds of parts whose record has none (a journal written
    /// before the remote asked for checksums): the completion must name every part's.
    async fn checksums_of(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[LandedPart],
    ) -> Result<HashMap<u32, String>, UploadError> {
        if self.checksum != PartChecksum::Crc32c || parts.iter().all(|p| p.checksum.is_some()) {
            return Ok(HashMap::new());
        }
        Ok(match self.landed(key, upload_id).await? {
            Landed::Parts(listed) => listed
                .into_iter()
                .filter_map(|p| Some((p.number, p.checksum?)))
                .collect(),
            _ => HashMap::new(),
        })
    }

    pub(super) async fn abort(&self, key: &str, upload_id: &str) -> Result<(), UploadError> {
        let what = format!("aborting the upload of '{key}'");
        let url = self.url(key, &format!("uploadId={}", encode_query(upload_id)));
        match self
            .call(
                &what,
                http::Method::DELETE,
                url,
                &[],
                Buffer::new(),
                self.http.policy.timeout(),
            )
            .await
        {
            Err(e) if e.gone => Ok(()),
            other => other.map(|_| ()),
        }
    }

    pub(super) async fn list_incomplete(
        &self,
        prefix: &str,
    ) -> Result<Vec<IncompleteUpload>, UploadError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Listing {
            #[serde(default)]
            upload: Vec<Upload>,
            #[serde(default)]
            is_truncated: bool,
            next_key_marker: Option<String>,
            next_upload_id_marker: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Upload {
            key: String,
            upload_id: String,
            #[serde(default)]
            initiated: String,
        }
        let what = "listing unfinished uploads";
        let abs_prefix = absolute_key(&self.config, prefix);
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker) = (String::new(), String::new());
        loop {
            let mut query = format!("uploads&prefix={}", encode_query(&abs_prefix));
            if !key_marker.is_empty() {
                query.push_str(&format!(
                    "&key-marker={}&upload-id-marker={}",
                    encode_query(&key_marker),
                    encode_query(&id_marker)
                ));
            }
            let url = format!("{}/?{query}", self.base);
            let body = self
                .call(
                    what,
                    http::Method::GET,
                    url,
                    &[],
                    Buffer::new(),
                    self.http.policy.timeout(),
                )
                .await?;
            let page: Listing = quick_xml::de::from_reader(body.body.as_ref())
                .map_err(|e| UploadError::new(format!("{what}: unreadable answer: {e}"), true))?;
            out.extend(page.upload.into_iter().map(|u| IncompleteUpload {
                key: relative_key(&self.config, &u.key),
                upload_id: u.upload_id,
                initiated: u.initiated,
            }));
            match (page.next_key_marker, page.next_upload_id_marker) {
                (Some(k), Some(i)) if page.is_truncated && (k != key_marker || i != id_marker) => {
                    key_marker = k;
                    id_marker = i;
                }
                _ => break,
            }
        }
        Ok(out)
    }
}

/// Where the upload client's credentials come from, as OpenDAL's S3 service has them: the remote's keys, or
/// else the environment (the SDK's whole chain where the remote allows credential lookup); with `role_arn`,
/// those credentials assume the role through STS, and the role's are used.
fn credentials(
    config: &RemoteConfig,
    ctx: &Context,
    region: &str,
) -> Result<ProvideCredentialChain<Credential>, String> {
    let opt = |k: &str| config.options.get(k).filter(|v| !v.is_empty()).cloned();
    let own = match (opt("access_key_id"), opt("secret_access_key")) {
        (Some(ak), Some(sk)) => {
            let mut p = StaticCredentialProvider::new(&ak, &sk);
            if let Some(token) = opt("session_token") {
                p = p.with_session_token(&token);
            }
            ProvideCredentialChain::new().push(p)
        }
        _ if config.settings.credential_lookup => {
            ProvideCredentialChain::new().push(DefaultCredentialProvider::new())
        }
        _ => ProvideCredentialChain::new().push(EnvCredentialProvider::new()),
    };
    let Some(role_arn) = opt("role_arn") else {
        return Ok(own);
    };
    if opt("assume_role_session_tags").is_some() {
        // OpenDAL takes the tags as a map, which a remotes file cannot give it as text: refused, never dropped.
        return Err(
            "key 'assume_role_session_tags' is not supported by mbx: remove it, or tag the role's sessions in its \
             trust policy"
                .into(),
        );
    }
    let sts = Signer::new(ctx.clone(), own, RequestSigner::new("sts", region));
    let mut role = AssumeRoleCredentialProvider::new(role_arn, sts)
        .with_region(region.to_string())
        .with_regional_sts_endpoint();
    if let Some(id) = opt("external_id") {
        role = role.with_external_id(id);
    }
    if let Some(name) = opt("role_session_name") {
        role = role.with_role_session_name(name);
    }
    if let Some(seconds) = opt("assume_role_duration_seconds") {
        let seconds = seconds.parse().map_err(|_| {
            format!(
                "key 'assume_role_duration_seconds' is '{seconds}': give a whole number of seconds"
            )
        })?;
        role = role.with_duration_seconds(seconds);
    }
    Ok(ProvideCredentialChain::new().push(role))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uploads(extra: &str) -> Result<S3Uploads, String> {
        uploads_at("http://127.0.0.1:9", extra)
    }

    fn uploads_at(endpoint: &str, extra: &str) -> Result<S3Uploads, String> {
        let text = format!(
            "[remotes.s]\ntype = \"s3\"\nbucket = \"b\"\nendpoint = \"{endpoint}\"\n\
             access_key_id = \"ak\"\nsecret_access_key = \"sk\"\n{extra}"
        );
        let config = crate::remote::config_for_tests(&text, "s");
        S3Uploads::new(&config, crate::remote::RequestPolicy::for_remote(&config))
    }

    #[tokio::test]
    async fn the_remotes_encryption_class_and_payer_go_on_the_upload() {
        let u = uploads(
            "server_side_encryption = \"aws:kms\"\nserver_side_encryption_aws_kms_key_id = \"k1\"\n\
             default_storage_class = \"STANDARD_IA\"\nenable_request_payer = true\n",
        )
        .unwrap();
        let start: HashMap<_, _> = u.at_start.iter().cloned().collect();
        assert_eq!(start["x-amz-server-side-encryption"], "aws:kms");
        assert_eq!(start["x-amz-server-side-encryption-aws-kms-key-id"], "k1");
        assert_eq!(start["x-amz-storage-class"], "STANDARD_IA");
        assert_eq!(
            u.every,
            [("x-amz-request-payer".to_string(), "requester".to_string())]
        );
        let plain = uploads("").unwrap();
        assert!(plain.at_start.is_empty() && plain.every.is_empty());
    }

    #[test]
    fn a_part_copied_on_the_server_names_its_source_range_and_version() {
        let u = uploads("root = \"/backup\"\n").unwrap();
        let h: HashMap<_, _> = u
            .copy_part_headers("a b/x.bin", (8 << 20, 8 << 20), Some("\"e1\""))
            .into_iter()
            .collect();
        assert_eq!(h["x-amz-copy-source"], "/b/backup/a%20b/x.bin");
        assert_eq!(h["x-amz-copy-source-range"], "bytes=8388608-16777215");
        assert_eq!(h["x-amz-copy-source-if-match"], "\"e1\"");
        let unpinned = u.copy_part_headers("k", (0, 5), None);
        assert_eq!(unpinned.len(), 2);
        assert_eq!(unpinned[1].1, "bytes=0-4");
    }

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    /// A loopback S3 that starts uploads, takes parts (ETag "e<n>"), lists them with a CRC32C each, and
    /// completes them.
    async fn stub_s3() -> (
        String,
        Arc<std::sync::Mutex<Vec<crate::remote::test_server::Seen>>>,
    ) {
        crate::remote::test_server::start(|r| {
            let xml = |body: &str| (200, vec![("content-type", "application/xml".into())], body.into());
            match (r.method.as_str(), r.target.contains("partNumber=")) {
                ("POST", _) if r.target.ends_with("?uploads") => xml(
                    "<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>",
                ),
                ("PUT", true) => {
                    let n = r.target.split("partNumber=").nth(1).unwrap_or("").split('&').next().unwrap_or("");
                    (200, vec![("etag", format!("\"e{n}\""))], String::new())
                }
                ("GET", _) => xml(
                    "<ListPartsResult><Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag><Size>9</Size>\
                     <ChecksumCRC32C>listed2</ChecksumCRC32C></Part><IsTruncated>false</IsTruncated></ListPartsResult>",
                ),
                ("POST", _) => xml("<CompleteMultipartUploadResult><ETag>\"x\"</ETag></CompleteMultipartUploadResult>"),
                _ => (400, Vec::new(), String::new()),
            }
        })
        .await
    }

    /// SSE-C and CRC32C: the key goes on every request of the upload, each part carries its checksum, and the
    /// completion names every part's, the journal's or, for a part journaled without one, the store's.
    #[tokio::test]
    async fn a_customer_key_and_crc32c_go_on_every_request_of_an_upload() {
        let (endpoint, seen) = stub_s3().await;
        let u = uploads_at(
            &endpoint,
            &format!(
                "server_side_encryption_customer_key = \"{KEY}\"\nchecksum_algorithm = \"crc32c\"\n"
            ),
        )
        .expect("an upload client");
        let id = u.begin("big", &HashMap::new()).await.expect("begin");
        assert_eq!(id, "u1");
        let one = u
            .put_part("big", &id, 1, Buffer::from("123456789"), None)
            .await
            .expect("part 1");
        // CRC32C("123456789") is 0xE3069283.
        assert_eq!(one.checksum.as_deref(), Some("4waSgw=="));
        let journaled_without = LandedPart {
            number: 2,
            etag: "\"e2\"".into(),
            size: 9,
            checksum: None,
        };
        u.complete("big", &id, &[one, journaled_without])
            .await
            .expect("complete");

        let seen = seen.lock().unwrap().clone();
        let methods: Vec<&str> = seen.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(
            methods,
            ["POST", "PUT", "GET", "POST"],
            "start, part, list (for part 2), complete"
        );
        let md5 = BASE64.encode(md5::Md5::digest(b"0123456789abcdef0123456789abcdef"));
        for r in &seen {
            let h = &r.headers;
            assert_eq!(
                h["x-amz-server-side-encryption-customer-algorithm"], "AES256",
                "{}",
                r.target
            );
            assert_eq!(
                h["x-amz-server-side-encryption-customer-key"], KEY,
                "{}",
                r.target
            );
            assert_eq!(
                h["x-amz-server-side-encryption-customer-key-md5"], md5,
                "{}",
                r.target
            );
        }
        assert_eq!(seen[0].headers["x-amz-checksum-algorithm"], "CRC32C");
        assert_eq!(seen[1].headers["x-amz-checksum-crc32c"], "4waSgw==");
        let body = String::from_utf8_lossy(&seen[3].body);
        assert!(body.contains("<PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag><ChecksumCRC32C>4waSgw==</ChecksumCRC32C>"), "{body}");
        assert!(body.contains("<PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag><ChecksumCRC32C>listed2</ChecksumCRC32C>"), "{body}");
    }

    /// `md5`: S3 starts no MD5 upload, but each part carries its Content-MD5; nothing else changes.
    #[tokio::test]
    async fn an_md5_checksum_goes_on_each_part_not_on_the_upload() {
        let (endpoint, seen) = stub_s3().await;
        let u = uploads_at(&endpoint, "checksum_algorithm = \"md5\"\n").expect("an upload client");
        let id = u.begin("big", &HashMap::new()).await.expect("begin");
        let one = u
            .put_part("big", &id, 1, Buffer::from("123456789"), None)
            .await
            .expect("part");
        assert_eq!(
            one.checksum, None,
            "the completion of an MD5 upload names no checksums"
        );
        u.complete("big", &id, &[one]).await.expect("complete");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3);
        assert!(!seen[0].headers.contains_key("x-amz-checksum-algorithm"));
        assert_eq!(
            seen[1].headers["content-md5"],
            BASE64.encode(md5::Md5::digest(b"123456789"))
        );
        assert!(!String::from_utf8_lossy(&seen[2].body).contains("Checksum"));
        assert!(seen.iter().all(|r| {
            !r.headers
                .contains_key("x-amz-server-side-encryption-customer-key")
        }));
    }

    #[test]
    fn a_part_copied_on_the_server_names_the_customer_key_of_source_and_destination() {
        let u = uploads(&format!(
            "server_side_encryption_customer_key = \"{KEY}\"\n"
        ))
        .unwrap();
        let h: HashMap<_, _> = u.copy_part_headers("k", (0, 5), None).into_iter().collect();
        for side in ["x-amz-", "x-amz-copy-source-"] {
            assert_eq!(
                h[&format!("{side}server-side-encryption-customer-key")],
                KEY
            );
            assert_eq!(
                h[&format!("{side}server-side-encryption-customer-algorithm")],
                "AES256"
            );
            assert!(h.contains_key(&format!("{side}server-side-encryption-customer-key-md5")));
        }
    }

    #[tokio::test]
    async fn an_option_the_client_cannot_honour_is_refused_by_name() {
        let e = uploads("checksum_algorithm = \"sha1\"\n")
            .err()
            .expect("refused");
        assert!(
            e.contains("'checksum_algorithm'") && e.contains("crc32c"),
            "{e}"
        );
        let e =
            uploads("role_arn = \"arn:aws:iam::1:role/r\"\nassume_role_session_tags = \"a=b\"\n")
                .err()
                .expect("refused");
        assert!(e.contains("'assume_role_session_tags'"), "{e}");
    }

    /// An STS that hands out the role's credentials and records what it was asked.
    #[derive(Debug, Default, Clone)]
    struct FakeSts(Arc<std::sync::Mutex<Vec<String>>>);

    impl reqsign_core::HttpSend for FakeSts {
        async fn http_send(
            &self,
            req: http::Request<bytes::Bytes>,
        ) -> reqsign_core::Result<http::Response<bytes::Bytes>> {
            self.0.lock().unwrap().push(req.uri().to_string());
            let body = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLEEXAMPLE12345</AccessKeyId>\
                        <SecretAccessKey>role-secret</SecretAccessKey><SessionToken>role-token</SessionToken>\
                        <Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult>\
                        </AssumeRoleResponse>";
            Ok(http::Response::new(bytes::Bytes::from(body)))
        }
    }

    /// With `role_arn`, the remote's own keys assume the role (with its external id and session name), and
    /// the upload's requests are signed with the role's credentials.
    #[tokio::test]
    async fn with_role_arn_uploads_are_signed_by_the_assumed_role() {
        let text = "[remotes.s]\ntype = \"s3\"\nbucket = \"b\"\nregion = \"eu-west-1\"\naccess_key_id = \"AKIAOWN\"\n\
                    secret_access_key = \"own\"\nrole_arn = \"arn:aws:iam::123456789012:role/backup\"\n\
                    external_id = \"tenant-7\"\nrole_session_name = \"mbx-test\"\n";
        let config = &crate::remote::config_for_tests(text, "s");
        let sts = FakeSts::default();
        let ctx = Context::new().with_http_send(sts.clone()).with_env(OsEnv);
        let signer = Signer::new(
            ctx.clone(),
            credentials(config, &ctx, "eu-west-1").expect("credentials"),
            RequestSigner::new("s3", "eu-west-1"),
        );
        let (mut parts, ()) = http::Request::get("https://b.s3.eu-west-1.amazonaws.com/k")
            .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
            .body(())
            .unwrap()
            .into_parts();
        signer.sign(&mut parts, None).await.expect("signed");
        let auth = parts.headers["authorization"].to_str().unwrap();
        assert!(auth.contains("Credential=ASIAROLEEXAMPLE12345/"), "{auth}");
        assert_eq!(parts.headers["x-amz-security-token"], "role-token");
        let asked = sts.0.lock().unwrap().clone();
        assert_eq!(asked.len(), 1);
        assert!(
            asked[0].starts_with("https://sts.eu-west-1.amazonaws.com/"),
            "{}",
            asked[0]
        );
        for part in [
            "Action=AssumeRole",
            "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fbackup",
            "ExternalId=tenant-7",
            "RoleSessionName=mbx-test",
        ] {
            assert!(asked[0].contains(part), "{part} in {}", asked[0]);
        }
    }
}
