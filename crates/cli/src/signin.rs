//! `lyncsim client init`, `lyncsim signin` and `lyncsim demo`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use lyncsim_client::{InitOptions, Profile, SignInRequest, sign_in};
use lyncsim_domain::{Build, Os, Product};
use lyncsim_wire::ServiceInfo;

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The folder to make the profile in (it must not hold one already).
    #[arg(long, value_name = "DIR")]
    profile: PathBuf,
    /// The client: lync2010 or lync2013.
    #[arg(long)]
    product: Product,
    /// The Windows version: xp, vista, win7 or win8 (Lync 2013 needs win7 or later).
    #[arg(long)]
    os: Os,
    /// The service's admin URL, as `lyncsim serve` prints it (admin_url).
    #[arg(long, value_name = "URL")]
    service: String,
    /// The client build; the product's current build when left out.
    #[arg(long)]
    build: Option<Build>,
    /// The Windows account name.
    #[arg(long, default_value = "jdoe")]
    windows_user: String,
    /// The Windows password (the machine's data protection key is derived from it).
    #[arg(long, default_value = "Winter2011!")]
    windows_password: String,
}

pub(crate) async fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    Profile::check_supported(args.product, args.os)?;
    let base = args.service.trim_end_matches('/');
    let info: ServiceInfo =
        serde_json::from_slice(&lyncsim_client::fetch_plain(&format!("{base}/")).await?)
            .with_context(|| format!("{base} is not a lyncsim admin API"))?;
    let root_pem =
        String::from_utf8(lyncsim_client::fetch_plain(&format!("{base}/ca/root.pem")).await?)?;
    let profile = Profile::init(
        &args.profile,
        InitOptions {
            product: args.product,
            os: args.os,
            build: args.build,
            service: info,
            root_pem,
            windows_user: args.windows_user,
            windows_password: args.windows_password,
        },
    )?;
    let m = profile.machine();
    println!(
        "Made a {} machine ({} {}{}) in {}",
        m.os.display_name(),
        m.product.display_name(),
        m.build,
        m.sign_in_assistant
            .as_ref()
            .map(|s| format!(", Sign-In Assistant {s}"))
            .unwrap_or_default(),
        profile.dir().display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct SigninArgs {
    /// The profile folder (made by `lyncsim client init`).
    #[arg(long, value_name = "DIR")]
    profile: PathBuf,
    /// The sign-in address (alice@contoso.com).
    #[arg(long, value_name = "ADDR")]
    user: String,
    /// The password; the one saved in Credential Manager when left out.
    #[arg(long, value_name = "P")]
    password: Option<String>,
    /// Save the password in Credential Manager ("Save my password").
    #[arg(long)]
    save_password: bool,
    /// Print the outcome as JSON, with the failing stage and the real reason.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: SigninArgs) -> anyhow::Result<ExitCode> {
    let profile = Profile::open(&args.profile)?;
    let request = SignInRequest {
        user: args.user,
        password: args.password,
        save_password: args.save_password,
    };
    let outcome = sign_in(&profile, &request).await?;
    if args.json {
        let value = match &outcome {
            Ok(done) => {
                serde_json::json!({ "signed_in": true, "user": done.user, "pool": done.pool,
                "certificate": done.certificate, "new_certificate": done.new_certificate })
            }
            Err(f) => serde_json::json!({ "signed_in": false, "error": f.error, "text": f.text(),
                "stage": f.stage, "kind": f.kind, "reason": f.reason }),
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        match &outcome {
            Ok(done) => println!("Signed in as {}", done.user),
            Err(f) => {
                println!("{}", f.text());
                eprintln!(
                    "(the reason is in the trace log: {})",
                    profile.trace_file().display()
                );
            }
        }
    }
    Ok(if outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The README's first command for now: a real service, two real machines, four real sign-ins.
pub(crate) async fn demo() -> anyhow::Result<ExitCode> {
    let service =
        lyncsim_service::Service::start(lyncsim_service::ServiceConfig::default()).await?;
    let info = service.info().clone();
    println!(
        "service: admin {}  DNS {}  HTTPS port {}",
        info.admin_url, info.dns_addr, info.https_port
    );
    let root_pem = String::from_utf8(
        lyncsim_client::fetch_plain(&format!("{}/ca/root.pem", info.admin_url)).await?,
    )?;
    let dir = tempfile::tempdir()?;
    let machines = [
        (
            Product::Lync2010,
            Os::Win7,
            "alice@contoso.com",
            "Passw0rd!alice",
        ),
        (
            Product::Lync2013,
            Os::Win8,
            "carol@contoso.com",
            "Passw0rd!carol",
        ),
    ];
    println!(
        "\n{:<10} {:<6} {:<20} {:<8} {:<16} result",
        "product", "os", "user", "attempt", "certificate"
    );
    let mut all_ok = true;
    for (product, os, user, password) in machines {
        let path = dir.path().join(format!("{product}-{os}"));
        let profile = Profile::init(&path, init_options(product, os, &info, &root_pem))?;
        for attempt in 1..=2 {
            let req = SignInRequest {
                user: user.into(),
                password: Some(password.into()),
                save_password: false,
            };
            let (cert, result) = match sign_in(&profile, &req).await? {
                Ok(done) => (
                    format!(
                        "{}… {}",
                        &done.certificate[..8],
                        if done.new_certificate {
                            "new"
                        } else {
                            "stored"
                        }
                    ),
                    format!("Signed in as {}", done.user),
                ),
                Err(f) => {
                    all_ok = false;
                    ("-".into(), format!("{} ({})", f.error, f.reason))
                }
            };
            println!(
                "{:<10} {:<6} {:<20} {:<8} {:<16} {}",
                product.id(),
                os.id(),
                user,
                attempt,
                cert,
                result
            );
        }
    }
    print_journal(&info.admin_url).await?;
    service.shutdown().await;
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn init_options(product: Product, os: Os, info: &ServiceInfo, root_pem: &str) -> InitOptions {
    InitOptions {
        product,
        os,
        build: None,
        service: info.clone(),
        root_pem: root_pem.to_owned(),
        windows_user: "jdoe".into(),
        windows_password: "Winter2011!".into(),
    }
}

async fn print_journal(admin_url: &str) -> anyhow::Result<()> {
    let journal: Vec<lyncsim_wire::JournalEntry> = serde_json::from_slice(
        &lyncsim_client::fetch_plain(&format!("{admin_url}/journal")).await?,
    )?;
    println!("\nthe service's journal:");
    for e in journal {
        println!(
            "  {:<28} {:<18} {:<20} {:?}: {}",
            e.host,
            e.endpoint,
            e.user.unwrap_or_default(),
            e.outcome,
            e.reason
        );
    }
    Ok(())
}
