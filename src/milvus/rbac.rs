//! `--rbac`: users, roles, grants and privilege groups, as milvus-backup keeps them (`BackupRBAC` into the
//! backup's `rbac_meta`; on restore, `RestoreRBAC` of only what the target lacks, so that nothing the target
//! already has is changed). Milvus 2.4 and newer; older servers have neither call, and are refused.

use super::MilvusError;
use super::client::MilvusClient;
use super::compat::MilvusVersion;
use super::meta::{
    GrantEntity, GrantorEntity, NamedEntity, PrivilegeGroupInfo, RbacMeta, UserInfo,
};
use super::proto::milvus as pb;

/// The first release with `BackupRBAC` and `RestoreRBAC`.
pub(crate) const RBAC_SINCE: MilvusVersion = MilvusVersion::new(2, 4, 0);

/// Refuses `--rbac` on a server without the calls; `what` is `create` or `restore`.
pub(crate) fn check(version: MilvusVersion, address: &str, what: &str) -> Result<(), MilvusError> {
    if version < RBAC_SINCE {
        return Err(MilvusError::BadInput(format!(
            "{what} --rbac needs Milvus {RBAC_SINCE} or newer (BackupRBAC/RestoreRBAC); Milvus at {address} runs \
             {version}. Run it without --rbac. Nothing was done"
        )));
    }
    Ok(())
}

/// The server's users, roles, grants and privilege groups.
pub(crate) async fn read(client: &MilvusClient) -> Result<RbacMeta, MilvusError> {
    let r = client
        .backup_rbac(pb::BackupRbacMetaRequest::default())
        .await?;
    Ok(r.rbac_meta.map(|m| to_meta(&m)).unwrap_or_default())
}

/// Restores on the target what `backup` has and the target lacks; returns what was sent.
pub(crate) async fn restore(
    client: &MilvusClient,
    backup: &RbacMeta,
) -> Result<RbacMeta, MilvusError> {
    let missing = missing(backup, &read(client).await?);
    if !is_empty(&missing) {
        client.restore_rbac(restore_request(&missing)).await?;
    }
    Ok(missing)
}

fn is_empty(m: &RbacMeta) -> bool {
    m.users.is_empty() && m.roles.is_empty() && m.grants.is_empty() && m.privilege_groups.is_empty()
}

/// What `backup` has that `target` lacks: users and roles and privilege groups by name, grants by role,
/// object, object name, database and privilege (milvus-backup `core/restore/task.go: restoreRBAC`).
pub(crate) fn missing(backup: &RbacMeta, target: &RbacMeta) -> RbacMeta {
    let grant_key = |g: &GrantEntity| {
        (
            g.role.as_ref().map(|r| r.name.clone()),
            g.object.as_ref().map(|o| o.name.clone()),
            g.object_name.clone(),
            g.db_name.clone(),
            g.grantor
                .as_ref()
                .and_then(|x| x.privilege.as_ref())
                .map(|p| p.name.clone()),
        )
    };
    RbacMeta {
        users: backup
            .users
            .iter()
            .filter(|u| !target.users.iter().any(|t| t.user == u.user))
            .cloned()
            .collect(),
        roles: backup
            .roles
            .iter()
            .filter(|r| !target.roles.iter().any(|t| t.name == r.name))
            .cloned()
            .collect(),
        grants: backup
            .grants
            .iter()
            .filter(|g| !target.grants.iter().any(|t| grant_key(t) == grant_key(g)))
            .cloned()
            .collect(),
        privilege_groups: backup
            .privilege_groups
            .iter()
            .filter(|g| {
                !target
                    .privilege_groups
                    .iter()
                    .any(|t| t.group_name == g.group_name)
            })
            .cloned()
            .collect(),
    }
}

/// The `RestoreRBAC` request for `meta`.
pub(crate) fn restore_request(meta: &RbacMeta) -> pb::RestoreRbacMetaRequest {
    pb::RestoreRbacMetaRequest {
        rbac_meta: Some(to_pb(meta)),
        ..Default::default()
    }
}

fn role(name: &str) -> pb::RoleEntity {
    pb::RoleEntity {
        name: name.to_string(),
        ..Default::default()
    }
}

fn named(name: &str) -> NamedEntity {
    NamedEntity {
        name: name.to_string(),
    }
}

