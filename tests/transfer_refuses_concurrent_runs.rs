//! Exit 0 means the bytes are right, even when something else touches a transfer while it runs: a second run
//! of the same transfer is refused (exit 2, naming the first), `mbx cleanup` of another prefix or of live
//! journals leaves a running transfer alone, and a partial file removed under a running transfer never lands
//! with a hole of zeros. Against `fs` and one S3 server (s3s-fs).

mod support;

use std::path::Path;
use std::process::Output;

use support::*;

const MIB: usize = 1 << 20;

/// A source tree of one 40 MiB and one 12 MiB object under `fa:c4`.
fn source_tree(dir: &Path) -> Tree {
    let mut t = Tree::new();
    t.insert("big".into(), bytes(41, 40 * MIB));
    t.insert("small".into(), bytes(42, 12 * MIB));
    for (k, v) in &t {
        let path = dir.join("fa/c4").join(k);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, v).unwrap();
    }
    t
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const SLOW: [&str; 4] = ["--part-size", "8MiB", "--bwlimit", "8MiB"];

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_of_the_same_transfer_is_refused() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = fs_remotes(dir.path());
    let want = source_tree(dir.path());
    let s3_dst = format!("{}/c4", unique("concurrent"));
    for (i, dst) in ["fb:c4".to_string(), format!("s3a:{s3_dst}")]
        .iter()
        .enumerate()
    {
        let state = dir.path().join(format!("state-{i}"));
        let args = [&["transfer", "fa:c4", dst][..], &SLOW, &["--verify"]].concat();
        let mut first = spawn_mbx_with(&config, &state, &args);
        let pid = first.id();
        assert!(
            wait_for_a_landed_part(&mut first, &state),
            "the first run ended before a part landed: nothing was tested"
        );
        let second = mbx_with(&config, &state, &args);
        let first_still_running = first.try_wait().unwrap().is_none();
        let first = first.wait_with_output().unwrap();
        assert_exit(&second, 2);
        let err = stderr(&second);
        assert!(
            err.contains("is running this same transfer")
                && err.contains(&format!("process {pid}")),
            "{err}"
        );
        assert!(
            first_still_running,
            "the refusal came too late to prove anything"
        );
        assert_exit(&first, 0);
        let got = if dst.starts_with("fb") {
            read_tree(&remote_at(&config, "fb"), "c4").await
        } else {
            read_tree(&remote("s3a"), &s3_dst).await
        };
        assert_same_tree(&got, &want);
    }
}

/// Opens remote `name` of the remotes file `config`.
fn remote_at(config: &Path, name: &str) -> mbx::remote::Remote {
    let parsed = mbx::config::RemotesConfig::parse(
        &std::fs::read_to_string(config).unwrap(),
        mbx::config::ConfigSource::File(config.to_path_buf()),
        &std::env::vars().collect(),
    )
    .unwrap();
    mbx::remote::Remote::open(parsed.get(name).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_leaves_a_running_transfer_alone() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = fs_remotes(dir.path());
    let want = source_tree(dir.path());
    let state = dir.path().join("state");
    let args = [&["transfer", "fa:c4", "fb:c4"][..], &SLOW].concat();
    let mut run = spawn_mbx_with(&config, &state, &args);
    assert!(
        wait_for_a_landed_part(&mut run, &state),
        "nothing was tested"
    );
    let partials = || {
        std::fs::read_dir(dir.path().join("fb/.mbx/partial"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert!(partials() > 0, "no partial file to protect");
    // Another prefix: neither the running transfer's journal nor its partial file is touched.
    let other = mbx_with(
        &config,
        &state,
        &["cleanup", "fb:unrelated/prefix", "--older-than", "0s"],
    );
    assert_exit(&other, 0);
    assert!(
        !String::from_utf8_lossy(&other.stdout).contains("aborted"),
        "{}",
        String::from_utf8_lossy(&other.stdout)
    );
    // Every journal and the whole remote: the live run's uploads are kept, and said to be.
    let all = mbx_with(&config, &state, &["cleanup", "fb:", "--older-than", "0s"]);
    assert_exit(&all, 0);
    let all_err = stderr(&all);
    assert!(all_err.contains("in use by a running mbx"), "{all_err}");
    assert!(partials() > 0, "cleanup removed a live run's partial file");
    let still_running = run.try_wait().unwrap().is_none();
    let out = run.wait_with_output().unwrap();
    assert_exit(&out, 0);
    assert!(
        still_running,
        "the transfer ended before the cleanups: nothing was tested"
    );
    assert_same_tree(&read_tree(&remote_at(&config, "fb"), "c4").await, &want);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_file_removed_under_a_running_transfer_never_lands_with_holes() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = fs_remotes(dir.path());
    let want = source_tree(dir.path());
    let state = dir.path().join("state");
    let args = [&["transfer", "fa:c4", "fb:c4"][..], &SLOW].concat();
    let mut run = spawn_mbx_with(&config, &state, &args);
    assert!(
        wait_for_a_landed_part(&mut run, &state),
        "nothing was tested"
    );
    let mut removed = 0;
    for e in std::fs::read_dir(dir.path().join("fb/.mbx/partial")).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none() && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    assert!(removed > 0, "no partial file to remove: nothing was tested");
    let out = run.wait_with_output().unwrap();
    match out.status.code() {
        // The object started again: every byte must be right.
        Some(0) => assert_same_tree(&read_tree(&remote_at(&config, "fb"), "c4").await, &want),
        Some(1) => assert!(stderr(&out).contains("removed"), "{}", stderr(&out)),
        _ => panic!("mbx exited {:?}: {}", out.status, stderr(&out)),
    }
}
