//! The fault-injecting proxy (`tests/servers/faultproxy.py`) between mbx and a real server: started on
//! free loopback ports, configured over its control port, stopped by pid when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct FaultProxy {
    child: Child,
    /// The port clients connect to.
    pub port: u16,
    control: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (an `http://127.0.0.1:PORT` endpoint).
    pub fn start(upstream: &str) -> FaultProxy {
        let up = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let (port, control) = (free_port(), free_port());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/faultproxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--upstream", &up])
            .args(["--control", &format!("127.0.0.1:{control}")])
            .args(["--seed", "7"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs tests/servers/faultproxy.py");
        let stdout = child.stdout.take().expect("proxy stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.trim() == "ready" => {}
            other => {
                let _ = child.kill();
                panic!("the fault proxy did not start within 20 s: {other:?}");
            }
        }
        FaultProxy {
            child,
            port,
            control,
        }
    }

    /// The endpoint to give mbx.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn call(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut s = loop {
            match TcpStream::connect(("127.0.0.1", self.control)) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("fault proxy control port: {e}"),
            }
        };
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let (head, json) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(head.contains(" 200 "), "fault proxy {path}: {text}");
        serde_json::from_str(json).expect("fault proxy answers JSON")
    }

    /// Replaces the fault configuration (`{}` turns faults off).
    pub fn configure(&self, config: serde_json::Value) {
        self.call("POST", "/config", &config.to_string());
    }

    /// The proxy's counters.
    pub fn stats(&self) -> serde_json::Value {
        self.call("GET", "/stats", "")
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.call("POST", "/reset-stats", "");
    }

    /// Request-body bytes delivered to the server by PUT requests (parts and whole objects).
    pub fn put_bytes(&self) -> u64 {
        self.stats()["upstream_body_bytes"]["PUT"]
            .as_u64()
            .unwrap_or(0)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
