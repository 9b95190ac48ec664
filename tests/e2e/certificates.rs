//! Every issued certificate is read back by independent implementations: x509-parser,
//! OpenSSL's `verify` against the CA the admin API exports, and pkilint's RFC 5280 linter.

use std::process::Command;

use lyncsim_domain::{Os, Product};
use x509_parser::prelude::*;

use crate::support::{World, admin_get, sign_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issued_certificate_parses_and_openssl_verifies_it() {
    let world = World::start().await;
    let profile = world.profile("pki", Product::Lync2010, Os::Win7);
    let done = sign_in(&profile, "alice@contoso.com").await.unwrap();

    let stored = profile.certificates().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].thumbprint, done.certificate);
    let der = &stored[0].der;

    let (rest, cert) = X509Certificate::from_der(der).expect("x509-parser reads it");
    assert!(rest.is_empty());
    assert_eq!(cert.subject().to_string(), "CN=sip:alice@contoso.com");
    assert!(
        cert.issuer()
            .to_string()
            .contains("CN=Communications Server")
    );
    match cert.public_key().parsed().unwrap() {
        x509_parser::public_key::PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 2048),
        other => panic!("not RSA: {other:?}"),
    }
    let lifetime = cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
    assert_eq!(lifetime, 180 * 24 * 3600);
    let eku = cert
        .extended_key_usage()
        .unwrap()
        .expect("EKU present")
        .value;
    assert!(eku.client_auth);
    assert!(!cert.is_ca());

    let ca_pem = admin_get(world.admin_url(), "/ca/communications-server.pem").await;
    let dir = tempfile::tempdir().unwrap();
    let (ca_path, cert_path) = (dir.path().join("ca.pem"), dir.path().join("cert.pem"));
    std::fs::write(&ca_path, &ca_pem).unwrap();
    std::fs::write(&cert_path, lyncsim_pki::pem_encode("CERTIFICATE", der)).unwrap();
    let out = Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(&ca_path)
        .arg(&cert_path)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim_end().ends_with(": OK"),
        "openssl verify: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The public root, too, verifies the server certificate a host presents.
    let root_pem = admin_get(world.admin_url(), "/ca/root.pem").await;
    let root_der =
        lyncsim_pki::pem_decode("CERTIFICATE", std::str::from_utf8(&root_pem).unwrap()).unwrap();
    let (_, root) = X509Certificate::from_der(&root_der).unwrap();
    assert!(root.is_ca());
    assert!(root.subject().to_string().contains("NOT FOR PRODUCTION"));

    // RFC 5280, as pkilint reads it: no error and no warning on the personal certificate and
    // either CA (a NOTICE, such as a key identifier method it cannot name, is allowed).
    let root_path = dir.path().join("root.pem");
    std::fs::write(&root_path, &root_pem).unwrap();
    for path in [&cert_path, &ca_path, &root_path] {
        let out = Command::new(pkilint())
            .arg("lint")
            .arg(path)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "pkilint's lint_pkix_cert is needed (.ci/run installs it: pip install pkilint; or set LYNCSIM_PKILINT to it): {e}"
                )
            });
        let findings = String::from_utf8_lossy(&out.stdout);
        assert!(
            !findings.contains("(ERROR)")
                && !findings.contains("(FATAL)")
                && !findings.contains("(WARNING)"),
            "lint_pkix_cert lint {}:\n{findings}",
            path.display()
        );
    }
}

/// pkilint's certificate linter: `LYNCSIM_PKILINT`, or `lint_pkix_cert` on the PATH.
fn pkilint() -> std::path::PathBuf {
    std::env::var_os("LYNCSIM_PKILINT")
        .map(Into::into)
        .unwrap_or_else(|| "lint_pkix_cert".into())
}

/// The certificate dialog's Certification Path is built, as Windows builds it, from the
/// machine's stores: the Communications Server CA is in none of them, so its issuer cannot be
/// found; and its validity is judged by the machine's clock, so a clock set back before the
/// certificate was issued shows it as not yet valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certification_path_is_built_from_the_machine_s_stores_and_clock() {
    use lyncsim_client::views::{CertStatus, certmgr};
    let status = |row: &lyncsim_client::views::CertRow| row.status.map(CertStatus::path_text);
    let world = World::start().await;
    let mut profile = world.profile("path", Product::Lync2010, Os::Win7);
    sign_in(&profile, "alice@contoso.com").await.unwrap();
    let row = certmgr(&profile).unwrap().rows.remove(0);
    assert_eq!(
        status(&row),
        Some("The issuer of this certificate could not be found.")
    );
    assert_eq!(
        row.status.and_then(CertStatus::general_text),
        Some("Windows does not have enough information to verify this certificate.")
    );
    assert_eq!(row.path, vec!["sip:alice@contoso.com".to_owned()]);

    profile
        .update_machine(|m| m.clock_offset_secs = -3600)
        .unwrap();
    let row = certmgr(&profile).unwrap().rows.remove(0);
    assert_eq!(
        status(&row),
        Some("This certificate has expired or is not yet valid.")
    );

    // A machine that trusted the Communications Server CA would find the issuer.
    profile.update_machine(|m| m.clock_offset_secs = 0).unwrap();
    let ca_pem =
        String::from_utf8(admin_get(world.admin_url(), "/ca/communications-server.pem").await)
            .unwrap();
    profile
        .update_machine(|m| m.trusted_roots.push(ca_pem.clone()))
        .unwrap();
    let row = certmgr(&profile).unwrap().rows.remove(0);
    assert_eq!(status(&row), Some("This certificate is OK."));
    assert_eq!(row.status.and_then(CertStatus::general_text), None);
    assert_eq!(row.path, vec![row.issued_by.clone(), row.issued_to.clone()]);
}
