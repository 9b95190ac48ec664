//! Tests of fix logic as a QA engineer writes them against the test kit: only `lyncsim_lab`'s
//! public API, with the fix written against the machine's own files (found by `layout()`),
//! as a fix script for the Windows machine would be. Each starts its own service on loopback
//! and ends with it.

use lyncsim_lab::{Cause, ErrorId, Fault, Lab, Machine, Os, OutageMode, Product, Remedy};

const ALICE: &str = "alice@contoso.com";

/// A fix of our own for a clock that is off: set `clock_offset_secs` in `machine.toml` back
/// to 0, as a script that synchronises the clock would. The machine reads it afresh at the
/// next sign-in.
fn our_clock_fix(pc: &Machine) -> anyhow::Result<()> {
    let file = pc.profile().layout().machine_file();
    let text = std::fs::read_to_string(&file)?;
    let fixed: String = text
        .lines()
        .map(|l| {
            if l.starts_with("clock_offset_secs") {
                "clock_offset_secs = 0".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&file, fixed)?;
    Ok(())
}

/// A fix of our own for a certificate the service no longer trusts: delete every personal
/// certificate from the store, as certmgr would.
fn our_certificate_fix(pc: &Machine) -> anyhow::Result<usize> {
    let store = pc.profile().layout().cert_store();
    let mut removed = 0;
    for entry in std::fs::read_dir(store)? {
        std::fs::remove_file(entry?.path())?;
        removed += 1;
    }
    Ok(removed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_clock_fix_restores_sign_in_after_clock_skew() -> anyhow::Result<()> {
    let lab = Lab::start().await?;
    let mut pc = lab.machine(Product::Lync2013, Os::Win8).await?;
    pc.sign_in(ALICE).await?.assert_signed_in();
    lab.cause(&mut pc, ALICE, Cause::ClockSkew).await?;
    let failure = pc.sign_in(ALICE).await?.assert_shows(ErrorId::ECert);
    // The STS says which check failed; the skew is lyncsim's note on it.
    assert!(
        failure.note.as_deref().is_some_and(|n| n.contains("skew")),
        "{}",
        failure.explained()
    );
    our_clock_fix(&pc)?;
    pc.sign_in(ALICE).await?.assert_signed_in();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_certificate_fix_restores_sign_in_after_a_ca_rotation() -> anyhow::Result<()> {
    let lab = Lab::start().await?;
    let pc = lab.machine(Product::Lync2010, Os::Win7).await?;
    pc.sign_in(ALICE).await?.assert_signed_in();
    lab.fault(&Fault::RotateCa).await?;
    let refused = pc.sign_in(ALICE).await?;
    assert_eq!(
        refused.error(),
        Some(ErrorId::ECert),
        "{}",
        refused.describe()
    );
    assert!(our_certificate_fix(&pc)? >= 1);
    pc.sign_in(ALICE).await?.assert_signed_in();
    // The service says why the old certificate was refused.
    let journal = lab.journal().await?;
    assert!(
        journal.iter().any(|e| e
            .reason
            .contains("not issued by the current Communications Server CA")),
        "{journal:?}"
    );
    Ok(())
}

/// What a Lync 2010 machine that signs in during an STS outage becomes: E_UNREACHABLE during
/// it, and, once it ends, E_SIGNIN (Lync 2010 left its certificate and saved credential
/// damaged), until the Fix it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lync_2010_machine_after_an_sts_outage_needs_the_fix_it() -> anyhow::Result<()> {
    let lab = Lab::start().await?;
    let mut pc = lab.machine(Product::Lync2010, Os::Win7).await?;
    pc.sign_in(ALICE).await?.assert_signed_in();
    lab.fault(&Fault::Outage {
        hosts: vec!["login.microsoftonline.com".into()],
        mode: OutageMode::Status503,
        duration_secs: None,
    })
    .await?;
    let during = pc.sign_in(ALICE).await?;
    assert_eq!(
        during.error(),
        Some(ErrorId::EUnreachable),
        "{}",
        during.describe()
    );
    lab.clear_faults().await?;
    let after = pc.sign_in(ALICE).await?;
    let seen = after.seen();
    assert_eq!(seen.error, Some(ErrorId::ESignin), "{}", after.describe());
    pc.fix(Remedy::Fixit).await?;
    pc.sign_in(ALICE).await?.assert_signed_in();
    Ok(())
}
