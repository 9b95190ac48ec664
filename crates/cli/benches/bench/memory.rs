//! `lyncsim serve`'s resident memory: with 1,000 and 10,000 users, with 50,000 certificates
//! issued through GetAndPublishCert, and over a long run of sign-ins.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lyncsim_lab::Lab;
use lyncsim_load::{LoadOptions, load};
use lyncsim_wire::admin::{NewUser, ServiceInfo};
use lyncsim_wire::paths;
use lyncsim_wire::pool::{
    ACTION_GET_AND_PUBLISH_CERT, ACTION_WEB_TICKET, CERT_PROV_PROOF_PATH, CertRequest,
    CertResponse, WS_FED_BEARER_PATH, WebTicketRequest, WebTicketResponse,
};
use lyncsim_wire::sts::{SOAP12_MEDIA, TokenRequest, TokenResponse};
use lyncsim_wire::wsse::{Lifetime, p_sha1};
use lyncsim_wire::{FromXml, ToXml};

use crate::http::{Conn, roots};
use crate::met;
use crate::serve::{Serve, rss_mib};

const TARGET_MIB: f64 = 100.0;
const USERS: usize = 10_000;
const CERTIFICATES: usize = 50_000;
const AT_ONCE: usize = 16;

fn password(i: usize) -> String {
    format!("Bench!{i:06}")
}

fn address(i: usize, tenant: &str) -> String {
    format!("user{i:06}@{tenant}")
}

