//! `lyncsim serve`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use lyncsim_service::{AdminToken, NetworkLayout, Service, ServiceConfig, Tenant};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Tenant file (TOML: domain and users); the built-in contoso.com tenant when left out.
    #[arg(long, value_name = "FILE")]
    tenant: Option<PathBuf>,
    /// Keep the CAs, users, issued certificates and addresses here, so that a restart changes
    /// nothing for clients. In memory when left out.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Once every host accepts connections, write the service's addresses here as JSON.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    /// The loopback /24 to use, as three octets (127.42.7); random when left out.
    #[arg(long, value_name = "127.X.Y")]
    subnet: Option<String>,
    /// The HTTPS port every host shares (0: any free port).
    #[arg(long, default_value_t = 0)]
    https_port: u16,
    /// Autodiscover's plain-HTTP port (0: any free port).
    #[arg(long, default_value_t = 0)]
    http_port: u16,
    /// The DNS port, UDP and TCP (0: any free port).
    #[arg(long, default_value_t = 0)]
    dns_port: u16,
    /// The admin API's port (0: any free port).
    #[arg(long, default_value_t = 0)]
    admin_port: u16,
    /// How far apart clocks may be, in seconds.
    #[arg(long, default_value_t = lyncsim_domain::DEFAULT_TOLERANCE_SECS)]
    tolerance_secs: i64,
    /// Lifetime of issued personal certificates, in seconds (at least 28800, 8 hours).
    #[arg(long, default_value_t = 180 * 24 * 3600)]
    personal_validity_secs: i64,
    /// A token (16 printable characters or more) that the admin API then wants on every
    /// request as `Authorization: Bearer <token>`; lyncsim's own commands send the
    /// LYNCSIM_ADMIN_TOKEN variable. Better given in that variable than on the command line,
    /// where other users of the machine can read it.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "LYNCSIM_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
}

fn parse_subnet(text: &str) -> anyhow::Result<[u8; 3]> {
    let parts: Vec<u8> = text
        .split('.')
        .map(|p| p.parse::<u8>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--subnet {text:?}: expected three octets such as 127.42.7"))?;
    match parts.as_slice() {
        [a, b, c] => Ok([*a, *b, *c]),
        _ => anyhow::bail!("--subnet {text:?}: expected three octets such as 127.42.7"),
    }
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let tenant = match &args.tenant {
        Some(path) => Tenant::load(path)?,
        None => Tenant::contoso(),
    };
    let fixed = args.subnet.is_some()
        || args.https_port != 0
        || args.http_port != 0
        || args.dns_port != 0
        || args.admin_port != 0;
    let network = if fixed {
        let subnet = match &args.subnet {
            Some(s) => parse_subnet(s)?,
            None => NetworkLayout::random().subnet,
        };
        let layout = NetworkLayout {
            subnet,
            https_port: args.https_port,
            http_port: args.http_port,
            dns_port: args.dns_port,
            admin_port: args.admin_port,
        };
        layout.check()?;
        Some(layout)
    } else {
        None
    };
    let config = ServiceConfig {
        tenant,
        state_dir: args.state_dir.clone(),
        network,
        tolerance_secs: args.tolerance_secs,
        personal_validity_secs: args.personal_validity_secs,
        communications_server: None,
        admin_token: args
            .admin_token
            .as_deref()
            .map(AdminToken::new)
            .transpose()
            .context("--admin-token")?,
    };
    // A ready file from an earlier run must not be taken for this one's.
    if let Some(path) = &args.ready_file {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("removing the old ready file {}", path.display()));
            }
        }
    }
    let service = Service::start(config).await?;
    let line = serde_json::to_string(service.info())?;
    if let Some(path) = &args.ready_file {
        lyncsim_durable::write_atomically(path, format!("{line}\n").as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{line}");
    wait_for_stop().await;
    eprintln!("stopping");
    service.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_three_octets() {
        assert_eq!(parse_subnet("127.42.7").unwrap(), [127, 42, 7]);
        assert!(parse_subnet("127.42").is_err());
        assert!(parse_subnet("127.42.300").is_err());
    }
}
