//! Bad input gets a clear error naming what is wrong, exit code 2, and nothing written.

mod support;

use support::*;

#[test]
fn unknown_remote_is_named() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let out = mbx(state.path(), &["transfer", "nosuch:a", "local:b"]);
    assert_exit(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nosuch") && err.contains("s3a"), "{err}");
}

#[test]
fn paths_that_escape_a_local_root_are_refused() {
    if skip_without_servers() {
        return;
    }
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
    // `../../tmp/escape` is resolved against the local remote's root: that is where an escape would land.
    let root = std::path::PathBuf::from(remote_option("local", "root"));
    let escaped = root
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("tmp/escape"));
    assert!(escaped.as_ref().is_some_and(|p| !p.exists()), "{escaped:?}");
}

#[test]
fn missing_source_is_an_error_not_an_empty_success() {
    if skip_without_servers() {
        return;
    }
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
    if skip_without_servers() {
        return;
    }
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

/// The request signers log their credentials at debug level; `-vv` and RUST_LOG=trace must not show them.
/// Nothing listens on port 1: every request fails, but each is signed first.
#[test]
fn secrets_stay_out_of_debug_logs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    let s3_secret = "S3CR3T-s3-do-not-print";
    let az_secret = "QVpTRUNSRVQtZG8tbm90LXByaW50LWF6dXJlLWtleQ==";
    std::fs::write(
        &file,
        format!(
            "[remotes.s]\ntype = \"minio\"\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:1\"\nretries = \"0\"\n\
             access_key_id = \"AKIDEXAMPLE\"\nsecret_access_key = \"{s3_secret}\"\n\
             [remotes.z]\ntype = \"azblob\"\ncontainer = \"c\"\nendpoint = \"http://127.0.0.1:1/acct\"\n\
             retries = \"0\"\naccount_name = \"acct\"\naccount_key = \"{az_secret}\"\n"
        ),
    )
    .unwrap();
    for (log, args) in [
        (None, vec!["-vv", "ls", "s:"]),
        (Some("trace"), vec!["ls", "s:"]),
        (Some("reqsign_core=trace,debug"), vec!["-vv", "ls", "z:"]),
        (Some("trace"), vec!["transfer", "s:a", "z:b/"]),
    ] {
        let mut cmd = local_command(&file, dir.path(), &args);
        match log {
            Some(l) => cmd.env("RUST_LOG", l),
            None => cmd.env_remove("RUST_LOG"),
        };
        let out = cmd.output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{args:?} reached nothing");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.lines().count() > 5,
            "{args:?} with RUST_LOG={log:?} logged almost nothing, so it proves nothing: {text}"
        );
        for secret in [s3_secret, az_secret] {
            assert!(
                !text.contains(secret),
                "{args:?} with RUST_LOG={log:?} printed a secret"
            );
        }
    }
}

/// A destination inside the source (same store) is refused before anything is written: each run would list the
/// previous run's copies as source objects and nest them one level deeper.
#[test]
fn a_destination_inside_the_source_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("x/sub")).unwrap();
    std::fs::write(root.join("x/a.txt"), b"a").unwrap();
    std::fs::write(root.join("x/sub/b.txt"), b"b").unwrap();
    let file = local_remote_file(dir.path(), &root);
    let files = || {
        let mut v: Vec<String> = walk(&root);
        v.sort();
        v
    };
    let before = files();
    let run = |args: &[&str]| local_command(&file, dir.path(), args).output().unwrap();
    for (src, dst) in [
        ("l:x", "l:x/sub/"),
        ("l:x/", "l:x/sub/deeper"),
        ("l:x", "l:"),
        ("l:", "l:y/"),
        ("l:x/a.txt", "l:x/a.txt"),
    ] {
        let out = run(&["transfer", src, dst]);
        assert_exit(&out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("inside it"), "{src} {dst}: {err}");
        assert_eq!(files(), before, "{src} {dst} wrote something");
    }
    // The other way round is an ordinary copy: x/sub's objects land in y.
    assert_exit(&run(&["transfer", "l:x/sub", "l:y"]), 0);
    assert_eq!(std::fs::read(root.join("y/b.txt")).unwrap(), b"b");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

