//! Clock tolerance and how a skew is written for people ("7m12s").

use std::fmt;

/// The tolerance, in seconds, with which the service and the client compare timestamps and
/// certificate validity: 4 min 59 s of skew signs in, 5 min 01 s does not.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// The largest clock offset, either way, that a service or a machine may be set to: a century.
/// Every Unix time it can produce is a date that RFC 3339, X.509 and JWTs can all carry.
pub const MAX_CLOCK_OFFSET_SECS: i64 = 100 * 365 * 24 * 3600;

/// The largest tolerance that may be set: a year. It can be multiplied into milliseconds, or
/// added to any date a certificate can carry, without overflowing.
pub const MAX_TOLERANCE_SECS: i64 = 365 * 24 * 3600;

/// A clock setting out of its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClockRangeError {
    /// An offset past [`MAX_CLOCK_OFFSET_SECS`] either way.
    #[error(
        "a clock offset of {0} seconds is out of range: at most {MAX_CLOCK_OFFSET_SECS} (100 years) either way"
    )]
    Offset(i64),
    /// A tolerance below 0 or above [`MAX_TOLERANCE_SECS`].
    #[error(
        "a tolerance of {0} seconds is out of range: from 0 to {MAX_TOLERANCE_SECS} (one year)"
    )]
    Tolerance(i64),
}

/// Checks a clock offset (seconds ahead of the system clock) against [`MAX_CLOCK_OFFSET_SECS`].
pub fn check_clock_offset(secs: i64) -> Result<i64, ClockRangeError> {
    if secs.unsigned_abs() <= MAX_CLOCK_OFFSET_SECS.unsigned_abs() {
        Ok(secs)
    } else {
        Err(ClockRangeError::Offset(secs))
    }
}

/// Checks a tolerance: from 0 to [`MAX_TOLERANCE_SECS`].
pub fn check_tolerance(secs: i64) -> Result<i64, ClockRangeError> {
    if (0..=MAX_TOLERANCE_SECS).contains(&secs) {
        Ok(secs)
    } else {
        Err(ClockRangeError::Tolerance(secs))
    }
}

/// A signed difference between two clocks, in whole seconds, written as `7m12s` or `-5m01s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skew(pub i64);

impl Skew {
    /// The exact difference `a_ms - b_ms` between two Unix times in milliseconds. Computed in
    /// 128 bits, so that no pair of `i64` times, however far apart, can overflow.
    pub fn millis_between(a_ms: i64, b_ms: i64) -> i128 {
        i128::from(a_ms) - i128::from(b_ms)
    }

    /// A skew given in milliseconds, rounded to the nearest second (half away from zero), for
    /// showing a difference that was compared in milliseconds. Every difference of two `i64`
    /// millisecond times fits; a larger one (which no clock can produce) is clamped.
    pub fn from_millis(ms: i128) -> Skew {
        let rounded = (ms.unsigned_abs() + 500) / 1000;
        let secs = i64::try_from(rounded).unwrap_or(i64::MAX);
        Skew(if ms < 0 { -secs } else { secs })
    }

    /// Whether a difference of `ms` milliseconds is within `tolerance_secs` either way. Exact
    /// for every input: a negative tolerance admits nothing.
    pub fn millis_within(ms: i128, tolerance_secs: i64) -> bool {
        tolerance_secs >= 0 && ms.unsigned_abs() <= u128::from(tolerance_secs.unsigned_abs()) * 1000
    }

    /// Whether the skew is within `tolerance_secs` either way (the boundary itself is within).
    pub fn within(self, tolerance_secs: i64) -> bool {
        tolerance_secs >= 0 && self.0.unsigned_abs() <= tolerance_secs.unsigned_abs()
    }
}

impl fmt::Display for Skew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (h, m, s) = (abs / 3600, (abs % 3600) / 60, abs % 60);
        match (h, m) {
            (0, 0) => write!(f, "{sign}{s}s"),
            (0, _) => write!(f, "{sign}{m}m{s:02}s"),
            _ => write!(f, "{sign}{h}h{m:02}m{s:02}s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_written_for_people() {
        let check = |secs, text: &str| assert_eq!(Skew(secs).to_string(), text);
        check(0, "0s");
        check(59, "59s");
        check(432, "7m12s");
        check(-301, "-5m01s");
        check(3600 * 26 + 61, "26h01m01s");
    }

    #[test]
    fn millisecond_skews_round_for_people_but_compare_exactly() {
        assert_eq!(Skew::from_millis(300_990).to_string(), "5m01s");
        assert_eq!(Skew::from_millis(-299_400).to_string(), "-4m59s");
        assert!(!Skew::millis_within(300_001, 300));
        assert!(Skew::millis_within(-300_000, 300));
    }

    #[test]
    fn the_check_is_exact_at_the_ends_of_the_range() {
        // The request timestamp that once wrapped `abs()` negative and was let through.
        let now = 1_780_000_000_000_i64;
        let far = now.wrapping_sub(1 << 63);
        let skew = Skew::millis_between(far, now);
        assert!(!Skew::millis_within(skew, 300));
        assert!(!Skew::millis_within(
            Skew::millis_between(i64::MIN, i64::MAX),
            300
        ));
        // A tolerance of i64::MAX seconds is wider than any two millisecond times are apart.
        assert!(Skew::millis_within(
            Skew::millis_between(i64::MIN, i64::MAX),
            i64::MAX
        ));
        assert!(!Skew::millis_within(
            Skew::millis_between(i64::MAX, i64::MIN),
            300
        ));
        assert!(Skew::millis_within(
            Skew::millis_between(i64::MAX, i64::MAX),
            0
        ));
        assert!(!Skew::millis_within(0, -1));
        assert!(Skew::from_millis(Skew::millis_between(i64::MIN, i64::MAX)).0 < 0);
        assert!(!Skew(i64::MIN).within(300));
        assert!(!Skew(i64::MAX).within(i64::MAX - 1));
        assert_eq!(Skew(i64::MIN).to_string(), "-2562047788015215h30m08s");
    }

    #[test]
    fn offsets_and_tolerances_are_bounded() {
        assert_eq!(
            check_clock_offset(-MAX_CLOCK_OFFSET_SECS),
            Ok(-MAX_CLOCK_OFFSET_SECS)
        );
        assert!(check_clock_offset(MAX_CLOCK_OFFSET_SECS + 1).is_err());
        let err = check_clock_offset(i64::MIN).unwrap_err();
        assert_eq!(err, ClockRangeError::Offset(i64::MIN));
        assert!(err.to_string().contains("100 years"));
        assert_eq!(check_tolerance(0), Ok(0));
        assert!(check_tolerance(-1).is_err());
        assert!(
            check_tolerance(i64::MAX)
                .unwrap_err()
                .to_string()
                .contains("one year")
        );
    }

    #[test]
    fn tolerance_boundary_is_inclusive() {
        assert!(Skew(299).within(DEFAULT_TOLERANCE_SECS));
        assert!(Skew(-300).within(DEFAULT_TOLERANCE_SECS));
        assert!(!Skew(301).within(DEFAULT_TOLERANCE_SECS));
        assert!(!Skew(-301).within(DEFAULT_TOLERANCE_SECS));
    }
}
