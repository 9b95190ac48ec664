//! The fix matrix of SPEC section 6, proved by real sign-ins.
//!
//! For every cause and every product and OS where it exists: a fresh service and machine, one
//! good sign-in (saving the password), the cause made for real, a sign-in that must show the
//! expected text, one remedy (or remedy pair), and a sign-in that must succeed for each listed
//! remedy and must still fail for each negative control. The table below is the expectation;
//! every outcome comes from a sign-in.

use std::sync::Arc;

use lyncsim_client::{BreakOptions, Method, Profile, SignInRequest, admin_call};
use lyncsim_domain::{Cause, ErrorId, Os, Product, Remedy};
use lyncsim_wire::{Fault, OutageMode};

use crate::support::{World, password};

use Remedy::*;

/// One row of the matrix.
struct Row {
    cause: Cause,
    /// What the user sees once the cause is made, per product; `None`: signs in.
    shows: fn(Product) -> Option<ErrorId>,
    restores_2010: &'static [&'static [Remedy]],
    restores_2013: &'static [&'static [Remedy]],
    must_not: &'static [&'static [Remedy]],
}

const E_CERT: fn(Product) -> Option<ErrorId> = |_| Some(ErrorId::ECert);

const MATRIX: &[Row] = &[
    Row {
        cause: Cause::OutdatedClient,
        shows: E_CERT,
        restores_2010: &[&[UpdateClient]],
        restores_2013: &[&[UpdateClient]],
        must_not: &[&[DeleteSigninInfo], &[Fixit]],
    },
    Row {
        cause: Cause::OutdatedSia,
        shows: E_CERT,
        restores_2010: &[&[DesktopSetup]],
        restores_2013: &[],
        must_not: &[&[UpdateClient], &[Fixit]],
    },
    Row {
        cause: Cause::StaleCert,
        shows: E_CERT,
        restores_2010: &[&[DeleteCert], &[Fixit]],
        restores_2013: &[&[DeleteSigninInfo], &[DeleteCert]],
        must_not: &[&[FlushDns], &[SyncTime]],
    },
    Row {
        cause: Cause::StaleCredentials,
        shows: E_CERT,
        restores_2010: &[&[RemoveCredentials], &[Fixit]],
        restores_2013: &[&[DeleteSigninInfo]],
        must_not: &[&[DeleteCert]],
    },
    Row {
        cause: Cause::ClockSkew,
        shows: E_CERT,
        restores_2010: &[&[SyncTime]],
        restores_2013: &[&[SyncTime]],
        must_not: &[&[Fixit], &[DeleteSigninInfo]],
    },
    Row {
        cause: Cause::RsaKeyLocked,
        shows: E_CERT,
        restores_2010: &[&[DeleteRsaKey, Restart]],
        restores_2013: &[],
        must_not: &[&[Fixit], &[DeleteCert]],
    },
    Row {
        cause: Cause::EndpointMoved,
        shows: E_CERT,
        restores_2010: &[&[DeleteEndpointCache], &[Fixit]],
        restores_2013: &[&[DeleteEndpointCache], &[DeleteSigninInfo]],
        must_not: &[&[FlushDns]],
    },
    Row {
        cause: Cause::DnsStale,
        shows: E_CERT,
        restores_2010: &[&[FlushDns], &[Fixit]],
        restores_2013: &[&[FlushDns]],
        must_not: &[&[DeleteEndpointCache]],
    },
    Row {
        cause: Cause::PostOutage,
        shows: |p| (p == Product::Lync2010).then_some(ErrorId::ESignin),
        restores_2010: &[&[Fixit], &[DeleteCert, RemoveCredentials]],
        restores_2013: &[],
        must_not: &[&[Restart]],
    },
    Row {
        cause: Cause::AccountCorrupt,
        shows: E_CERT,
        restores_2010: &[],
        restores_2013: &[],
        must_not: &[
            &[DeleteSigninInfo],
            &[Fixit],
            &[UpdateClient],
            &[DesktopSetup],
            &[DeleteEndpointCache],
            &[DeleteCert],
            &[RemoveCredentials],
            &[SyncTime],
            &[FlushDns],
            &[DeleteRsaKey, Restart],
            &[Restart],
            &[Escalate],
        ],
    },
];

