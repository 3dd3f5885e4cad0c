//! Secrets in the remotes file never reach the screen: `mbx remotes` (plain and `--json`) redacts every option
//! that holds a credential, and an error in the file names the place and the key, never the value.

mod support;

use std::path::{Path, PathBuf};

use support::*;

fn write_file(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("remotes.toml");
    std::fs::write(&file, text).unwrap();
    file
}

fn text_of(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn remotes_listing_redacts_every_credential() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        r#"[remotes.s]
type = "s3"
bucket = "b"
access_key_id = "AKIDPUBLIC"
secret_access_key = "SECRET-1"
session_token = "SECRET-2"
server_side_encryption_customer_algorithm = "AES256"
server_side_encryption_customer_key = "U0VDUkVULTNTRUNSRVQtM1NFQ1JFVC0zU0VDUkVULTM="
server_side_encryption_customer_key_md5 = "+Tx423Drq3b4gexk36RYoA=="
role_arn = "arn:aws:iam::1:role/r"
external_id = "SECRET-4"
[remotes.z]
type = "azblob"
container = "c"
account_name = "acct"
account_key = "SECRET-5"
sas_token = "SECRET-6"
encryption_key = "U0VDUkVULTdTRUNSRVQtN1NFQ1JFVC03U0VDUkVULTc="
[remotes.g]
type = "gcs"
bucket = "b"
credential = "SECRET-8"
token = "SECRET-9"
[remotes.m]
type = "fs"
root = "/nonexistent-mbx-test"
[remotes.m.milvus]
address = "127.0.0.1:1"
password = "SECRET-0"
"#,
    );
    for args in [vec!["remotes"], vec!["--json", "remotes"]] {
        let out = mbx_with(&file, dir.path(), &args);
        assert_exit(&out, 0);
        let text = text_of(&out);
        assert!(
            text.contains("AKIDPUBLIC") && text.contains("***"),
            "{text}"
        );
        for i in 0..10 {
            assert!(
                !text.contains(&format!("SECRET-{i}")),
                "{args:?} printed SECRET-{i}: {text}"
            );
        }
        // The customer-provided keys ("SECRET-3" and "SECRET-7" four times, base64) and the starts of their
        // digests: the S3 MD5 written out, the Azure SHA-256 derived by mbx.
        for secret in [
            "U0VDUkVULTNT",
            "U0VDUkVULTdT",
            "+Tx423Drq3b4",
            "+zD26shFKzqK",
        ] {
            assert!(!text.contains(secret), "{args:?} printed {secret}: {text}");
        }
    }
}

/// A syntax error in a secret's line: TOML's own message quotes that line, secret and all, on every command.
#[test]
fn a_syntax_error_names_the_place_not_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    for (body, what) in [
        (
            "secret_access_key = \"SECRET-unterminated\n",
            "unterminated",
        ),
        (
            "secret_access_key = \"SECRET\\qbad-escape\"\n",
            "bad escape",
        ),
        ("secret_access_key = SECRET-unquoted\n", "unquoted"),
    ] {
        let file = write_file(
            dir.path(),
            &format!(
                "[remotes.x]\ntype = \"minio\"\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:1\"\n{body}"
            ),
        );
        for args in [vec!["ls", "x:"], vec!["--json", "remotes"], vec!["remotes"]] {
            let out = mbx_with(&file, dir.path(), &args);
            assert_exit(&out, 2);
            let text = text_of(&out);
            assert!(!text.contains("SECRET"), "{what}, {args:?}: {text}");
            assert!(
                text.contains("line 5, column")
                    && text.contains("remote 'x'")
                    && text.contains("key 'secret_access_key'"),
                "{what}, {args:?}: {text}"
            );
        }
    }
}

#[test]
fn an_interpolation_error_does_not_quote_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "[remotes.x]\ntype = \"minio\"\nbucket = \"b\"\nendpoint = \"http://127.0.0.1:1\"\n\
         secret_access_key = \"SECRET${half\"\n[remotes.ok]\ntype = \"fs\"\nroot = \"/tmp\"\n",
    );
    for (args, code) in [
        (vec!["ls", "x:"], 2),
        (vec!["remotes"], 2),
        (vec!["--json", "remotes"], 2),
    ] {
        let out = mbx_with(&file, dir.path(), &args);
        assert_exit(&out, code);
        let text = text_of(&out);
        assert!(!text.contains("SECRET"), "{args:?}: {text}");
        assert!(!text.contains("half"), "{args:?}: {text}");
        assert!(
            text.contains("key 'secret_access_key'") && text.contains("line 5"),
            "{args:?}: {text}"
        );
    }
}

/// `mbx remotes` lists the good remotes and the broken ones, and says with its exit code that one is broken.
#[test]
fn remotes_exits_non_zero_when_a_remote_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "[remotes.good]\ntype = \"fs\"\nroot = \"/tmp\"\n[remotes.bad]\ntype = \"fs\"\nroot = 5\n",
    );
    let out = mbx_with(&file, dir.path(), &["remotes"]);
    assert_exit(&out, 2);
    let text = text_of(&out);
    assert!(
        text.contains("good") && text.contains("key 'root'"),
        "{text}"
    );
    let out = mbx_with(&file, dir.path(), &["ls", "bad:"]);
    assert_exit(&out, 2);
    assert!(!dir.path().join("5").exists() && !Path::new("5").exists());
}

#[test]
fn unaddressable_remote_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["\"a:b\"", "\"\""] {
        let file = write_file(
            dir.path(),
            &format!("[remotes.{name}]\ntype = \"fs\"\nroot = \"/tmp\"\n"),
        );
        let out = mbx_with(&file, dir.path(), &["remotes"]);
        assert_exit(&out, 2);
        assert!(text_of(&out).contains("cannot be used"), "{name}");
    }
}

#[test]
fn switches_and_deadlines_must_make_sense() {
    let dir = tempfile::tempdir().unwrap();
    for (line, key) in [
        ("credential_lookup = \"yes\"", "credential_lookup"),
        ("timeout = \"0s\"", "timeout"),
    ] {
        let file = write_file(
            dir.path(),
            &format!("[remotes.a]\ntype = \"fs\"\nroot = \"/tmp\"\n{line}\n"),
        );
        let out = mbx_with(&file, dir.path(), &["ls", "a:"]);
        assert_exit(&out, 2);
        assert!(text_of(&out).contains(&format!("key '{key}'")), "{line}");
    }
}
