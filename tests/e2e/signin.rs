//! Sign-in end to end, in process: both products, every OS layout, the stored certificate,
//! the clock tolerance, saved passwords, an unreachable service.

use lyncsim_client::{PublicKeyCost, PublicKeyOp, SignInRequest};
use lyncsim_domain::{ErrorId, FailureKind, Os, Product, Stage};

use crate::support::{World, password, sign_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_products_sign_in_on_every_os_they_run_on() {
    let world = World::start().await;
    for product in Product::ALL {
        for os in Os::ALL {
            if !product.runs_on(*os) {
                continue;
            }
            let profile = world.profile(&format!("{product}-{os}"), *product, *os);
            let done = sign_in(&profile, "alice@contoso.com")
                .await
                .unwrap_or_else(|f| panic!("{product} on {os}: {f:?}"));
            assert_eq!(done.user, "alice@contoso.com");
            assert_eq!(done.pool, "pool-a.online.lync.com");
            assert!(done.new_certificate);
            assert!(
                profile
                    .layout()
                    .endpoint_cache("alice@contoso.com")
                    .is_file(),
                "{product} on {os}"
            );
        }
    }
    // Lync 2010 found its pool through SRV and the director's 301, Lync 2013 through
    // Autodiscover.
    let journal = world.journal().await;
    assert!(journal.iter().any(|e| e.host == "sipdir.online.lync.com"
        && e.reason == "redirected to the home pool pool-a.online.lync.com"));
    assert!(journal.iter().any(|e| e.endpoint == "autodiscover"));
}

/// Office 365's `lyncdiscover.<tenant>` is a CNAME to webdir, whose certificate names webdir
/// only: Lync 2013's HTTPS attempt fails name validation and it asks again over plain HTTP,
/// whose Redirect leads to webdir's HTTPS root (Lync Server 2013, "Certificate summary -
/// Autodiscover": the first request over port 80 needs no certificate for the tenant's name).
/// A tenant that publishes its own certificate is answered over HTTPS at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lync_2013_asks_autodiscover_over_http_when_the_certificate_names_webdir_only() {
    let user = "alice@contoso.com";
    let world = World::start().await;
    let profile = world.profile("o365", Product::Lync2013, Os::Win7);
    sign_in(&profile, user).await.unwrap();
    let trace = std::fs::read_to_string(profile.trace_file()).unwrap();
    let port = world.info().http_port;
    let order = [
        // As WinHTTP names it, not a TLS library's words (no `DnsName(...)` in a trace).
        "ERROR_WINHTTP_SECURE_CERT_CN_INVALID (12038)".to_owned(),
        format!("GET http://lyncdiscover.contoso.com:{port}/"),
        "Link token=Redirect: https://webdir.online.lync.com".to_owned(),
        "Link token=User: https://webdir.online.lync.com".to_owned(),
    ];
    assert!(!trace.contains("DnsName"), "{trace}");
    let mut at = 0;
    for step in &order {
        at += trace[at..]
            .find(step.as_str())
            .unwrap_or_else(|| panic!("{step:?} after byte {at} of the trace:\n{trace}"));
    }
    let journal = world.journal().await;
    assert!(journal.iter().any(|e| {
        e.host == "webdir.online.lync.com"
            && e.endpoint == "autodiscover"
            && e.reason
                .starts_with("plain HTTP: Redirect to https://webdir.online.lync.com")
    }));

    let own = lyncsim_service::ServiceConfig {
        tenant: lyncsim_service::Tenant {
            own_lyncdiscover_certificate: true,
            ..lyncsim_service::Tenant::contoso()
        },
        ..Default::default()
    };
    let world = World::with_config(own).await;
    let profile = world.profile("own", Product::Lync2013, Os::Win7);
    sign_in(&profile, user).await.unwrap();
    let trace = std::fs::read_to_string(profile.trace_file()).unwrap();
    assert!(
        trace.contains("Link token=User: https://lyncdiscover.contoso.com"),
        "{trace}"
    );
    assert!(!trace.contains("GET http://"), "{trace}");
}

/// `steps` appear in `text` in this order.
fn in_order(text: &str, steps: &[&str]) {
    let mut at = 0;
    for step in steps {
        at += text[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step:?} after byte {at} of:\n{text}"));
    }
}

