//! `lyncsim`: the command line. It parses flags, calls the crates and prints; nothing else.

mod inspect;
mod kb;
mod load;
mod run;
mod serve;
mod signin;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Reproduce the Lync Online sign-in failures of Microsoft KB 2604176 on one machine: a mock
/// Lync Online / Azure AD service with real DNS, HTTPS and SIP with TLS-DSK, and an emulated
/// Lync 2010 / 2013 client that fails the way the real one does.
#[derive(Debug, Parser)]
#[command(
    name = "lyncsim",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the mock service until Ctrl-C.
    Serve(serve::ServeArgs),
    /// Make or change an emulated client machine (a profile folder).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Sign in once, as the Lync client would. Exit 0 and "Signed in as ADDR", or exit 1 and
    /// the text the user sees; the real reason is in the trace log and in --json.
    Signin(signin::SigninArgs),
    /// Show the personal certificate store, sorted by Issued By (like certmgr.msc).
    Certmgr(inspect::ProfileArg),
    /// Show Credential Manager's generic credentials (like Control Panel > Credential Manager).
    Credman(inspect::ProfileArg),
    /// Show or flush the DNS client cache (like ipconfig /displaydns and /flushdns).
    Ipconfig(inspect::IpconfigArgs),
    /// Make client-side causes of KB 2604176 on a machine (clock-skew, stale-cert,
    /// rsa-key-locked, outdated-client, outdated-sia).
    Break(kb::BreakArgs),
    /// Apply KB 2604176 remedies to a machine, in order.
    Fix(kb::FixArgs),
    /// Server-side faults and operations, through the admin API.
    Fault(kb::FaultArgs),
    /// Run scenarios, each on its own service and machine, in parallel; then a table, and
    /// JUnit XML or JSON if asked. With no FILES/DIRS, the built-in suite. Exit 1 if any
    /// scenario fails, 2 if a scenario file cannot be used.
    Run(run::RunArgs),
    /// Many machines signing in at once, against the run's own service or a running one, with
    /// faults put in force and cleared on a schedule (an outage, then the storm); then a table
    /// of sign-ins per second, latencies and outcomes, phase by phase.
    Load(load::LoadArgs),
    /// Walk the KB 2604176 procedure on a machine, in the KB's order, signing in after each
    /// step; report the step that restored sign-in, or what to escalate. Exit 0 once signed
    /// in, 1 if not.
    Troubleshoot(run::TroubleshootArgs),
    /// The training console: a web page (on loopback) where a trainee fixes a broken machine
    /// with the views and steps of KB 2604176 and gets a debrief; prints its URL and serves
    /// until Ctrl-C.
    Train(train::TrainArgs),
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Make a profile folder that trusts the service and uses its DNS.
    Init(signin::InitArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The inspect commands print and exit like any Unix tool: a reader that goes away
    // (`lyncsim certmgr … | head`) ends the process quietly instead of making println! panic.
    // Nothing else may: with SIGPIPE at its default, a peer that closes a socket while the
    // service or a client writes to it would kill the whole process (rustls's close_notify to
    // a client that hung up is enough). Those commands keep Rust's default (ignored) and see
    // EPIPE as an error on that one connection.
    if matches!(
        cli.command,
        Command::Certmgr(_) | Command::Credman(_) | Command::Ipconfig(_)
    ) {
        sigpipe::reset();
    }
    let default_level = if matches!(cli.command, Command::Serve(_) | Command::Train(_)) {
        "info,hickory_server=warn"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        // Colour for a person at a terminal, never in a redirected log; NO_COLOR turns it off.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Client(ClientCommand::Init(args)) => signin::init(args).await,
            Command::Signin(args) => signin::run(args).await,
            Command::Certmgr(args) => inspect::certmgr(&args.profile),
            Command::Credman(args) => inspect::credman(&args.profile),
            Command::Ipconfig(args) => inspect::ipconfig(args),
            Command::Run(args) => run::run(args).await,
            Command::Troubleshoot(args) => run::troubleshoot(args).await,
            Command::Load(args) => load::run(args).await,
            Command::Train(args) => train::run(args).await,
            Command::Break(args) => kb::run_break(args),
            Command::Fix(args) => kb::run_fix(args).await,
            Command::Fault(args) => kb::run_fault(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
