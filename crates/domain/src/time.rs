//! Clock tolerance and how a skew is written for people ("7m12s").

use std::fmt;

/// The tolerance, in seconds, with which the service and the client compare timestamps and
/// certificate validity: 4 min 59 s of skew signs in, 5 min 01 s does not.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// A signed difference between two clocks, in whole seconds, written as `7m12s` or `-5m01s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skew(pub i64);

impl Skew {
    /// A skew given in milliseconds, rounded to the nearest second (half away from zero), for
    /// showing a difference that was compared in milliseconds.
    pub fn from_millis(ms: i64) -> Skew {
        let rounded = (ms.abs() + 500) / 1000;
        Skew(if ms < 0 { -rounded } else { rounded })
    }

    /// Whether a difference of `ms` milliseconds is within `tolerance_secs` either way.
    pub fn millis_within(ms: i64, tolerance_secs: i64) -> bool {
        ms.abs() <= tolerance_secs * 1000
    }

    /// Whether the skew is within `tolerance_secs` either way (the boundary itself is within).
    pub fn within(self, tolerance_secs: i64) -> bool {
        self.0.abs() <= tolerance_secs
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
    fn tolerance_boundary_is_inclusive() {
        assert!(Skew(299).within(DEFAULT_TOLERANCE_SECS));
        assert!(Skew(-300).within(DEFAULT_TOLERANCE_SECS));
        assert!(!Skew(301).within(DEFAULT_TOLERANCE_SECS));
        assert!(!Skew(-301).within(DEFAULT_TOLERANCE_SECS));
    }
}