/// Both products REGISTER first: the registrar's 401 challenges for TLS-DSK and names
/// certificate provisioning in `sts-uri`, the client provisions there, then answers the
/// challenge (pidgin-sipe's `initialize_auth_context` in `sip-transport.c`; [MS-SIPAE]
/// 3.2.5.1). Lync 2010 meets the STS first (its Sign-In Assistant) and reaches its home pool
/// by the director's 301; Lync 2013 meets it in Autodiscover. The journal agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_products_sign_in_in_the_real_order() {
    let world = World::start().await;
    let user = "carol@contoso.com";
    let lync2010 = world.profile("2010", Product::Lync2010, Os::Xp);
    sign_in(&lync2010, user).await.unwrap();
    let trace = std::fs::read_to_string(lync2010.trace_file()).unwrap();
    in_order(
        &trace,
        &[
            "[token] POST https://login.microsoftonline.com:443/RST2.srf",
            "SRV _sip._tls.contoso.com names sipdir.online.lync.com",
            "REGISTER sip:carol@contoso.com at sipdir.online.lync.com",
            "401: sipdir.online.lync.com at",
            // The director's challenge names its own provisioning: nothing of the user's
            // home is said before they authenticate ([MS-SIPAE] 3.3.5.1).
            "sts-uri https://sipdir.online.lync.com:",
            "[certificate] GET https://sipdir.online.lync.com:",
            "GetAndPublishCert with a PKCS#10",
            "TLS-DSK security association",
            "301: go to pool-b.online.lync.com",
            "REGISTER sip:carol@contoso.com at pool-b.online.lync.com",
            "401: pool-b.online.lync.com at",
            "registered at pool-b.online.lync.com",
        ],
    );
    let journal = world.journal().await;
    let said: Vec<String> = journal
        .iter()
        .filter(|e| e.user.as_deref() == Some(user))
        .map(|e| format!("{} {}: {}", e.host, e.endpoint, e.reason))
        .collect();
    let said = said.join("\n");
    in_order(
        &said,
        &[
            "login.microsoftonline.com token",
            "sipdir.online.lync.com WebTicket",
            "sipdir.online.lync.com GetAndPublishCert: issued",
            "sipdir.online.lync.com register: redirected to the home pool pool-b.online.lync.com",
            "pool-b.online.lync.com register: registered",
        ],
    );

    let user = "alice@contoso.com";
    let lync2013 = world.profile("2013", Product::Lync2013, Os::Win8);
    sign_in(&lync2013, user).await.unwrap();
    let trace = std::fs::read_to_string(lync2013.trace_file()).unwrap();
    in_order(
        &trace,
        &[
            "GET https://lyncdiscover.contoso.com:",
            "401: X-MS-WebTicketURL https://webdir.online.lync.com:",
            "[token] POST https://login.microsoftonline.com:443/RST2.srf",
            "SipClientExternalAccess fqdn=pool-a.online.lync.com",
            "REGISTER sip:alice@contoso.com at pool-a.online.lync.com",
            "sts-uri https://pool-a.online.lync.com:",
            "GetAndPublishCert with a PKCS#10",
            "TLS-DSK security association",
            "registered at pool-a.online.lync.com",
        ],
    );
}

