//! Searching and quoting buffered bytes, for the blocking client's readers
//! and its panic messages.

/// The position of the first `needle` in `hay` (0 for an empty needle).
pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The first 300 bytes of `b`, lossily as text, for a panic message.
pub(super) fn show(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(&b[..b.len().min(300)])
}
