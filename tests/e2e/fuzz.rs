//! Property-based fuzzing, on the stable toolchain, of every parser that takes bytes from
//! outside: certificate requests, the STS's tokens (through the web ticket service), the
//! protocol's messages (at their endpoints, and the documents a client reads), scenario
//! files, every file of a client profile, the admin API's JSON, SIP at the registrar and SIP's
//! framing on its own, and the exclusive canonicalization the signatures are checked over
//! (trees deep and wide). Inputs are random bytes
//! and random mutations of valid inputs (proptest); every target asserts that nothing panics,
//! nothing answers 5xx but the SOAP fault the protocol refuses with, and only what is valid is
//! accepted.
//!
//! By default each target runs [`CI_CASES`] cases (a short run in `cargo xtask ci`);
//! `cargo xtask fuzz --minutes N` sets `LYNCSIM_FUZZ_SECS` and the targets share that time.

use lyncsim_wire::{FromXml, ToXml};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use lyncsim_client::Profile;
use lyncsim_domain::{Os, Product};
use lyncsim_lab::{Method, admin_call};
use lyncsim_pki::{PersonalKey, make_csr, parse_csr};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::support::{World, copy_dir, password};

/// Cases per target in the short run.
const CI_CASES: u32 = 48;

/// How long, or how many cases, each target runs.
#[derive(Debug, Clone, Copy)]
enum Budget {
    Cases(u32),
    Time(Duration),
}

fn budget(targets: u32) -> Budget {
    match std::env::var("LYNCSIM_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(secs) => Budget::Time(Duration::from_secs(secs) / targets),
        None => Budget::Cases(CI_CASES),
    }
}

/// Runs `check` on values of `strategy` within `budget`; returns how many cases ran. A
/// failing case is shrunk by proptest and reported with the target's name.
fn fuzz<S: Strategy>(
    name: &str,
    budget: Budget,
    strategy: S,
    check: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> u64
where
    S::Value: std::fmt::Debug,
{
    let batch = match budget {
        Budget::Cases(n) => n,
        Budget::Time(_) => 64,
    };
    let start = Instant::now();
    let mut ran = 0u64;
    loop {
        let mut runner = TestRunner::new(Config {
            cases: batch,
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, &check) {
            panic!("fuzz target {name}: {e}");
        }
        ran += u64::from(batch);
        match budget {
            Budget::Cases(_) => return ran,
            Budget::Time(d) if start.elapsed() >= d => return ran,
            Budget::Time(_) => {}
        }
    }
}

/// A change to a valid input: some bytes flipped, cut off, or spliced with random ones.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Vec<(prop::sample::Index, u8)>),
    Truncate(prop::sample::Index),
    Splice(prop::sample::Index, Vec<u8>),
    Replace(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8).prop_map(Mutation::Flip),
        2 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        2 => (any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(i, b)| Mutation::Splice(i, b)),
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Mutation::Replace),
    ]
}

fn mutate(original: &[u8], m: &Mutation) -> Vec<u8> {
    let mut out = original.to_vec();
    match m {
        Mutation::Flip(flips) if !out.is_empty() => {
            for (at, x) in flips {
                let i = at.index(out.len());
                out[i] ^= x;
            }
        }
        Mutation::Flip(_) => {}
        Mutation::Truncate(at) => out.truncate(at.index(original.len() + 1)),
        Mutation::Splice(at, bytes) => {
            let i = at.index(out.len() + 1);
            out.splice(i..i, bytes.iter().copied());
        }
        Mutation::Replace(bytes) => out = bytes.clone(),
    }
    out
}

fn csr_target(budget: Budget) -> u64 {
    let key = PersonalKey::generate().unwrap();
    let valid = make_csr(&key, "alice@contoso.com").unwrap();
    fuzz("csr", budget, mutation(), |m| {
        let bytes = mutate(&valid, &m);
        if let Ok(req) = parse_csr(&bytes) {
            // Only the request as signed parses; a change that still verifies must be one
            // DER cannot see (none is known): it asks for the same subject and key.
            prop_assert_eq!(req.subject_cn, "sip:alice@contoso.com");
            prop_assert_eq!(req.key_bits, 2048);
        }
        Ok(())
    })
}

