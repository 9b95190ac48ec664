//! Dotted build numbers ("4.0.7577.4087") that compare number by number.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A product or Sign-In Assistant build, compared part by part as numbers
/// (`4.0.7577.4087 < 4.0.7577.4100`, `7.250 < 7.1000`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Build(Vec<u32>);

/// A build number that is not dot-separated whole numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid build number {0:?}: expected up to eight dot-separated whole numbers such as 4.0.7577.4087"
)]
pub struct ParseBuildError(pub String);

impl Build {
    /// A build from its parts (`[4, 0, 7577, 4087]`).
    pub fn from_parts(parts: &[u32]) -> Build {
        Build(parts.to_vec())
    }
}

impl FromStr for Build {
    type Err = ParseBuildError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // No real build has more than four parts; eight leaves room and bounds what the wire
        // can make the service keep.
        if s.split('.').count() > 8 {
            return Err(ParseBuildError(s.chars().take(64).collect()));
        }
        let parts: Result<Vec<u32>, _> = s.split('.').map(str::parse).collect();
        match parts {
            Ok(p) if !p.is_empty() => Ok(Build(p)),
            _ => Err(ParseBuildError(s.to_owned())),
        }
    }
}

impl fmt::Display for Build {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for p in &self.0 {
            if !first {
                f.write_str(".")?;
            }
            write!(f, "{p}")?;
            first = false;
        }
        Ok(())
    }
}

impl Serialize for Build {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Build {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_compare_as_numbers() {
        let b = |s: &str| s.parse::<Build>().unwrap();
        assert!(b("4.0.7577.4087") < b("4.0.7577.4100"));
        assert!(b("7.250.4303.0") < b("7.1000.0.0"));
        assert!(b("15.0.4551.1005") > b("4.0.7577.4087"));
        assert_eq!(b("4.0.7577.4087").to_string(), "4.0.7577.4087");
    }

    #[test]
    fn bad_builds_are_refused() {
        assert!("".parse::<Build>().is_err());
        assert!("4.x".parse::<Build>().is_err());
        assert!("4..1".parse::<Build>().is_err());
    }
}
