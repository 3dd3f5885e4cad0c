//! A source object that changes while it is copied is never spliced: every part read is checked against the
//! version the object started with, and the object fails (exit 1) instead of landing as a mix of two
//! versions. On `fs` (a write into the file, as `dd conv=notrunc` does) and on s3s-fs, which ignores
//! `If-Match`.

mod support;

use std::os::unix::fs::FileExt;
use std::path::Path;

use support::*;

const MIB: usize = 1 << 20;
/// Twelve parts of 8 MiB: at 16 MiB/s, the last ones are read seconds after the first has landed.
const SIZE: usize = 96 * MIB;

/// Runs the transfer `src` → `fb:dst`, calls `change` once a part has landed, and checks the outcome: exit 1
/// naming the change, and no object at the destination unless it is one whole version.
async fn copy_while_changing(
    config: &Path,
    dir: &Path,
    src: &str,
    versions: [&[u8]; 2],
    change: impl AsyncFnOnce(),
) {
    let state = dir.join("state");
    let args = [
        "transfer",
        src,
        "fb:dst/big",
        "--part-size",
        "8MiB",
        "--bwlimit",
        "16MiB",
    ];
    let mut run = spawn_mbx_with(config, &state, &args);
    assert!(
        wait_for_a_landed_part(&mut run, &state),
        "the copy ended before a part landed: nothing was tested"
    );
    change().await;
    let out = run.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("changed"), "{err}");
    if let Ok(landed) = std::fs::read(dir.join("fb/dst/big")) {
        assert!(
            versions.contains(&landed.as_slice()),
            "the destination holds neither version: two were spliced"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_written_to_while_it_is_copied_fails_its_object() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = fs_remotes(dir.path());
    let old = bytes(61, SIZE);
    let path = dir.path().join("fa/src/big");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &old).unwrap();
    // As `dd conv=notrunc` does: same size, new bytes near the end, which is read last.
    let patch = bytes(62, MIB);
    let mut new = old.clone();
    new[SIZE - 2 * MIB..SIZE - MIB].copy_from_slice(&patch);
    copy_while_changing(
        &config,
        dir.path(),
        "fa:src/big",
        [&old, &new],
        async || {
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.write_all_at(&patch, (SIZE - 2 * MIB) as u64).unwrap();
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3s_fs_object_replaced_while_it_is_copied_fails_its_object() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = fs_remotes(dir.path());
    let s3 = remote("s3a");
    let key = format!("{}/big", unique("changed-src"));
    let (old, new) = (bytes(71, SIZE), bytes(72, SIZE));
    s3.op().write(&key, old.clone()).await.unwrap();
    let src = format!("s3a:{key}");
    copy_while_changing(&config, dir.path(), &src, [&old, &new], async || {
        s3.op().write(&key, new.clone()).await.unwrap();
    })
    .await;
}
