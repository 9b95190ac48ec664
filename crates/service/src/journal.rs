//! The journal: every request the service saw, with its outcome and the reason.

use std::collections::VecDeque;
use std::sync::Mutex;

use lyncsim_wire::admin::{JournalEntry, JournalOutcome};

use crate::clock::{ServiceClock, rfc3339};

/// How many entries are kept; the oldest go first.
const CAPACITY: usize = 10_000;

/// The most characters of a user or a reason kept in an entry: what a client sends is bounded
/// by the body limit, but 10,000 entries of it would not be.
const MAX_FIELD_CHARS: usize = 512;

/// `text`, or its first [`MAX_FIELD_CHARS`] characters and how long it was.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_FIELD_CHARS) {
        None => text.to_owned(),
        Some((at, _)) => format!("{}… ({} bytes in all)", &text[..at], text.len()),
    }
}

/// An append-only, bounded list of what happened.
#[derive(Debug)]
pub(crate) struct Journal {
    clock: ServiceClock,
    entries: Mutex<VecDeque<JournalEntry>>,
}

impl Journal {
    pub(crate) fn new(clock: ServiceClock) -> Self {
        Journal {
            clock,
            entries: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn record(
        &self,
        host: &str,
        endpoint: &str,
        user: Option<&str>,
        outcome: JournalOutcome,
        reason: impl Into<String>,
    ) {
        let entry = JournalEntry {
            time: rfc3339(self.clock.now()),
            host: host.to_owned(),
            endpoint: endpoint.to_owned(),
            user: user.map(clip),
            outcome,
            reason: clip(&reason.into()),
        };
        tracing::debug!(host, endpoint, ?outcome, reason = %entry.reason, "journal");
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() == CAPACITY {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    pub(crate) fn entries(&self) -> Vec<JournalEntry> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}
