//! What a support person looks at on the machine: certmgr, Credential Manager, ipconfig. The
//! views are `lyncsim_client::views`; this prints them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use lyncsim_client::{Profile, views};

#[derive(Debug, Args)]
pub(crate) struct ProfileArg {
    /// The profile folder (made by `lyncsim client init`).
    #[arg(long, value_name = "DIR")]
    pub(crate) profile: PathBuf,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["displaydns", "flushdns"])))]
pub(crate) struct IpconfigArgs {
    /// The profile folder (made by `lyncsim client init`).
    #[arg(long, value_name = "DIR")]
    profile: PathBuf,
    /// Show the DNS client cache.
    #[arg(long)]
    displaydns: bool,
    /// Empty the DNS client cache.
    #[arg(long)]
    flushdns: bool,
}

pub(crate) fn certmgr(dir: &Path) -> anyhow::Result<ExitCode> {
    let profile = Profile::open(dir)?;
    print!("{}", views::certmgr(&profile)?);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn credman(dir: &Path) -> anyhow::Result<ExitCode> {
    let profile = Profile::open(dir)?;
    print!("{}", views::credman(&profile)?);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn ipconfig(args: IpconfigArgs) -> anyhow::Result<ExitCode> {
    let profile = Profile::open(&args.profile)?;
    if args.flushdns {
        print!("{}", views::flushdns(&profile)?);
    } else {
        print!("{}", views::displaydns(&profile));
    }
    Ok(ExitCode::SUCCESS)
}
