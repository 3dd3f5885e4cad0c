//! The HTTP side of resumable uploads: one client per remote, bodies paced by the remote's bandwidth limit
//! and watched for stalls, and errors sorted into retryable or not.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;

use super::UploadError;
use crate::remote::policy::{BandwidthLimit, PACE_PIECE, RequestPolicy, Turn};

/// A request body, with the turn it holds under a bandwidth limit (passed on once the last byte is taken).
pub(crate) struct Body {
    pub data: opendal::Buffer,
    pub turn: Option<Turn>,
}

impl From<opendal::Buffer> for Body {
    fn from(data: opendal::Buffer) -> Body {
        Body { data, turn: None }
    }
}

/// A server's answer.
pub(crate) struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// One HTTP client per remote, following the remote's request policy.
#[derive(Clone)]
pub(crate) struct Http {
    pub client: reqwest::Client,
    pub policy: Arc<RequestPolicy>,
    pub remote: String,
}

impl Http {
    pub(crate) fn new(remote: &str, policy: Arc<RequestPolicy>) -> Result<Http, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(policy.timeout())
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Http {
            client,
            policy,
            remote: remote.to_string(),
        })
    }

    /// Signs the request `builder` describes (with no body yet) and sends it with `body`, as [`Self::send`].
    pub(crate) async fn send_signed<K: reqsign_core::SigningCredential>(
        &self,
        what: &str,
        signer: &reqsign_core::Signer<K>,
        builder: http::request::Builder,
        body: Body,
        deadline: Duration,
    ) -> Result<Answer, UploadError> {
        let (mut parts, ()) = builder
            .body(())
            .map_err(|e| UploadError::new(format!("{what}: bad request: {e}"), false))?
            .into_parts();
        signer.sign(&mut parts, None).await.map_err(|e| {
            UploadError::new(
                format!(
                    "{what} on remote '{}': cannot sign the request: {e}",
                    self.remote
                ),
                false,
            )
        })?;
        self.send(what, parts, body, deadline).await
    }

    /// Sends a signed request. A body goes out in pieces, paced by the bandwidth limit; the request fails
    /// as a stall when no piece is taken for `io_timeout`, however long the whole takes. Once the whole body
    /// is taken (or when there is none), the server has `deadline` to answer: completing a large upload
    /// can take it minutes, and cutting it short would make the retry find the upload already gone. The
    /// request holds one of the remote's request slots (`max_requests`, shared with OpenDAL) until its answer
    /// is read.
    async fn send(
        &self,
        what: &str,
        parts: http::request::Parts,
        Body { data: body, turn }: Body,
        deadline: Duration,
    ) -> Result<Answer, UploadError> {
        let _slot = self.policy.request_slot().await;
        let url = parts.uri.to_string();
        let mut req = self.client.request(parts.method.clone(), url);
        for (name, value) in &parts.headers {
            if name != http::header::HOST {
                req = req.header(name, value);
            }
        }
        let started = Instant::now();
        let progress = Arc::new(AtomicU64::new(0));
        let body_taken = Arc::new(AtomicBool::new(body.is_empty()));
        let len = body.len();
        let has_length = parts.headers.contains_key(http::header::CONTENT_LENGTH);
        if len > 0 {
            if !has_length {
                req = req.header(http::header::CONTENT_LENGTH, len);
            }
            req = req.body(reqwest::Body::wrap_stream(paced(
                body,
                (self.policy.bandwidth().cloned(), turn),
                Progress {
                    at: progress.clone(),
                    done: body_taken.clone(),
                    started,
                },
            )));
        } else if !has_length
            && parts.method != http::Method::GET
            && parts.method != http::Method::DELETE
            && parts.method != http::Method::HEAD
        {
            req = req.header(http::header::CONTENT_LENGTH, 0);
        }
        let exchange = async {
            let resp = req.send().await?;
            progress.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>(Answer {
                status,
                headers,
                body,
            })
        };
        let watchdog = async {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let last = progress.load(Ordering::Relaxed);
                if last == WAITING_OUR_TURN {
                    continue;
                }
                let silence = if body_taken.load(Ordering::Relaxed) {
                    deadline
                } else {
                    self.policy.io_timeout()
                };
                if started
                    .elapsed()
                    .saturating_sub(Duration::from_millis(last))
                    > silence
                {
                    return;
                }
            }
        };
        let answer = tokio::select! {
            r = exchange => r.map_err(|e| UploadError::new(
                format!("{what} on remote '{}': {}", self.remote, describe(&e)),
                true,
            ))?,
            () = watchdog => return Err(UploadError::new(
                if body_taken.load(Ordering::Relaxed) {
                    format!(
                        "{what} on remote '{}': no answer within {}s",
                        self.remote,
                        deadline.as_secs()
                    )
                } else {
                    format!(
                        "{what} on remote '{}': no progress for {}s (stalled connection)",
                        self.remote,
                        self.policy.io_timeout().as_secs()
                    )
                },
                true,
            )),
        };
        Ok(answer)
    }
}

/// Marks a body waiting for the bandwidth limit, not for the connection: no stall.
const WAITING_OUR_TURN: u64 = u64::MAX;

/// Where a body stands, as the stall watchdog reads it.
struct Progress {
    /// Milliseconds from `started` to the last piece taken, or [`WAITING_OUR_TURN`].
    at: Arc<AtomicU64>,
    /// Every piece has been taken.
    done: Arc<AtomicBool>,
    started: Instant,
}

