//! Making each cause of KB 2604176 the way it happens for real: server-side operations
//! through the admin API, machine changes through the profile. Nothing here decides what the
//! user will see; the sign-ins that follow find out.

use anyhow::{Context, bail};
use lyncsim_client::BreakOptions;
use lyncsim_domain::{Cause, ErrorId};
use lyncsim_wire::admin::{Fault, OutageMode};
use serde::{Deserialize, Serialize};

use crate::machine::Machine;
use crate::operator::Operator;

/// How a stale certificate comes about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StaleCertVia {
    /// The service rotates its Communications Server CA (a server-side update).
    RotateCa,
    /// Bytes of the stored certificate are damaged.
    DamagedBytes,
}

/// A cause, with the settings of how it is made. Every setting has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CauseSpec {
    /// Which cause.
    pub cause: Cause,
    /// clock-skew: the machine clock's offset in seconds (negative: behind); default 432.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_secs: Option<i64>,
    /// post-outage: how the outage shows (refuse, reset, 503, cut-off); default refuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<OutageMode>,
    /// stale-cert: rotate-ca (default) or damaged-bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<StaleCertVia>,
    /// stale-credentials: the user's new password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// rsa-key-locked: the new Windows password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_password: Option<String>,
    /// endpoint-moved: the pool the user moves to (default: the first pool of another
    /// deployment, whose old pool cannot send the user on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl CauseSpec {
    /// A cause with every setting at its default.
    pub fn new(cause: Cause) -> CauseSpec {
        CauseSpec {
            cause,
            clock_offset_secs: None,
            mode: None,
            via: None,
            password: None,
            windows_password: None,
            to: None,
        }
    }

    /// The settings that do not belong to this cause, by their file names.
    pub fn foreign_settings(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut check = |set: bool, name: &'static str, owner: Cause| {
            if set && self.cause != owner {
                out.push(name);
            }
        };
        check(
            self.clock_offset_secs.is_some(),
            "clock_offset_secs",
            Cause::ClockSkew,
        );
        check(self.mode.is_some(), "mode", Cause::PostOutage);
        check(self.via.is_some(), "via", Cause::StaleCert);
        check(self.password.is_some(), "password", Cause::StaleCredentials);
        check(
            self.windows_password.is_some(),
            "windows_password",
            Cause::RsaKeyLocked,
        );
        check(self.to.is_some(), "to", Cause::EndpointMoved);
        out
    }
}

/// The new password a stale-credentials cause gives a user by default.
fn default_new_password(user: &str) -> String {
    let name = user.split('@').next().unwrap_or(user);
    format!("N3w-Passw0rd!{name}")
}

/// Makes `spec` for `user` on `machine`; returns what was done.
pub(crate) async fn make(
    operator: &Operator,
    machine: &mut Machine,
    user: &str,
    spec: &CauseSpec,
) -> anyhow::Result<String> {
    let product = machine.profile().machine().product;
    let os = machine.profile().machine().os;
    if !spec.cause.exists_on(product, os) {
        bail!(
            "{} does not exist on {} on {}",
            spec.cause,
            product.display_name(),
            os.display_name()
        );
    }
    match spec.cause {
        Cause::PostOutage => post_outage(operator, machine, user, spec).await,
        Cause::ClockSkew | Cause::RsaKeyLocked => on_machine(machine, spec),
        Cause::StaleCert if spec.via == Some(StaleCertVia::DamagedBytes) => {
            on_machine(machine, spec)
        }
        _ => {
            let fault = server_fault(operator, user, product, spec).await?;
            let record = operator.fault(&fault).await?;
            Ok(format!("service: {}", record.detail))
        }
    }
}

/// A cause made on the machine, with the spec's settings.
fn on_machine(machine: &mut Machine, spec: &CauseSpec) -> anyhow::Result<String> {
    let defaults = BreakOptions::default();
    let opts = BreakOptions {
        clock_offset_secs: spec.clock_offset_secs.unwrap_or(defaults.clock_offset_secs),
        new_windows_password: spec
            .windows_password
            .clone()
            .unwrap_or(defaults.new_windows_password),
    };
    lyncsim_client::make_cause(machine.profile_mut(), spec.cause, &opts)
}

/// The server-side operation that makes a cause.
async fn server_fault(
    operator: &Operator,
    user: &str,
    product: lyncsim_domain::Product,
    spec: &CauseSpec,
) -> anyhow::Result<Fault> {
    Ok(match spec.cause {
        Cause::OutdatedClient => Fault::MinClientBuild {
            product,
            build: None,
        },
        Cause::OutdatedSia => Fault::MinSignInAssistant { version: None },
        Cause::StaleCredentials => Fault::ChangePassword {
            user: user.into(),
            password: spec
                .password
                .clone()
                .unwrap_or_else(|| default_new_password(user)),
        },
        Cause::EndpointMoved => Fault::MoveUser {
            user: user.into(),
            to: spec.to.clone(),
        },
        // The user's home pool gets a new address; the machine's resolver cache (filled by
        // earlier sign-ins, long TTL) still holds the old one.
        Cause::DnsStale => Fault::ChangeDns {
            host: operator.home_pool(user).await?,
        },
        Cause::AccountCorrupt => Fault::CorruptAccount { user: user.into() },
        Cause::StaleCert => Fault::RotateCa,
        Cause::ClockSkew | Cause::RsaKeyLocked | Cause::PostOutage => {
            bail!("{} is not made on the service alone", spec.cause)
        }
    })
}

/// An outage hits a sign-in (which must see E_UNREACHABLE), then ends: what Lync 2010 leaves
/// behind is the cause.
async fn post_outage(
    operator: &Operator,
    machine: &mut Machine,
    user: &str,
    spec: &CauseSpec,
) -> anyhow::Result<String> {
    let mode = spec.mode.unwrap_or(OutageMode::Refuse);
    let outage = operator
        .fault(&Fault::Outage {
            hosts: vec![],
            mode,
            duration_secs: None,
        })
        .await?;
    let during = machine.sign_in(user).await?;
    if during.error() != Some(ErrorId::EUnreachable) {
        bail!(
            "a {} outage should stop sign-in with E_UNREACHABLE, but: {}",
            serde_json::to_string(&mode)?,
            during.describe()
        );
    }
    operator.clear_faults().await.context("ending the outage")?;
    Ok(format!(
        "service: {}; a sign-in during it saw E_UNREACHABLE; the outage ended",
        outage.detail
    ))
}

impl From<Cause> for CauseSpec {
    fn from(cause: Cause) -> CauseSpec {
        CauseSpec::new(cause)
    }
}
