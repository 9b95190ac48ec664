//! The service's clock: the system clock plus an offset that the admin API sets, and the
//! tolerance with which timestamps and validity are compared.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lyncsim_domain::DEFAULT_TOLERANCE_SECS;
use lyncsim_wire::admin::ClockSettings;

/// A shared, adjustable clock. Clones see the same offset.
#[derive(Debug, Clone)]
pub struct ServiceClock {
    offset_secs: Arc<AtomicI64>,
    tolerance_secs: Arc<AtomicI64>,
}

impl Default for ServiceClock {
    fn default() -> Self {
        Self::new(0, DEFAULT_TOLERANCE_SECS)
    }
}

/// The system clock in Unix milliseconds.
pub fn system_now_ms() -> i64 {
    // A system clock before 1970 is not a world this simulator models; it reads as 0.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl ServiceClock {
    /// A clock `offset_secs` ahead of the system clock, comparing with `tolerance_secs`.
    pub fn new(offset_secs: i64, tolerance_secs: i64) -> Self {
        ServiceClock {
            offset_secs: Arc::new(AtomicI64::new(offset_secs)),
            tolerance_secs: Arc::new(AtomicI64::new(tolerance_secs)),
        }
    }

    /// The service's time, Unix seconds.
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// The service's time, Unix milliseconds. The offset is bounded ([`ServiceClock::set`]),
    /// so this cannot overflow; saturating keeps it so even if that bound were lifted.
    pub fn now_ms(&self) -> i64 {
        system_now_ms().saturating_add(
            self.offset_secs
                .load(Ordering::Relaxed)
                .saturating_mul(1000),
        )
    }

    /// The tolerance in seconds.
    pub fn tolerance(&self) -> i64 {
        self.tolerance_secs.load(Ordering::Relaxed)
    }

    /// The current settings.
    pub fn settings(&self) -> ClockSettings {
        ClockSettings {
            offset_secs: self.offset_secs.load(Ordering::Relaxed),
            tolerance_secs: self.tolerance(),
        }
    }

    /// Replaces the settings, after checking both against the bounds of the domain crate
    /// (an offset of at most a century, a tolerance from 0 to a year); out of range, nothing
    /// changes and the reason is returned.
    pub fn set(&self, settings: ClockSettings) -> Result<(), lyncsim_domain::ClockRangeError> {
        lyncsim_domain::check_clock_offset(settings.offset_secs)?;
        lyncsim_domain::check_tolerance(settings.tolerance_secs)?;
        self.offset_secs
            .store(settings.offset_secs, Ordering::Relaxed);
        self.tolerance_secs
            .store(settings.tolerance_secs, Ordering::Relaxed);
        Ok(())
    }
}

/// Unix seconds as RFC 3339, for journals and the time endpoint.
pub fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| unix.to_string())
}
