//! What a crash leaves behind does not pile up or block later runs: temporary files of writers killed with
//! kill -9 are removed by the next run that completes and by `mbx cleanup`, and a damaged destination
//! manifest is passed over (and written again) instead of stopping every transfer.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use support::*;

fn put(dir: &Path, rel: &str, data: &[u8]) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Leaves `n` files in `fb`'s temporary folder as a killed writer would, last written `age` ago.
fn leave_tmp_files(dir: &Path, n: usize, age: Duration) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let path = dir.join(format!(
                "fb/.mbx/tmp/obj{i}.0b7c9f1e-2d3a-4c5b-8e6f-{i:012}"
            ));
            put(
                dir,
                path.strip_prefix(dir).unwrap().to_str().unwrap(),
                b"half",
            );
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(SystemTime::now() - age)
                .unwrap();
            path
        })
        .collect()
}

#[test]
fn temporary_files_of_killed_writers_are_removed() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = fs_remotes(dir.path());
    let state = dir.path().join("state");
    put(dir.path(), "fa/t/a", &bytes(1, 1000));
    let stale = leave_tmp_files(dir.path(), 3, Duration::from_secs(5));
    let out = mbx_with(&config, &state, &["transfer", "fa:t", "fb:t"]);
    assert_exit(&out, 0);
    let left: Vec<_> = stale.iter().filter(|p| p.exists()).collect();
    assert!(left.is_empty(), "a completed run left {left:?}");

    let old = leave_tmp_files(dir.path(), 2, Duration::from_secs(3600));
    let fresh = dir.path().join("fb/.mbx/tmp/live.0b7c9f1e");
    put(dir.path(), "fb/.mbx/tmp/live.0b7c9f1e", b"being written");
    let out = mbx_with(&config, &state, &["cleanup", "fb:", "--older-than", "30m"]);
    assert_exit(&out, 0);
    assert!(
        old.iter().all(|p| !p.exists()),
        "cleanup left stale files: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fresh.exists(), "cleanup removed a file written just now");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_destination_manifest_is_written_again() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = fs_remotes(dir.path());
    let state = dir.path().join("state");
    let mut want = Tree::new();
    for i in 0..4 {
        let data = bytes(10 + i, 5000);
        put(dir.path(), &format!("fa/t/{i}"), &data);
        want.insert(i.to_string(), data);
    }
    assert_exit(&mbx_with(&config, &state, &["transfer", "fa:t", "fb:t"]), 0);
    let manifest = dir.path().join("fb/t/.mbx/manifest.json");
    let text = std::fs::read(&manifest).unwrap();
    std::fs::write(&manifest, &text[..text.len() / 2]).unwrap();

    let out = mbx_with(&config, &state, &["verify", "fb:t"]);
    assert_exit(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("damaged") && err.contains("--verify"), "{err}");

    let out = mbx_with(
        &config,
        &state,
        &["--json", "transfer", "fa:t", "fb:t", "--verify"],
    );
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged"));
    let s = summary(&out);
    assert_eq!(s["verify"]["checked"], 4, "{s}");
    mbx::transfer::Manifest::from_json(&std::fs::read(&manifest).unwrap())
        .expect("the manifest was written again");
    assert_exit(&mbx_with(&config, &state, &["verify", "fb:t"]), 0);
    let fb = dir.path().join("fb/t");
    for (k, v) in &want {
        assert!(std::fs::read(fb.join(k)).unwrap() == *v, "{k} differs");
    }
}