/// The web ticket service with the STS's token changed: a SOAP fault (the token does not
/// decrypt), unless the change is no change to the token's bytes, when a ticket is issued.
fn token_target(budget: Budget, rt: &tokio::runtime::Runtime, world: &World) -> u64 {
    use lyncsim_wire::pool::{WebTicketRequest, WebTicketResponse};
    use lyncsim_wire::sts::{TokenRequest, TokenResponse};
    let target = crate::hardening::Target::new(world);
    let alice = "alice@contoso.com";
    let request = TokenRequest {
        user: alice.into(),
        password: password(alice),
        timestamp: None,
        applies_to: "urn:component:Microsoft.Rtc.WebAuthentication.2010".into(),
    };
    let answer = rt.block_on(target.call(
        "login.microsoftonline.com",
        "POST",
        lyncsim_wire::paths::TOKEN,
        &[("content-type", "application/soap+xml")],
        request.to_xml().as_bytes(),
    ));
    let token = TokenResponse::from_xml(&answer.1).unwrap();
    let original = token.token.cipher.clone();
    let cert_prov = format!(
        "https://pool-a.online.lync.com:{}{}",
        world.info().https_port,
        lyncsim_wire::paths::CERT_PROV_PROOF_PATH
    );
    fuzz("token", budget, mutation(), |m| {
        let mut changed = token.token.clone();
        changed.cipher = mutate(&original, &m);
        let body = WebTicketRequest {
            to: "https://pool-a.online.lync.com/WebTicket/WebTicketService.svc/WsFedBearer".into(),
            sts_lifetime: token.lifetime,
            sts_token: changed.clone(),
            applies_to: cert_prov.clone(),
            claim: format!("sip:{alice}"),
            entropy: vec![7; 32],
            context: "fuzz".into(),
        }
        .to_xml();
        let (status, text) = rt.block_on(target.call(
            "pool-a.online.lync.com",
            "POST",
            lyncsim_wire::paths::WS_FED_BEARER_PATH,
            &[("content-type", "text/xml")],
            body.as_bytes(),
        ));
        if changed.cipher == original {
            prop_assert_eq!(status, 200, "{}", text);
            prop_assert!(WebTicketResponse::from_xml(&text).is_ok(), "{}", text);
        } else {
            prop_assert_eq!(status, 500, "{}", text);
            prop_assert!(text.contains("InvalidSecurity"), "{}", text);
        }
        Ok(())
    })
}