const USER: &str = "alice@contoso.com";
const NEW_PASSWORD: &str = "N3w-Passw0rd!alice";

/// A sign-in as a user would make it: the saved password if one is saved, else typed.
async fn sign_in(profile: &Profile, typed: &str) -> Result<(), lyncsim_client::SignInFailure> {
    let saved = profile.credentials().unwrap().iter().any(|c| {
        c.as_ref()
            .map(|c| c.target.starts_with("Microsoft_OC1:uri=alice@"))
            .unwrap_or(true)
    });
    let req = SignInRequest {
        user: USER.into(),
        password: (!saved).then(|| typed.to_owned()),
        save_password: !saved,
    };
    lyncsim_client::sign_in(profile, &req)
        .await
        .expect("sign-in runs")
        .map(|_| ())
}

async fn fault(world: &World, fault: &Fault) {
    let url = format!("{}/faults", world.service.admin_url());
    let (status, body) = admin_call(Method::POST, &url, Some(serde_json::to_vec(fault).unwrap()))
        .await
        .unwrap();
    assert_eq!(status, 201, "{fault:?}: {}", String::from_utf8_lossy(&body));
}

/// Makes `cause` for real on `world` and `profile`; returns the password the user now has.
async fn make(world: &World, profile: &mut Profile, cause: Cause, variant: usize) -> String {
    let product = profile.machine().product;
    match cause {
        Cause::OutdatedClient => {
            fault(
                world,
                &Fault::MinClientBuild {
                    product,
                    build: None,
                },
            )
            .await
        }
        Cause::OutdatedSia => fault(world, &Fault::MinSignInAssistant { version: None }).await,
        // Two ways a certificate goes stale: the service rotates its CA, or the bytes are damaged.
        Cause::StaleCert if variant.is_multiple_of(2) => fault(world, &Fault::RotateCa).await,
        Cause::StaleCert => drop(profile.make_cause(cause, &BreakOptions::default()).unwrap()),
        Cause::StaleCredentials => {
            fault(
                world,
                &Fault::ChangePassword {
                    user: USER.into(),
                    password: NEW_PASSWORD.into(),
                },
            )
            .await;
            return NEW_PASSWORD.into();
        }
        Cause::ClockSkew => {
            let offset = if variant.is_multiple_of(2) {
                432
            } else {
                -3600
            };
            profile
                .make_cause(
                    cause,
                    &BreakOptions {
                        clock_offset_secs: offset,
                        ..Default::default()
                    },
                )
                .unwrap();
        }
        Cause::RsaKeyLocked => drop(profile.make_cause(cause, &BreakOptions::default()).unwrap()),
        Cause::EndpointMoved => {
            fault(
                world,
                &Fault::MoveUser {
                    user: USER.into(),
                    to: None,
                },
            )
            .await
        }
        Cause::DnsStale => {
            fault(
                world,
                &Fault::ChangeDns {
                    host: "pool-a.online.lync.com".into(),
                },
            )
            .await
        }
        Cause::PostOutage => {
            let mode = [
                OutageMode::Refuse,
                OutageMode::Reset,
                OutageMode::Unavailable,
                OutageMode::CutOff,
            ][variant % 4];
            fault(
                world,
                &Fault::Outage {
                    hosts: vec![],
                    mode,
                    duration_secs: None,
                },
            )
            .await;
            let during = sign_in(profile, &password(USER))
                .await
                .expect_err("an outage stops sign-in");
            assert_eq!(
                during.error,
                ErrorId::EUnreachable,
                "during a {mode:?} outage: {}",
                during.reason
            );
            let url = format!("{}/faults", world.service.admin_url());
            assert_eq!(admin_call(Method::DELETE, &url, None).await.unwrap().0, 204);
        }
        Cause::AccountCorrupt => fault(world, &Fault::CorruptAccount { user: USER.into() }).await,
    }
    password(USER)
}