fn to_pb(m: &RbacMeta) -> pb::RbacMeta {
    pb::RbacMeta {
        users: m
            .users
            .iter()
            .map(|u| pb::UserInfo {
                user: u.user.clone(),
                password: u.password.clone(),
                roles: u.roles.iter().map(|r| role(&r.name)).collect(),
            })
            .collect(),
        roles: m.roles.iter().map(|r| role(&r.name)).collect(),
        grants: m
            .grants
            .iter()
            .map(|g| pb::GrantEntity {
                role: g.role.as_ref().map(|r| role(&r.name)),
                object: g.object.as_ref().map(|o| pb::ObjectEntity {
                    name: o.name.clone(),
                }),
                object_name: g.object_name.clone(),
                grantor: g.grantor.as_ref().map(|x| pb::GrantorEntity {
                    user: x.user.as_ref().map(|u| pb::UserEntity {
                        name: u.name.clone(),
                    }),
                    privilege: x.privilege.as_ref().map(|p| pb::PrivilegeEntity {
                        name: p.name.clone(),
                    }),
                }),
                db_name: g.db_name.clone(),
            })
            .collect(),
        privilege_groups: m
            .privilege_groups
            .iter()
            .map(|g| pb::PrivilegeGroupInfo {
                group_name: g.group_name.clone(),
                privileges: g
                    .privileges
                    .iter()
                    .map(|p| pb::PrivilegeEntity {
                        name: p.name.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn to_meta(m: &pb::RbacMeta) -> RbacMeta {
    RbacMeta {
        users: m
            .users
            .iter()
            .map(|u| UserInfo {
                user: u.user.clone(),
                password: u.password.clone(),
                roles: u.roles.iter().map(|r| named(&r.name)).collect(),
            })
            .collect(),
        roles: m.roles.iter().map(|r| named(&r.name)).collect(),
        grants: m
            .grants
            .iter()
            .map(|g| GrantEntity {
                role: g.role.as_ref().map(|r| named(&r.name)),
                object: g.object.as_ref().map(|o| named(&o.name)),
                object_name: g.object_name.clone(),
                grantor: g.grantor.as_ref().map(|x| GrantorEntity {
                    user: x.user.as_ref().map(|u| named(&u.name)),
                    privilege: x.privilege.as_ref().map(|p| named(&p.name)),
                }),
                db_name: g.db_name.clone(),
            })
            .collect(),
        privilege_groups: m
            .privilege_groups
            .iter()
            .map(|g| PrivilegeGroupInfo {
                group_name: g.group_name.clone(),
                privileges: g.privileges.iter().map(|p| named(&p.name)).collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(role_name: &str, object: &str, privilege: &str) -> GrantEntity {
        GrantEntity {
            role: Some(named(role_name)),
            object: Some(named("Collection")),
            object_name: object.into(),
            grantor: Some(GrantorEntity {
                user: Some(named("root")),
                privilege: Some(named(privilege)),
            }),
            db_name: "default".into(),
        }
    }

    /// Only what the target lacks is sent, so nothing it has is changed (milvus-backup's rule).
    #[test]
    fn only_what_the_target_lacks_is_restored() {
        let backup = RbacMeta {
            users: vec![
                UserInfo {
                    user: "alice".into(),
                    password: "hash-a".into(),
                    roles: vec![named("reader")],
                },
                UserInfo {
                    user: "root".into(),
                    password: "hash-r".into(),
                    roles: vec![],
                },
            ],
            roles: vec![named("reader"), named("admin")],
            grants: vec![
                grant("reader", "c1", "Query"),
                grant("reader", "c1", "Search"),
            ],
            privilege_groups: vec![PrivilegeGroupInfo {
                group_name: "g".into(),
                privileges: vec![named("Query")],
            }],
        };
        let target = RbacMeta {
            users: vec![UserInfo {
                user: "root".into(),
                ..Default::default()
            }],
            roles: vec![named("admin")],
            grants: vec![grant("reader", "c1", "Query")],
            privilege_groups: vec![],
        };
        let m = missing(&backup, &target);
        assert_eq!(
            m.users.iter().map(|u| u.user.as_str()).collect::<Vec<_>>(),
            ["alice"]
        );
        assert_eq!(m.roles, [named("reader")]);
        assert_eq!(m.grants, [grant("reader", "c1", "Search")]);
        assert_eq!(m.privilege_groups.len(), 1);
        let req = restore_request(&m);
        let sent = req.rbac_meta.unwrap();
        assert_eq!(sent.users[0].password, "hash-a");
        assert_eq!(sent.users[0].roles[0].name, "reader");
        let g = &sent.grants[0];
        assert_eq!(g.object_name, "c1");
        assert_eq!(
            g.grantor
                .as_ref()
                .and_then(|x| x.privilege.as_ref())
                .map(|p| p.name.as_str()),
            Some("Search")
        );
        assert_eq!(to_meta(&sent), m, "proto and meta forms round-trip");
        assert!(is_empty(&missing(&backup, &backup)));
    }

    #[test]
    fn rbac_needs_milvus_2_4() {
        let e = check(MilvusVersion::new(2, 3, 5), "h:19530", "create").unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("2.4.0"), "{e}");
        assert!(check(MilvusVersion::new(2, 4, 0), "h", "restore").is_ok());
    }
}
