//! Time, as the rest of the crate reads it: tokio's clock (so tests with a
//! paused clock see timers fire on that clock), and deadlines that cannot
//! overflow however large a configured duration is.

use std::time::Duration;

/// The farthest ahead a deadline is ever set: about 30 years. A configured
/// `Duration::MAX` means "never" in practice, and adding it to an instant
/// would overflow.
const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The current time on tokio's clock, as the `std` instant the core takes.
pub(crate) fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// `t + d`, saturating at [`FAR`] ahead of `t`.
pub(crate) fn after(t: tokio::time::Instant, d: Duration) -> tokio::time::Instant {
    t.checked_add(d.min(FAR))
        .or_else(|| t.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(t)
}

/// [`after`] for `std` instants.
pub(crate) fn after_std(t: std::time::Instant, d: Duration) -> std::time::Instant {
    t.checked_add(d.min(FAR))
        .or_else(|| t.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate() {
        let t = tokio::time::Instant::now();
        assert_eq!(after(t, Duration::MAX), t + FAR);
        assert_eq!(after(t, Duration::from_secs(1)), t + Duration::from_secs(1));
        let s = std::time::Instant::now();
        assert_eq!(after_std(s, Duration::MAX), s + FAR);
    }
}
