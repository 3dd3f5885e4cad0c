//! An interrupted transfer (Ctrl-C or kill -9) resumes without re-sending what landed; a re-run copies only
//! what changed; `mbx verify` names every object that does not match the manifest.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

fn spawn_mbx(state: &std::path::Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_mbx"))
        .arg("--config")
        .arg(remotes_file())
        .args(args)
        .env("MBX_STATE_DIR", state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mbx")
}

#[tokio::test(flavor = "multi_thread")]
async fn rerun_copies_only_what_changed_or_went_missing() {
    if skip_without_servers() {
        return;
    }
    let (src, dst) = (remote("local"), remote("s3a"));
    let state = tempfile::tempdir().unwrap();
    let root = unique("rerun");
    let tree = mixed_tree(30, 0);
    put_tree(&src, &format!("{root}/b"), &tree).await;
    let args = [
        "--json",
        "transfer",
        &format!("local:{root}/b"),
        &format!("s3a:{root}/out"),
        "--part-size",
        "5MiB",
    ];
    assert_exit(&mbx(state.path(), &args), 0);

    // Change one source object (new size), delete one destination object.
    let changed = tree.keys().nth(3).unwrap().clone();
    let deleted = tree.keys().nth(7).unwrap().clone();
    src.op()
        .write(&format!("{root}/b/{changed}"), b"new content".to_vec())
        .await
        .unwrap();
    dst.op()
        .delete(&format!("{root}/out/{deleted}"))
        .await
        .unwrap();
    let out = mbx(state.path(), &args);
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(s["copied"], 2, "{s}");
    assert_eq!(s["skipped"], tree.len() as u64 - 2, "{s}");
    let mut want = tree.clone();
    want.insert(changed, b"new content".to_vec());
    assert_same_tree(&read_tree(&dst, &format!("{root}/out")).await, &want);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_each_corrupt_or_missing_object() {
    if skip_without_servers() {
        return;
    }
    let (src, dst) = (remote("local"), remote("azure"));
    let state = tempfile::tempdir().unwrap();
    let root = unique("verify");
    let tree = mixed_tree(20, 0);
    put_tree(&src, &format!("{root}/b"), &tree).await;
    assert_exit(
        &mbx(
            state.path(),
            &[
                "transfer",
                &format!("local:{root}/b"),
                &format!("azure:{root}/out"),
            ],
        ),
        0,
    );
    assert_exit(
        &mbx(state.path(), &["verify", &format!("azure:{root}/out")]),
        0,
    );

    let corrupt = tree.iter().find(|(_, v)| v.len() > 10).unwrap().0.clone();
    let missing = tree.keys().last().unwrap().clone();
    let mut body = tree[&corrupt].clone();
    body[5] ^= 0xff; // same size, different content: only a hash can tell
    dst.op()
        .write(&format!("{root}/out/{corrupt}"), body)
        .await
        .unwrap();
    dst.op()
        .delete(&format!("{root}/out/{missing}"))
        .await
        .unwrap();

    let out = mbx(
        state.path(),
        &["--json", "verify", &format!("azure:{root}/out")],
    );
    assert_exit(&out, 1);
    let s = summary(&out);
    let keys: Vec<&str> = s["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    let mut want = vec![corrupt.as_str(), missing.as_str()];
    want.sort();
    assert_eq!(keys, want, "{s}");
    let plain = mbx(state.path(), &["verify", &format!("azure:{root}/out")]);
    assert_exit(&plain, 1);
    assert!(String::from_utf8_lossy(&plain.stderr).contains(&corrupt));
}

/// Source tree for the interruption tests: enough medium objects that a throttled run is cut mid-way.
fn interrupt_tree() -> Tree {
    (0..24)
        .map(|i| (format!("seg/{i:02}"), bytes(100 + i, 3 << 20)))
        .collect()
}

async fn interrupted_then_resumed(signal: &str) {
    let (src, dst) = (remote("local"), remote("s3b"));
    let state = tempfile::tempdir().unwrap();
    let root = unique(&format!("interrupt-{signal}"));
    let tree = interrupt_tree();
    put_tree(&src, &format!("{root}/b"), &tree).await;
    let src_arg = format!("local:{root}/b");
    let dst_arg = format!("s3b:{root}/out");
    let mut child = spawn_mbx(
        state.path(),
        &[
            "--json",
            "transfer",
            &src_arg,
            &dst_arg,
            "--bwlimit",
            "8MiB",
            "--transfers",
            "2",
        ],
    );
    // Interrupt once a few objects have landed (their `copied` events), not after a fixed time: the test then
    // holds on a slow machine and on a fast one.
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (landed_tx, landed_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("\"event\":\"copied\"") {
                let _ = landed_tx.send(());
            }
            lines.push(line);
        }
        lines.join("\n").into_bytes()
    });
    let errors = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut { stderr }, &mut buf);
        buf
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut seen = 0;
    while seen < 3 && std::time::Instant::now() < deadline {
        if landed_rx.recv_timeout(Duration::from_millis(100)).is_ok() {
            seen += 1;
        }
    }
    assert_eq!(seen, 3, "three objects did not land within 60 s");
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let out = std::process::Output {
        status: child.wait().unwrap(),
        stdout: reader.join().unwrap(),
        stderr: errors.join().unwrap(),
    };
    if signal == "INT" {
        assert_exit(&out, 130);
        assert!(summary(&out)["interrupted"] == true);
    } else {
        assert_eq!(out.status.code(), None, "kill -9 leaves no exit code");
    }
    let landed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "copied")
        .count();

    let out = mbx(
        state.path(),
        &["--json", "transfer", &src_arg, &dst_arg, "--verify"],
    );
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(
        s["copied"].as_u64().unwrap() + s["skipped"].as_u64().unwrap(),
        tree.len() as u64,
        "{s}"
    );
    assert!(
        s["skipped"].as_u64().unwrap() as usize >= landed,
        "objects that landed before the interruption were sent again: {s}"
    );
    assert!(
        s["skipped"].as_u64().unwrap() > 0,
        "nothing that had landed was skipped: {s}"
    );
    assert!(
        s["copied"].as_u64().unwrap() > 0,
        "the interruption came too late to test anything: {s}"
    );
    assert_eq!(
        s["verify"]["mismatches"].as_array().map(Vec::len),
        Some(0),
        "{s}"
    );
    assert_same_tree(&read_tree(&dst, &format!("{root}/out")).await, &tree);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_cleanly_with_130_and_the_next_run_resumes() {
    if skip_without_servers() {
        return;
    }
    interrupted_then_resumed("INT").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_then_the_next_run_resumes_from_the_journal() {
    if skip_without_servers() {
        return;
    }
    interrupted_then_resumed("KILL").await;
}

/// A destination object that changed after it landed (same size: a flipped byte) is vouched for by the journal,
/// the manifest and its own metadata, so a plain re-run skips it; `transfer --verify` re-reads it, copies it
/// again and verifies the new copy.
#[tokio::test(flavor = "multi_thread")]
async fn verify_repairs_what_changed_at_the_destination() {
    if skip_without_servers() {
        return;
    }
    let dst = remote("local");
    let state = tempfile::tempdir().unwrap();
    let root = unique("repair");
    let tree = mixed_tree(6, 12 << 20);
    put_tree(&remote("s3a"), &format!("{root}/b"), &tree).await;
    let args = [
        "--json",
        "transfer",
        &format!("s3a:{root}/b"),
        &format!("local:{root}/out"),
        "--part-size",
        "5MiB",
        "--verify",
    ];
    assert_exit(&mbx(state.path(), &args), 0);

    // Flip one byte in a small and in the large (multipart) object, in place: sizes stay the same.
    let local_root = std::path::PathBuf::from(remote_option("local", "root"));
    let mut victims: Vec<&String> = tree.keys().filter(|k| tree[*k].len() > 5 << 20).collect();
    victims.push(
        tree.keys()
            .find(|k| tree[*k].len() > 100 && tree[*k].len() < 5 << 20)
            .unwrap(),
    );
    assert_eq!(victims.len(), 2, "the tree has one large object");
    for key in &victims {
        let path = local_root.join(format!("{root}/out/{key}"));
        let mut body = std::fs::read(&path).unwrap();
        body[77] ^= 0x20;
        std::fs::write(&path, body).unwrap();
    }
    let verify = mbx(state.path(), &["verify", &format!("local:{root}/out")]);
    assert_exit(&verify, 1);

    let out = mbx(state.path(), &args);
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(s["copied"], 2, "{s}");
    let repaired: Vec<&str> = s["verify"]["repaired"]
        .as_array()
        .unwrap_or_else(|| panic!("no repaired list: {s}"))
        .iter()
        .filter_map(|m| m["key"].as_str())
        .collect();
    assert_eq!(repaired.len(), 2, "{s}");
    for key in &victims {
        assert!(repaired.contains(&key.as_str()), "{key} not repaired: {s}");
    }
    assert_eq!(
        s["verify"]["mismatches"].as_array().map(Vec::len),
        Some(0),
        "{s}"
    );
    assert_same_tree(&read_tree(&dst, &format!("{root}/out")).await, &tree);
    assert_exit(
        &mbx(state.path(), &["verify", &format!("local:{root}/out")]),
        0,
    );
}