/// Adds users `from..to` through the admin API, `AT_ONCE` at a time.
async fn add_users(lab: &Arc<Lab>, from: usize, to: usize) {
    let next = Arc::new(AtomicUsize::new(from));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..AT_ONCE {
        let (lab, next) = (lab.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to {
                    break;
                }
                lab.add_user(&NewUser {
                    address: address(i, &lab.info().tenant),
                    password: password(i),
                    home_pool: Some("pool-a".into()),
                })
                .await
                .unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// Issues `per_user` certificates to each of users `0..users` the way a client asks for
/// them: a token from the STS, a web ticket, then GetAndPublishCert with a request signed by
/// the ticket's proof key, on kept-alive connections. One RSA key stands for every client's
/// (making 10,000 keys would measure key generation, not the service).
async fn issue(info: &ServiceInfo, root_pem: &str, users: usize, per_user: usize) {
    let config = roots(root_pem);
    let key = Arc::new(lyncsim_pki::PersonalKey::generate().unwrap());
    let sts = SocketAddr::new(info.hosts["login.microsoftonline.com"], info.https_port);
    let pool_host = "pool-a.online.lync.com";
    let pool = SocketAddr::new(info.hosts[pool_host], info.https_port);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..AT_ONCE {
        let (config, key, next, tenant) = (
            config.clone(),
            key.clone(),
            next.clone(),
            info.tenant.clone(),
        );
        tasks.spawn(async move {
            let mut login = Conn::open(&config, sts, "login.microsoftonline.com").await;
            let mut pool_conn = Conn::open(&config, pool, pool_host).await;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= users {
                    break;
                }
                let user = address(i, &tenant);
                let now = chrono::Utc::now().timestamp_millis();
                let token = TokenRequest {
                    user: user.clone(),
                    password: password(i),
                    timestamp: Some(Lifetime {
                        created_ms: now,
                        expires_ms: now + 300_000,
                    }),
                    applies_to: "urn:component:Microsoft.Rtc.WebAuthentication.2010".into(),
                };
                let (status, body) = login
                    .request(
                        hyper::Method::POST,
                        paths::TOKEN,
                        &[("content-type", SOAP12_MEDIA)],
                        token.to_xml().into_bytes(),
                    )
                    .await;
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                let token = TokenResponse::from_xml(&String::from_utf8_lossy(&body)).unwrap();
                let entropy: [u8; 32] = rand::random();
                let ticket = WebTicketRequest {
                    to: format!("https://{pool_host}{WS_FED_BEARER_PATH}"),
                    sts_lifetime: token.lifetime,
                    sts_token: token.token.clone(),
                    applies_to: format!(
                        "https://{pool_host}{}",
                        lyncsim_wire::pool::CERT_PROV_PATH
                    ),
                    claim: format!("sip:{user}"),
                    entropy: entropy.to_vec(),
                    context: lyncsim_wire::random_guid(),
                };
                let action = format!("\"{ACTION_WEB_TICKET}\"");
                let (status, body) = pool_conn
                    .request(
                        hyper::Method::POST,
                        WS_FED_BEARER_PATH,
                        &[
                            ("content-type", "text/xml; charset=utf-8"),
                            ("soapaction", &action),
                        ],
                        ticket.to_xml().into_bytes(),
                    )
                    .await;
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                let ticket = WebTicketResponse::from_xml(&String::from_utf8_lossy(&body)).unwrap();
                let proof_key = p_sha1(&entropy, &ticket.entropy, entropy.len());
                let csr = lyncsim_pki::make_csr(&key, &user).unwrap();
                let to = format!("https://{pool_host}{CERT_PROV_PROOF_PATH}");
                let action = format!("\"{ACTION_GET_AND_PUBLISH_CERT}\"");
                for _ in 0..per_user {
                    let request_id = lyncsim_wire::random_guid();
                    let body = CertRequest {
                        to: &to,
                        ticket: &ticket,
                        proof_key: &proof_key,
                        device_id: "bench",
                        entity: &user,
                        csr_der: &csr,
                        request_id: &request_id,
                    }
                    .to_xml();
                    let (status, body) = pool_conn
                        .request(
                            hyper::Method::POST,
                            CERT_PROV_PROOF_PATH,
                            &[
                                ("content-type", "text/xml; charset=utf-8"),
                                ("soapaction", &action),
                            ],
                            body.into_bytes(),
                        )
                        .await;
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                    CertResponse::from_xml(&String::from_utf8_lossy(&body)).unwrap();
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

pub(crate) async fn section() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, info) = Serve::start(dir.path());
    let pid = serve.pid();
    let lab = Arc::new(Lab::connect(&info.admin_url).await.unwrap());
    let root_pem = lab.admin().root_pem().await.unwrap();
    println!("\n## Memory of `lyncsim serve`\n");
    println!("| the service holding | resident MiB | took |");
    println!("|---|---:|---:|");
    println!(
        "| the built-in tenant (3 users), just started | {:.1} | |",
        rss_mib(pid)
    );
    let started = Instant::now();
    add_users(&lab, 0, 1_000).await;
    println!(
        "| 1,000 users | {:.1} | {:.1} s |",
        rss_mib(pid),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    add_users(&lab, 1_000, USERS).await;
    println!(
        "| 10,000 users | {:.1} | {:.1} s |",
        rss_mib(pid),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    issue(&info, &root_pem, USERS, CERTIFICATES / USERS).await;
    let full = rss_mib(pid);
    let listed = lyncsim_lab::fetch_plain(&format!("{}/certificates", info.admin_url))
        .await
        .unwrap();
    let issued = serde_json::from_slice::<Vec<serde_json::Value>>(&listed)
        .unwrap()
        .len();
    assert!(issued >= CERTIFICATES, "{issued} certificates issued");
    println!(
        "| 10,000 users and {issued} issued certificates | {full:.1} | {:.1} s |",
        started.elapsed().as_secs_f64()
    );
    println!(
        "\nUnder {TARGET_MIB} MB with 10,000 users and 50,000 certificates: {}",
        met(full < TARGET_MIB)
    );

    // A long run of sign-ins on the same service: memory per sign-in should be flat.
    let opts = LoadOptions {
        users: 32,
        machines: 32,
        concurrency: 8,
        duration: Duration::from_secs(90),
        ..LoadOptions::default()
    };
    let before = rss_mib(pid);
    let report = load(&lab, &opts, |_| {}).await.unwrap();
    let after = rss_mib(pid);
    let sign_ins = report.total.sign_ins + report.first.sign_ins;
    println!(
        "\nA long run on the same service: {sign_ins} sign-ins in {:.0} s ({} failed): {before:.1} MiB before, {after:.1} MiB after: {:.2} KiB per 1,000 sign-ins",
        report.total.to_secs,
        sign_ins
            - report.total.outcomes.get("signed-in").copied().unwrap_or(0)
            - report.first.outcomes.get("signed-in").copied().unwrap_or(0),
        (after - before) * 1024.0 * 1000.0 / sign_ins.max(1) as f64
    );
    drop(serve);
}
