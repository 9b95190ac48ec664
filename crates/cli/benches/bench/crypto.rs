//! The crypto bound: the public-key operations one sign-in needs, each timed with the library
//! that does it, turned into the most sign-ins per second this machine's cores could do if
//! nothing else cost anything; and the rate achieved, as a share of it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as awslc, KeyPair as _};
use lyncsim_client::{Library, PublicKeyCost, PublicKeyOp};
use lyncsim_lab::{Lab, Os, Product};
use lyncsim_load::LoadOptions;
use lyncsim_pki::KeyKind;

use crate::{check_all_signed_in, measure, met};

const MESSAGE: &[u8] = b"the handshake transcript hash stands in here: 32 bytes.";

/// The mean time of `f`, run for at least `budget` and `min` times after a warm-up.
fn mean(budget: Duration, min: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..3 {
        f();
    }
    let started = Instant::now();
    let mut n = 0u32;
    while n < min || started.elapsed() < budget {
        f();
        n += 1;
    }
    started.elapsed() / n
}

fn quick(f: impl FnMut()) -> Duration {
    mean(Duration::from_millis(300), 20, f)
}

fn aws_rsa(bits: usize) -> awslc::RsaKeyPair {
    let size = match bits {
        2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
        3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
        4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
        other => panic!("no aws-lc-rs key size for RSA-{other}"),
    };
    awslc::RsaKeyPair::generate(size).unwrap()
}

fn aws_ecdsa(
    bits: usize,
) -> (
    awslc::EcdsaKeyPair,
    &'static awslc::EcdsaVerificationAlgorithm,
) {
    let (sign, verify) = match bits {
        256 => (
            &awslc::ECDSA_P256_SHA256_ASN1_SIGNING,
            &awslc::ECDSA_P256_SHA256_ASN1,
        ),
        384 => (
            &awslc::ECDSA_P384_SHA384_ASN1_SIGNING,
            &awslc::ECDSA_P384_SHA384_ASN1,
        ),
        other => panic!("no ECDSA curve of {other} bits"),
    };
    let rng = SystemRandom::new();
    let pkcs8 = awslc::EcdsaKeyPair::generate_pkcs8(sign, &rng).unwrap();
    (
        awslc::EcdsaKeyPair::from_pkcs8(sign, pkcs8.as_ref()).unwrap(),
        verify,
    )
}

fn openssl_rsa(bits: usize) -> openssl::pkey::PKey<openssl::pkey::Private> {
    openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(bits as u32).unwrap()).unwrap()
}

/// The time of one `op`, done the way the sign-in does it.
fn time(op: &PublicKeyOp) -> Duration {
    let rng = SystemRandom::new();
    match op {
        PublicKeyOp::KeyExchange(group) => {
            let provider = rustls::crypto::aws_lc_rs::default_provider();
            let kx = provider
                .kx_groups
                .iter()
                .find(|g| format!("{:?}", g.name()) == *group)
                .unwrap_or_else(|| panic!("rustls has no key exchange group {group}"));
            quick(|| {
                let client = kx.start().unwrap();
                let server = kx.start_and_complete(client.pub_key()).unwrap();
                client.complete(&server.pub_key).unwrap();
            })
        }
        PublicKeyOp::Sign(KeyKind::Ecdsa(bits), Library::AwsLc) => {
            let (key, _) = aws_ecdsa(*bits);
            quick(|| {
                key.sign(&rng, MESSAGE).unwrap();
            })
        }
        PublicKeyOp::Verify(KeyKind::Ecdsa(bits), Library::AwsLc) => {
            let (key, alg) = aws_ecdsa(*bits);
            let signature = key.sign(&rng, MESSAGE).unwrap();
            let public = awslc::UnparsedPublicKey::new(alg, key.public_key().as_ref().to_vec());
            quick(|| public.verify(MESSAGE, signature.as_ref()).unwrap())
        }
        PublicKeyOp::Sign(KeyKind::Rsa(bits), Library::AwsLc) => {
            let key = aws_rsa(*bits);
            let mut signature = vec![0; key.public_modulus_len()];
            quick(|| {
                key.sign(&awslc::RSA_PKCS1_SHA256, &rng, MESSAGE, &mut signature)
                    .unwrap();
            })
        }
        PublicKeyOp::Verify(KeyKind::Rsa(bits), Library::AwsLc) => {
            let key = aws_rsa(*bits);
            let mut signature = vec![0; key.public_modulus_len()];
            key.sign(&awslc::RSA_PKCS1_SHA256, &rng, MESSAGE, &mut signature)
                .unwrap();
            let public = key.public_key().as_ref().to_vec();
            let public = awslc::UnparsedPublicKey::new(&awslc::RSA_PKCS1_2048_8192_SHA256, public);
            quick(|| public.verify(MESSAGE, &signature).unwrap())
        }
        PublicKeyOp::Sign(KeyKind::Rsa(bits), Library::OpenSsl) => {
            let key = openssl_rsa(*bits);
            quick(|| {
                let mut signer =
                    openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)
                        .unwrap();
                signer.sign_oneshot_to_vec(MESSAGE).unwrap();
            })
        }
        PublicKeyOp::Verify(KeyKind::Rsa(bits), Library::OpenSsl) => {
            let key = openssl_rsa(*bits);
            let signature =
                openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)
                    .unwrap()
                    .sign_oneshot_to_vec(MESSAGE)
                    .unwrap();
            quick(|| {
                let mut verifier =
                    openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key)
                        .unwrap();
                assert!(verifier.verify_oneshot(&signature, MESSAGE).unwrap());
            })
        }
        PublicKeyOp::RsaEncrypt(bits) | PublicKeyOp::RsaDecrypt(bits) => {
            let rsa = openssl::rsa::Rsa::generate(*bits as u32).unwrap();
            // TLS's premaster secret: 48 bytes.
            let premaster = [7u8; 48];
            let mut sealed = vec![0; rsa.size() as usize];
            let mut opened = vec![0; rsa.size() as usize];
            rsa.public_encrypt(&premaster, &mut sealed, openssl::rsa::Padding::PKCS1)
                .unwrap();
            if matches!(op, PublicKeyOp::RsaEncrypt(_)) {
                quick(|| {
                    rsa.public_encrypt(&premaster, &mut sealed, openssl::rsa::Padding::PKCS1)
                        .unwrap();
                })
            } else {
                quick(|| {
                    rsa.private_decrypt(&sealed, &mut opened, openssl::rsa::Padding::PKCS1)
                        .unwrap();
                })
            }
        }
        PublicKeyOp::Generate(KeyKind::Rsa(bits)) => {
            // Key generation's time varies a lot from key to key (the search for primes).
            mean(Duration::from_secs(4), 30, || {
                aws_rsa(*bits);
            })
        }
        other => panic!("the bench does not know how to time {other}"),
    }
}

