//! BLAKE3 of an object uploaded in parts that may land in different runs, without re-reading any part.
//!
//! BLAKE3 is a binary tree over 1 KiB chunks. When every part but the last is the same power-of-two size, each
//! part is a whole subtree: hashing it alone (at its offset) gives its chaining value, and the chaining values
//! merge into the root hash exactly as the tree does. So a part's 32-byte chaining value is all the journal
//! has to keep for the final hash to cover the whole content.

use blake3::hazmat::{ChainingValue, HasherExt, Mode, left_subtree_len, merge_subtrees_non_root};

/// The smallest part: one BLAKE3 chunk.
const CHUNK_LEN: u64 = 1024;

/// The part size for resumable uploads: at least `wanted`, a power of two, at least one chunk.
pub(crate) fn aligned_part_size(wanted: u64) -> u64 {
    wanted.max(CHUNK_LEN).next_power_of_two()
}

/// The value recorded for a part: its subtree chaining value, or the root hash itself when the object is this
/// one part (a lone part is the root of its tree and has no non-root value that could stand for it).
pub(crate) fn part_value<C: AsRef<[u8]>>(
    chunks: impl IntoIterator<Item = C>,
    len: u64,
    offset: u64,
    object_size: u64,
) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    let whole = offset == 0 && len == object_size;
    if !whole {
        hasher.set_input_offset(offset);
    }
    for c in chunks {
        hasher.update(c.as_ref());
    }
    if whole {
        *hasher.finalize().as_bytes()
    } else {
        hasher.finalize_non_root()
    }
}

/// Merges the part values of an object of `size` bytes cut into parts of `part_size` (a power of two, see
/// [`aligned_part_size`]) into the object's BLAKE3. `values` must hold every part, in order.
pub(crate) fn object_hash(values: &[[u8; 32]], part_size: u64, size: u64) -> Option<blake3::Hash> {
    let parts = size.div_ceil(part_size).max(1);
    if values.len() as u64 != parts || !part_size.is_power_of_two() || part_size < CHUNK_LEN {
        return None;
    }
    if parts == 1 {
        return Some(blake3::Hash::from_bytes(values[0]));
    }
    let (left, right) = split(values, part_size, size);
    let l = subtree(left.0, part_size, left.1);
    let r = subtree(right.0, part_size, right.1);
    Some(blake3::hazmat::merge_subtrees_root(&l, &r, Mode::Hash))
}

type Span<'a> = (&'a [[u8; 32]], u64);

/// Splits a span of more than one part where the BLAKE3 tree splits it: the left side is the largest power
/// of two chunks smaller than the whole, which is a whole number of parts because parts are powers of two.
fn split(values: &[[u8; 32]], part_size: u64, len: u64) -> (Span<'_>, Span<'_>) {
    let left_len = left_subtree_len(len);
    let k = (left_len / part_size) as usize;
    ((&values[..k], left_len), (&values[k..], len - left_len))
}

fn subtree(values: &[[u8; 32]], part_size: u64, len: u64) -> ChainingValue {
    if values.len() == 1 {
        return values[0];
    }
    let (left, right) = split(values, part_size, len);
    merge_subtrees_non_root(
        &subtree(left.0, part_size, left.1),
        &subtree(right.0, part_size, right.1),
        Mode::Hash,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_parts(data: &[u8], part: u64) -> blake3::Hash {
        let size = data.len() as u64;
        let values: Vec<[u8; 32]> = if data.is_empty() {
            vec![part_value([data], 0, 0, 0)]
        } else {
            data.chunks(part as usize)
                .enumerate()
                .map(|(i, c)| {
                    // Uneven chunks, as a network read delivers them.
                    let (a, b) = c.split_at(c.len() / 3);
                    part_value([a, b], c.len() as u64, i as u64 * part, size)
                })
                .collect()
        };
        object_hash(&values, part, size).unwrap()
    }

    #[test]
    fn parts_merge_to_the_hash_of_the_whole() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for part in [1024u64, 2048, 4096, 65536, 1 << 20] {
            for len in [
                0usize, 1, 1023, 1024, 1025, 4096, 5000, 65536, 70001, 131072, 300_000,
            ] {
                let slice = &data[..len];
                assert_eq!(
                    by_parts(slice, part),
                    blake3::hash(slice),
                    "part {part} len {len}"
                );
            }
        }
    }

    #[test]
    fn part_sizes_are_powers_of_two() {
        assert_eq!(aligned_part_size(16 << 20), 16 << 20);
        assert_eq!(aligned_part_size(10 << 20), 16 << 20);
        assert_eq!(aligned_part_size(5), 1024);
    }

    #[test]
    fn a_missing_part_gives_no_hash() {
        assert!(object_hash(&[[0; 32]], 1024, 2048).is_none());
        assert!(object_hash(&[[0; 32], [0; 32]], 1000, 2000).is_none());
    }
}
