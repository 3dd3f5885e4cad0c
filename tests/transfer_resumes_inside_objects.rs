//! Resume inside an object: a large object cut mid-upload (kill -9, a flaky link) continues from the parts
//! that landed, never re-sending one; faults cost one part each; a changed source restarts its object; what
//! an abandoned transfer leaves is cleaned up. Against real servers, some behind a fault-injecting proxy.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::json;
use support::proxy::FaultProxy;
use support::*;

const MIB: u64 = 1 << 20;
/// The part size the tests ask for (a power of two: each part is a whole BLAKE3 subtree).
const PART: u64 = 8 * MIB;

fn spawn_with(config: &Path, state: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mbx"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MBX_STATE_DIR", state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mbx")
}

/// Kills `child` with SIGKILL after `after`; false if it had already finished.
fn kill9_after(mut child: Child, after: Duration) -> bool {
    std::thread::sleep(after);
    if child.try_wait().expect("poll mbx").is_some() {
        return false;
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _ = child.wait();
    true
}

/// Kills `child` with SIGKILL as soon as its journal (under `state`) records a landed part, or after 30 s;
/// false if it finished first. Waiting for the journal rather than a fixed time keeps the test meaningful
/// on a loaded machine.
fn kill9_after_a_part_landed(mut child: Child, state: &Path) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let has_part = || {
        std::fs::read_dir(state.join("journals"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("{\"part\":")))
    };
    while !has_part() && std::time::Instant::now() < deadline {
        if child.try_wait().expect("poll mbx").is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    kill9_after(child, Duration::ZERO)
}

/// A `[remotes.NAME]` section for the S3 server of test remote `base`, reached through `proxy`.
fn through_proxy(proxy: &FaultProxy, base: &str, name: &str, extra: &str) -> String {
    s3_remote_like(base, name, &proxy.endpoint(), extra)
}

fn large_tree(sizes: &[u64], small: usize) -> Tree {
    let mut t = Tree::new();
    for (i, s) in sizes.iter().enumerate() {
        t.insert(
            format!("binlogs/{i}/big"),
            bytes(500 + i as u64, *s as usize),
        );
    }
    for i in 0..small {
        t.insert(
            format!("meta/{i:02}.json"),
            bytes(900 + i as u64, 1000 + 37 * i),
        );
    }
    t
}

fn data_size(t: &Tree) -> u64 {
    t.values().map(|v| v.len() as u64).sum()
}

/// Runs `mbx transfer FROM TO --part-size 8MiB --verify`, which must succeed with no mismatch; returns the
/// summary.
fn transfer_verified(config: &Path, state: &Path, from: &str, to: &str) -> serde_json::Value {
    let out = mbx_with(
        config,
        state,
        &[
            "--json",
            "transfer",
            from,
            to,
            "--part-size",
            "8MiB",
            "--verify",
        ],
    );
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(
        s["verify"]["mismatches"].as_array().map(Vec::len),
        Some(0),
        "{s}"
    );
    s
}

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn journals_left(state: &Path) -> usize {
    std::fs::read_dir(state.join("journals"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The unfinished uploads the server lists under `prefix` (`mbx cleanup --dry-run`).
fn incomplete_uploads(remote_prefix: &str) -> Vec<serde_json::Value> {
    let state = tempfile::tempdir().unwrap();
    let out = mbx(
        state.path(),
        &[
            "--json",
            "cleanup",
            remote_prefix,
            "--older-than",
            "0s",
            "--dry-run",
        ],
    );
    assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cleanup JSON");
    report["uploads"].as_array().cloned().unwrap_or_default()
}

/// The done-when of resume: ten kill -9 at random points of a transfer over a slow link (`--bwlimit`, the
/// slow-link mode), then a run that finishes. Every byte arrives, the finishing run sends only what had not
/// landed, the bytes re-sent over the whole loop stay within one part per object in flight per kill, and no
/// unfinished upload is left. The proxy counts the bytes that reach the server.
///
/// CI runs it on ~184 MiB; `MBX_KILL_LOOP_MIB=3072` scales the data (and the bandwidth limit, so that ten
/// kills still fall inside the transfer) for the full-size run of docs/resume.md.
#[tokio::test(flavor = "multi_thread")]
async fn kill_loop_resends_only_parts_in_flight() {
    if skip_without_servers() {
        return;
    }
    let proxy = FaultProxy::start(&remote_option("moto", "endpoint"));
    let dir = tempfile::tempdir().unwrap();
    let config = remotes_file_with(dir.path(), &through_proxy(&proxy, "moto", "slow", ""));
    let state = tempfile::tempdir().unwrap();
    let (src, dst) = (remote("local"), remote("moto"));
    let root = unique("killloop");
    let total_mib: u64 = std::env::var("MBX_KILL_LOOP_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(184)
        .max(96);
    let third = total_mib / 3 * MIB;
    let tree = large_tree(&[third, third, third - 8 * MIB + 123], 10);
    let size = data_size(&tree);
    // About 24 s of transfer: ten kills 1 to 2.5 s apart fall inside it.
    let bwlimit = format!("{}MiB", (total_mib / 24).max(8));
    put_tree(&src, &format!("{root}/b"), &tree).await;
    let (from, to) = (format!("local:{root}/b"), format!("slow:{root}/out"));
    let large_in_flight = 3u64;
    let args = [
        "--json",
        "transfer",
        &from,
        &to,
        "--part-size",
        "8MiB",
        "--bwlimit",
        &bwlimit,
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut kills = 0u64;
    for i in 0..10 {
        let child = spawn_with(&config, state.path(), &args);
        // The first kill waits for a landed part, so that a loaded machine (the other tests of this file run
        // beside it) cannot make every run die before it sends anything; the others fall anywhere.
        let killed = if i == 0 {
            kill9_after_a_part_landed(child, state.path())
        } else {
            kill9_after(child, Duration::from_millis(rng.random_range(1000..2500)))
        };
        if !killed {
            break;
        }
        kills += 1;
    }
    assert_eq!(kills, 10, "the transfer finished before ten interruptions");
    let sent_while_killed = proxy.put_bytes();
    proxy.reset_stats();

    let out = mbx_with(&config, state.path(), &[&args[..], &["--verify"]].concat());
    assert_exit(&out, 0);
    let s = summary(&out);
    let sent_last = proxy.put_bytes();
    let (copied, resumed) = (u(&s["copied_bytes"]), u(&s["resumed_bytes"]));
    assert!(
        resumed > 0,
        "the last run resumed nothing inside an object: {s}"
    );
    assert!(
        sent_last <= copied - resumed + MIB,
        "the last run sent {sent_last} bytes for {copied} copied of which {resumed} had landed: {s}"
    );
    assert_eq!(
        s["verify"]["mismatches"].as_array().map(Vec::len),
        Some(0),
        "{s}"
    );
    assert_same_tree(&read_tree(&dst, &format!("{root}/out")).await, &tree);

    let total = sent_while_killed + sent_last;
    let bound = kills * large_in_flight * PART;
    eprintln!(
        "kill loop: {kills} kills, {total} bytes sent for {size} ({:.3}x), re-sent {} (bound {bound})",
        total as f64 / size as f64,
        total.saturating_sub(size)
    );
    assert!(
        total <= size + bound,
        "re-sent {} bytes over {kills} kills, more than one part per object in flight per kill ({bound})",
        total - size
    );
    assert_eq!(journals_left(state.path()), 0, "journal left after success");
    assert!(
        incomplete_uploads(&format!("moto:{root}/")).is_empty(),
        "unfinished uploads left on the server"
    );
}

/// A flaky link: 503s, connection resets and a stall longer than io_timeout on part uploads. The transfer
/// finishes in one run, each fault costs at most the part it hit, and the content is exact.
#[tokio::test(flavor = "multi_thread")]
async fn link_faults_cost_one_part_each() {
    if skip_without_servers() {
        return;
    }
    let proxy = FaultProxy::start(&remote_option("s3b", "endpoint"));
    proxy.configure(json!({
        "error_rate": 0.15, "reset_rate": 0.15, "stall_rate": 0.1, "stall_seconds": 4,
        "only_methods": ["PUT"], "path_contains": "partNumber=", "max_faults": 10,
    }));
    let dir = tempfile::tempdir().unwrap();
    let extra = "retries = 8\nio_timeout = \"2s\"";
    let config = remotes_file_with(dir.path(), &through_proxy(&proxy, "s3b", "flaky", extra));
    let state = tempfile::tempdir().unwrap();
    let (src, dst) = (remote("local"), remote("s3b"));
    let root = unique("faults");
    let tree = large_tree(&[40 * MIB, 40 * MIB, 24 * MIB + 5], 5);
    let size = data_size(&tree);
    put_tree(&src, &format!("{root}/b"), &tree).await;
    transfer_verified(
        &config,
        state.path(),
        &format!("local:{root}/b"),
        &format!("flaky:{root}/out"),
    );
    assert_same_tree(&read_tree(&dst, &format!("{root}/out")).await, &tree);
    let stats = proxy.stats();
    let faults =
        u(&stats["faults"]["error"]) + u(&stats["faults"]["reset"]) + u(&stats["faults"]["stall"]);
    assert!(faults >= 3, "too few faults to test anything: {stats}");
    let sent = u(&stats["upstream_body_bytes"]["PUT"]);
    assert!(
        sent <= size + faults * PART + MIB,
        "sent {sent} bytes for {size} with {faults} faults: more than one part per fault: {stats}"
    );
}

/// A completion the server takes long to answer is waited for, and one whose answer is lost is recognised
/// on retry (the upload is gone by then) from the object its parts made: neither fails the transfer. On
/// s3s-fs, a second completion of an upload answers 403, which no retry gets past.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_or_lost_completion_still_lands() {
    if skip_without_servers() {
        return;
    }
    let proxy = FaultProxy::start(&remote_option("s3b", "endpoint"));
    let dir = tempfile::tempdir().unwrap();
    let config = remotes_file_with(
        dir.path(),
        &through_proxy(&proxy, "s3b", "slowend", "io_timeout = \"2s\""),
    );
    let src = remote("local");
    let root = unique("completion");
    let tree = large_tree(&[20 * MIB, 12 * MIB + 3], 0);
    put_tree(&src, &format!("{root}/b"), &tree).await;
    // Every completion (POST ...?uploadId=) answered after 4 s (twice io_timeout), then every answer lost.
    for (case, faults) in [
        ("slow", json!({"stall_seconds": 4})),
        (
            "lost",
            json!({"stall_seconds": 0, "stall_then_reset": true}),
        ),
    ] {
        let mut cfg = json!({
            "stall_rate": 1.0, "stall_at_response": true,
            "only_methods": ["POST"], "path_contains": "uploadId=",
        });
        for (k, v) in faults.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        proxy.configure(cfg);
        proxy.reset_stats();
        let state = tempfile::tempdir().unwrap();
        let s = transfer_verified(
            &config,
            state.path(),
            &format!("local:{root}/b"),
            // A folder of its own: beside the other case's copy, the objects would be copied from it
            // (incremental transfer) and no upload would be completed.
            &format!("slowend:{root}/{case}/t"),
        );
        assert_eq!(u(&s["copied"]), 2, "{case}: {s}");
        assert_eq!(u(&s["found"]), 0, "{case}: {s}");
        let stats = proxy.stats();
        assert!(
            u(&stats["faults"]["stall"]) >= 2,
            "{case}: the completions were not held: {stats}"
        );
        assert_same_tree(
            &read_tree(&remote("s3b"), &format!("{root}/{case}/t")).await,
            &tree,
        );
        assert_eq!(journals_left(state.path()), 0, "{case}");
    }
}

/// A source object that changes between the interrupted run and the next is copied again from byte zero:
/// two versions are never spliced.
#[tokio::test(flavor = "multi_thread")]
async fn a_changed_source_restarts_its_object() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let src = remote("local");
    let root = unique("changed");
    let key = format!("{root}/b/big");
    src.op()
        .write(&key, bytes(1, 40 * MIB as usize))
        .await
        .unwrap();
    let (from, to) = (format!("local:{root}/b"), format!("s3b:{root}/out"));
    let args = [
        "--json",
        "transfer",
        &from,
        &to,
        "--part-size",
        "8MiB",
        "--bwlimit",
        "8MiB",
    ];
    let child = spawn_with(&remotes_file(), state.path(), &args);
    assert!(
        kill9_after_a_part_landed(child, state.path()),
        "finished too early"
    );
    // Same size, new content (and a new modification time).
    tokio::time::sleep(Duration::from_millis(20)).await;
    let new = bytes(2, 40 * MIB as usize);
    src.op().write(&key, new.clone()).await.unwrap();
    let out = mbx(state.path(), &args[..6]);
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(
        u(&s["resumed_bytes"]),
        0,
        "parts of the old version were kept: {s}"
    );
    let got = remote("s3b")
        .op()
        .read(&format!("{root}/out/big"))
        .await
        .unwrap();
    assert!(
        got.to_vec() == new,
        "the destination is not the new version"
    );
}

/// The same resume on Azure (uncommitted blocks) and on `fs` (a partial file, renamed into place).
#[tokio::test(flavor = "multi_thread")]
async fn azure_and_fs_resume_inside_objects() {
    if skip_without_servers() {
        return;
    }
    let disk = tempfile::tempdir().unwrap();
    let config = remotes_file_with(
        disk.path(),
        &format!(
            "[remotes.disk]\ntype = \"fs\"\nroot = \"{}/root\"\n",
            disk.path().display()
        ),
    );
    for dst_name in ["azure", "disk"] {
        let state = tempfile::tempdir().unwrap();
        let root = unique(&format!("resume-{dst_name}"));
        let tree = large_tree(&[40 * MIB], 3);
        put_tree(&remote("local"), &format!("{root}/b"), &tree).await;
        let (from, to) = (format!("local:{root}/b"), format!("{dst_name}:{root}/out"));
        let args = [
            "--json",
            "transfer",
            &from,
            &to,
            "--part-size",
            "8MiB",
            "--bwlimit",
            "8MiB",
        ];
        let child = spawn_with(&config, state.path(), &args);
        assert!(
            kill9_after_a_part_landed(child, state.path()),
            "{dst_name}: finished too early"
        );
        let out = mbx_with(&config, state.path(), &[&args[..6], &["--verify"]].concat());
        assert_exit(&out, 0);
        let s = summary(&out);
        assert!(
            u(&s["resumed_bytes"]) >= PART,
            "{dst_name}: nothing resumed: {s}"
        );
        assert_eq!(
            s["verify"]["mismatches"].as_array().map(Vec::len),
            Some(0),
            "{s}"
        );
        assert_eq!(journals_left(state.path()), 0);
        if dst_name == "azure" {
            assert_same_tree(
                &read_tree(&remote("azure"), &format!("{root}/out")).await,
                &tree,
            );
        } else {
            for (k, v) in &tree {
                let got = std::fs::read(disk.path().join(format!("root/{root}/out/{k}"))).unwrap();
                assert!(got == *v, "{k} differs");
            }
        }
    }
    let partial = disk.path().join("root/.mbx/partial");
    let left = std::fs::read_dir(&partial).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "partial files left in {}", partial.display());
}

/// `mbx cleanup` aborts the unfinished uploads that a killed, never-resumed transfer left, and removes its
/// journal.
#[tokio::test(flavor = "multi_thread")]
async fn cleanup_aborts_what_an_abandoned_transfer_left() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let root = unique("abandoned");
    let tree = large_tree(&[40 * MIB, 24 * MIB], 0);
    put_tree(&remote("local"), &format!("{root}/b"), &tree).await;
    let (from, to) = (format!("local:{root}/b"), format!("moto:{root}/out"));
    let args = [
        "transfer",
        &from,
        &to,
        "--part-size",
        "8MiB",
        "--bwlimit",
        "8MiB",
    ];
    let child = spawn_with(&remotes_file(), state.path(), &args);
    assert!(
        kill9_after_a_part_landed(child, state.path()),
        "finished too early"
    );
    assert!(
        !incomplete_uploads(&format!("moto:{root}/")).is_empty(),
        "nothing to clean up"
    );
    assert_eq!(journals_left(state.path()), 1);

    // Too recent: kept.
    let out = mbx(state.path(), &["--json", "cleanup"]);
    assert_exit(&out, 0);
    assert_eq!(
        journals_left(state.path()),
        1,
        "a recent journal was removed"
    );

    let out = mbx(state.path(), &["--json", "cleanup", "--older-than", "0s"]);
    assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let aborted = report["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["outcome"] == "aborted")
        .count();
    assert!(aborted >= 1, "{report}");
    assert_eq!(journals_left(state.path()), 0);
    assert!(
        incomplete_uploads(&format!("moto:{root}/")).is_empty(),
        "unfinished uploads left after cleanup"
    );
}

/// s3s-fs lists the parts of an upload without their ETags, so what landed cannot be checked against the
/// journal: a re-run after an interruption starts the object again (with a note), and finishes with every
/// byte right, instead of failing on every run.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_lists_parts_without_etags_starts_the_object_again() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let root = unique("untrusted-parts");
    let tree = large_tree(&[40 * MIB], 2);
    put_tree(&remote("local"), &format!("{root}/b"), &tree).await;
    let (from, to) = (format!("local:{root}/b"), format!("s3a:{root}/out"));
    let args = [
        "transfer",
        &from,
        &to,
        "--part-size",
        "8MiB",
        "--bwlimit",
        "8MiB",
    ];
    let child = spawn_with(&remotes_file(), state.path(), &args);
    assert!(
        kill9_after_a_part_landed(child, state.path()),
        "finished too early: nothing to resume"
    );
    let out = mbx(state.path(), &[&args[..], &["--verify"]].concat());
    assert_exit(&out, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be trusted"), "{err}");
    assert_same_tree(
        &read_tree(&remote("s3a"), &format!("{root}/out")).await,
        &tree,
    );
    assert_eq!(journals_left(state.path()), 0);
}

/// An object over the remote's single-copy limit (`max_server_copy`, lowered here from S3's 5 GiB to 16 MiB)
/// is copied in parts on the server (UploadPartCopy): no byte of it crosses the link, the copy is journaled
/// part by part, and a run killed after a part landed is resumed from those parts. Objects under the limit
/// are one CopyObject each.
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_over_the_single_copy_limit_is_made_in_parts_on_the_server() {
    if skip_without_servers() {
        return;
    }
    let proxy = FaultProxy::start(&remote_option("moto", "endpoint"));
    let dir = tempfile::tempdir().unwrap();
    let extra = "max_server_copy = \"16MiB\"";
    let config = remotes_file_with(dir.path(), &through_proxy(&proxy, "moto", "near", extra));
    let state = tempfile::tempdir().unwrap();
    let root = unique("partcopy");
    let tree = large_tree(&[40 * MIB + 77, 10 * MIB], 2);
    put_tree(&remote("moto"), &format!("{root}/b"), &tree).await;
    // The fourth part's answer is held back: the first run cannot finish before it is killed.
    proxy.configure(json!({
        "stall_rate": 1.0, "stall_seconds": 60, "stall_at_response": true,
        "only_methods": ["PUT"], "path_contains": "partNumber=4&",
    }));
    let (from, to) = (format!("near:{root}/b"), format!("near:{root}/out"));
    let args = ["--json", "transfer", &from, &to, "--part-size", "8MiB"];
    let child = spawn_with(&config, state.path(), &args);
    assert!(
        kill9_after_a_part_landed(child, state.path()),
        "finished before a part landed"
    );
    proxy.configure(json!({}));
    let s = transfer_verified(&config, state.path(), &from, &to);
    assert!(
        u(&s["resumed_bytes"]) >= PART,
        "the copy did not resume from the parts that landed: {s}"
    );
    assert_eq!(u(&s["sent_bytes"]), 0, "{s}");
    assert_same_tree(
        &read_tree(&remote("moto"), &format!("{root}/out")).await,
        &tree,
    );
    // What was sent is the manifest: a few hundred bytes, not an object.
    let stats = proxy.stats();
    assert!(
        stats["upstream_body_bytes"]["PUT"].as_u64().unwrap_or(0) < 64 << 10,
        "bytes of a server-side copy crossed the link: {stats}"
    );
    let big = remote("moto")
        .op()
        .stat(&format!("{root}/out/binlogs/0/big"))
        .await
        .unwrap();
    assert!(
        big.etag().is_some_and(|e| e.contains("-6")),
        "the 40 MiB object was not made of six parts: {:?}",
        big.etag()
    );
    assert_eq!(journals_left(state.path()), 0, "journal left after success");
    assert!(
        incomplete_uploads(&format!("moto:{root}/")).is_empty(),
        "unfinished uploads left on the server"
    );
}
