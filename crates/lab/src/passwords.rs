//! The passwords a lab's users have now, as the lab knows them: the tenant's, those of the
//! users it added, and those its faults changed. A machine types them as a person would.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Every user's password by address (lower case), shared by a lab and its machines.
#[derive(Debug, Clone, Default)]
pub(crate) struct Passwords(Arc<Mutex<BTreeMap<String, String>>>);

impl Passwords {
    pub(crate) fn new(known: BTreeMap<String, String>) -> Passwords {
        Passwords(Arc::new(Mutex::new(known)))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `user`'s password now.
    pub(crate) fn get(&self, user: &str) -> Option<String> {
        self.lock().get(&user.to_ascii_lowercase()).cloned()
    }

    /// Remembers `user`'s password.
    pub(crate) fn set(&self, user: &str, password: &str) {
        self.lock()
            .insert(user.to_ascii_lowercase(), password.to_owned());
    }

    /// Every user's password.
    pub(crate) fn all(&self) -> BTreeMap<String, String> {
        self.lock().clone()
    }
}