/// One case: returns what went differently from the matrix, if anything.
async fn case(
    cause: Cause,
    product: Product,
    os: Os,
    remedies: &'static [Remedy],
    restores: bool,
    variant: usize,
) -> Result<(), String> {
    let row = MATRIX.iter().find(|r| r.cause == cause).unwrap();
    let label = format!("{cause} on {product}/{os}, remedies {remedies:?}");
    let world = World::start().await;
    let mut profile = world.profile("machine", product, os);
    sign_in(&profile, &password(USER))
        .await
        .map_err(|f| format!("{label}: the first sign-in failed: {}", f.reason))?;
    let typed = make(&world, &mut profile, cause, variant).await;

    let seen = sign_in(&profile, &typed).await.err();
    let expected = (row.shows)(product);
    if seen.as_ref().map(|f| f.error) != expected {
        return Err(format!(
            "{label}: expected {expected:?} after the cause, saw {seen:?}"
        ));
    }
    if let Some(failure) = &seen
        && failure.text() != failure.error.text()
    {
        return Err(format!("{label}: text differs from the catalogue"));
    }
    if expected.is_none() {
        return Ok(()); // recovers by itself
    }
    for remedy in remedies {
        profile
            .apply_remedy(*remedy)
            .await
            .map_err(|e| format!("{label}: {remedy} failed: {e:#}"))?;
    }
    let after = sign_in(&profile, &typed).await;
    match (restores, after) {
        (true, Ok(())) | (false, Err(_)) => {}
        (true, Err(f)) => {
            return Err(format!(
                "{label}: should restore sign-in, but: {} ({})",
                f.error, f.reason
            ));
        }
        (false, Ok(())) => {
            return Err(format!(
                "{label}: must not restore sign-in alone, but it did"
            ));
        }
    }
    if cause == Cause::AccountCorrupt {
        // The KB's test: a known-good account signs in on the same machine.
        let req = SignInRequest {
            user: "carol@contoso.com".into(),
            password: Some(password("carol@contoso.com")),
            save_password: false,
        };
        lyncsim_client::sign_in(&profile, &req)
            .await
            .unwrap()
            .map_err(|f| format!("{label}: the second account failed too: {}", f.reason))?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_remedy_of_the_matrix_restores_its_cause_and_no_negative_control_does() {
    let limit = Arc::new(tokio::sync::Semaphore::new(6));
    let mut cases = tokio::task::JoinSet::new();
    let mut count = 0;
    for row in MATRIX {
        for product in Product::ALL {
            for (variant, os) in Os::ALL.iter().enumerate() {
                if !row.cause.exists_on(*product, *os) {
                    continue;
                }
                let restores = if *product == Product::Lync2010 {
                    row.restores_2010
                } else {
                    row.restores_2013
                };
                let mut plan: Vec<(&'static [Remedy], bool)> =
                    restores.iter().map(|r| (*r, true)).collect();
                plan.extend(row.must_not.iter().map(|r| (*r, false)));
                if plan.is_empty() {
                    plan.push((&[], true)); // recovers by itself
                }
                for (remedies, restores) in plan {
                    if remedies
                        .iter()
                        .any(|r| r.offered_on(*product, *os).is_err())
                    {
                        continue; // the product does not offer it: a user could not apply it
                    }
                    let limit = limit.clone();
                    let (cause, product, os) = (row.cause, *product, *os);
                    count += 1;
                    cases.spawn(async move {
                        let _permit = limit.acquire_owned().await.unwrap();
                        case(cause, product, os, remedies, restores, variant).await
                    });
                }
            }
        }
    }
    let mut failures = Vec::new();
    while let Some(result) = cases.join_next().await {
        if let Err(e) = result.unwrap() {
            failures.push(e);
        }
    }
    assert!(count > 150, "the matrix ran only {count} cases");
    assert!(
        failures.is_empty(),
        "{} of {count} cases differ from the matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
