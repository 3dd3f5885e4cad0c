//! Backup names: milvus-backup's rules and default.

use std::time::{SystemTime, UNIX_EPOCH};

use super::MetaError;

/// Longest accepted backup name in bytes (`utils.MaxNameLength`).
pub const MAX_BACKUP_NAME_LEN: usize = 128;

/// milvus-backup's `ValidateType` rule: non-empty, at most 128 bytes, first
/// byte `_` or ASCII letter, the rest `_`, ASCII letters or digits. Upstream
/// trims surrounding whitespace before checking; we reject it instead because
/// the untrimmed name would become the directory name.
pub fn validate_backup_name(name: &str) -> Result<(), MetaError> {
    let fail = |reason| {
        Err(MetaError::InvalidBackupName {
            name: name.to_string(),
            reason,
        })
    };
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return fail("must not be empty");
    };
    if bytes.len() > MAX_BACKUP_NAME_LEN {
        return fail("must be at most 128 characters");
    }
    if first != b'_' && !first.is_ascii_alphabetic() {
        return fail("the first character must be an underscore or a letter");
    }
    if !bytes[1..]
        .iter()
        .all(|&c| c == b'_' || c.is_ascii_alphanumeric())
    {
        return fail("may only contain letters, digits and underscores");
    }
    Ok(())
}

/// Default name `backup_YYYY_MM_DD_HH_MM_SS_<nanos>` in UTC, as milvus-backup
/// builds it (`Format("2006_01_02_15_04_05_")` + unpadded `Nanosecond()`).
/// Times before 1970 are clamped to the epoch (no real clock returns them).
pub fn default_backup_name(now: SystemTime) -> String {
    let now = if now < UNIX_EPOCH { UNIX_EPOCH } else { now };
    let utc: chrono::DateTime<chrono::Utc> = now.into();
    format!(
        "backup_{}_{}",
        utc.format("%Y_%m_%d_%H_%M_%S"),
        utc.timestamp_subsec_nanos()
    )
}
