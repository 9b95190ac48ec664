//! What the directory says of a user of a pool's request: known, with a readable account,
//! homed on the pool that was asked. Certificate provisioning and the registrar both ask.

use crate::conn::ConnInfo;
use crate::diag;
use crate::state::{State, UserRecord};

/// The user of a pool request: known, with a readable directory account (a damaged one can be
/// neither provisioned nor registered), and homed on the pool that was asked; else the
/// `ms-diagnostics` id and the reason.
pub(crate) fn homed_here(
    state: &State,
    conn: &ConnInfo,
    user: &str,
) -> Result<UserRecord, (u32, String)> {
    let record = state
        .user(user)
        .ok_or_else(|| (diag::NO_USER, format!("no user sip:{user}")))?;
    if record.corrupt {
        return Err((
            diag::ACCOUNT,
            format!(
                "the directory account of sip:{} is incomplete or corrupted (its Lync attributes cannot be read)",
                record.address
            ),
        ));
    }
    if record.home_pool != pool_of(conn) {
        return Err((
            diag::NOT_HOMED,
            format!("sip:{user} is not homed on {}", conn.host),
        ));
    }
    Ok(record)
}

/// The short name of the pool a connection came to (`pool-a`).
fn pool_of(conn: &ConnInfo) -> &str {
    conn.host.split('.').next().unwrap_or_default()
}