fn count(cost: &PublicKeyCost, which: fn(&PublicKeyOp) -> bool) -> u32 {
    cost.iter()
        .filter(|(op, _)| which(op))
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_keeps_one_connection_per_host_and_counts_its_public_key_work() {
    let world = World::start().await;
    let profile = world.profile("work", Product::Lync2013, Os::Win7);
    let first = sign_in(&profile, "alice@contoso.com").await.unwrap();
    let warm = sign_in(&profile, "alice@contoso.com").await.unwrap();
    let handshakes = |op: &PublicKeyOp| matches!(op, PublicKeyOp::KeyExchange(_));
    let tls_dsk = |op: &PublicKeyOp| matches!(op, PublicKeyOp::RsaDecrypt(_));
    let keys = |op: &PublicKeyOp| matches!(op, PublicKeyOp::Generate(_));
    // First: webdir (Autodiscover's root and User resource, and its web ticket service, on
    // one connection; lyncdiscover.contoso.com's handshake failed on its name and plain HTTP
    // has none), the STS (realm and token on one connection), the pool's HTTPS (both mex
    // documents, the web ticket and GetAndPublishCert on one), the registrar.
    assert_eq!(count(&first.cost, handshakes), 4, "{:?}", first.cost);
    assert_eq!(count(&first.cost, keys), 1, "{:?}", first.cost);
    // Warm: webdir (Autodiscover, at every sign-in), the STS and the registrar; no new key.
    assert_eq!(count(&warm.cost, handshakes), 3, "{:?}", warm.cost);
    assert_eq!(count(&warm.cost, keys), 0, "{:?}", warm.cost);
    for cost in [&first.cost, &warm.cost] {
        assert_eq!(count(cost, tls_dsk), 1, "{cost:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sign_in_reuses_the_stored_certificate() {
    let world = World::start().await;
    for (i, product) in Product::ALL.iter().enumerate() {
        let user = ["alice@contoso.com", "carol@contoso.com"][i];
        let profile = world.profile(product.id(), *product, Os::Win7);
        let first = sign_in(&profile, user).await.unwrap();
        let second = sign_in(&profile, user).await.unwrap();
        assert!(first.new_certificate);
        assert!(!second.new_certificate);
        assert_eq!(first.certificate, second.certificate);
        assert_eq!(
            world.issuances(user).await,
            1,
            "{product}: one issuance for two sign-ins"
        );
        // Lync 2013 asks Autodiscover at every sign-in; Lync 2010 went to the director (and
        // its 301) only the first time: then the endpoint cache named the home pool.
        let journal = world.journal().await;
        let mine = |e: &&lyncsim_wire::admin::JournalEntry| e.user.as_deref() == Some(user);
        let discoveries = journal
            .iter()
            .filter(mine)
            .filter(|e| e.endpoint == "autodiscover" && e.reason.starts_with("home pool"))
            .count();
        let redirects = journal
            .iter()
            .filter(mine)
            .filter(|e| e.host == "sipdir.online.lync.com" && e.reason.starts_with("redirected"))
            .count();
        match product {
            Product::Lync2013 => assert_eq!((discoveries, redirects), (2, 0)),
            Product::Lync2010 => assert_eq!((discoveries, redirects), (0, 1)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_within_five_minutes_signs_in_and_beyond_it_does_not() {
    let world = World::start().await;
    for (offset, signs_in, shown) in [
        (299, true, "4m59s"),
        (-299, true, "-4m59s"),
        (301, false, "5m01s"),
        (-301, false, "-5m01s"),
    ] {
        let mut profile = world.profile(&format!("skew{offset}"), Product::Lync2010, Os::Win7);
        profile
            .update_machine(|m| m.clock_offset_secs = offset)
            .unwrap();
        let outcome = sign_in(&profile, "bob@contoso.com").await;
        if signs_in {
            assert!(outcome.is_ok(), "offset {offset}: {outcome:?}");
            continue;
        }
        let failure = outcome.expect_err("beyond the tolerance");
        assert_eq!(failure.error, ErrorId::ECert, "offset {offset}");
        assert_eq!(failure.stage, Stage::Token);
        assert_eq!(failure.kind, FailureKind::Rejected);
        assert!(
            failure
                .note
                .as_deref()
                .is_some_and(|n| n.contains(&format!("skew {shown}"))),
            "{}",
            failure.explained()
        );
        let trace = std::fs::read_to_string(profile.trace_file()).unwrap();
        // The STS says which check failed (IDCRL's code); the client works out the skew
        // from the STS's ServerTime, and the tolerance is the service's, in its journal.
        assert!(
            trace.contains("[PPCRL_REQUEST_E_INVALID_SERVICE_TIMESTAMP]")
                && trace.contains(&format!(
                    "the STS rejected the request timestamp: skew {shown} ("
                )),
            "{trace}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_password_signs_in_without_typing_it() {
    let world = World::start().await;
    let profile = world.profile("saved", Product::Lync2010, Os::Xp);
    let user = "bob@contoso.com";
    let first = SignInRequest {
        user: user.into(),
        password: Some(password(user)),
        save_password: true,
    };
    lyncsim_client::sign_in(&profile, &first)
        .await
        .unwrap()
        .unwrap();
    let creds = profile.credentials().unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(
        creds[0].as_ref().unwrap().target,
        "Microsoft_OC1:uri=bob@contoso.com:specific:OCS:1"
    );
    let again = SignInRequest {
        user: user.into(),
        password: None,
        save_password: false,
    };
    assert!(
        lyncsim_client::sign_in(&profile, &again)
            .await
            .unwrap()
            .is_ok()
    );
    // Without a saved or typed password, sign-in is not attempted at all.
    let other = SignInRequest {
        user: "alice@contoso.com".into(),
        password: None,
        save_password: false,
    };
    let err = lyncsim_client::sign_in(&profile, &other).await.unwrap_err();
    assert!(err.to_string().contains("no password"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_service_cannot_be_reached() {
    let world = World::start().await;
    let profile = world.profile("gone", Product::Lync2013, Os::Win8);
    sign_in(&profile, "carol@contoso.com").await.unwrap();
    let mut world = world;
    world.lab.stop_service().await;
    // The resolver cache still knows the hosts; nothing listens there any more.
    let failure = sign_in(&profile, "carol@contoso.com")
        .await
        .expect_err("service is gone");
    // Lync 2013 asks Autodiscover first, at every sign-in; it cannot be reached, so the
    // client goes on to the pool its endpoint cache names, which cannot be either.
    assert_eq!(failure.error, ErrorId::EUnreachable);
    assert_eq!(failure.stage, Stage::Register);
    let trace = std::fs::read_to_string(profile.trace_file()).unwrap();
    in_order(
        &trace,
        &[
            "[discover] FAILED: ",
            "lyncsim: [discover] unreachable",
            "Autodiscover could not be reached",
            "endpoint cache names home pool",
            "[register] FAILED: ",
            "lyncsim: [register] unreachable",
        ],
    );
    assert!(
        failure.reason.contains("connection refused"),
        "{}",
        failure.reason
    );
    drop(world);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolver_cache_holds_records_with_their_ttl() {
    let world = World::start().await;
    let profile = world.profile("dns", Product::Lync2013, Os::Win7);
    sign_in(&profile, "alice@contoso.com").await.unwrap();
    let cache = profile.dns_cache();
    let cname = cache
        .iter()
        .find(|r| r.name == "lyncdiscover.contoso.com")
        .expect("CNAME cached");
    assert_eq!(
        (cname.rtype.as_str(), cname.data.as_str()),
        ("CNAME", "webdir.online.lync.com")
    );
    let pool = cache
        .iter()
        .find(|r| r.name == "pool-a.online.lync.com")
        .expect("pool cached");
    assert_eq!(
        pool.data,
        world.info().hosts["pool-a.online.lync.com"].to_string()
    );
    assert_eq!(pool.ttl, 3600);
    // TTLs run on the machine's clock: an hour later the records are gone.
    let mut later = profile.clone();
    later
        .update_machine(|m| m.clock_offset_secs = 3601)
        .unwrap();
    assert!(later.dns_cache().is_empty());
    profile.flush_dns().unwrap();
    assert!(profile.dns_cache().is_empty());
}

/// Lync 2013 finds its registrar in DNS SRV when Autodiscover cannot be reached, as the real
/// client's lookup order goes on from the Autodiscover names to the SRV records (Lync Server
/// 2013, "DNS summary - Autodiscover"; "Client DNS Queries Drilldown"): an outage of webdir
/// alone does not stop it, and the trace shows both attempts. An outage of every host does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lync_2013_signs_in_by_srv_through_an_autodiscover_outage() {
    use lyncsim_wire::admin::{Fault, OutageMode};
    let world = World::start().await;
    let user = "alice@contoso.com";
    for mode in [OutageMode::Status503, OutageMode::Refuse, OutageMode::Reset] {
        world
            .lab
            .fault(&Fault::Outage {
                hosts: vec!["webdir.online.lync.com".into()],
                mode,
                duration_secs: None,
            })
            .await
            .unwrap();
        let profile = world.profile(&format!("{mode:?}"), Product::Lync2013, Os::Win7);
        let signed = sign_in(&profile, user).await;
        assert!(signed.is_ok(), "{mode:?}: {signed:?}");
        let trace = std::fs::read_to_string(profile.trace_file()).unwrap();
        in_order(
            &trace,
            &[
                "GET https://lyncdiscover.contoso.com:",
                "[discover] FAILED: ",
                "lyncsim: [discover] unreachable",
                "Autodiscover could not be reached: the registrar from DNS SRV",
                "SRV _sip._tls.contoso.com names sipdir.online.lync.com",
                "REGISTER sip:alice@contoso.com at sipdir.online.lync.com",
                "[token] POST https://login.microsoftonline.com:443/RST2.srf",
                "GetAndPublishCert with a PKCS#10",
                "301: go to pool-a.online.lync.com",
                "registered at pool-a.online.lync.com",
            ],
        );
        world.lab.admin().clear_faults().await.unwrap();
    }
    // Every host out: nothing to fall back to.
    world
        .lab
        .fault(&Fault::Outage {
            hosts: vec![],
            mode: OutageMode::Status503,
            duration_secs: None,
        })
        .await
        .unwrap();
    let profile = world.profile("all", Product::Lync2013, Os::Win7);
    let failed = sign_in(&profile, user).await.unwrap_err();
    assert_eq!(failed.error, ErrorId::EUnreachable, "{failed:?}");
}

/// A password the user typed wrong shows E_SIGNIN ("You may have entered your sign-in address,
/// user name, or password incorrectly"); the same refusal of a saved password that the
/// service changed is the KB's cached credentials out of date, E_CERT. The STS says the same
/// to both (Passport's bad member name or password); the client knows which it sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_typed_password_is_not_a_stale_saved_one() {
    use lyncsim_wire::admin::Fault;
    let world = World::start().await;
    let user = "bob@contoso.com";
    let profile = world.profile("typed", Product::Lync2010, Os::Win7);
    let typed = |password: &str, save_password: bool| SignInRequest {
        user: user.into(),
        password: Some(password.into()),
        save_password,
    };
    let wrong = lyncsim_client::sign_in(&profile, &typed("not-the-password", false))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(wrong.error, ErrorId::ESignin, "{wrong:?}");
    assert_eq!(wrong.kind, FailureKind::WrongPassword);
    assert!(wrong.reason.contains("0x80048821"), "{}", wrong.reason);

    lyncsim_client::sign_in(&profile, &typed(&password(user), true))
        .await
        .unwrap()
        .unwrap();
    world
        .lab
        .fault(&Fault::ChangePassword {
            user: user.into(),
            password: "Summer2012!".into(),
        })
        .await
        .unwrap();
    let saved = SignInRequest {
        user: user.into(),
        password: None,
        save_password: false,
    };
    let stale = lyncsim_client::sign_in(&profile, &saved)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(stale.error, ErrorId::ECert, "{stale:?}");
    assert_eq!(stale.kind, FailureKind::Rejected);
}

/// A user moved to another pool of the same deployment signs in by herself: the pool her
/// endpoint cache names sends her on with a 301, as a multi-pool deployment's pools did, and
/// the cache then names her new pool. A move to another deployment is the KB's stale
/// endpoint: her old pool knows nothing of her (403, 4006) and does not send her on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_sends_a_user_of_its_deployment_on_and_another_deployment_s_pool_does_not() {
    use lyncsim_lab::{Fault, Lab};
    let lab = Lab::start().await.unwrap();
    for product in [Product::Lync2010, Product::Lync2013] {
        let pc = lab.machine(product, Os::Win7).await.unwrap();
        let user = "bob@contoso.com";
        pc.sign_in(user).await.unwrap().assert_signed_in();
        let move_to = |to: &str| Fault::MoveUser {
            user: user.into(),
            to: Some(to.into()),
        };
        lab.fault(&move_to("pool-c")).await.unwrap();
        let done = pc.sign_in(user).await.unwrap().assert_signed_in();
        assert_eq!(done.pool, "pool-c.online.lync.com", "{product}");
        let trace = std::fs::read_to_string(pc.profile().trace_file()).unwrap();
        assert!(
            trace.contains("endpoint cache names home pool pool-a"),
            "{trace}"
        );
        assert!(
            trace.contains("301: go to pool-c.online.lync.com"),
            "{trace}"
        );
        assert_eq!(
            lyncsim_client::views::cached_endpoint(pc.profile(), user).map(|(pool, _)| pool),
            Some("pool-c.online.lync.com".to_owned()),
            "{product}"
        );
        let journal = lab.journal().await.unwrap();
        assert!(journal.iter().any(|e| e.host == "pool-a.online.lync.com"
            && e.reason == "redirected to the home pool pool-c.online.lync.com"));

        // To another deployment: the cached pool-c refuses, and stays named until the
        // cache is deleted.
        lab.fault(&move_to("pool-b")).await.unwrap();
        let failure = pc.sign_in(user).await.unwrap().assert_shows(ErrorId::ECert);
        assert!(
            failure
                .reason
                .contains("ms-diagnostics 4006: User not found in pool."),
            "{}",
            failure.explained()
        );
        lab.fault(&move_to("pool-a")).await.unwrap();
    }
}
