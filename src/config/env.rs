//! `${VAR}` references and `MBX_REMOTE_<NAME>_<KEY>` overrides.

use std::collections::BTreeMap;

/// A snapshot of the process environment (only valid UTF-8 variables).
pub(super) fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Expands `${VAR}` in `value`; `$$` is a literal `$`. An unset variable is an error naming it.
pub(super) fn expand(
    value: &str,
    environment: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            // Messages never quote the value: it may be a secret with a `$` in it.
            let at = value.len() - after.len();
            let end = body.find('}').ok_or_else(|| {
                format!(
                    "unterminated '${{' at character {at} of the value: write ${{VAR}}, or $$ for a literal $"
                )
            })?;
            let var = &body[..end];
            let resolved = environment.get(var).ok_or_else(|| {
                if is_variable_name(var) {
                    format!("environment variable {var} is not set (referenced as ${{{var}}})")
                } else {
                    format!(
                        "'${{' at character {at} of the value does not name an environment variable: write \
                         ${{VAR}}, or $$ for a literal $"
                    )
                }
            })?;
            out.push_str(resolved);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Letters, digits and `_`, not starting with a digit: what a shell accepts as a variable name.
fn is_variable_name(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.len() <= 128
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `MBX_REMOTE_<NAME>_<KEY>` variables for remote `name`, as lower-case keys. `NAME` is the remote's
/// name upper-cased with `-` and `.` as `_`.
pub(super) fn overrides_for(
    name: &str,
    environment: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let prefix = format!(
        "MBX_REMOTE_{}_",
        name.to_ascii_uppercase().replace(['-', '.'], "_")
    );
    environment
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix(&prefix)?;
            (!key.is_empty()).then(|| (key.to_ascii_lowercase(), v.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_and_escapes() {
        let e: BTreeMap<_, _> = [("A".to_string(), "x".to_string())].into();
        assert_eq!(expand("p-${A}-$$-$B", &e).unwrap(), "p-x-$-$B");
        assert!(expand("${B}", &e).unwrap_err().contains("B is not set"));
        assert!(expand("${A", &e).is_err());
    }

    #[test]
    fn errors_do_not_quote_the_value() {
        let e = BTreeMap::new();
        for value in ["s3cr3t${oops", "s3cr3t${not a var}x"] {
            let err = expand(value, &e).unwrap_err();
            assert!(!err.contains("s3cr3t") && !err.contains("oops"), "{err}");
            assert!(err.contains("character 7"), "{err}");
        }
    }
}