/// The protocol's messages changed: sent to their endpoints, each answer is the success
/// document, a SOAP fault (HTTP 500 with a fault the client reads) or a 4xx problem; and every
/// document a client reads from a server parses or is refused, without a panic.
fn soap_target(budget: Budget, rt: &tokio::runtime::Runtime, world: &World) -> u64 {
    use lyncsim_wire::autodiscover;
    use lyncsim_wire::pool::{
        CertErrorInfo, CertProvMex, CertRequest, CertResponse, WebTicketMex, WebTicketRequest,
        WebTicketResponse,
    };
    use lyncsim_wire::soap::SoapFault;
    use lyncsim_wire::sts::{RealmInfo, StsFault, TokenRequest, TokenResponse};
    use lyncsim_wire::wsse::{Lifetime, p_sha1};
    let target = crate::hardening::Target::new(world);
    let alice = "alice@contoso.com";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let rst2 = TokenRequest {
        user: alice.into(),
        password: password(alice),
        timestamp: Some(Lifetime {
            created_ms: now,
            expires_ms: now + 300_000,
        }),
        applies_to: "urn:component:Microsoft.Rtc.WebAuthentication.2010".into(),
    }
    .to_xml();
    let post = |host: &'static str, path: &'static str, body: &[u8]| {
        rt.block_on(target.call(host, "POST", path, &[("content-type", "text/xml")], body))
    };
    let token = TokenResponse::from_xml(
        &post(
            "login.microsoftonline.com",
            lyncsim_wire::paths::TOKEN,
            rst2.as_bytes(),
        )
        .1,
    )
    .unwrap();
    let ticket_request = WebTicketRequest {
        to: "https://pool-a.online.lync.com/WebTicket/WebTicketService.svc/WsFedBearer".into(),
        sts_lifetime: token.lifetime,
        sts_token: token.token.clone(),
        applies_to: format!(
            "https://pool-a.online.lync.com:{}{}",
            world.info().https_port,
            lyncsim_wire::paths::CERT_PROV_PROOF_PATH
        ),
        claim: format!("sip:{alice}"),
        entropy: vec![5; 32],
        context: "fuzz".into(),
    }
    .to_xml();
    let ticket_answer = post(
        "pool-a.online.lync.com",
        lyncsim_wire::paths::WS_FED_BEARER_PATH,
        ticket_request.as_bytes(),
    )
    .1;
    let ticket = WebTicketResponse::from_xml(&ticket_answer).unwrap();
    let proof = p_sha1(&[5; 32], &ticket.entropy, 32);
    let key = PersonalKey::generate().unwrap();
    let csr = make_csr(&key, alice).unwrap();
    let gapc = CertRequest {
        to: "https://pool-a.online.lync.com/CertProv/CertProvisioningService.svc/WebTicket_Proof_SHA1",
        ticket: &ticket,
        proof_key: &proof,
        device_id: "d",
        entity: alice,
        csr_der: &csr,
        request_id: "r",
    }
    .to_xml();
    let requests: Vec<(&'static str, &'static str, Vec<u8>)> = vec![
        (
            "login.microsoftonline.com",
            lyncsim_wire::paths::TOKEN,
            rst2.clone().into_bytes(),
        ),
        (
            "pool-a.online.lync.com",
            lyncsim_wire::paths::WS_FED_BEARER_PATH,
            ticket_request.into_bytes(),
        ),
        (
            "pool-a.online.lync.com",
            lyncsim_wire::paths::CERT_PROV_PROOF_PATH,
            gapc.into_bytes(),
        ),
    ];
    let cert_answer = post(
        "pool-a.online.lync.com",
        lyncsim_wire::paths::CERT_PROV_PROOF_PATH,
        &requests[2].2,
    )
    .1;
    let documents: Vec<Vec<u8>> = vec![
        autodiscover::Root {
            user: Some("https://x/y".into()),
            domain: Some("https://x/d".into()),
            redirect: None,
        }
        .to_xml()
        .into_bytes(),
        autodiscover::User {
            access: Some(autodiscover::SipAccess {
                internal: autodiscover::Access {
                    fqdn: "p".into(),
                    port: 443,
                },
                external: autodiscover::Access {
                    fqdn: "p".into(),
                    port: 443,
                },
            }),
            redirect: None,
        }
        .to_xml()
        .into_bytes(),
        RealmInfo {
            login: alice.into(),
            domain: "contoso.com".into(),
            namespace_type: "Managed".into(),
            sts_auth_url: None,
        }
        .to_xml()
        .into_bytes(),
        token.to_xml().into_bytes(),
        post(
            "login.microsoftonline.com",
            lyncsim_wire::paths::TOKEN,
            rst2.replace("<wsse:Password>", "<wsse:Password>x")
                .as_bytes(),
        )
        .1
        .into_bytes(),
        ticket_answer.into_bytes(),
        cert_answer.into_bytes(),
        CertProvMex {
            web_ticket_service: "https://p/w".into(),
            address: "https://p/c".into(),
        }
        .to_xml()
        .into_bytes(),
        WebTicketMex {
            ws_fed_bearer: "https://p/b".into(),
        }
        .to_xml()
        .into_bytes(),
    ];
    fuzz(
        "soap",
        budget,
        (
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            mutation(),
        ),
        |(which, doc, m)| {
            let (host, path, valid) = which.get(&requests);
            let body = mutate(valid, &m);
            let (status, text) = rt.block_on(target.call(
                host,
                "POST",
                path,
                &[("content-type", "text/xml")],
                &body,
            ));
            match status {
                // RST2.srf answers a token or Passport's fault, both with 200.
                200 if *path == lyncsim_wire::paths::TOKEN => prop_assert!(
                    TokenResponse::from_xml(&text).is_ok() || StsFault::from_xml(&text).is_ok(),
                    "a 200 from the STS that is neither a token nor its fault: {}",
                    text
                ),
                // GetAndPublishCert answers a certificate or its ErrorInfo, both with 200.
                200 if *path == lyncsim_wire::paths::CERT_PROV_PROOF_PATH => prop_assert!(
                    CertResponse::from_xml(&text).is_ok() || CertErrorInfo::from_xml(&text).is_ok(),
                    "a 200 from GetAndPublishCert that is neither a certificate nor ErrorInfo: {}",
                    text
                ),
                200 => {}
                500 => prop_assert!(
                    matches!(SoapFault::read(&text), Ok(Some(_))),
                    "a 500 that is not a SOAP fault: {}",
                    text
                ),
                s => prop_assert!(
                    (400..500).contains(&s) && text.contains("urn:lyncsim:problem:"),
                    "{} {}",
                    s,
                    text
                ),
            }
            // What a client reads from a server: parsed or refused, never a panic.
            let changed = mutate(doc.get::<Vec<u8>>(&documents), &m);
            let text = String::from_utf8_lossy(&changed);
            let _ = autodiscover::Root::from_xml(&text);
            let _ = autodiscover::User::from_xml(&text);
            let _ = autodiscover::Domain::from_xml(&text);
            let _ = RealmInfo::from_xml(&text);
            let _ = TokenResponse::from_xml(&text);
            let _ = StsFault::from_xml(&text);
            let _ = WebTicketResponse::from_xml(&text);
            let _ = CertResponse::from_xml(&text);
            let _ = CertErrorInfo::from_xml(&text);
            let _ = CertProvMex::from_xml(&text);
            let _ = WebTicketMex::from_xml(&text);
            let _ = SoapFault::read(&text);
            Ok(())
        },
    )
}

