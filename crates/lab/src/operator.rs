//! What an operator does to the service through its admin API, with what the lab must know
//! of it: a fault that changes a password changes the password the lab's machines type.

use anyhow::Context;
use lyncsim_wire::admin::{Fault, FaultRecord};

use crate::admin::AdminClient;
use crate::passwords::Passwords;

/// The admin API, and the passwords a lab's users have now.
#[derive(Debug, Clone)]
pub(crate) struct Operator {
    pub(crate) admin: AdminClient,
    pub(crate) passwords: Passwords,
}

impl Operator {
    /// Puts a server fault in force.
    pub(crate) async fn fault(&self, fault: &Fault) -> anyhow::Result<FaultRecord> {
        let record = self
            .admin
            .add_fault(fault)
            .await
            .context("the service refused the fault")?;
        if let Fault::ChangePassword { user, password } = fault {
            self.passwords.set(user, password);
        }
        Ok(record)
    }

    /// Removes every server fault, undoing each (an outage ends).
    pub(crate) async fn clear_faults(&self) -> anyhow::Result<()> {
        self.admin
            .clear_faults()
            .await
            .context("the service did not clear its faults")?;
        Ok(())
    }

    /// The pool `user` is homed on.
    pub(crate) async fn home_pool(&self, user: &str) -> anyhow::Result<String> {
        self.admin
            .users()
            .await?
            .into_iter()
            .find(|u| u.address.eq_ignore_ascii_case(user))
            .map(|u| u.home_pool)
            .with_context(|| format!("{user} is not a user of the service"))
    }
}
