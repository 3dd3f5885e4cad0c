//! SIGTERM (how Kubernetes and systemd stop a process) stops a transfer as cleanly as Ctrl-C: the journal is
//! kept, the exit code is 143, and the next run resumes instead of starting over.

mod support;

use std::io::BufRead;
use std::process::Stdio;

use support::*;

#[test]
fn sigterm_stops_cleanly_and_the_next_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("src")).unwrap();
    let count = 40;
    for i in 0..count {
        std::fs::write(root.join(format!("src/f{i:02}")), bytes(i, 1 << 20)).unwrap();
    }
    let file = dir.path().join("r.toml");
    // 2 MiB/s after a 16 MiB burst: about twelve seconds for the 40 MiB tree, so the signal lands in the middle.
    std::fs::write(
        &file,
        format!(
            "[remotes.l]\ntype = \"fs\"\nroot = \"{}\"\nbwlimit = \"2MiB\"\n",
            root.display()
        ),
    )
    .unwrap();
    // The same remote without the limit, for the run that resumes.
    let unthrottled = dir.path().join("fast.toml");
    std::fs::write(
        &unthrottled,
        format!(
            "[remotes.l]\ntype = \"fs\"\nroot = \"{}\"\n",
            root.display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mbx"))
        .arg("--config")
        .arg(&file)
        .args([
            "--json",
            "transfer",
            "--transfers",
            "2",
            "--no-server-side",
            "l:src",
            "l:dst/",
        ])
        .env("MBX_STATE_DIR", dir.path().join("state"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    // Wait for the first object to land (bounded by the transfer itself: stdout closes when mbx exits).
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let copied = line.contains("\"event\":\"copied\"");
        lines.push(line);
        if copied {
            break;
        }
    }
    assert!(
        lines.iter().any(|l| l.contains("\"event\":\"copied\"")),
        "no object landed: {lines:?}"
    );
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = stdout.lines().map_while(Result::ok).collect();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(err.contains("stopping cleanly"), "{err}");
    let summary_line = rest
        .iter()
        .find(|l| l.contains("\"event\":\"summary\""))
        .unwrap_or_else(|| panic!("no summary after SIGTERM: {rest:?} {err}"));
    let s: serde_json::Value = serde_json::from_str(summary_line).unwrap();
    assert_eq!(s["interrupted"], true, "{s}");
    let first_copied = s["copied"].as_u64().unwrap();
    assert!(first_copied < count, "the signal came too late: {s}");
    assert!(!root.join("dst/src/.mbx/manifest.json").exists());
    // The next run skips what landed.
    let again = mbx_with(
        &unthrottled,
        dir.path().join("state").as_path(),
        &["--json", "transfer", "--no-server-side", "l:src", "l:dst/"],
    );
    assert_exit(&again, 0);
    let s2 = summary(&again);
    assert!(s2["skipped"].as_u64().unwrap() >= first_copied, "{s2}");
    assert_eq!(
        s2["skipped"].as_u64().unwrap() + s2["copied"].as_u64().unwrap(),
        count,
        "{s2}"
    );
}

/// A command waiting on a server that does not answer (here `ls` against a port that accepts and never
/// replies) stops at SIGTERM too, instead of waiting out its timeout.
#[test]
fn sigterm_stops_a_listing_that_waits_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let file = dir.path().join("r.toml");
    std::fs::write(
        &file,
        format!(
            "[remotes.s]\ntype = \"minio\"\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:{port}\"\n\
             access_key_id = \"a\"\nsecret_access_key = \"s\"\nretries = 0\n"
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mbx"))
        .arg("--config")
        .arg(&file)
        .args(["ls", "s:"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The request is in flight once the connection is there.
    let (_conn, _) = silent.accept().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("mbx ls did not stop within 20 s of SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(143));
}
