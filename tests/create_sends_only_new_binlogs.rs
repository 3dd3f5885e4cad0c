//! A second `mbx create` of a collection copies the binlogs the first backup already holds (same key, size and
//! source ETag, on the backup store's side) instead of reading them again from Milvus's storage; only what Milvus
//! wrote since (here: what its compaction rewrote) is read. The backup is whole: every object is read back and checked
//! against its manifest, which is what restore checks before it imports.

mod support;

use support::proxy::FaultProxy;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_second_backup_copies_unchanged_binlogs_from_the_first() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let coll = unique("inc").replace('-', "_");
    let (first, second) = (format!("{coll}_1"), format!("{coll}_2"));
    seeded_backup(state.path(), &coll, &first);
    let out = mbx(
        state.path(),
        &[
            "--json", "create", "--remote", "milvus_a", "-c", &coll, "-n", &second,
        ],
    );
    assert_exit(&out, 0);
    let s = summary(&out);
    let b = &s["backup"];
    // Milvus may compact between the two backups: the binlogs of both with the same key are the ones found.
    let a = remote("milvus_a");
    let one = read_tree(&a, &format!("backup/{first}/binlogs")).await;
    let two = read_tree(&a, &format!("backup/{second}/binlogs")).await;
    let shared: Vec<&String> = two.keys().filter(|k| one.get(*k) == two.get(*k)).collect();
    assert!(!shared.is_empty(), "the two backups share binlogs");
    assert_eq!(b["found"], shared.len() as u64, "{s}");
    let shared_bytes: usize = shared.iter().map(|k| two[*k].len()).sum();
    assert_eq!(b["found_bytes"], shared_bytes as u64, "{s}");
    assert_eq!(b["copied"], two.len() as u64, "{s}");
    // Whole: every object against its manifest.
    assert_exit(
        &mbx(
            state.path(),
            &["verify", &format!("milvus_a:backup/{second}")],
        ),
        0,
    );
}

/// Backups on another store than Milvus's (`storage_remote`): the second backup's binlogs that the first one
/// holds are copied on the backup store's side, and only the rest crosses the link, as the fault proxy in front
/// of the backup store counts.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_backup_on_another_store_sends_only_new_binlogs() {
    if skip_without_servers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(&remote_option("s3b", "endpoint"));
    // Short: s3s-fs keeps a temporary file named after the whole key, and Linux names stop at 255 bytes.
    let backup_root = "elsewhere";
    let milvus = format!(
        "[remotes.bk.milvus]\naddress = \"{}\"\nstorage_remote = \"milvus_a\"\nroot_path = \"files\"\nbackup_root = \"{backup_root}\"\n",
        milvus_addr("a")
    );
    let config = remotes_file_with(
        dir.path(),
        &(s3_remote_like("s3b", "bk", &proxy.endpoint(), "") + &milvus),
    );
    let coll = unique("incx").replace('-', "_");
    milvus_scenario(&["seed", "--addr", &milvus_addr("a"), "--collection", &coll]);
    let create = |name: &str| {
        let out = mbx_with(
            &config,
            dir.path(),
            &[
                "--json", "create", "--remote", "bk", "-c", &coll, "-n", name,
            ],
        );
        assert_exit(&out, 0);
        summary(&out)
    };
    let (first, second) = (format!("{coll}_1"), format!("{coll}_2"));
    let one = create(&first);
    let sent_first = proxy.put_bytes();
    assert!(
        sent_first >= one["backup"]["bytes"].as_u64().unwrap_or(u64::MAX),
        "the first backup sends every binlog: {sent_first} bytes for {one}"
    );
    proxy.reset_stats();
    let two = create(&second);
    let b = &two["backup"];
    let (binlogs, found) = (
        b["bytes"].as_u64().unwrap(),
        b["found_bytes"].as_u64().unwrap(),
    );
    assert!(
        found > 0,
        "the second backup finds binlogs of the first: {two}"
    );
    let sent = proxy.put_bytes();
    eprintln!(
        "first backup sent {sent_first} bytes; the second: {binlogs} bytes of binlogs, {found} found, {sent} sent"
    );
    // What crossed: the binlogs not found, and the backup's meta files and manifest (a few KiB here).
    assert!(
        sent <= binlogs - found + (256 << 10),
        "sent {sent} bytes; {binlogs} bytes of binlogs, of which {found} found at the backup store: {two}"
    );
    assert!(
        sent < sent_first,
        "sent {sent}, the first backup sent {sent_first}"
    );
    // Whole: every object of the second backup against its manifest.
    assert_exit(
        &mbx_with(
            &config,
            dir.path(),
            &["verify", &format!("bk:{backup_root}/{second}")],
        ),
        0,
    );
}