fn scenario_target(budget: Budget) -> u64 {
    let dir = fixtures().join("scenarios");
    let mut files: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    files.sort();
    fuzz(
        "scenario",
        budget,
        (any::<prop::sample::Index>(), mutation()),
        |(which, m)| {
            let text = mutate(which.get::<Vec<u8>>(&files), &m);
            let text = String::from_utf8_lossy(&text);
            if let Err(e) = lyncsim_suite::scenario::parse("fuzz.toml", &dir, &text) {
                prop_assert!(
                    e.message.len() < 4096,
                    "an error of {} bytes",
                    e.message.len()
                );
            }
            Ok(())
        },
    )
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_below(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// One file of a signed-in machine damaged: the machine opens (or says why not), its views
/// show what they can, and a sign-in ends with a result, never a panic.
fn profile_target(budget: Budget, rt: &tokio::runtime::Runtime, world: &World) -> u64 {
    let alice = "alice@contoso.com";
    let mut pristine = Vec::new();
    for (product, os) in [(Product::Lync2010, Os::Xp), (Product::Lync2013, Os::Win8)] {
        let profile = world.profile(&format!("fuzz-{}", product.id()), product, os);
        let done = rt.block_on(lyncsim_client::sign_in(
            &profile,
            &lyncsim_client::SignInRequest {
                user: alice.into(),
                password: Some(password(alice)),
                save_password: true,
            },
        ));
        assert!(done.unwrap().is_ok());
        let files = files_below(profile.dir());
        pristine.push((profile.dir().to_owned(), files));
    }
    let scratch = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicU64::new(0);
    fuzz(
        "profile",
        budget,
        (
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            mutation(),
        ),
        |(machine, file, m)| {
            let (dir, files) = machine.get(&pristine);
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let copy = scratch.path().join(n.to_string());
            copy_dir(dir, &copy);
            let damaged = copy.join(file.get(files).strip_prefix(dir).unwrap());
            let bytes = std::fs::read(&damaged).unwrap();
            std::fs::write(&damaged, mutate(&bytes, &m)).unwrap();
            if let Ok(profile) = Profile::open(&copy) {
                let _ = profile.certificates();
                let _ = profile.credentials();
                let _ = profile.dns_cache();
                // A result, or an error the command line would print: either, not a panic.
                let request = lyncsim_client::SignInRequest {
                    user: alice.into(),
                    password: None,
                    save_password: false,
                };
                let _ = rt.block_on(lyncsim_client::sign_in(&profile, &request));
            }
            let _ = std::fs::remove_dir_all(&copy);
            Ok(())
        },
    )
}

fn json_value() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "address",
        "password",
        "home_pool",
        "offset_secs",
        "tolerance_secs",
        "kind",
        "mode",
        "hosts",
        "user",
        "to",
        "host",
        "product",
        "build",
        "version",
        "duration_secs",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            "pool-a",
            "pool-b",
            "pool-z",
            "outage",
            "503",
            "reset",
            "refuse",
            "cut-off",
            "change-dns",
            "move-user",
            "change-password",
            "corrupt-account",
            "min-client-build",
            "min-sign-in-assistant",
            "lync2010",
            "lync2013",
            "alice@contoso.com",
            "x@contoso.com",
            "webdir.online.lync.com",
            "1.2.3",
        ])
        .prop_map(|s| json!(s)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..6).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

