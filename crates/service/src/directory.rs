//! What the directory says of a user of a pool's request: known, with a readable account,
//! homed on the pool that was asked. Certificate provisioning and the registrar both ask.

use crate::conn::ConnInfo;
use crate::diag;
use crate::hosts::DIRECTOR;
use crate::pools::deployment;
use crate::state::{State, UserRecord};

/// Why a pool refused a user: the `ms-diagnostics` id (whose reason the wire carries) and
/// the reason for the journal.
pub(crate) struct NotHere {
    pub(crate) id: u32,
    pub(crate) why: String,
}

/// The user of a pool request: known, with a readable directory account (a damaged one can be
/// neither provisioned nor registered), and homed in the deployment of the pool that was asked
/// (the director's: any); else why not.
pub(crate) fn homed_here(
    state: &State,
    conn: &ConnInfo,
    user: &str,
) -> Result<UserRecord, NotHere> {
    let record = state.user(user).ok_or_else(|| NotHere {
        id: diag::NO_USER,
        why: format!("no user sip:{user}"),
    })?;
    if record.corrupt {
        return Err(NotHere {
            id: diag::ACCOUNT,
            why: format!(
                "the directory account of sip:{} is incomplete or corrupted (its Lync attributes cannot be read)",
                record.address
            ),
        });
    }
    // The director serves every user of the tenant (it provisions them and sends them on
    // to their pool); a pool the users of its deployment (its registrar sends those homed on
    // another of its pools on to theirs), and knows nothing of the others.
    if !conn.host.eq_ignore_ascii_case(DIRECTOR)
        && deployment(&record.home_pool) != deployment(pool_of(conn))
    {
        return Err(NotHere {
            id: diag::NOT_HOMED,
            why: format!(
                "sip:{user} is homed on {}, in another deployment than {}",
                record.home_pool, conn.host
            ),
        });
    }
    Ok(record)
}

/// The short name of the pool a connection came to (`pool-a`).
pub(crate) fn pool_of(conn: &ConnInfo) -> &str {
    conn.host.split('.').next().unwrap_or_default()
}
