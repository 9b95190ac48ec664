//! What a support person looks at on the machine: certmgr, Credential Manager, ipconfig.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use lyncsim_client::Profile;

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

fn date(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn relative(profile: &Profile, path: &Path) -> String {
    path.strip_prefix(profile.dir())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('/', "\\")
}

pub(crate) fn certmgr(dir: &Path) -> anyhow::Result<ExitCode> {
    let profile = Profile::open(dir)?;
    let certs = profile.certificates()?;
    println!("Certificates - Current User > Personal > Certificates");
    println!("({})\n", relative(&profile, &profile.layout().cert_store()));
    if certs.is_empty() {
        println!("There are no items to show in this view.");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<30} {:<24} {:<17} Thumbprint",
        "Issued To", "Issued By", "Expiration Date"
    );
    for c in certs {
        match &c.info {
            Ok(i) => println!(
                "{:<30} {:<24} {:<17} {}",
                i.subject_cn,
                i.issuer_cn,
                date(i.validity.not_after),
                c.thumbprint
            ),
            // The columns stay where they are; the reason follows the thumbprint.
            Err(e) => println!(
                "{:<30} {:<24} {:<17} {}  ({e})",
                "<cannot be read>", "", "", c.thumbprint
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn credman(dir: &Path) -> anyhow::Result<ExitCode> {
    let profile = Profile::open(dir)?;
    let creds = profile.credentials()?;
    println!("Credential Manager > Windows Vault > Generic Credentials");
    println!(
        "({})\n",
        relative(&profile, &profile.layout().credentials_dir())
    );
    if creds.is_empty() {
        println!("No generic credentials.");
    }
    for c in creds {
        match c {
            Ok(c) => println!(
                "{}\n    User name: {}\n    Modified: {}",
                c.target, c.user, c.last_written
            ),
            Err((path, reason)) => println!(
                "{}\n    <cannot be read: {reason}>",
                relative(&profile, &path)
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn ipconfig(args: IpconfigArgs) -> anyhow::Result<ExitCode> {
    let profile = Profile::open(&args.profile)?;
    println!("\nWindows IP Configuration\n");
    if args.flushdns {
        profile.flush_dns()?;
        println!("Successfully flushed the DNS Resolver Cache.");
        return Ok(ExitCode::SUCCESS);
    }
    let now = profile.machine().now();
    let records = profile.dns_cache();
    if records.is_empty() {
        println!("Could not display the DNS Resolver Cache.");
    }
    for r in records {
        let (type_num, label, len) = match r.rtype.as_str() {
            "A" => (1, "A (Host) Record", 4),
            "CNAME" => (5, "CNAME Record", r.data.len() + 2),
            _ => (33, "SRV Record", r.data.len() + 8),
        };
        println!(
            "    {}\n    ----------------------------------------",
            r.name
        );
        println!("    Record Name . . . . . : {}", r.name);
        println!("    Record Type . . . . . : {type_num}");
        println!("    Time To Live  . . . . : {}", (r.expires - now).max(0));
        println!("    Data Length . . . . . : {len}");
        println!("    Section . . . . . . . : Answer");
        println!("    {label:<21} : {}\n", r.data);
    }
    Ok(ExitCode::SUCCESS)
}