/// The admin API with JSON of the right vocabulary in the wrong shapes: never 5xx, a problem
/// document for every refusal; anything it accepted is undone before the next case.
fn admin_target(budget: Budget, rt: &tokio::runtime::Runtime, world: &World) -> u64 {
    let url = world.admin_url().to_owned();
    let endpoints = [
        (Method::POST, "/users"),
        (Method::PUT, "/clock"),
        (Method::POST, "/faults"),
    ];
    fuzz(
        "admin",
        budget,
        (any::<prop::sample::Index>(), json_value()),
        |(which, body)| {
            let (method, path) = which.get(&endpoints);
            let (status, bytes) = rt
                .block_on(admin_call(
                    method.clone(),
                    &format!("{url}{path}"),
                    Some(body.to_string().into_bytes()),
                ))
                .unwrap();
            prop_assert!(
                status < 500,
                "{} {} {}: {}",
                method,
                path,
                body,
                String::from_utf8_lossy(&bytes)
            );
            if status >= 400 {
                let doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                prop_assert_eq!(doc["status"].as_u64(), Some(u64::from(status)), "{}", doc);
            }
            rt.block_on(async {
                admin_call(Method::DELETE, &format!("{url}/faults"), None)
                    .await
                    .unwrap();
                let reset = json!({"offset_secs": 0, "tolerance_secs": 300}).to_string();
                admin_call(
                    Method::PUT,
                    &format!("{url}/clock"),
                    Some(reset.into_bytes()),
                )
                .await
                .unwrap();
            });
            Ok(())
        },
    )
}

#[test]
fn every_parser_survives_fuzzed_input() {
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );
    let world = rt.block_on(World::start());
    let budget = budget(9);
    let counts = [
        ("csr", csr_target(budget)),
        ("c14n", c14n_target(budget)),
        ("sip-framing", sip_framing_target(budget)),
        ("token", token_target(budget, &rt, &world)),
        ("soap", soap_target(budget, &rt, &world)),
        ("scenario", scenario_target(budget)),
        ("profile", profile_target(budget, &rt, &world)),
        ("admin", admin_target(budget, &rt, &world)),
        ("sip", sip_target(budget, &rt, &world)),
    ];
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let each: Vec<String> = counts.iter().map(|(t, n)| format!("{t} {n}")).collect();
    println!("fuzz: {total} cases ({}), 0 failed", each.join(", "));
    // The service still serves after all of it.
    let health = rt.block_on(crate::support::admin_get(world.admin_url(), "/health"));
    assert!(String::from_utf8_lossy(&health).contains("ok"));
}

