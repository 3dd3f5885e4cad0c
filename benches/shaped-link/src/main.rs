//! A shaped network link for mbx's benchmarks: a TCP proxy between a copier and one server that delays every
//! byte by half a round trip in each direction and caps each direction's bandwidth, shared by all
//! connections, as a link between regions does. Bench tooling, not part of mbx.
//!
//! usage: shaped-link --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT --rtt-ms MS --mbit MBIT
//!
//! Each direction is one queue: a chunk read from one side enters the link when the link has sent what
//! entered before it (so the cap holds across connections, and a sender is slowed by TCP's own flow control
//! while it waits), and is written to the other side half a round trip after it left. A new connection waits
//! one round trip before it reaches the server (TCP's handshake). The bytes each direction carried and the
//! connections accepted are printed on stderr when the proxy is stopped (SIGTERM or SIGINT). Only loopback addresses are accepted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Bytes read from a socket at a time: at 1 Gbit/s, half a millisecond of the link.
const CHUNK: usize = 64 << 10;
/// How far behind the clock the link's schedule may fall and be caught up: a few timer ticks.
const SLACK: Duration = Duration::from_millis(5);
/// Chunks on the wire at once per connection and direction: more than a bandwidth-delay product of 1 Gbit/s
/// at 100 ms (12.5 MB is 191 chunks), so the queue never limits the link.
const ON_THE_WIRE: usize = 512;

struct Settings {
    listen: SocketAddr,
    upstream: SocketAddr,
    one_way: Duration,
    bytes_per_second: f64,
}

/// One direction of the link, shared by every connection.
struct Direction {
    /// When the link has sent everything that entered it so far.
    free_at: Mutex<Instant>,
    bytes_per_second: f64,
    carried: AtomicU64,
}

impl Direction {
    fn new(bytes_per_second: f64) -> Direction {
        Direction {
            free_at: Mutex::new(Instant::now()),
            bytes_per_second,
            carried: AtomicU64::new(0),
        }
    }

    /// When a chunk of `len` bytes entering now has left the link's sending end. A link that idled less
    /// than [`SLACK`] ago is owed that time: a sender woken late by the timer does not lose the link's
    /// capacity (the cap holds over any span longer than the slack).
    fn enter(&self, len: usize) -> Instant {
        let mut free_at = self.free_at.lock().unwrap_or_else(|e| e.into_inner());
        let start = (*free_at).max(Instant::now() - SLACK);
        *free_at = start + Duration::from_secs_f64(len as f64 / self.bytes_per_second);
        self.carried.fetch_add(len as u64, Ordering::Relaxed);
        *free_at
    }
}

fn parse() -> Result<Settings, String> {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut upstream, mut rtt_ms, mut mbit) = (None, None, None, None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value),
            "--upstream" => upstream = Some(value),
            "--rtt-ms" => rtt_ms = Some(value),
            "--mbit" => mbit = Some(value),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let addr = |v: Option<String>, name: &str| -> Result<SocketAddr, String> {
        let v = v.ok_or(format!("{name} is required"))?;
        let a: SocketAddr = v
            .parse()
            .map_err(|e| format!("{name} {v}: {e} (write 127.0.0.1:PORT)"))?;
        if !a.ip().is_loopback() {
            return Err(format!("{name} {v}: only loopback addresses"));
        }
        Ok(a)
    };
    let number = |v: Option<String>, name: &str| -> Result<f64, String> {
        let v = v.ok_or(format!("{name} is required"))?;
        v.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .ok_or(format!("{name} {v}: not a number >= 0"))
    };
    let mbit = number(mbit, "--mbit")?;
    if mbit == 0.0 {
        return Err("--mbit must be above 0".into());
    }
    Ok(Settings {
        listen: addr(listen, "--listen")?,
        upstream: addr(upstream, "--upstream")?,
        one_way: Duration::from_secs_f64(number(rtt_ms, "--rtt-ms")? / 2000.0),
        bytes_per_second: mbit * 1e6 / 8.0,
    })
}

/// Carries one direction of one connection: reads chunks as the link takes them, writes each half a round trip
/// after it left.
async fn carry(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    link: Arc<Direction>,
    one_way: Duration,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(ON_THE_WIRE);
    let reader = async move {
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buf.truncate(n);
            let sent = link.enter(n);
            // The link is busy until then: the next chunk is read only after it, so the sender waits.
            tokio::time::sleep_until(sent).await;
            if tx.send((sent + one_way, buf)).await.is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, buf)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&buf).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

async fn serve(client: TcpStream, s: Arc<Settings>, up: Arc<Direction>, down: Arc<Direction>) {
    tokio::time::sleep(s.one_way * 2).await;
    let Ok(server) = TcpStream::connect(s.upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        carry(client_read, server_write, up, s.one_way),
        carry(server_read, client_write, down, s.one_way),
    );
}

#[tokio::main]
async fn main() {
    let s = match parse() {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("shaped-link: {e}");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(s.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("shaped-link: cannot listen on {}: {e}", s.listen);
            std::process::exit(1);
        }
    };
    let connections = Arc::new(AtomicU64::new(0));
    let up = Arc::new(Direction::new(s.bytes_per_second));
    let down = Arc::new(Direction::new(s.bytes_per_second));
    eprintln!(
        "shaped-link: {} -> {}, {:.0} ms round trip, {:.0} Mbit/s each way",
        s.listen,
        s.upstream,
        s.one_way.as_secs_f64() * 2000.0,
        s.bytes_per_second * 8.0 / 1e6
    );
    println!("ready");
    // SHAPED_LINK_TRACE=1: what each direction carried, every second, on stderr.
    if std::env::var_os("SHAPED_LINK_TRACE").is_some() {
        let (up, down, connections) = (up.clone(), down.clone(), connections.clone());
        tokio::spawn(async move {
            let (mut u0, mut d0, mut c0) = (0, 0, 0);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let (u, d, c) = (
                    up.carried.load(Ordering::Relaxed),
                    down.carried.load(Ordering::Relaxed),
                    connections.load(Ordering::Relaxed),
                );
                eprintln!(
                    "shaped-link: last second {:.1} MiB up, {:.1} MiB down, {} new connections",
                    (u - u0) as f64 / 1048576.0,
                    (d - d0) as f64 / 1048576.0,
                    c - c0
                );
                (u0, d0, c0) = (u, d, c);
            }
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    connections.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(serve(client, s.clone(), up.clone(), down.clone()));
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => break,
        }
    }
    eprintln!(
        "shaped-link: carried {} bytes up (to the server), {} bytes down, over {} connections",
        up.carried.load(Ordering::Relaxed),
        down.carried.load(Ordering::Relaxed),
        connections.load(Ordering::Relaxed)
    );
}
