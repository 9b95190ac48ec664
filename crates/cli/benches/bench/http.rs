//! A kept-alive HTTPS/1.1 connection: the one client tool of the bench's request drivers
//! (lyncsim's Autodiscover and nginx's alike; the certificates of the memory section).

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, ServerName};

/// The roots a driver trusts: one PEM certificate.
pub(crate) fn roots(pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    let der = lyncsim_pki::pem_decode("CERTIFICATE", pem).unwrap();
    roots.add(CertificateDer::from(der)).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// One connection to `host` at `addr`.
pub(crate) struct Conn {
    host: String,
    sender: SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Conn {
    pub(crate) async fn open(
        config: &Arc<rustls::ClientConfig>,
        addr: SocketAddr,
        host: &str,
    ) -> Conn {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let tls = tokio_rustls::TlsConnector::from(config.clone())
            .connect(ServerName::try_from(host.to_owned()).unwrap(), tcp)
            .await
            .unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Conn {
            host: host.to_owned(),
            sender,
            driver,
        }
    }

    /// One request; its status and body.
    pub(crate) async fn request(
        &mut self,
        method: hyper::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, Bytes) {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.sender.ready().await.unwrap();
        let resp = self
            .sender
            .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, body)
    }

    pub(crate) async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> (u16, Bytes) {
        self.request(hyper::Method::GET, path, headers, Vec::new())
            .await
    }
}