/// `mbx --json transfer ... | head -1`: the reader goes away after one line; the transfer must still finish
/// (and write its manifest), not panic on the closed pipe.
#[test]
fn a_closed_stdout_does_not_stop_a_transfer() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("src")).unwrap();
    for i in 0..300 {
        std::fs::write(root.join(format!("src/f{i}")), vec![i as u8; 1000 + i]).unwrap();
    }
    let file = local_remote_file(dir.path(), &root);
    for args in [
        vec!["--json", "transfer", "l:src", "l:dst/"],
        vec!["--json", "verify", "l:dst/src"],
        vec!["remotes"],
        vec!["ls", "-r", "l:"],
    ] {
        let mut child = local_command(&file, dir.path(), &args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is dropped here: every later write meets a closed pipe.
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    for i in 0..300 {
        assert_eq!(
            std::fs::read(root.join(format!("dst/src/f{i}")))
                .unwrap()
                .len(),
            1000 + i
        );
    }
    assert!(root.join("dst/src/.mbx/manifest.json").exists());
}

/// A symbolic link inside a local root that leads out of it cannot carry a write out: the transfer is refused
/// before anything is written. A link that stays inside the root is followed as usual.
#[test]
fn a_symlink_out_of_a_local_root_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(root.join("x/deep")).unwrap();
    std::fs::create_dir_all(root.join("inner")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(root.join("x/a.txt"), b"a").unwrap();
    std::fs::write(root.join("x/deep/b.txt"), b"b").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
    std::os::unix::fs::symlink(root.join("inner"), root.join("in")).unwrap();
    let file = local_remote_file(dir.path(), &root);
    let run = |args: &[&str]| local_command(&file, dir.path(), args).output().unwrap();
    for dst in ["l:out/", "l:out/sub/", "l:out/x/a.txt"] {
        let src = if dst.ends_with(".txt") {
            "l:x/a.txt"
        } else {
            "l:x"
        };
        let out = run(&["transfer", src, dst]);
        assert_exit(&out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("outside the root"), "{dst}: {err}");
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "{dst} wrote outside"
        );
    }
    assert_exit(&run(&["transfer", "l:x", "l:in/"]), 0);
    assert_eq!(
        std::fs::read(root.join("inner/x/deep/b.txt")).unwrap(),
        b"b"
    );
}

/// `fb:/abs` would suggest the machine's root, while keys are relative to the remote's root: refused, with
/// the spelling that works, as `fb:../x` is.
#[test]
fn a_leading_slash_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("abs")).unwrap();
    std::fs::write(root.join("abs/a.txt"), b"a").unwrap();
    let file = local_remote_file(dir.path(), &root);
    for args in [vec!["ls", "l:/abs"], vec!["transfer", "l:/abs", "l:copy/"]] {
        let out = local_command(&file, dir.path(), &args).output().unwrap();
        assert_exit(&out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no leading '/'") && err.contains("l:abs"),
            "{args:?}: {err}"
        );
    }
    assert!(!root.join("copy").exists());
}

/// A 5000-byte key argument is refused in a line, not echoed in full.
#[test]
fn an_over_long_key_is_not_echoed_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let file = local_remote_file(dir.path(), &root);
    let long = format!("l:{}", "k".repeat(5000));
    for args in [
        vec!["ls", long.as_str()],
        vec!["transfer", long.as_str(), "l:x/"],
    ] {
        let out = local_command(&file, dir.path(), &args).output().unwrap();
        assert_exit(&out, 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.len() < 1000, "{} bytes of error", err.len());
        assert!(err.contains("5000 bytes"), "{err}");
    }
}

/// OpenDAL trims whitespace at both ends of every path, so `sp ace ` would be read as `sp ace`: such a key fails
/// up front, named, while the others are copied (exit 1, no manifest).
#[test]
fn keys_with_whitespace_at_an_end_fail_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/sp ace "), b"trailing").unwrap();
    std::fs::write(root.join("src/sp ace"), b"its trimmed twin").unwrap();
    std::fs::write(root.join("src/plain"), b"plain").unwrap();
    let file = local_remote_file(dir.path(), &root);
    let out = local_command(
        &file,
        dir.path(),
        &["--json", "transfer", "l:src", "l:dst/"],
    )
    .output()
    .unwrap();
    assert_exit(&out, 1);
    let s = summary(&out);
    let failed = s["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{s}");
    assert_eq!(failed[0]["key"], "src/sp ace ", "{s}");
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("whitespace"),
        "{s}"
    );
    assert_eq!(
        std::fs::read(root.join("dst/src/sp ace")).unwrap(),
        b"its trimmed twin"
    );
    assert_eq!(std::fs::read(root.join("dst/src/plain")).unwrap(), b"plain");
    assert!(!root.join("dst/src/sp ace ").exists());
    assert!(!root.join("dst/src/.mbx/manifest.json").exists());
}

/// A remotes file under `dir` naming one fs remote, `l`, rooted at `root`.
fn local_remote_file(dir: &std::path::Path, root: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("r.toml");
    let text = format!(
        "[remotes.l]\ntype = \"fs\"\nroot = \"{}\"\n",
        root.display()
    );
    std::fs::write(&file, text).unwrap();
    file
}

/// `mbx --config FILE ARGS` with its journals under `dir/state`.
fn local_command(
    file: &std::path::Path,
    dir: &std::path::Path,
    args: &[&str],
) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mbx"));
    cmd.arg("--config")
        .arg(file)
        .args(args)
        .env("MBX_STATE_DIR", dir.join("state"));
    cmd
}
