//! What cannot succeed fails at once and says why: sizes and durations that do not fit are refused (exit 2,
//! naming the flag or key), a bandwidth limit of 0 means no limit (as in rclone) instead of a transfer that
//! never ends, and a destination error that no retry changes ("Is a directory") is not retried.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::*;

const MIB: usize = 1 << 20;

/// Two `fs` remotes, `fa` and `fb` (and `fz`, `fb` with `extra` keys), under `dir`.
fn fs_remotes(dir: &Path, extra: &str) -> PathBuf {
    let (a, b) = (dir.join("fa"), dir.join("fb"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    remotes_file_with(
        dir,
        &format!(
            "[remotes.fa]\ntype = \"fs\"\nroot = \"{a}\"\n\n[remotes.fb]\ntype = \"fs\"\nroot = \"{b}\"\n\n\
             [remotes.fz]\ntype = \"fs\"\nroot = \"{b}\"\n{extra}\n",
            a = a.display(),
            b = b.display()
        ),
    )
}

fn put(dir: &Path, rel: &str, data: &[u8]) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Runs mbx, killing it after `limit`: a run that hangs fails the test instead of hanging it.
fn run_within(config: &Path, state: &Path, args: &[&str], limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mbx"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MBX_STATE_DIR", state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mbx");
    while child.try_wait().expect("poll mbx").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mbx {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

#[test]
fn sizes_and_durations_that_do_not_fit_are_refused() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = fs_remotes(dir.path(), "");
    let bad_dir = tempfile::tempdir().unwrap();
    let bad_config = fs_remotes(bad_dir.path(), "bwlimit = \"99999999999999999999\"");
    put(dir.path(), "fa/t/obj", b"x");
    let state = dir.path().join("state");
    let out = mbx_with(&bad_config, &state, &["transfer", "fa:t", "fz:t"]);
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'bwlimit'") && err.contains("fz"), "{err}");
    for (args, names) in [
        (
            vec![
                "transfer",
                "fa:t",
                "fb:t",
                "--part-size",
                "99999999999999999999",
            ],
            "--part-size",
        ),
        (
            vec![
                "transfer",
                "fa:t",
                "fb:t",
                "--part-size",
                "18446744073709551616",
            ],
            "--part-size",
        ),
        (
            vec!["transfer", "fa:t", "fb:t", "--part-size", "8GiB"],
            "--part-size",
        ),
        (
            vec![
                "transfer",
                "fa:t",
                "fb:t",
                "--bwlimit",
                "18446744073709551616",
            ],
            "--bwlimit",
        ),
        (
            vec!["cleanup", "--older-than", "99999999999999999999h"],
            "--older-than",
        ),
    ] {
        let out = mbx_with(&config, &state, &args);
        assert_exit(&out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(names), "{args:?}: {err}");
    }
    assert!(
        !dir.path().join("fb/t").exists(),
        "something was written before the refusal"
    );
}

#[test]
fn a_bandwidth_limit_of_zero_is_no_limit() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = fs_remotes(dir.path(), "bwlimit = \"0\"");
    let data = bytes(81, 24 * MIB);
    put(dir.path(), "fa/t/big", &data);
    for (dst, flag) in [("fb:t", &["--bwlimit", "0"][..]), ("fz:u", &[][..])] {
        let state = dir.path().join(format!("state-{}", &dst[..2]));
        let args = [&["transfer", "fa:t", dst][..], flag].concat();
        let (out, _) = run_within(&config, &state, &args, Duration::from_secs(120));
        assert_exit(&out, 0);
    }
    assert!(std::fs::read(dir.path().join("fb/t/big")).unwrap() == data);
    assert!(std::fs::read(dir.path().join("fb/u/big")).unwrap() == data);
}

#[test]
fn a_destination_error_no_retry_changes_fails_at_once() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = fs_remotes(dir.path(), "");
    put(dir.path(), "fa/t/small", &bytes(91, 1000));
    put(dir.path(), "fa/t/big", &bytes(92, 20 * MIB));
    // Folders where the objects should land: every write there says "Is a directory".
    for k in ["small", "big"] {
        std::fs::create_dir_all(dir.path().join("fb/t").join(k).join("x")).unwrap();
    }
    let state = dir.path().join("state");
    let (out, took) = run_within(
        &config,
        &state,
        &["transfer", "fa:t", "fb:t", "--part-size", "8MiB"],
        Duration::from_secs(120),
    );
    assert_exit(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("retrying"),
        "retried what cannot pass:\n{err}"
    );
    assert_eq!(err.matches("  failed: t/").count(), 2, "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}:\n{err}");
}
