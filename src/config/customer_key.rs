//! A customer-provided encryption key (S3 SSE-C, Azure CPK) and the options that go with it. The store needs
//! the algorithm and a digest of the key on every request beside the key itself; like aws-cli and az, mbx
//! derives them from the key, so a remote names only the key. A digest that is written out must match the
//! key: a wrong one would be refused by the store half-way through a transfer, after the first object.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::Digest;

use super::RemoteKind;

/// The option names of one kind's customer-provided key.
struct KeyOptions {
    key: &'static str,
    algorithm: &'static str,
    digest: &'static str,
    digest_of: fn(&[u8]) -> Vec<u8>,
    digest_name: &'static str,
}

const S3: KeyOptions = KeyOptions {
    key: "server_side_encryption_customer_key",
    algorithm: "server_side_encryption_customer_algorithm",
    digest: "server_side_encryption_customer_key_md5",
    digest_of: |key| md5::Md5::digest(key).to_vec(),
    digest_name: "MD5",
};

const AZBLOB: KeyOptions = KeyOptions {
    key: "encryption_key",
    algorithm: "encryption_algorithm",
    digest: "encryption_key_sha256",
    digest_of: |key| sha2::Sha256::digest(key).to_vec(),
    digest_name: "SHA-256",
};

/// The only algorithm either store takes for a customer-provided key.
const AES256: &str = "AES256";

/// Fills in the algorithm and the digest of a customer-provided key, and checks what is written out. Errors
/// name the option, never its value.
pub(super) fn complete(
    kind: RemoteKind,
    options: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    let names = match kind {
        RemoteKind::S3 | RemoteKind::Minio => S3,
        RemoteKind::Azblob => AZBLOB,
        RemoteKind::Gcs | RemoteKind::Fs => return Ok(()),
    };
    let set = |k: &str| options.get(k).filter(|v| !v.is_empty()).cloned();
    let (algorithm, given_digest) = (set(names.algorithm), set(names.digest));
    let Some(key) = set(names.key) else {
        return match [names.algorithm, names.digest]
            .into_iter()
            .find(|k| set(k).is_some())
        {
            Some(k) => Err(format!(
                "key '{k}' is set without '{}': set the key (base64) or remove '{k}'",
                names.key
            )),
            None => Ok(()),
        };
    };
    let raw = BASE64.decode(key.trim()).map_err(|_| {
        format!(
            "key '{}' is not base64: give the 256-bit key base64-encoded (for example `openssl rand -base64 32`)",
            names.key
        )
    })?;
    if raw.len() != 32 {
        return Err(format!(
            "key '{}' is {} bytes once decoded; {AES256} takes a 256-bit (32-byte) key",
            names.key,
            raw.len()
        ));
    }
    match algorithm {
        Some(a) if a != AES256 => {
            return Err(format!(
                "key '{}' is '{a}'; the only algorithm for a customer-provided key is {AES256}",
                names.algorithm
            ));
        }
        Some(_) => {}
        None => {
            options.insert(names.algorithm.into(), AES256.into());
        }
    }
    let digest = BASE64.encode((names.digest_of)(&raw));
    match given_digest {
        Some(given) if given.trim() != digest => Err(format!(
            "key '{}' is not the {} of '{}': remove it (mbx derives it) or correct it",
            names.digest, names.digest_name, names.key
        )),
        Some(_) => Ok(()),
        None => {
            options.insert(names.digest.into(), digest);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // "0123456789abcdef" twice

    #[test]
    fn the_algorithm_and_digest_are_derived_from_the_key() {
        let mut s3 = options(&[("server_side_encryption_customer_key", KEY)]);
        complete(RemoteKind::S3, &mut s3).unwrap();
        assert_eq!(s3["server_side_encryption_customer_algorithm"], "AES256");
        let md5 = BASE64.encode(md5::Md5::digest(b"0123456789abcdef0123456789abcdef"));
        assert_eq!(s3["server_side_encryption_customer_key_md5"], md5);

        let mut az = options(&[("encryption_key", KEY)]);
        complete(RemoteKind::Azblob, &mut az).unwrap();
        assert_eq!(az["encryption_algorithm"], "AES256");
        let sha = BASE64.encode(sha2::Sha256::digest(b"0123456789abcdef0123456789abcdef"));
        assert_eq!(az["encryption_key_sha256"], sha);

        // A digest written out and right is kept; without a key nothing is added.
        let mut given = s3.clone();
        complete(RemoteKind::S3, &mut given).unwrap();
        assert_eq!(given, s3);
        let mut none = options(&[("bucket", "b")]);
        complete(RemoteKind::S3, &mut none).unwrap();
        assert_eq!(none.len(), 1);
    }

    /// A kind, its options, and a part of the error they must give.
    type Case = (
        RemoteKind,
        &'static [(&'static str, &'static str)],
        &'static str,
    );

    #[test]
    fn a_wrong_key_digest_or_algorithm_is_refused_by_name_without_the_value() {
        let cases: [Case; 6] = [
            (
                RemoteKind::S3,
                &[("server_side_encryption_customer_key", "not base64!")],
                "not base64",
            ),
            (
                RemoteKind::S3,
                &[("server_side_encryption_customer_key", "c2hvcnQ=")],
                "32-byte",
            ),
            (
                RemoteKind::S3,
                &[
                    ("server_side_encryption_customer_key", KEY),
                    ("server_side_encryption_customer_key_md5", "AAAA"),
                ],
                "is not the MD5",
            ),
            (
                RemoteKind::S3,
                &[
                    ("server_side_encryption_customer_key", KEY),
                    ("server_side_encryption_customer_algorithm", "aws:kms"),
                ],
                "only algorithm",
            ),
            (
                RemoteKind::S3,
                &[("server_side_encryption_customer_algorithm", "AES256")],
                "without",
            ),
            (
                RemoteKind::Azblob,
                &[("encryption_key", KEY), ("encryption_key_sha256", "AAAA")],
                "SHA-256",
            ),
        ];
        for (kind, pairs, expected) in cases {
            let e = complete(kind, &mut options(pairs)).unwrap_err();
            assert!(e.contains(expected), "{e}");
            assert!(!e.contains(KEY) && !e.contains("AAAA"), "{e}");
        }
    }
}
