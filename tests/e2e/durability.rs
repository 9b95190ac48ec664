//! What the service keeps, and what it survives (SPEC section 9): clients that hang up on the
//! real binary, `kill -9` in the middle of bursts, damaged state folders, and any number of
//! DNS changes and undos.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lyncsim_client::Profile;
use lyncsim_domain::{Os, Product};
use lyncsim_lab::{Method, admin_call};
use lyncsim_service::{RunningService, Service, ServiceConfig};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::support::{Serve, World, copy_dir, init_profile, sign_in, tls_connector};

async fn admin(url: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let (status, bytes) = admin_call(
        method,
        &format!("{url}{path}"),
        body.map(|b| b.to_string().into_bytes()),
    )
    .await
    .expect("the admin API answers");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The SIGPIPE that killed `lyncsim serve` (exit 141): a TLS 1.3 client that completes the
/// handshake and hangs up without reading, on every host; and a body cut short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_survives_clients_that_hang_up_without_reading() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(&dir.path().join("state"), &dir.path().join("ready.json"));
    let (status, root) = admin_call(
        Method::GET,
        &format!("{}/ca/root.pem", serve.info.admin_url),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let tls = tls_connector(&String::from_utf8(root).unwrap());
    let port = serve.info.https_port;
    for (host, ip) in serve.info.hosts.clone() {
        if host.starts_with("lyncdiscover.") {
            // A CNAME to webdir, whose certificate does not name it: webdir is asked below.
            continue;
        }
        for _ in 0..10 {
            let tcp = tokio::net::TcpStream::connect((ip, port)).await.unwrap();
            let name = rustls_pki_types::ServerName::try_from(host.clone()).unwrap();
            let stream = tls.connect(name, tcp).await.expect("handshake");
            // Hang up at once: the service's session ticket and close_notify meet a closed
            // socket.
            drop(stream);
        }
        let tcp = tokio::net::TcpStream::connect((ip, port)).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from(host.clone()).unwrap();
        let mut stream = tls.connect(name, tcp).await.expect("handshake");
        stream
            .write_all(b"POST /RST2.srf HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 900\r\n\r\n{}")
            .await
            .unwrap();
        drop(stream);
    }
    let (status, health) = admin(&serve.info.admin_url, Method::GET, "/health", None).await;
    assert_eq!((status, &health["status"]), (200, &json!("ok")));
    assert!(serve.alive(), "lyncsim serve died");
}

/// Makes `count` users named `<prefix>-<n>`, eight at a time, until `stop`; returns those the
/// service acknowledged with 201.
async fn add_users(
    url: String,
    prefix: String,
    count: usize,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (url, prefix, next, stop) = (url.clone(), prefix.clone(), next.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                let address = format!("{prefix}-{n}@contoso.com");
                let body = json!({ "address": address, "password": "Spring2012!" });
                match admin_call(
                    Method::POST,
                    &format!("{url}/users"),
                    Some(body.to_string().into_bytes()),
                )
                .await
                {
                    Ok((201, _)) => acked.push(address),
                    Ok((status, body)) => {
                        panic!("{address}: {status} {}", String::from_utf8_lossy(&body))
                    }
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    acked
}

/// The thumbprint of the certificate a profile holds.
fn stored_thumbprint(profile: &Profile) -> Option<String> {
    let store = profile.layout().cert_store();
    std::fs::read_dir(store)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_bursts_loses_nothing_acknowledged() {
    const KILLS: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ready = dir.path().join("ready.json");
    let mut serve = Serve::start(&state, &ready);
    let mut acked_users: Vec<String> = Vec::new();
    // Profiles that signed in, with the thumbprint the service acknowledged by issuing it.
    let mut signed_in: Vec<(Profile, String)> = Vec::new();
    for round in 0..KILLS {
        let url = serve.info.admin_url.clone();
        // Two new machines sign in (a certificate each) while users are added in a burst.
        let user = ["alice@contoso.com", "carol@contoso.com"][round % 2];
        let path = dir.path().join(format!("pc-{round}"));
        init_profile(path.to_str().unwrap(), "lync2013", "win7", &url);
        let profile = Profile::open(&path).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let burst = tokio::spawn(add_users(
            url.clone(),
            format!("r{round}"),
            100_000,
            stop.clone(),
        ));
        let outcome = sign_in(&profile, user).await;
        let done = outcome.as_ref().map(|s| s.certificate.clone());
        if let Ok(thumbprint) = done {
            signed_in.push((profile, thumbprint));
        }
        // Let the burst run on a little, then kill the service in the middle of it.
        let (status, users) = admin(&url, Method::GET, "/users", None).await;
        assert_eq!(status, 200);
        let seen = users.as_array().unwrap().len();
        while admin(&url, Method::GET, "/users", None)
            .await
            .1
            .as_array()
            .unwrap()
            .len()
            < seen + 40
        {
            tokio::task::yield_now().await;
        }
        serve.kill();
        stop.store(true, Ordering::Relaxed);
        acked_users.extend(burst.await.unwrap());
        serve = Serve::start(&state, &ready);
        let leftovers: Vec<String> = std::fs::read_dir(&state)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".lyncsim-tmp-") || n.starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "left after restart: {leftovers:?}");
    }
    let url = serve.info.admin_url.clone();
    let (_, users) = admin(&url, Method::GET, "/users", None).await;
    let known: BTreeSet<String> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["address"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = acked_users.iter().filter(|u| !known.contains(*u)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged users lost: {lost:?}",
        lost.len()
    );
    let (_, issued) = admin(&url, Method::GET, "/certificates", None).await;
    let issued: BTreeSet<String> = issued
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["thumbprint"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        signed_in.len() >= KILLS - 1,
        "{} machines signed in",
        signed_in.len()
    );
    for (profile, thumbprint) in &signed_in {
        assert!(issued.contains(thumbprint), "certificate {thumbprint} lost");
        assert_eq!(
            stored_thumbprint(profile).as_deref(),
            Some(thumbprint.as_str())
        );
    }
    // Every machine that signed in before a kill signs in again with the certificate it has.
    for (i, (profile, thumbprint)) in signed_in.iter().enumerate() {
        let user = ["alice@contoso.com", "carol@contoso.com"][i % 2];
        let again = sign_in(profile, user)
            .await
            .expect("signs in after the restarts");
        assert!(!again.new_certificate, "{user} needed a new certificate");
        assert_eq!(&again.certificate, thumbprint);
    }
    println!(
        "durability: {KILLS} kills, {} acknowledged users and {} certificates, none lost",
        acked_users.len(),
        signed_in.len()
    );
    serve.stop();
}

/// Starts a service on the state folder `dir`.
async fn started_on(dir: &Path) -> RunningService {
    Service::start(ServiceConfig {
        state_dir: Some(dir.to_owned()),
        ..ServiceConfig::default()
    })
    .await
    .unwrap()
}

/// `text` without the checksum line lyncsim ends a state file with: as an earlier lyncsim, or
/// a person editing the file by hand, leaves it.
fn without_checksum(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("lyncsim-sha256: "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Takes off what names the service in each file of a state folder, and the checksums, and
/// puts each CA in two files, as a lyncsim from before services named themselves wrote it.
fn as_an_earlier_version_wrote_it(dir: &Path) {
    for stem in ["root", "communications-server"] {
        let file = dir.join(format!("ca/{stem}.pem"));
        let text = without_checksum(&std::fs::read_to_string(&file).unwrap());
        let at = text.find("-----BEGIN CERTIFICATE-----").unwrap();
        let key = text.find("-----BEGIN PRIVATE KEY-----").unwrap();
        std::fs::write(dir.join(format!("ca/{stem}.crt.pem")), &text[at..key]).unwrap();
        std::fs::write(dir.join(format!("ca/{stem}.key.pem")), &text[key..]).unwrap();
        std::fs::remove_file(file).unwrap();
    }
    let pem = dir.join("sts-signing-key.pem");
    let text = without_checksum(&std::fs::read_to_string(&pem).unwrap());
    let (_, block) = text.split_once('\n').unwrap();
    std::fs::write(&pem, block).unwrap();
    for json in ["policy.json", "network.json", "users.json"] {
        let text = without_checksum(&std::fs::read_to_string(dir.join(json)).unwrap());
        let mut doc: Value = serde_json::from_str(&text).unwrap();
        let object = doc.as_object_mut().unwrap();
        object.remove("service");
        let doc = match object.remove("users") {
            Some(users) => users,
            None => doc,
        };
        std::fs::write(dir.join(json), serde_json::to_vec(&doc).unwrap()).unwrap();
    }
    let issued = std::fs::read_to_string(dir.join("issued-certificates.jsonl")).unwrap();
    let lines: String = issued
        .lines()
        .skip(1)
        .map(|l| format!("{}\n", l.rsplit_once('\t').map_or(l, |(json, _)| json)))
        .collect();
    std::fs::write(dir.join("issued-certificates.jsonl"), lines).unwrap();
}

/// Starts a service on `state`, expecting an error that says `expected`.
async fn refused(state: &Path, expected: &str) {
    let config = ServiceConfig {
        state_dir: Some(state.to_owned()),
        ..ServiceConfig::default()
    };
    match Service::start(config).await {
        Ok(_) => panic!("a service started on a damaged folder ({expected})"),
        Err(e) => {
            let text = format!("{e:#}");
            assert!(text.contains(expected), "expected {expected:?} in: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_state_folder_stops_the_service_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let config = ServiceConfig {
        state_dir: Some(whole.clone()),
        ..ServiceConfig::default()
    };
    let service = Service::start(config.clone()).await.unwrap();
    let (status, _) = admin(
        service.admin_url(),
        Method::POST,
        "/users",
        Some(json!({"address": "dave@contoso.com", "password": "x"})),
    )
    .await;
    assert_eq!(status, 201);
    service.shutdown().await;

    for file in [
        "ca/root.pem",
        "ca/communications-server.pem",
        "sts-signing-key.pem",
        "users.json",
        "issued-certificates.jsonl",
        "policy.json",
        "network.json",
    ] {
        let copy = dir.path().join(file.replace('/', "-"));
        copy_dir(&whole, &copy);
        std::fs::remove_file(copy.join(file)).unwrap();
        refused(&copy, &copy.join(file).display().to_string()).await;
    }

    // The root's key where the Communications Server's should be, put there by hand (no
    // checksum to find it): refused as not the certificate's key.
    let swapped = dir.path().join("swapped");
    copy_dir(&whole, &swapped);
    let key_of = |stem: &str| {
        let text = without_checksum(
            &std::fs::read_to_string(swapped.join(format!("ca/{stem}.pem"))).unwrap(),
        );
        let at = text.find("-----BEGIN PRIVATE KEY-----").unwrap();
        (text[..at].to_owned(), text[at..].to_owned())
    };
    let ((cs_cert, _), (_, root_key)) = (key_of("communications-server"), key_of("root"));
    std::fs::write(
        swapped.join("ca/communications-server.pem"),
        format!("{cs_cert}{root_key}"),
    )
    .unwrap();
    refused(&swapped, "not the key of the certificate").await;
    refused(&swapped, "communications-server.pem").await;

    // The same done to a file that kept its checksum: found by the checksum.
    let edited = dir.path().join("edited");
    copy_dir(&whole, &edited);
    let cs_file = edited.join("ca/communications-server.pem");
    let text = std::fs::read_to_string(&cs_file).unwrap();
    let sum = text.lines().last().unwrap().to_owned();
    std::fs::write(&cs_file, format!("{cs_cert}{root_key}{sum}\n")).unwrap();
    refused(&edited, "does not match its checksum").await;

    // A user list cut short.
    let cut = dir.path().join("cut");
    copy_dir(&whole, &cut);
    std::fs::write(cut.join("users.json"), "[{\"address\": \"ali").unwrap();
    refused(&cut, &cut.join("users.json").display().to_string()).await;

    // A damaged line of the issued certificates is named with its line; a last line that a
    // kill cut short (never synced, so never handed out) is dropped.
    // Valid until 2100: a certificate that expired would be compacted away at start.
    let line = r#"{"user":"alice@contoso.com","serial":"01","thumbprint":"AB","not_before":0,"not_after":4102444800,"pem":"x"}"#;
    // The file's first line names the service it belongs to.
    let issued = std::fs::read_to_string(whole.join("issued-certificates.jsonl")).unwrap();
    let header = issued.lines().next().unwrap();
    let damaged = dir.path().join("damaged-issued");
    copy_dir(&whole, &damaged);
    std::fs::write(
        damaged.join("issued-certificates.jsonl"),
        format!("{header}\n{line}\n{{\"user\": 7}}\n{line}\n"),
    )
    .unwrap();
    refused(&damaged, "issued-certificates.jsonl line 3").await;
    let torn = dir.path().join("torn-issued");
    copy_dir(&whole, &torn);
    std::fs::write(
        torn.join("issued-certificates.jsonl"),
        format!("{header}\n{line}\n{{\"user\":\"bob@con"),
    )
    .unwrap();
    let service = started_on(&torn).await;
    let (_, listed) = admin(service.admin_url(), Method::GET, "/certificates", None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    service.shutdown().await;
    assert_eq!(
        std::fs::read_to_string(torn.join("issued-certificates.jsonl")).unwrap(),
        format!("{header}\n{line}\n")
    );

    // A root certificate with one DER length byte changed (openssl cannot read it) is
    // refused by name, rather than served to every client that then fails to trust it.
    // (Without its checksum, which would find it first.)
    let bent = dir.path().join("bent-root");
    copy_dir(&whole, &bent);
    let root_file = bent.join("ca/root.pem");
    let text = without_checksum(&std::fs::read_to_string(&root_file).unwrap());
    let original = lyncsim_pki::pem_decode("CERTIFICATE", &text).unwrap();
    let mut der = original.clone();
    // `30 82 LL LL 30 82 LL LL`: the outer SEQUENCE, then the TBSCertificate, each with a
    // two-byte length; the TBSCertificate's low length byte changes.
    assert_eq!(
        (&der[..2], &der[4..6]),
        (&[0x30, 0x82][..], &[0x30, 0x82][..])
    );
    der[7] ^= 0x04;
    std::fs::write(
        &root_file,
        text.replace(
            &lyncsim_pki::pem_encode("CERTIFICATE", &original),
            &lyncsim_pki::pem_encode("CERTIFICATE", &der),
        ),
    )
    .unwrap();
    refused(&bent, &root_file.display().to_string()).await;

    // Another service's file in this folder is refused by name: each file names its service.
    let other = dir.path().join("other-service");
    let service = started_on(&other).await;
    service.shutdown().await;
    for file in [
        "users.json",
        "policy.json",
        "network.json",
        "sts-signing-key.pem",
    ] {
        let mixed = dir.path().join(format!("mixed-{file}"));
        copy_dir(&whole, &mixed);
        std::fs::copy(other.join(file), mixed.join(file)).unwrap();
        refused(
            &mixed,
            &format!("{} belongs to service", mixed.join(file).display()),
        )
        .await;
    }

    // A folder of an earlier version, whose files name no service and hold the certificates
    // as one JSON array, is moved on and taken up.
    let earlier = dir.path().join("earlier");
    copy_dir(&whole, &earlier);
    as_an_earlier_version_wrote_it(&earlier);
    std::fs::remove_file(earlier.join("issued-certificates.jsonl")).unwrap();
    std::fs::write(
        earlier.join("issued-certificates.json"),
        format!("[{line}]"),
    )
    .unwrap();
    let service = started_on(&earlier).await;
    let (_, listed) = admin(service.admin_url(), Method::GET, "/certificates", None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    service.shutdown().await;
    assert!(!earlier.join("issued-certificates.json").exists());

    // What a killed write leaves is removed, and the whole folder starts with its users.
    std::fs::write(whole.join(".lyncsim-tmp-AbC123"), "half").unwrap();
    std::fs::write(whole.join("ca/.tmpXyZ789"), "half").unwrap();
    let service = Service::start(config).await.unwrap();
    assert!(!whole.join(".lyncsim-tmp-AbC123").exists());
    assert!(!whole.join("ca/.tmpXyZ789").exists());
    let (_, users) = admin(service.admin_url(), Method::GET, "/users", None).await;
    assert!(users.to_string().contains("dave@contoso.com"), "{users}");
    service.shutdown().await;

    // A new, empty folder is initialised.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let service = started_on(&empty).await;
    service.shutdown().await;
    assert!(empty.join("issued-certificates.jsonl").exists());
    assert!(empty.join("policy.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_changes_and_undos_can_follow_each_other_without_end() {
    let world = World::start().await;
    let url = world.admin_url();
    for cycle in 0..300 {
        let (status, fault) = admin(
            url,
            Method::POST,
            "/faults",
            Some(json!({"kind": "change-dns", "host": "pool-a.online.lync.com"})),
        )
        .await;
        assert_eq!(status, 201, "cycle {cycle}: {fault}");
        let id = fault["id"].as_u64().unwrap();
        let (status, _) = admin(url, Method::DELETE, &format!("/faults/{id}"), None).await;
        assert_eq!(status, 200, "cycle {cycle}");
    }
    // And the service still signs people in.
    let profile = world.profile("after", Product::Lync2013, Os::Win7);
    assert!(sign_in(&profile, "alice@contoso.com").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_takes_a_century_either_way_and_refuses_more() {
    let world = World::start().await;
    let url = world.admin_url();
    let century = 100 * 365 * 24 * 3600_i64;
    let (status, _) = admin(
        url,
        Method::PUT,
        "/clock",
        Some(json!({"offset_secs": century})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, time) = admin(url, Method::GET, "/time", None).await;
    let year: i64 = time["rfc3339"].as_str().unwrap()[..4].parse().unwrap();
    assert!((2120..2140).contains(&year), "{time}");
    let (status, problem) = admin(
        url,
        Method::PUT,
        "/clock",
        Some(json!({"offset_secs": century + 1})),
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    let (_, clock) = admin(url, Method::GET, "/clock", None).await;
    assert_eq!(
        clock["offset_secs"], century,
        "a refused change changes nothing"
    );
    let (status, _) = admin(
        url,
        Method::PUT,
        "/clock",
        Some(json!({"offset_secs": -century})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, time) = admin(url, Method::GET, "/time", None).await;
    assert!(time["unix"].as_i64().unwrap() < 0, "{time}");
    assert!(
        time["rfc3339"].as_str().unwrap().starts_with("192"),
        "{time}"
    );
}

/// Whether `folder` holds a temporary file of a write under way (what
/// `lyncsim_durable::write_atomically` renames into place).
fn writing_in(folder: &Path) -> bool {
    std::fs::read_dir(folder).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".lyncsim-tmp-"))
    })
}

/// `kill -9` aimed at CA rotations: the service rotates the Communications Server CA over and
/// over while the test watches `ca/` and kills the process the moment a rotation's write is
/// under way (its temporary file there), 20 times. The CA's certificate and key are one file,
/// replaced by one rename, so every restart is whole: the service starts with the old CA or
/// the new one, and a new machine signs in with a certificate it issued (its key is its
/// certificate's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_aimed_at_ca_rotations_leaves_a_whole_folder_every_time() {
    const KILLS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let (state, ready) = (dir.path().join("state"), dir.path().join("ready.json"));
    let mut serve = Serve::start(&state, &ready);
    let mut aimed = 0;
    for round in 0..KILLS {
        let url = serve.info.admin_url.clone();
        let rotating = tokio::spawn(async move {
            let rotate = json!({"kind": "rotate-ca"}).to_string().into_bytes();
            while let Ok((201, _)) =
                admin_call(Method::POST, &format!("{url}/faults"), Some(rotate.clone())).await
            {
            }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if writing_in(&state.join("ca")) {
                aimed += 1;
                break;
            }
            std::thread::yield_now();
        }
        serve.kill();
        rotating.await.unwrap();
        serve = Serve::start(&state, &ready);
        let path = dir.path().join(format!("pc-{round}"));
        init_profile(
            path.to_str().unwrap(),
            "lync2013",
            "win7",
            &serve.info.admin_url,
        );
        let profile = Profile::open(&path).unwrap();
        let outcome = sign_in(&profile, "alice@contoso.com").await;
        let signed = outcome.expect("a new machine signs in after the restart");
        assert!(signed.new_certificate, "round {round}");
    }
    assert!(
        aimed >= KILLS / 2,
        "only {aimed} of {KILLS} kills came while a rotation was being written"
    );
    println!(
        "durability: {KILLS} kills aimed at CA rotations ({aimed} during the write), every restart whole"
    );
    serve.stop();
}

/// `kill -9` during a first start (while the new folder is being written, its
/// `initialising` mark there): the next start makes the folder again and serves, 10 times.
#[test]
fn kill_9_during_a_first_start_leaves_a_folder_that_starts() {
    const KILLS: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let mut aimed = 0;
    for round in 0..KILLS {
        let state = dir.path().join(format!("state-{round}"));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lyncsim"))
            .args(["serve", "--state-dir"])
            .arg(&state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("serve starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if state.join("initialising").exists() {
                aimed += 1;
                break;
            }
            std::thread::yield_now();
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let serve = Serve::start(&state, &dir.path().join("ready.json"));
        assert!(!state.join("initialising").exists(), "round {round}");
        serve.stop();
    }
    assert!(
        aimed >= KILLS / 2,
        "only {aimed} of {KILLS} kills came while the folder was being made"
    );
    println!(
        "durability: {KILLS} kills during a first start ({aimed} while it was written), every next start served"
    );
}
