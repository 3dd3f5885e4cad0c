//! Bad input gets a clear error naming what is wrong, exit code 2, and nothing written.

mod support;

use support::*;

#[test]
fn unknown_remote_is_named() {
    let state = tempfile::tempdir().unwrap();
    let out = mbx(state.path(), &["transfer", "nosuch:a", "local:b"]);
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nosuch") && err.contains("s3a"), "{err}");
}

#[test]
fn paths_that_escape_a_local_root_are_refused() {
    let state = tempfile::tempdir().unwrap();
    for (src, dst) in [
        ("local:../etc", "s3a:x/"),
        ("s3a:x", "local:../../tmp/escape"),
    ] {
        let out = mbx(state.path(), &["transfer", src, dst]);
        assert_exit(&out, 2);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("escape"),
            "{src} {dst}"
        );
    }
    assert!(!std::path::Path::new("/tmp/escape").exists());
}

#[test]
fn missing_source_is_an_error_not_an_empty_success() {
    let state = tempfile::tempdir().unwrap();
    let out = mbx(
        state.path(),
        &["transfer", &format!("s3a:{}", unique("none")), "local:x/"],
    );
    assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing at"));
}

#[test]
fn a_broken_remotes_file_names_the_remote_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    std::fs::write(&file, "[remotes.x]\ntype = \"minio\"\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:1\"\nsecret_acess_key = \"k\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mbx"))
        .args(["--config", file.to_str().unwrap(), "ls", "x:"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("remote 'x'") && err.contains("secret_acess_key"),
        "{err}"
    );
}

#[test]
fn remotes_listing_redacts_secrets() {
    let state = tempfile::tempdir().unwrap();
    let out = mbx(state.path(), &["remotes"]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("s3a") && text.contains("***"), "{text}");
    assert!(
        !text.contains("mbxsecret") && !text.contains("Eby8vdM02"),
        "{text}"
    );
}