/// The body as a stream of pieces, each waiting for the bandwidth limit and marking progress when the
/// connection takes it.
fn paced(
    body: opendal::Buffer,
    (limit, turn): (Option<Arc<BandwidthLimit>>, Option<Turn>),
    progress: Progress,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let turn = Arc::new(Mutex::new(turn));
    // The part's own chunks, cut to pieces: no byte is copied on its way to the connection.
    let pieces: Vec<Bytes> = Iterator::flat_map(body, |chunk| {
        (0..chunk.len())
            .step_by(PACE_PIECE)
            .map(move |at| chunk.slice(at..(at + PACE_PIECE).min(chunk.len())))
            .collect::<Vec<_>>()
    })
    .collect();
    let last = pieces.len().saturating_sub(1);
    let Progress { at, done, started } = progress;
    futures::stream::iter(pieces.into_iter().enumerate()).then(move |(i, piece)| {
        let limit = limit.clone();
        let at = at.clone();
        let done = done.clone();
        let turn = turn.clone();
        async move {
            if let Some(l) = &limit {
                at.store(WAITING_OUR_TURN, Ordering::Relaxed);
                l.take(piece.len()).await;
            }
            at.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            if i == last {
                done.store(true, Ordering::Relaxed);
                // The whole part is on its way: the next one may start sending.
                if let Ok(mut t) = turn.lock() {
                    t.take();
                }
            }
            Ok(piece)
        }
    })
}

/// A network error, with its cause chain (reqwest's top-level message alone says little).
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// Whether a status is worth another attempt.
pub(crate) fn retryable_status(status: http::StatusCode) -> bool {
    status.is_server_error()
        || status == http::StatusCode::TOO_MANY_REQUESTS
        || status == http::StatusCode::REQUEST_TIMEOUT
}

/// Percent-encodes a key for a URL path, keeping `/` (as S3 and Azure expect, and as OpenDAL does).
pub(crate) fn encode_path(key: &str) -> String {
    encode(key, true)
}

/// Percent-encodes a query value.
pub(crate) fn encode_query(value: &str) -> String {
    encode(value, false)
}

/// Everything but RFC 3986's unreserved characters, as SigV4 and OpenDAL encode.
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode(s: &str, keep_slash: bool) -> String {
    if keep_slash {
        s.split('/')
            .map(|part| percent_encoding::utf8_percent_encode(part, NOT_UNRESERVED).to_string())
            .collect::<Vec<_>>()
            .join("/")
    } else {
        percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
    }
}

/// Escapes text for an XML element.
pub(crate) fn xml_escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// A new id for an upload that the service does not name itself (Azure, `fs`): 16 hex digits, unique
/// across processes and runs.
pub(crate) fn new_upload_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = blake3::Hasher::new();
    h.update(&std::process::id().to_le_bytes());
    h.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(&now.as_nanos().to_le_bytes());
    h.finalize().to_hex()[..16].to_string()
}

/// Lets reqsign fetch credentials over HTTP (instance metadata, STS) with the same client.
#[derive(Debug, Clone)]
pub(crate) struct ReqwestSend(pub reqwest::Client);

impl reqsign_core::HttpSend for ReqwestSend {
    async fn http_send(
        &self,
        req: http::Request<Bytes>,
    ) -> reqsign_core::Result<http::Response<Bytes>> {
        let (parts, body) = req.into_parts();
        let mut r = self
            .0
            .request(parts.method, parts.uri.to_string())
            .body(body);
        for (name, value) in &parts.headers {
            r = r.header(name, value);
        }
        let resp = r.send().await.map_err(|e| {
            reqsign_core::Error::unexpected("credential request failed").with_source(e)
        })?;
        let mut out = http::Response::builder().status(resp.status());
        for (name, value) in resp.headers() {
            out = out.header(name, value);
        }
        let bytes = resp.bytes().await.map_err(|e| {
            reqsign_core::Error::unexpected("credential response failed").with_source(e)
        })?;
        out.body(bytes)
            .map_err(|e| reqsign_core::Error::unexpected("bad credential response").with_source(e))
    }
}

/// The `<Code>` and `<Message>` of an S3 or Azure XML error body, for error messages.
pub(crate) fn error_code(body: &[u8]) -> (String, String) {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct ServiceError {
        code: String,
        message: String,
    }
    let parsed: ServiceError = quick_xml::de::from_reader(body).unwrap_or_default();
    (parsed.code, parsed.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_keys_like_opendal() {
        assert_eq!(encode_path("a b/c+d%é"), "a%20b/c%2Bd%25%C3%A9");
        assert_eq!(encode_query("x/y=="), "x%2Fy%3D%3D");
    }

    #[test]
    fn reads_error_codes() {
        let (c, m) = error_code(b"<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>");
        assert_eq!((c.as_str(), m.as_str()), ("NoSuchUpload", "gone"));
        let azure = b"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>BlobNotFound</Code>\
            <Message>The specified blob does not exist.\nRequestId:1</Message></Error>";
        assert_eq!(error_code(azure).0, "BlobNotFound");
        assert_eq!(error_code(b"not xml"), (String::new(), String::new()));
        assert_eq!(xml_escape("a<b&\"c"), "a&lt;b&amp;&quot;c");
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(new_upload_token(), new_upload_token());
        assert_eq!(new_upload_token().len(), 16);
    }
}