/// The seconds of public-key work of `cost`.
fn seconds(cost: &PublicKeyCost, times: &BTreeMap<PublicKeyOp, Duration>) -> f64 {
    cost.iter()
        .map(|(op, n)| f64::from(n) * times[op].as_secs_f64())
        .sum()
}

pub(crate) async fn section() {
    // One machine's first sign-in and a warm one, for what they cost.
    let lab = Lab::start().await.unwrap();
    let machine = lab.machine(Product::Lync2013, Os::Win7).await.unwrap();
    let user = "alice@contoso.com";
    let first = machine.sign_in(user).await.unwrap();
    let first = first.assert_signed_in().cost.clone();
    let warm = machine.sign_in(user).await.unwrap();
    let warm = warm.assert_signed_in().cost.clone();
    lab.shutdown().await;

    let mut times = BTreeMap::new();
    for (op, _) in first.iter().chain(warm.iter()) {
        if !times.contains_key(op) {
            times.insert(op.clone(), time(op));
        }
    }
    println!("\n## The crypto bound\n");
    println!(
        "The public-key operations of one sign-in, client and service together, each timed here with the library that does it (one thread):\n"
    );
    println!("| operation | µs each | in a warm sign-in | in a first sign-in |");
    println!("|---|---:|---:|---:|");
    let count = |cost: &PublicKeyCost, op: &PublicKeyOp| {
        cost.iter().find(|(o, _)| *o == op).map_or(0, |(_, n)| n)
    };
    for (op, t) in &times {
        println!(
            "| {op} | {:.0} | {} | {} |",
            t.as_secs_f64() * 1e6,
            count(&warm, op),
            count(&first, op)
        );
    }
    let (warm_s, first_s) = (seconds(&warm, &times), seconds(&first, &times));
    let cores = crate::cores() as f64;
    let (warm_bound, first_bound) = (cores / warm_s, cores / first_s);

    // The rates achieved: 24 machines, 8 at once, first sign-ins then warm ones.
    let report = measure(LoadOptions {
        users: 24,
        machines: 24,
        concurrency: 8,
        duration: Duration::from_secs(10),
        ..LoadOptions::default()
    })
    .await;
    check_all_signed_in("crypto bound", &report);
    let (warm_rate, first_rate) = (report.total.per_sec, report.first.per_sec);
    let warm_share = warm_rate / warm_bound;
    println!(
        "\n| sign-in | public-key ms | bound on {cores} cores (/s) | achieved, 8 at once (/s) | share of the bound |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| warm (stored certificate) | {:.2} | {warm_bound:.0} | {warm_rate:.0} | {:.0} % |",
        warm_s * 1e3,
        100.0 * warm_share
    );
    println!(
        "| first (new key and certificate) | {:.2} | {first_bound:.0} | {first_rate:.1} | {:.0} % |",
        first_s * 1e3,
        100.0 * first_rate / first_bound
    );
    println!(
        "\nWarm sign-ins at {:.0} % of the crypto bound (target ≥ 60 %: {})",
        100.0 * warm_share,
        met(warm_share >= 0.6)
    );
}