/// An XML element of random prefixes, namespace declarations, attributes and text, up to
/// `depth` levels, for the canonicalizer.
fn xml_tree() -> impl Strategy<Value = String> {
    let text = prop::collection::vec(
        prop_oneof![
            Just("a"),
            Just(" "),
            Just("&amp;"),
            Just("&lt;"),
            Just("&gt;"),
            Just("\r\n"),
            Just("\t"),
            Just("\""),
            Just("'"),
            Just("é"),
            Just("&#xD;"),
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat());
    let leaf = text.clone().boxed();
    leaf.prop_recursive(6, 48, 4, move |inner| {
        (
            prop_oneof![Just("e"), Just("p:e"), Just("q:f"), Just("g")],
            any::<[bool; 5]>(),
            text.clone(),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(name, flags, value, children)| {
                let mut attrs = String::new();
                for (on, attr) in flags.iter().zip([
                    " xmlns:p=\"urn:p2\"",
                    " xmlns=\"urn:d\"",
                    " b=\"1\"",
                    " p:a=\"x\"",
                    " q:c=\"y\"",
                ]) {
                    if *on {
                        attrs.push_str(attr);
                    }
                }
                let value = value.replace(['<', '&'], "");
                format!(
                    "<{name}{attrs} z=\"{value}\">{}</{name}>",
                    children.concat()
                )
            })
    })
}

/// Exclusive canonicalization over random trees, and over chains nested up to 20,000 deep:
/// it never panics nor runs out of stack, what it writes parses, and the canonical form of
/// a canonical element is itself.
fn c14n_target(budget: Budget) -> u64 {
    let tree =
        xml_tree().prop_map(|inner| format!("<r xmlns:p=\"urn:p\" xmlns:q=\"urn:q\">{inner}</r>"));
    let chain = (1usize..20_000, prop_oneof![Just("p:d"), Just("d")]).prop_map(|(depth, name)| {
        format!(
            "<r xmlns:p=\"urn:p\">{}t{}</r>",
            format!("<{name}>").repeat(depth),
            format!("</{name}>").repeat(depth)
        )
    });
    fuzz("c14n", budget, prop_oneof![3 => tree, 1 => chain], |xml| {
        let Ok(doc) = roxmltree::Document::parse(&xml) else {
            return Ok(());
        };
        for node in doc.descendants().filter(|n| n.is_element()).take(8) {
            let canonical = lyncsim_wire::xml::exc_c14n(node);
            let again = roxmltree::Document::parse(&canonical);
            prop_assert!(again.is_ok(), "{canonical}");
            let again = again.unwrap();
            prop_assert_eq!(
                lyncsim_wire::xml::exc_c14n(again.root_element()),
                canonical.clone()
            );
        }
        Ok(())
    })
}

/// SIP's framing on its own: random bytes and mutated REGISTERs with bodies, read a piece
/// at a time. It never panics; a whole message is never found before its last byte, nor an
/// error before the bytes that cause it; a refusal written for what arrived is a SIP
/// response with the status asked for.
fn sip_framing_target(budget: Budget) -> u64 {
    use lyncsim_wire::sip::{self, Message, Progress};
    let seed = b"\r\nMESSAGE sip:bob@contoso.com SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK1\r\nFrom: <sip:a@contoso.com>;tag=1\r\nTo: <sip:bob@contoso.com>\r\nCall-ID: f\r\nCSeq: 2 MESSAGE\r\nContent-Length: 5\r\n\r\nhello".to_vec();
    fuzz(
        "sip-framing",
        budget,
        (mutation(), any::<prop::sample::Index>()),
        |(m, cut)| {
            let bytes = mutate(&seed, &m);
            let whole = sip::progress(&bytes);
            if let Ok(Progress::Whole(frame)) = whole {
                let end = frame.skip + frame.len;
                prop_assert!(end <= bytes.len());
                let at = cut.index(end.max(1));
                prop_assert!(
                    matches!(
                        sip::progress(&bytes[..at]),
                        Ok(Progress::Idle | Progress::Head | Progress::Body)
                    ),
                    "found early at {at} of {end}"
                );
                let _ = Message::parse(&bytes[frame.skip..end]);
            }
            for code in [400u16, 408, 513] {
                if let Some(answer) = sip::refusal(&bytes, code, "Refused", "t") {
                    let parsed = Message::parse(&answer);
                    prop_assert!(parsed.is_ok(), "{:?}", String::from_utf8_lossy(&answer));
                    prop_assert_eq!(parsed.unwrap().status(), Some(code));
                }
            }
            Ok(())
        },
    )
}

/// SIP to the registrar: mutations of a REGISTER as pidgin-sipe sends it, with and without
/// TLS-DSK's `gssapi-data`, over TLS; the answer is SIP or nothing, and the parsers of
/// `lyncsim_wire::sip` take anything without a panic.
fn sip_target(budget: Budget, rt: &tokio::runtime::Runtime, world: &World) -> u64 {
    use lyncsim_wire::sip::{self, Auth, Message, SignedBy};
    use rustls_pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let host = "pool-a.online.lync.com";
    let addr = (world.info().hosts[host], world.info().https_port);
    let connector = crate::support::tls_connector(world.root_pem());
    let register = |auth: &str| {
        format!(
            "REGISTER sip:contoso.com SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK1\r\nFrom: <sip:alice@contoso.com>;tag=1a2b\r\nTo: <sip:alice@contoso.com>\r\nCSeq: 1 REGISTER\r\nCall-ID: fuzz\r\nUser-Agent: UCCAPI/15.0.4569.1503 OC/15.0.4569.1503 (Microsoft Lync)\r\nContact: <sip:127.0.0.1:5061;transport=tls>\r\n{auth}Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    };
    let hello = B64.encode([22u8, 3, 1, 0, 4, 1, 0, 0, 0]);
    let seeds = [
        register(""),
        register(&format!(
            "Authorization: TLS-DSK qop=\"auth\", realm=\"SIP Communications Service\", targetname=\"{host}\", gssapi-data=\"{hello}\", version=4\r\n"
        )),
        register(&format!(
            "Authorization: TLS-DSK qop=\"auth\", opaque=\"0a0b0c0d\", realm=\"SIP Communications Service\", targetname=\"{host}\", crand=\"1\", cnum=\"1\", response=\"00\"\r\n"
        )),
    ];
    fuzz(
        "sip",
        budget,
        (any::<prop::sample::Index>(), mutation()),
        |(which, m)| {
            let bytes = mutate(which.get::<Vec<u8>>(&seeds), &m);
            // The parsers alone.
            if let Ok(Some(frame)) = sip::next_frame(&bytes)
                && let Ok(message) = Message::parse(&bytes[frame.skip..frame.skip + frame.len])
            {
                let by = SignedBy {
                    rand: "",
                    num: "",
                    realm: "",
                    target: "",
                };
                let _ = sip::signature_input(&message, by);
                let _ = message.auth("Authorization");
            }
            let _ = Auth::parse(&String::from_utf8_lossy(&bytes));
            // The registrar.
            let answer = rt.block_on(async {
                let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                let name = ServerName::try_from(host.to_owned()).unwrap();
                let mut tls = connector.connect(name, tcp).await.unwrap();
                let _ = tls.write_all(&bytes).await;
                let _ = tls.shutdown().await;
                let mut answer = Vec::new();
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    tls.read_to_end(&mut answer),
                )
                .await;
                answer
            });
            // Bytes whose first line is not SIP went to HTTP, which refuses them with a 4xx.
            if answer.starts_with(b"HTTP/1.1 ") {
                prop_assert!(
                    answer.starts_with(b"HTTP/1.1 4"),
                    "{:?}",
                    String::from_utf8_lossy(&answer)
                );
                return Ok(());
            }
            let mut rest = answer.as_slice();
            while !rest.is_empty() {
                let frame = sip::next_frame(rest);
                prop_assert!(
                    matches!(frame, Ok(Some(_))),
                    "not a whole SIP message: {:?}",
                    String::from_utf8_lossy(rest)
                );
                let Ok(Some(frame)) = frame else { break };
                let message = Message::parse(&rest[frame.skip..frame.skip + frame.len]);
                prop_assert!(message.is_ok(), "{:?}", String::from_utf8_lossy(rest));
                // A refusal, never a failure of the service's own: 513 is SIP's answer to a
                // message too large (RFC 3261 section 21.5.11).
                prop_assert!(
                    message
                        .unwrap()
                        .status()
                        .is_some_and(|s| s < 500 || s == 513)
                );
                rest = &rest[frame.skip + frame.len..];
            }
            Ok(())
        },
    )
}
