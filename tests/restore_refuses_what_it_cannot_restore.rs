//! A backup that the target Milvus cannot restore faithfully is refused with its reason, before anything is
//! created. The backups are shaped as milvus-backup writes them for Milvus 2.4-2.6 (its `backup.proto` meta and
//! layout: L0 segments, `storage_version` 2, BM25 functions, nullable fields, struct arrays, a newer
//! `milvus_version`, the 3.0 snapshot format) from a real backup of the Milvus 2.3.5 the tests start, and each
//! is restored into that 2.3.5: exit 2, the version and the feature named, and no database, collection or
//! journal left behind.

mod support;

use mbx::milvus::meta::{self, BackupInfo};
use support::*;

/// Writes `info` as backup `name` beside the real one, with its binlogs and `extra` objects, and no mbx
/// manifest (milvus-backup writes none).
async fn shaped_backup(
    r: &mbx::remote::Remote,
    state: &std::path::Path,
    from: &str,
    name: &str,
    info: &BackupInfo,
    extra: &[(String, Vec<u8>)],
) {
    assert_exit(
        &mbx(
            state,
            &[
                "transfer",
                &format!("milvus_a:backup/{from}"),
                &format!("milvus_a:backup/{name}"),
            ],
        ),
        0,
    );
    r.op()
        .delete(&format!("backup/{name}/.mbx/manifest.json"))
        .await
        .unwrap();
    let mut info = info.clone();
    info.name = name.to_string();
    let files = meta::build_meta_files(&info).unwrap();
    for (file, body) in files.in_write_order() {
        r.op()
            .write(&format!("backup/{name}/meta/{file}"), body.to_vec())
            .await
            .unwrap();
    }
    for (rel, body) in extra {
        r.op()
            .write(&format!("backup/{name}/{rel}"), body.clone())
            .await
            .unwrap();
    }
}

