//! `lyncsim break`, `lyncsim fix` and `lyncsim fault`: the causes and remedies of KB 2604176.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use lyncsim_client::{BreakOptions, Profile};
use lyncsim_domain::{Build, Cause, Product, Remedy};
use lyncsim_lab::AdminClient;
use lyncsim_wire::admin::{Fault, FaultRecord, OutageMode};

#[derive(Debug, Args)]
pub(crate) struct BreakArgs {
    /// The profile folder (made by `lyncsim client init`).
    #[arg(long, value_name = "DIR")]
    profile: PathBuf,
    /// Client-side causes: clock-skew, stale-cert, rsa-key-locked, outdated-client,
    /// outdated-sia. (The others are made on the service: see `lyncsim fault`.)
    #[arg(required = true, value_name = "CAUSE")]
    causes: Vec<Cause>,
    /// clock-skew: the clock's offset in seconds (negative: behind).
    #[arg(long, default_value_t = 432, allow_negative_numbers = true)]
    clock_offset: i64,
    /// rsa-key-locked: the new Windows password.
    #[arg(long, default_value = "Spring2012!")]
    new_windows_password: String,
}

pub(crate) fn run_break(args: BreakArgs) -> anyhow::Result<ExitCode> {
    let mut profile = Profile::open(&args.profile)?;
    let opts = BreakOptions {
        clock_offset_secs: args.clock_offset,
        new_windows_password: args.new_windows_password,
    };
    for cause in args.causes {
        let done = lyncsim_client::make_cause(&mut profile, cause, &opts)?;
        println!("{cause}: {done}");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct FixArgs {
    /// The profile folder (made by `lyncsim client init`).
    #[arg(long, value_name = "DIR")]
    profile: PathBuf,
    /// KB 2604176 steps, applied in order: delete-signin-info, fixit, update-client,
    /// desktop-setup, delete-endpoint-cache, delete-cert, remove-credentials, sync-time,
    /// flush-dns, delete-rsa-key, restart, escalate.
    #[arg(required = true, value_name = "REMEDY")]
    remedies: Vec<Remedy>,
}

pub(crate) async fn run_fix(args: FixArgs) -> anyhow::Result<ExitCode> {
    let mut profile = Profile::open(&args.profile)?;
    for remedy in args.remedies {
        match lyncsim_client::apply_remedy(&mut profile, remedy).await {
            Ok(done) => println!("{remedy}: {done}"),
            Err(e) => {
                eprintln!("{remedy}: refused: {e:#}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct FaultArgs {
    /// The service's admin URL, as `lyncsim serve` prints it (admin_url); before or after the
    /// subcommand.
    #[arg(long, value_name = "URL", global = true, env = "LYNCSIM_SERVICE")]
    service: Option<String>,
    #[command(subcommand)]
    action: FaultAction,
}

#[derive(Debug, Subcommand)]
enum FaultAction {
    /// List the faults in force.
    List,
    /// Remove one fault, undoing it.
    Remove {
        /// The fault's id.
        id: u64,
    },
    /// Remove every fault.
    Clear,
    /// Raise the minimum client build (a server-side update).
    MinClientBuild {
        /// lync2010 or lync2013.
        #[arg(long)]
        product: Product,
        /// The new minimum; the latest build when left out.
        #[arg(long)]
        build: Option<Build>,
    },
    /// Raise the minimum Sign-In Assistant version.
    MinSignInAssistant {
        /// The new minimum; the latest version when left out.
        #[arg(long)]
        version: Option<Build>,
    },
    /// Replace the Communications Server CA.
    RotateCa,
    /// Move a user to the first pool of another deployment (or --to): pool-a and pool-c are
    /// one deployment, pool-b another. Within a deployment the old pool sends the user on
    /// (301), so such a move breaks no client
    MoveUser {
        /// The user.
        #[arg(long)]
        user: String,
        /// pool-a, pool-b or pool-c.
        #[arg(long)]
        to: Option<String>,
    },
    /// Give a host a new address in DNS.
    ChangeDns {
        /// The host name (pool-a.online.lync.com).
        #[arg(long)]
        host: String,
    },
    /// Change a user's password at the service.
    ChangePassword {
        /// The user.
        #[arg(long)]
        user: String,
        /// The new password.
        #[arg(long)]
        password: String,
    },
    /// Mark a directory account as corrupted.
    CorruptAccount {
        /// The user.
        #[arg(long)]
        user: String,
    },
    /// Put hosts in an outage (every HTTPS host when no --host is given).
    Outage {
        /// A host name; repeat for several.
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// refuse, reset, 503 or cut-off.
        #[arg(long, value_parser = parse_mode)]
        mode: OutageMode,
        /// End by itself after this many seconds.
        #[arg(long)]
        duration: Option<u64>,
    },
}

fn parse_mode(text: &str) -> Result<OutageMode, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        format!("unknown outage mode {text:?}; expected one of: refuse, reset, 503, cut-off")
    })
}

/// A removed fault and what its undo invalidates.
fn print_removed(record: &FaultRecord) {
    println!("removed fault {}: {}", record.id, record.detail);
    if let Some(undone) = &record.undone {
        println!("  undone: {undone}");
    }
}

pub(crate) async fn run_fault(args: FaultArgs) -> anyhow::Result<ExitCode> {
    let Some(service) = args.service.as_deref().filter(|s| !s.is_empty()) else {
        anyhow::bail!(
            "which service? give --service URL (the admin_url that lyncsim serve prints) or set LYNCSIM_SERVICE"
        );
    };
    let admin = AdminClient::new(service)?;
    let fault = match args.action {
        FaultAction::List => {
            let faults = admin.faults().await?;
            if faults.is_empty() {
                println!("no faults in force");
            }
            for f in faults {
                println!("{:>3}  {}  {}", f.id, f.applied, f.detail);
            }
            return Ok(ExitCode::SUCCESS);
        }
        FaultAction::Remove { id } => {
            print_removed(&admin.remove_fault(id).await?);
            return Ok(ExitCode::SUCCESS);
        }
        FaultAction::Clear => {
            let removed = admin.clear_faults().await?;
            if removed.is_empty() {
                println!("no faults were in force");
            }
            for record in &removed {
                print_removed(record);
            }
            return Ok(ExitCode::SUCCESS);
        }
        FaultAction::MinClientBuild { product, build } => Fault::MinClientBuild { product, build },
        FaultAction::MinSignInAssistant { version } => Fault::MinSignInAssistant { version },
        FaultAction::RotateCa => Fault::RotateCa,
        FaultAction::MoveUser { user, to } => Fault::MoveUser { user, to },
        FaultAction::ChangeDns { host } => Fault::ChangeDns { host },
        FaultAction::ChangePassword { user, password } => Fault::ChangePassword { user, password },
        FaultAction::CorruptAccount { user } => Fault::CorruptAccount { user },
        FaultAction::Outage {
            hosts,
            mode,
            duration,
        } => Fault::Outage {
            hosts,
            mode,
            duration_secs: duration,
        },
    };
    let record = admin.add_fault(&fault).await?;
    println!("fault {}: {}", record.id, record.detail);
    Ok(ExitCode::SUCCESS)
}
