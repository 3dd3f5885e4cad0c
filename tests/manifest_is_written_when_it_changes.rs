//! The destination's manifest is written when it changes: a re-run with nothing new leaves it alone, and a
//! transfer from another source into the same destination says that it replaces the first source's manifest.

mod support;

use std::os::unix::fs::MetadataExt;

use support::*;

fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for src in ["one", "two"] {
        std::fs::create_dir_all(root.join(src)).unwrap();
        std::fs::write(root.join(format!("{src}/{src}.txt")), src.as_bytes()).unwrap();
    }
    let file = dir.path().join("r.toml");
    std::fs::write(
        &file,
        format!(
            "[remotes.l]\ntype = \"fs\"\nroot = \"{}\"\n",
            root.display()
        ),
    )
    .unwrap();
    (dir, root, file)
}

#[test]
fn a_rerun_with_nothing_new_does_not_rewrite_the_manifest() {
    let (dir, root, file) = setup();
    let manifest = root.join("dst/.mbx/manifest.json");
    assert_exit(
        &mbx_with(&file, dir.path(), &["transfer", "l:one", "l:dst"]),
        0,
    );
    let before = std::fs::metadata(&manifest).unwrap().ino();
    let out = mbx_with(&file, dir.path(), &["--json", "transfer", "l:one", "l:dst"]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["skipped"], 1);
    // mbx writes a file by renaming a new one into place: the same inode means it was not written.
    assert_eq!(std::fs::metadata(&manifest).unwrap().ino(), before);
    // Something new: written again.
    std::fs::write(root.join("one/new.txt"), b"new").unwrap();
    assert_exit(
        &mbx_with(&file, dir.path(), &["transfer", "l:one", "l:dst"]),
        0,
    );
    assert_ne!(std::fs::metadata(&manifest).unwrap().ino(), before);
}

#[test]
fn a_second_source_into_the_same_destination_is_named() {
    let (dir, _root, file) = setup();
    assert_exit(
        &mbx_with(&file, dir.path(), &["transfer", "l:one", "l:dst"]),
        0,
    );
    let out = mbx_with(&file, dir.path(), &["--json", "transfer", "l:two", "l:dst"]);
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(s["replaced_manifest_of"], "l:one/", "{s}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("was written from l:one/"), "{text}");
    let plain = mbx_with(&file, dir.path(), &["transfer", "l:one", "l:dst"]);
    assert_exit(&plain, 0);
    let err = String::from_utf8_lossy(&plain.stderr);
    assert!(err.contains("written from l:two/"), "{err}");
}
