//! What a support person looks at on the machine: certmgr, Credential Manager, ipconfig.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use lyncsim_client::Profile;
use std::fmt::Write as _;

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

/// Appends a line to the output buffer (formatting into a String cannot fail).
macro_rules! w {
    ($o:expr, $($arg:tt)*) => {{ let _ = writeln!($o, $($arg)*); }};
}

/// Prints the whole output; a reader that went away (`| head`) is not an error.
fn emit(o: &str) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(o.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
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
    let mut o = String::new();
    let certs = profile.certificates()?;
    w!(o, "Certificates - Current User > Personal > Certificates");
    w!(
        o,
        "({})\n",
        relative(&profile, &profile.layout().cert_store())
    );
    if certs.is_empty() {
        w!(o, "There are no items to show in this view.");
        return emit(&o);
    }
    w!(
        o,
        "{:<30} {:<24} {:<17} {}",
        "Issued To",
        "Issued By",
        "Expiration Date",
        "Thumbprint"
    );
    for c in certs {
        match &c.info {
            Ok(i) => w!(
                o,
                "{:<30} {:<24} {:<17} {}",
                i.subject_cn,
                i.issuer_cn,
                date(i.validity.not_after),
                c.thumbprint
            ),
            Err(e) => w!(
                o,
                "{:<30} {:<24} {:<17} {}",
                "<cannot be read>",
                e,
                "",
                c.thumbprint
            ),
        }
    }
    emit(&o)
}

pub(crate) fn credman(dir: &Path) -> anyhow::Result<ExitCode> {
    let profile = Profile::open(dir)?;
    let mut o = String::new();
    let creds = profile.credentials()?;
    w!(
        o,
        "Credential Manager > Windows Vault > Generic Credentials"
    );
    w!(
        o,
        "({})\n",
        relative(&profile, &profile.layout().credentials_dir())
    );
    if creds.is_empty() {
        w!(o, "No generic credentials.");
    }
    for c in creds {
        match c {
            Ok(c) => w!(
                o,
                "{}\n    User name: {}\n    Modified: {}",
                c.target,
                c.user,
                c.last_written
            ),
            Err((path, reason)) => w!(
                o,
                "{}\n    <cannot be read: {reason}>",
                relative(&profile, &path)
            ),
        }
    }
    emit(&o)
}

pub(crate) fn ipconfig(args: IpconfigArgs) -> anyhow::Result<ExitCode> {
    let profile = Profile::open(&args.profile)?;
    let mut o = String::new();
    w!(o, "\nWindows IP Configuration\n");
    if args.flushdns {
        profile.flush_dns()?;
        w!(o, "Successfully flushed the DNS Resolver Cache.");
        return emit(&o);
    }
    let now = profile.machine().now();
    let records = profile.dns_cache();
    if records.is_empty() {
        w!(o, "Could not display the DNS Resolver Cache.");
    }
    for r in records {
        let (type_num, label, len) = match r.rtype.as_str() {
            "A" => (1, "A (Host) Record", 4),
            "CNAME" => (5, "CNAME Record", r.data.len() + 2),
            _ => (33, "SRV Record", r.data.len() + 8),
        };
        w!(
            o,
            "    {}\n    ----------------------------------------",
            r.name
        );
        w!(o, "    Record Name . . . . . : {}", r.name);
        w!(o, "    Record Type . . . . . : {type_num}");
        w!(
            o,
            "    Time To Live  . . . . : {}",
            (r.expires - now).max(0)
        );
        w!(o, "    Data Length . . . . . : {len}");
        w!(o, "    Section . . . . . . . : Answer");
        w!(o, "    {label:<21} : {}\n", r.data);
    }
    emit(&o)
}
