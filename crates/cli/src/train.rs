//! `lyncsim train`: the training console.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use lyncsim_console::ConsoleConfig;

#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// Keep each attempt's event log here.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Where the console listens (loopback only).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

pub(crate) async fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let console = lyncsim_console::start(ConsoleConfig {
        listen: args.listen,
        data_dir: args.data_dir,
        clock: Default::default(),
    })
    .await?;
    println!("{}", console.url());
    crate::serve::wait_for_stop().await;
    eprintln!("stopping");
    console.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
