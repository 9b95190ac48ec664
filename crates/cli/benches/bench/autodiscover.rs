//! Autodiscover requests per second over kept-alive HTTPS: `lyncsim serve` against nginx
//! serving the same document over TLS with the same kind of certificate (ECDSA P-256 under
//! an RSA-2048 root), driven by the same client in the same run. nginx is installed if it is
//! missing (the bench runs as root on the project's machines; CI never runs the bench).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lyncsim_pki::{Authority, AuthorityKind};
use lyncsim_wire::autodiscover::MEDIA_XML;
use lyncsim_wire::paths;

use crate::http::{Conn, roots};
use crate::met;

const CONNECTIONS: usize = 16;
const SECONDS: u64 = 8;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nginx() -> String {
    let found = |p: &str| Path::new(p).exists().then(|| p.to_owned());
    if let Some(path) = found("/usr/sbin/nginx") {
        return path;
    }
    eprintln!("bench: nginx is not installed; installing it (apt-get install -y nginx-light)");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-q", "nginx-light"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success())
        || Command::new("apt-get")
            .args(["install", "-y", "-q", "nginx"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the autodiscover section needs nginx: apt-get install nginx failed (run apt-get update first, as root)"
    );
    found("/usr/sbin/nginx").expect("nginx installed at /usr/sbin/nginx")
}

/// Requests per second: `CONNECTIONS` kept-alive connections, each sending `path` again and
/// again for `SECONDS`, every answer checked to be `expected`.
async fn drive(
    config: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    host: &str,
    path: &str,
    expected: &[u8],
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let mut conns = Vec::new();
    for _ in 0..CONNECTIONS {
        conns.push(Conn::open(config, addr, host).await);
    }
    let started = Instant::now();
    let until = started + Duration::from_secs(SECONDS);
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in conns {
        let (done, path, expected) = (done.clone(), path.to_owned(), expected.to_vec());
        tasks.spawn(async move {
            while Instant::now() < until {
                let (status, body) = conn.get(&path, &[("accept", MEDIA_XML)]).await;
                assert_eq!(status, 200);
                assert_eq!(body.as_ref(), expected.as_slice());
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while let Some(t) = tasks.join_next().await {
        t.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

pub(crate) async fn section() {
    let nginx = nginx();
    let dir = tempfile::tempdir().unwrap();

    // lyncsim serve, and the document it gives.
    let (serve, info) = crate::serve::Serve::start(dir.path());
    // Autodiscover's HTTPS root, on webdir (whose certificate does not name
    // lyncdiscover.<tenant>).
    let host = "webdir.online.lync.com".to_owned();
    let path = format!("{}?sipuri=sip:alice@{}", paths::AUTODISCOVER, info.tenant);
    let root_pem = String::from_utf8(
        lyncsim_lab::fetch_plain(&format!("{}/ca/root.pem", info.admin_url))
            .await
            .unwrap(),
    )
    .unwrap();
    let lyncsim_addr = SocketAddr::new(info.hosts[&host], info.https_port);
    let lyncsim_config = roots(&root_pem);
    let (_, document) = Conn::open(&lyncsim_config, lyncsim_addr, &host)
        .await
        .get(&path, &[("accept", MEDIA_XML)])
        .await;

    // nginx with the same document and the same kind of certificate.
    let now = chrono::Utc::now().timestamp();
    let root = Authority::generate(AuthorityKind::PublicRoot, now, 1).unwrap();
    let leaf = root.issue_server(std::slice::from_ref(&host), now).unwrap();
    let site = dir.path().join("site/autodiscover/autodiscoverservice.svc");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("root"), &document).unwrap();
    std::fs::write(
        dir.path().join("server.pem"),
        lyncsim_pki::pem_encode("CERTIFICATE", &leaf.cert_der),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("server.key"),
        lyncsim_pki::pem_encode("PRIVATE KEY", &leaf.key_pkcs8_der),
    )
    .unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let d = dir.path().display();
    let conf = format!(
        "user root;
worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name {host};
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            root {d}/site;
            types {{ }}
            default_type \"{MEDIA_XML}\";
        }}
    }}
}}
"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let nginx_child = Killed(
        Command::new(&nginx)
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let nginx_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(nginx_addr).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let nginx_config = roots(&root.cert_pem());

    // Side by side: each twice, alternating, the better of each kept.
    let mut lyncsim_rate: f64 = 0.0;
    let mut nginx_rate: f64 = 0.0;
    for _ in 0..2 {
        lyncsim_rate =
            lyncsim_rate.max(drive(&lyncsim_config, lyncsim_addr, &host, &path, &document).await);
        nginx_rate =
            nginx_rate.max(drive(&nginx_config, nginx_addr, &host, &path, &document).await);
    }
    drop(nginx_child);
    drop(serve);
    let ratio = lyncsim_rate / nginx_rate;
    println!("\n## Autodiscover over kept-alive HTTPS\n");
    println!(
        "{CONNECTIONS} connections kept alive, GET {} ({} bytes), {SECONDS} s each, the better of two runs:\n",
        paths::AUTODISCOVER,
        document.len()
    );
    println!("| server | requests/s |");
    println!("|---|---:|");
    println!("| lyncsim serve | {lyncsim_rate:.0} |");
    println!("| nginx, the same document and kind of certificate | {nginx_rate:.0} |");
    println!(
        "\nlyncsim / nginx: {ratio:.2}× (target ≥ 1.0×: {})",
        met(ratio >= 1.0)
    );
}
