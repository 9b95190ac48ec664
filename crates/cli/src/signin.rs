//! `lyncsim client init` and `lyncsim signin`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use lyncsim_client::{InitOptions, Profile, SignInRequest, sign_in};
use lyncsim_domain::{Build, Os, Product};
use lyncsim_lab::AdminClient;

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
    let admin = AdminClient::new(&args.service)?;
    let info = admin.info().await?;
    let root_pem = admin.root_pem().await?;
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
                "stage": f.stage, "kind": f.kind, "reason": f.reason, "note": f.note }),
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
