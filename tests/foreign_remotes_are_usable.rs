//! The remotes of an existing rclone config and the MinIO client's aliases are usable by name, the bucket as the
//! path's first part as in those tools: `mbx remotes` says where each came from and redacts their secrets, a
//! transfer runs through each, mbx's own remotes file wins on a name clash, and `MBX_NO_FOREIGN_REMOTES=1` turns
//! it off. HOME and the XDG folders point at temporary folders, so the user's own files are never read.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::*;

fn mbx_foreign(dir: &Path, args: &[&str], off: bool) -> Output {
    foreign_command(dir, args, off).output().expect("run mbx")
}

fn foreign_command(dir: &Path, args: &[&str], off: bool) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mbx"));
    cmd.arg("--config")
        .arg(remotes_file())
        .args(args)
        .env("MBX_STATE_DIR", dir.join("state"))
        .env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("RCLONE_CONFIG", dir.join("rclone.conf"))
        .env("MC_CONFIG_DIR", dir.join("mc"))
        .env_remove("MBX_NO_FOREIGN_REMOTES");
    if off {
        cmd.env("MBX_NO_FOREIGN_REMOTES", "1");
    }
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn rclone_and_mc_remotes_work_by_name() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let endpoint = remote_option("s3a", "endpoint");
    let bucket = remote_option("s3a", "bucket");
    let ak = remote_option("s3a", "access_key_id");
    let sk = remote_option("s3a", "secret_access_key");
    assert!(sk.len() > 3, "the test needs a secret it can look for");
    std::fs::create_dir_all(dir.path().join("mc")).unwrap();
    std::fs::write(
        dir.path().join("rclone.conf"),
        format!(
            "[rc]\ntype = s3\nprovider = Minio\nendpoint = {endpoint}\naccess_key_id = {ak}\n\
             secret_access_key = {sk}\n\n[local]\ntype = s3\nprovider = Minio\nendpoint = http://127.0.0.1:1\n\n\
             [gdrive]\ntype = drive\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mc/config.json"),
        format!(
            r#"{{"version": "10", "aliases": {{"mca": {{"url": "{endpoint}", "accessKey": "{ak}",
               "secretKey": "{sk}", "api": "S3v4", "path": "auto"}}}}}}"#
        ),
    )
    .unwrap();

    // Listed with their source, secrets redacted; mbx's own `local` wins over rclone's; drive is left out.
    let out = mbx_foreign(dir.path(), &["remotes", "--json"], false);
    assert_exit(&out, 0);
    let all = text(&out);
    assert!(!all.contains(&sk), "a secret was printed: {all}");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let by = |n: &str| events.iter().find(|e| e["name"] == n).cloned();
    let rc = by("rc").expect("rclone remote listed");
    assert!(
        rc["source"].as_str().unwrap().starts_with("rclone "),
        "{rc}"
    );
    assert_eq!(rc["options"]["secret_access_key"], "***");
    let mca = by("mca").expect("mc alias listed");
    assert!(mca["source"].as_str().unwrap().starts_with("mc "), "{mca}");
    assert_eq!(mca["options"]["secret_access_key"], "***");
    let local = by("local").unwrap();
    assert_eq!(local["type"], "fs", "mbx's own remote must win: {local}");
    assert!(by("gdrive").is_none());
    let plain = mbx_foreign(dir.path(), &["remotes"], false);
    let plain = text(&plain);
    assert!(
        plain
            .lines()
            .any(|l| l.starts_with("rc\t") && l.contains("rclone ")),
        "{plain}"
    );
    assert!(!plain.contains(&sk));

    // A transfer through each: rclone's remote as the source, mc's alias as the destination.
    let p = unique("foreign");
    let src = remote("s3a");
    let want = mixed_tree(4, 0);
    for (k, v) in &want {
        src.op()
            .write(&format!("{p}/src/{k}"), v.clone())
            .await
            .unwrap();
    }
    let out = mbx_foreign(
        dir.path(),
        &[
            "transfer",
            &format!("rc:{bucket}/{p}/src"),
            &format!("local:{p}/from-rclone"),
        ],
        false,
    );
    assert_exit(&out, 0);
    let out = mbx_foreign(
        dir.path(),
        &[
            "transfer",
            &format!("local:{p}/from-rclone"),
            &format!("mca:{bucket}/{p}/via-mc"),
        ],
        false,
    );
    assert_exit(&out, 0);
    let got = read_tree(&src, &format!("{p}/via-mc")).await;
    assert_same_tree(&got, &want);
    let out = mbx_foreign(
        dir.path(),
        &["ls", &format!("mca:{bucket}/{p}/via-mc")],
        false,
    );
    assert_exit(&out, 0);
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());

    // A transfer into rclone's remote, killed after a part landed: `mbx cleanup` finds that remote again from
    // the journal (the bucket came from the path) and aborts the upload.
    let big = bytes(77, 24 << 20);
    remote("local")
        .op()
        .write(&format!("{p}/big/x.bin"), big)
        .await
        .unwrap();
    let mut child = foreign_command(
        dir.path(),
        &[
            "transfer",
            &format!("local:{p}/big"),
            &format!("rc:{bucket}/{p}/big-out"),
            "--part-size",
            "8MiB",
            "--bwlimit",
            "4MiB",
        ],
        false,
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn mbx");
    let landed = wait_for_a_landed_part(&mut child, &dir.path().join("state"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(landed, "the transfer ended before a part landed");
    let out = mbx_foreign(
        dir.path(),
        &["--json", "cleanup", "--older-than", "0s"],
        false,
    );
    assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cleanup JSON");
    assert_eq!(
        report["journals_removed"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    let uploads = report["uploads"].as_array().cloned().unwrap_or_default();
    assert!(
        uploads.len() == 1 && uploads[0]["outcome"] == "aborted" && uploads[0]["remote"] == "rc",
        "{report}"
    );

    // No bucket: said how to write one. Turned off: the names are unknown.
    let out = mbx_foreign(dir.path(), &["ls", "rc:"], false);
    assert_exit(&out, 2);
    assert!(text(&out).contains("rc:BUCKET/PATH"), "{}", text(&out));
    let out = mbx_foreign(dir.path(), &["ls", &format!("rc:{bucket}/{p}")], true);
    assert_exit(&out, 2);
    assert!(
        text(&out).contains("no remote named 'rc'"),
        "{}",
        text(&out)
    );
}
