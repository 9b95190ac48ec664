//! The trace log: one line per sign-in step, with the real reason of a failure. Lines that
//! only lyncsim writes (what it worked out beyond what the client logged) carry the mark
//! [`NOTE`] after the time, so that a view of the log as Lync wrote it can leave them out.

use std::io::Write;

use crate::profile::Profile;

pub(crate) struct Trace<'a> {
    profile: &'a Profile,
    lines: Vec<String>,
}

/// The mark of a line of lyncsim's own, after the line's time.
pub(crate) const NOTE: &str = "lyncsim: ";

/// Whether a line of the trace log is one the client itself wrote (not a [`NOTE`]).
pub(crate) fn client_wrote(line: &str) -> bool {
    line.split_once(' ')
        .is_none_or(|(_, text)| !text.starts_with(NOTE))
}

pub(crate) fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| unix.to_string())
}

impl<'a> Trace<'a> {
    pub(crate) fn new(profile: &'a Profile) -> Self {
        Trace {
            profile,
            lines: Vec::new(),
        }
    }

    /// Adds a line stamped with the machine's clock.
    pub(crate) fn line(&mut self, text: impl AsRef<str>) {
        let line = format!(
            "{} {}",
            rfc3339(self.profile.machine().now()),
            text.as_ref()
        );
        tracing::debug!("{line}");
        self.lines.push(line);
    }

    /// Adds a line of lyncsim's own, marked [`NOTE`]: what the real client's log did not say.
    pub(crate) fn note(&mut self, text: impl AsRef<str>) {
        self.line(format!("{NOTE}{}", text.as_ref()));
    }

    /// Appends the lines to the profile's trace log.
    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        let path = self.profile.trace_file();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        for line in self.lines.drain(..) {
            writeln!(file, "{line}")?;
        }
        Ok(())
    }
}
