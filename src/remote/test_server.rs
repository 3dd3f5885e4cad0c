//! A loopback HTTP/1.1 server for the request-shape tests of the remote clients: it records every request
//! (method, target, headers, body) and answers each with what the test's function returns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the server received it. Header names are lower-case.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    /// The path and the query.
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// An answer: status, headers, body.
pub(crate) type Answer = (u16, Vec<(&'static str, String)>, String);

/// Starts the server; returns its `http://127.0.0.1:PORT` and what it has seen so far. It runs until the
/// test's runtime ends.
pub(crate) async fn start(
    answer: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (log, answer) = (seen.clone(), Arc::new(answer));
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (log, answer) = (log.clone(), answer.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while let Some(request) = read_request(&mut conn, &mut buf).await {
                    log.lock().expect("the log").push(request.clone());
                    let (status, headers, body) = answer(&request);
                    let mut head =
                        format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                    for (k, v) in headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    head.push_str("\r\n");
                    let out = [head.into_bytes(), body.into_bytes()].concat();
                    if conn.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), seen)
}

/// The next request on the connection (`buf` keeps what was read past it), or `None` once it closes.
async fn read_request(conn: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<Seen> {
    let mut chunk = [0u8; 64 * 1024];
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = conn.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    buf.drain(..end + 4);
    while buf.len() < len {
        let n = conn.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf.drain(..len).collect();
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}