fn inventory() -> serde_json::Value {
    milvus_scenario(&["inventory", "--addr", &milvus_addr("a")])["databases"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_of_newer_milvus_are_refused_before_anything_is_created() {
    if skip_without_servers() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let coll = unique("rf").replace('-', "_");
    // Short names: s3s-fs keeps a key's metadata in one file name, and binlog keys are long already.
    let name = format!("rf{}", std::process::id());
    seeded_backup(state.path(), &coll, &name);
    let a = remote("milvus_a");
    let full = a
        .op()
        .read(&format!("backup/{name}/meta/full_meta.json"))
        .await
        .unwrap()
        .to_vec();
    let mut real: BackupInfo = meta::from_go_json(&full, "full_meta.json").unwrap();
    assert_eq!(real.milvus_version.trim_start_matches('v')[..5], *"2.3.5");
    // A database that does not exist on the target: a restore that got as far as creating it would show.
    let db = format!("{coll}_db");
    for c in &mut real.collection_backups {
        c.db_name = db.clone();
    }
    let c0 = &real.collection_backups[0];
    let (cid, pid) = (c0.collection_id, c0.partition_backups[0].partition_id);
    let delta_body = b"a delta log".to_vec();
    let l0 = |partition: i64| meta::SegmentBackupInfo {
        segment_id: 999,
        collection_id: cid,
        partition_id: partition,
        is_l0: true,
        group_id: if partition == -1 { 0 } else { 999 },
        deltalogs: vec![meta::FieldBinlog {
            field_id: 0,
            binlogs: vec![meta::Binlog {
                log_path: format!("files/delta_log/{cid}/{partition}/999/1"),
                log_size: delta_body.len() as i64,
                log_id: 1,
                ..Default::default()
            }],
        }],
        size: delta_body.len() as i64,
        ..Default::default()
    };
    let newer = |version: &str, change: &dyn Fn(&mut BackupInfo)| {
        let mut b = real.clone();
        b.milvus_version = version.to_string();
        change(&mut b);
        b
    };

    struct Case {
        name: &'static str,
        info: BackupInfo,
        extra: Vec<(String, Vec<u8>)>,
        /// What the plain restore's refusal names.
        plain: Vec<&'static str>,
        /// What the refusal names with --allow-downgrade (None: not tried).
        downgrade: Option<Vec<&'static str>>,
    }
    let cases = vec![
        Case {
            name: "l0_all",
            info: newer("v2.4.23", &|b| {
                b.collection_backups[0].l0_segments = vec![l0(-1)]
            }),
            extra: vec![(
                format!("binlogs/delta_log/{cid}/-1/999/1"),
                delta_body.clone(),
            )],
            plain: vec!["2.4.23", "2.3.5", "--allow-downgrade"],
            downgrade: Some(vec!["L0", "deleted rows come back", "2.4.0"]),
        },
        Case {
            name: "l0_part",
            info: newer("v2.5.4", &|b| {
                b.collection_backups[0].partition_backups[0]
                    .segment_backups
                    .push(l0(pid))
            }),
            extra: vec![(
                format!("binlogs/delta_log/{cid}/{pid}/999/999/1"),
                delta_body.clone(),
            )],
            plain: vec!["2.5.4", "2.3.5"],
            downgrade: Some(vec!["L0", "2.4.0"]),
        },
        Case {
            name: "storage_v2",
            info: newer("v2.6.3", &|b| {
                for p in &mut b.collection_backups[0].partition_backups {
                    for s in &mut p.segment_backups {
                        s.storage_version = 2;
                    }
                }
            }),
            extra: vec![],
            plain: vec!["2.6.3", "2.3.5"],
            downgrade: Some(vec!["storage format v2", "2.6.0"]),
        },
        Case {
            name: "bm25",
            info: newer("v2.5.4", &|b| {
                let s = b.collection_backups[0].schema.as_mut().unwrap();
                s.fields.push(meta::FieldSchema {
                    field_id: 200,
                    name: "sparse".into(),
                    data_type: meta::DataType::SPARSE_FLOAT_VECTOR,
                    is_function_output: true,
                    ..Default::default()
                });
                s.functions.push(meta::FunctionSchema {
                    name: "bm25".into(),
                    function_type: meta::FunctionType::BM25,
                    input_field_names: vec!["tag".into()],
                    output_field_names: vec!["sparse".into()],
                    ..Default::default()
                });
            }),
            extra: vec![],
            plain: vec!["2.5.4"],
            downgrade: Some(vec!["functions", "2.5.0"]),
        },
        Case {
            name: "nullable",
            info: newer("v2.5.4", &|b| {
                let s = b.collection_backups[0].schema.as_mut().unwrap();
                for f in &mut s.fields {
                    if f.name == "tag" {
                        f.nullable = true;
                    }
                }
            }),
            extra: vec![],
            plain: vec!["2.5.4"],
            downgrade: Some(vec!["nullable", "2.5.0"]),
        },
        Case {
            name: "structs",
            info: newer("v2.6.3", &|b| {
                let s = b.collection_backups[0].schema.as_mut().unwrap();
                s.struct_array_fields.push(meta::StructArrayFieldSchema {
                    field_id: 300,
                    name: "clips".into(),
                    fields: vec![meta::FieldSchema {
                        field_id: 301,
                        name: "clip_vec".into(),
                        data_type: meta::DataType::ARRAY_OF_VECTOR,
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }),
            extra: vec![],
            plain: vec!["2.6.3"],
            downgrade: Some(vec!["struct array", "2.6.0"]),
        },
        Case {
            name: "from_263",
            info: newer("v2.6.3", &|_| {}),
            extra: vec![],
            plain: vec!["2.6.3", "2.3.5", "same or a newer"],
            downgrade: None,
        },
        Case {
            name: "snapshot",
            info: newer("v3.0.0", &|b| b.format = "snapshot".into()),
            extra: vec![],
            plain: vec!["snapshot"],
            downgrade: None,
        },
    ];

    let before = inventory();
    assert!(
        before.get(&db).is_none(),
        "database {db} exists before the test"
    );
    for case in &cases {
        let bk = format!("{name}{}", case.name.replace('_', ""));
        shaped_backup(&a, state.path(), &name, &bk, &case.info, &case.extra).await;
        let mut tries = vec![(false, &case.plain)];
        if let Some(d) = &case.downgrade {
            tries.push((true, d));
        }
        for (downgrade, want) in tries {
            let mut args = vec![
                "restore", "--remote", "milvus_a", "-n", &bk, "--suffix", "_r",
            ];
            if downgrade {
                args.push("--allow-downgrade");
            }
            let out = mbx(state.path(), &args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{} (downgrade {downgrade}): {err}",
                case.name
            );
            for w in want {
                assert!(
                    err.contains(w),
                    "{} (downgrade {downgrade}): no '{w}' in: {err}",
                    case.name
                );
            }
        }
    }
    // A 2.4+ backup without full_meta.json would lose its all-partition deletes: refused too.
    let bk = format!("{name}nofull");
    let info = newer("v2.4.23", &|_| {});
    shaped_backup(&a, state.path(), &name, &bk, &info, &[]).await;
    a.op()
        .delete(&format!("backup/{bk}/meta/full_meta.json"))
        .await
        .unwrap();
    let out = mbx(
        state.path(),
        &[
            "restore",
            "--remote",
            "milvus_a",
            "-n",
            &bk,
            "--suffix",
            "_r",
            "--allow-downgrade",
        ],
    );
    assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("full_meta.json"));

    assert_eq!(inventory(), before, "a refused restore created something");
    let journals = state.path().join("restores");
    let left = std::fs::read_dir(&journals).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "a refused restore left a journal in {journals:?}");
}
