//! Go-compatible JSON writer and reader.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::MetaError;

/// Compact formatter that adds Go's extra string escapes. serde_json already
/// escapes `"`, `\` and C0 controls exactly like Go >= 1.22 (`\b \f \n \r \t`,
/// otherwise lowercase `\u00xx`) and leaves `/` and DEL alone like Go; only the
/// HTML-safety escapes and the JavaScript line separators are missing.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            let esc: &[u8] = match ch {
                '<' => b"\\u003c",
                '>' => b"\\u003e",
                '&' => b"\\u0026",
                '\u{2028}' => b"\\u2028",
                '\u{2029}' => b"\\u2029",
                _ => continue,
            };
            writer.write_all(&bytes[start..i])?;
            writer.write_all(esc)?;
            start = i + ch.len_utf8();
        }
        writer.write_all(&bytes[start..])
    }
}

/// Serialize like Go's `json.Marshal`: compact, HTML-escaped, no trailing newline.
pub fn to_go_json<T: Serialize>(v: &T) -> Result<Vec<u8>, MetaError> {
    let mut ser = serde_json::Serializer::with_formatter(Vec::new(), GoFormatter);
    v.serialize(&mut ser).map_err(|source| MetaError::Encode {
        what: std::any::type_name::<T>(),
        source,
    })?;
    Ok(ser.into_inner())
}

/// Drop `null` members so they read as "missing" (= zero), which is what Go's
/// `json.Unmarshal` does for `null` on non-pointer fields.
fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.retain(|_, val| !val.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Parse a meta file the way Go's `json.Unmarshal` would: unknown keys
/// ignored, missing keys and `null` read as zero, duplicate keys last-wins,
/// 64-bit integers exact (serde_json keeps u64/i64 without going through f64).
pub fn from_go_json<T: DeserializeOwned>(bytes: &[u8], file: &'static str) -> Result<T, MetaError> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|source| MetaError::Decode { file, source })?;
    strip_nulls(&mut value);
    serde_json::from_value(value).map_err(|source| MetaError::Decode { file, source })
}
