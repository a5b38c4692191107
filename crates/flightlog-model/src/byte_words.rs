//! Looking at eight bytes at once: one 64-bit word answers "is any of
//! these bytes below n" or "equal to b" without a loop. The decoder's
//! quick look for numbers and the canonical form's search for escapes
//! both scan long text, where most words hold nothing of interest.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The eight bytes at the start of `bytes`, as one word (first byte lowest).
///
/// # Panics
/// When `bytes` is shorter than eight.
pub fn word_at(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("eight bytes"))
}

/// Whether any byte of `w` is below `n` (n at most 0x80): the classic
/// "has a byte less than n" test. Subtracting n from each byte borrows
/// into the high bit exactly where the byte was below n, and `!w` drops
/// bytes whose high bit was already set.
pub fn any_below(w: u64, n: u8) -> bool {
    debug_assert!(n <= 0x80);
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS != 0
}

/// Whether any byte of `w` equals `b`: XOR turns exactly those bytes into 0.
pub fn any_equal(w: u64, b: u8) -> bool {
    any_below(w ^ (ONES * u64::from(b)), 1)
}

/// Whether any byte of `w` lies in `'0'..='9'`: XOR with '0' maps exactly
/// the digits to 0..=9.
pub fn any_digit(w: u64) -> bool {
    any_below(w ^ (ONES * u64::from(b'0')), 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any word, several matching bytes (and borrows between them)
        /// included, against the byte-by-byte answer.
        #[test]
        fn any_word_gives_the_byte_by_byte_answer(w: u64, n in 0u8..=0x80, b: u8) {
            let bytes = w.to_le_bytes();
            proptest::prop_assert_eq!(any_below(w, n), bytes.iter().any(|&x| x < n));
            proptest::prop_assert_eq!(any_equal(w, b), bytes.contains(&b));
            proptest::prop_assert_eq!(any_digit(w), bytes.iter().any(u8::is_ascii_digit));
        }
    }

    /// Each byte value at each place in a word of a filler byte, against
    /// the byte-by-byte answer.
    #[test]
    fn each_byte_at_each_place_gives_the_byte_by_byte_answer() {
        for filler in [b'a', b' ', 0xFF, 0x80, b'~'] {
            for b in 0..=u8::MAX {
                for at in 0..8 {
                    let mut bytes = [filler; 8];
                    bytes[at] = b;
                    let w = word_at(&bytes);
                    assert_eq!(any_digit(w), bytes.iter().any(u8::is_ascii_digit), "{b} at {at} in {filler}");
                    assert_eq!(any_equal(w, b'"'), bytes.contains(&b'"'), "{b} at {at} in {filler}");
                    assert_eq!(any_below(w, 0x20), bytes.iter().any(|&x| x < 0x20), "{b} at {at} in {filler}");
                }
            }
        }
    }
}
