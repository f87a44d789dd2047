//! Shared by the property-test files.

use proptest::prelude::ProptestConfig;

/// `cases` per property, or `PROPTEST_CASES` when set (for longer runs).
pub(crate) fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig::with_cases(cases)
}
