//! Remedy steps that are commands of the user's own: `exec = "…"` in a scenario.
//!
//! The command runs with `sh -c`, in the scenario file's folder, with the machine in its
//! environment: the profile folder and the user, and the Windows variables a fix script for
//! the real machine uses (`USERPROFILE`, `APPDATA`, `LOCALAPPDATA`), pointing into the
//! profile, so that a script written for Windows paths maps 1:1.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};

use lyncsim_lab::Machine;

/// How an `exec` step runs: the `lyncsim` binary it is given (as `$LYNCSIM`) and how long it
/// may take.
#[derive(Debug, Clone)]
pub(crate) struct ExecOptions<'a> {
    pub(crate) lyncsim: Option<&'a Path>,
    pub(crate) timeout: std::time::Duration,
}

/// The environment an `exec` step gets, by name.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "LYNCSIM_PROFILE",
        "the profile folder (the emulated machine)",
    ),
    (
        "LYNCSIM_USER",
        "the sign-in address, e.g. alice@contoso.com",
    ),
    ("LYNCSIM_PRODUCT", "lync2010 or lync2013"),
    ("LYNCSIM_OS", "xp, vista, win7 or win8"),
    (
        "LYNCSIM",
        "the lyncsim binary, for `$LYNCSIM ipconfig --flushdns …`",
    ),
    ("USERPROFILE", "the Windows user's home inside the profile"),
    ("APPDATA", "%APPDATA% inside the profile"),
    ("LOCALAPPDATA", "%LOCALAPPDATA% inside the profile"),
];

/// Runs `command` against `machine`; returns what it printed, or why it failed.
pub(crate) async fn run(
    command: &str,
    dir: &Path,
    machine: &mut Machine,
    user: &str,
    opts: &ExecOptions<'_>,
) -> anyhow::Result<String> {
    let profile = machine.profile();
    let layout = profile.layout();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("LYNCSIM_PROFILE", profile.dir())
        .env("LYNCSIM_USER", user)
        .env("LYNCSIM_PRODUCT", profile.machine().product.id())
        .env("LYNCSIM_OS", profile.machine().os.id())
        .env("USERPROFILE", layout.home())
        .env("APPDATA", layout.roaming_app_data())
        .env("LOCALAPPDATA", layout.local_app_data())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that everything the script starts can be stopped with it.
        .process_group(0)
        .kill_on_drop(true);
    match opts.lyncsim {
        Some(exe) => cmd.env("LYNCSIM", exe),
        None => cmd.env_remove("LYNCSIM"),
    };
    let child = cmd
        .spawn()
        .with_context(|| format!("exec `{command}` could not start"))?;
    // Whatever happens next (the end, the time limit, Ctrl-C dropping the run), the script's
    // whole process group goes with it: `sh -c "a && sleep 60"` leaves no `sleep` behind.
    let _group = child.id().and_then(ProcessGroup::of);
    let output = tokio::time::timeout(opts.timeout, child.wait_with_output())
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "exec `{command}` did not finish within {} s; it was stopped",
                opts.timeout.as_secs()
            )
        })?
        .with_context(|| format!("exec `{command}` did not run to its end"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if !output.status.success() {
        bail!(
            "exec `{command}` {}{}",
            match output.status.code() {
                Some(code) => format!("exited with {code}"),
                None => "was killed by a signal".into(),
            },
            if stderr.is_empty() {
                String::new()
            } else {
                format!(": {stderr}")
            }
        );
    }
    // The script changed the profile on disk: read it again, as the next sign-in would.
    *machine.profile_mut() = lyncsim_client::Profile::open(machine.dir())?;
    Ok(if stdout.is_empty() {
        "exit 0".into()
    } else {
        stdout.replace('\n', "; ")
    })
}

/// A process group that is killed when this is dropped.
struct ProcessGroup(rustix::process::Pid);

impl ProcessGroup {
    fn of(leader: u32) -> Option<ProcessGroup> {
        rustix::process::Pid::from_raw(i32::try_from(leader).ok()?).map(ProcessGroup)
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // The group may be gone already; nothing to do then.
        let _ = rustix::process::kill_process_group(self.0, rustix::process::Signal::KILL);
    }
}
