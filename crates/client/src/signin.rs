//! One sign-in, stage by stage, as the real client does it.
//!
//! credentials → resolve → discover (unless the endpoint cache names the home pool) → token
//! (every time; through the Sign-In Assistant on Lync 2010) → certificate (the stored one
//! unless it expired by the machine's clock, else key container → CSR → GetAndPublishCert) →
//! register over mutual TLS → endpoint cache. Neither product replaces an unexpired stored
//! certificate by itself, even one the registrar rejects.

use lyncsim_domain::{ErrorId, FailureKind, Skew, Stage};
use lyncsim_wire::{
    CertRequest, CertResponse, ClientInfo, HomePool, RegisterRequest, Registered, TokenRequest,
    TokenResponse, paths,
};
use serde::Serialize;

use crate::certstore;
use crate::credman;
use crate::endpoint_cache::{self, EndpointCache};
use crate::https::{Call, ClientAuth, HttpFailure, Https, Target};
use crate::keycontainer;
use crate::profile::Profile;
use crate::resolver::{ResolveError, Resolver};
use crate::trace::{Trace, rfc3339};

/// What the user typed in the sign-in window.
#[derive(Debug, Clone)]
pub struct SignInRequest {
    /// The sign-in address.
    pub user: String,
    /// The password typed; the saved one is used when `None`.
    pub password: Option<String>,
    /// Tick "Save my password".
    pub save_password: bool,
}

/// A successful sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedIn {
    /// The signed-in address.
    pub user: String,
    /// The pool that registered it.
    pub pool: String,
    /// The personal certificate used.
    pub certificate: String,
    /// Whether a new certificate was provisioned during this sign-in.
    pub new_certificate: bool,
}

/// A failed sign-in: where, how, why, and the text the user sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignInFailure {
    /// The catalogue entry shown.
    pub error: ErrorId,
    /// The stage that failed.
    pub stage: Stage,
    /// How it failed.
    pub kind: FailureKind,
    /// The real reason.
    pub reason: String,
}

impl SignInFailure {
    fn new(stage: Stage, kind: FailureKind, reason: impl Into<String>) -> Self {
        SignInFailure {
            error: ErrorId::shown_for(stage, kind),
            stage,
            kind,
            reason: reason.into(),
        }
    }

    fn http(stage: Stage, what: &str, failure: HttpFailure) -> Self {
        Self::new(
            stage,
            failure.kind(),
            format!("{what}: {}", failure.describe()),
        )
    }

    /// The exact text the user sees.
    pub fn text(&self) -> &'static str {
        self.error.text()
    }
}

/// The outcome of one sign-in.
pub type Outcome = Result<SignedIn, SignInFailure>;

/// Signs in on `profile`. `Err` of the outer result is a usage problem (no password given
/// or saved, a profile that cannot be read); a sign-in failure is `Ok(Err(..))`.
pub async fn sign_in(profile: &Profile, request: &SignInRequest) -> anyhow::Result<Outcome> {
    let mut trace = Trace::new(profile);
    let machine = profile.machine();
    trace.line(format!(
        "sign-in {} ({} {} on {}), machine clock {}",
        request.user,
        machine.product,
        machine.build,
        machine.os,
        rfc3339(machine.now())
    ));
    let mut run = Run {
        profile,
        trace: &mut trace,
        resolver: None,
        https: None,
    };
    let outcome = run.stages(request).await;
    if let Some(resolver) = &run.resolver {
        resolver.save(profile.layout())?;
    }
    if let Ok(Err(f)) = &outcome
        && machine.product == lyncsim_domain::Product::Lync2010
        && f.kind == FailureKind::Unreachable
        && f.stage >= Stage::Token
    {
        let damaged = lync2010_connection_lost(profile, &request.user)?;
        if damaged > 0 {
            trace.line(format!(
                "connection lost: Lync 2010 rewrote its cached certificate and credential in place and the writes did not complete ({damaged} files left truncated)"
            ));
        }
    }
    match &outcome {
        Ok(Ok(done)) => trace.line(format!("signed in as {} at {}", done.user, done.pool)),
        Ok(Err(f)) => trace.line(format!(
            "sign-in failed at {}: {} ({})",
            f.stage, f.reason, f.error
        )),
        Err(e) => trace.line(format!("sign-in not attempted: {e:#}")),
    }
    trace.flush()?;
    outcome
}

struct Run<'a, 't> {
    profile: &'a Profile,
    trace: &'t mut Trace<'a>,
    resolver: Option<Resolver>,
    https: Option<Https>,
}

/// `?` for stage results: a failure ends the sign-in with `Ok(Err(failure))`.
macro_rules! stage {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(failure) => return Ok(Err(failure)),
        }
    };
}

impl Run<'_, '_> {
    fn step(&mut self, stage: Stage, text: impl AsRef<str>) {
        self.trace.line(format!("[{stage}] {}", text.as_ref()));
    }

    fn fail(&mut self, failure: SignInFailure) -> SignInFailure {
        self.trace.line(format!(
            "[{}] FAILED ({}): {}",
            failure.stage,
            failure.kind.id(),
            failure.reason
        ));
        failure
    }

    async fn resolve(&mut self, stage: Stage, host: &str) -> Result<Target, SignInFailure> {
        let port = self.profile.machine().network.https_port;
        let resolver = self
            .resolver
            .as_mut()
            .ok_or_else(|| SignInFailure::new(stage, FailureKind::Unreachable, "no resolver"))?;
        match resolver.resolve_a(host).await {
            Ok((ip, source)) => {
                self.step(
                    Stage::Resolve,
                    format!("{host} is {ip} ({})", source.describe()),
                );
                Ok(Target::new(host, ip, port))
            }
            Err(e) => {
                let kind = match e {
                    ResolveError::Server { .. }
                    | ResolveError::NoRecord(_)
                    | ResolveError::Loop(_) => FailureKind::Unreachable,
                };
                Err(self.fail(SignInFailure::new(Stage::Resolve, kind, e.to_string())))
            }
        }
    }

    async fn stages(&mut self, request: &SignInRequest) -> anyhow::Result<Outcome> {
        let profile = self.profile;
        let machine = profile.machine();
        let layout = profile.layout();
        let user = request.user.trim().trim_start_matches("sip:").to_owned();
        let Some((_, domain)) = user.split_once('@') else {
            anyhow::bail!("sign-in address {user:?} is not of the form name@domain");
        };
        let domain = domain.to_ascii_lowercase();
        let key = profile.master_key();
        let client = ClientInfo {
            product: machine.product,
            build: machine.build.clone(),
        };

        // Credentials: the typed password, else the one saved in Credential Manager.
        let password = match &request.password {
            Some(p) => p.clone(),
            None => match credman::read_lync_password(layout, &key, &user) {
                Ok(Some(p)) => {
                    self.step(
                        Stage::Credentials,
                        format!("using the saved credential {}", credman::lync_target(&user)),
                    );
                    p
                }
                Ok(None) => anyhow::bail!(
                    "no password: pass --password, or sign in once with --save-password"
                ),
                Err(reason) => {
                    return Ok(Err(self.fail(SignInFailure::new(
                        Stage::Credentials,
                        FailureKind::Unreadable,
                        reason,
                    ))));
                }
            },
        };

        let https = match Https::new(&machine.trusted_roots) {
            Ok(h) => h,
            Err(e) => anyhow::bail!("the machine's trusted roots are unusable: {e}"),
        };
        self.https = Some(https);
        self.resolver = Some(Resolver::new(
            layout,
            machine.network.dns_server,
            machine.now(),
        ));

        // Discover: the endpoint cache, else Autodiscover (2013) or the director via SRV (2010).
        let home_pool = match endpoint_cache::read(layout, &user) {
            Some(cache) => {
                self.step(
                    Stage::Discover,
                    format!("endpoint cache names home pool {}", cache.home_pool),
                );
                cache.home_pool
            }
            None => stage!(self.discover(&user, &domain).await),
        };

        // Token, on every sign-in, stamped with the machine's clock.
        let sts = stage!(
            self.resolve(Stage::Token, "login.microsoftonline.com")
                .await
        );
        let timestamp_ms = machine.now_ms();
        let token_request = TokenRequest {
            user: user.clone(),
            password: password.clone(),
            timestamp_ms,
            client: client.clone(),
            sign_in_assistant: machine.sign_in_assistant.clone(),
        };
        let via = if machine.product.uses_sign_in_assistant() {
            format!(
                " through the Sign-In Assistant {}",
                machine
                    .sign_in_assistant
                    .as_ref()
                    .map(|b| b.to_string())
                    .unwrap_or_default()
            )
        } else {
            String::new()
        };
        self.step(
            Stage::Token,
            format!(
                "requesting a token{via}, timestamp {}",
                rfc3339(timestamp_ms.div_euclid(1000))
            ),
        );
        let token: TokenResponse = stage!(
            self.call(
                Stage::Token,
                "STS",
                &sts,
                Call::post(paths::TOKEN, &token_request)
            )
            .await
        );
        self.step(
            Stage::Token,
            format!("token received, expires {}", rfc3339(token.expires)),
        );

        // Certificate: the stored one unless expired, else a new one.
        let pool = stage!(self.resolve(Stage::Certificate, &home_pool).await);
        // The stored certificate is only usable with its private key: a locked container fails
        // the sign-in, a missing one means the certificate is useless and a new one is needed.
        let stored = match stage!(self.stored_certificate(&user)) {
            Some(der) => match keycontainer::open(layout, &key, &user, &machine.machine_guid) {
                Ok(Some(k)) => Some((der, k)),
                Ok(None) => {
                    self.step(
                        Stage::Certificate,
                        "the stored certificate has no private key (its RSA key container is gone): requesting a new one",
                    );
                    None
                }
                Err(reason) => {
                    return Ok(Err(self.fail(SignInFailure::new(
                        Stage::Certificate,
                        FailureKind::Unreadable,
                        reason,
                    ))));
                }
            },
            None => None,
        };
        let (cert_der, container_key, new_certificate) = match stored {
            Some((der, k)) => (der, k, false),
            None => {
                let (der, k) = stage!(self.provision(&user, &pool, &token.token, &key).await);
                (der, k, true)
            }
        };
        let thumbprint = lyncsim_pki::thumbprint(&cert_der);

        // Register over mutual TLS.
        let auth = ClientAuth {
            cert_der,
            key_pkcs8: container_key.pkcs8_der(),
        };
        let register = RegisterRequest {
            user: user.clone(),
            client,
        };
        self.step(
            Stage::Register,
            format!("REGISTER sip:{user} at {home_pool} with certificate {thumbprint}"),
        );
        let registered: Registered = stage!(
            self.call(
                Stage::Register,
                "registrar",
                &pool,
                Call::post(paths::REGISTER, &register).with_certificate(&auth)
            )
            .await
        );

        endpoint_cache::write(
            layout,
            &EndpointCache {
                user: user.clone(),
                home_pool: home_pool.clone(),
                written: rfc3339(machine.now()),
            },
        )?;
        if request.save_password {
            credman::save_lync_password(layout, &key, &user, &password, rfc3339(machine.now()))?;
            self.step(
                Stage::Credentials,
                format!("saved the password as {}", credman::lync_target(&user)),
            );
        }
        Ok(Ok(SignedIn {
            user: registered.user,
            pool: registered.pool,
            certificate: thumbprint,
            new_certificate,
        }))
    }

    async fn call<B: Serialize, T: serde::de::DeserializeOwned>(
        &mut self,
        stage: Stage,
        what: &str,
        target: &Target,
        call: Call<'_, B>,
    ) -> Result<T, SignInFailure> {
        let Some(https) = &self.https else {
            return Err(SignInFailure::new(
                stage,
                FailureKind::Unreachable,
                "no HTTPS client",
            ));
        };
        match https.request(target, call).await {
            Ok(v) => Ok(v),
            Err(e) => Err(self.fail(SignInFailure::http(stage, what, e))),
        }
    }

    async fn discover(&mut self, user: &str, domain: &str) -> Result<String, SignInFailure> {
        let machine = self.profile.machine();
        let query = format!("?sipuri=sip:{user}");
        let (target, path, what) = match machine.product {
            lyncsim_domain::Product::Lync2013 => {
                let host = format!("lyncdiscover.{domain}");
                (
                    self.resolve(Stage::Discover, &host).await?,
                    format!("{}{query}", paths::AUTODISCOVER),
                    "Autodiscover",
                )
            }
            lyncsim_domain::Product::Lync2010 => {
                let srv = format!("_sip._tls.{domain}");
                let resolver = self.resolver.as_mut().ok_or_else(|| {
                    SignInFailure::new(Stage::Resolve, FailureKind::Unreachable, "no resolver")
                })?;
                let (host, _port, source) = match resolver.resolve_srv(&srv).await {
                    Ok(found) => found,
                    Err(e) => {
                        return Err(self.fail(SignInFailure::new(
                            Stage::Resolve,
                            FailureKind::Unreachable,
                            e.to_string(),
                        )));
                    }
                };
                self.step(
                    Stage::Resolve,
                    format!("SRV {srv} names {host} ({})", source.describe()),
                );
                (
                    self.resolve(Stage::Discover, &host).await?,
                    format!("{}{query}", paths::DIRECTOR),
                    "director",
                )
            }
        };
        let found: HomePool = self
            .call(Stage::Discover, what, &target, Call::get(&path))
            .await?;
        self.step(
            Stage::Discover,
            format!("{what} says the home pool is {}", found.pool),
        );
        Ok(found.pool)
    }

    /// The newest stored Lync certificate of `user` that has not expired by the machine's clock.
    fn stored_certificate(&mut self, user: &str) -> Result<Option<Vec<u8>>, SignInFailure> {
        let machine = self.profile.machine();
        let entries = certstore::list(self.profile.layout()).map_err(|e| {
            self.fail(SignInFailure::new(
                Stage::Certificate,
                FailureKind::Unreadable,
                format!("the personal store cannot be read: {e}"),
            ))
        })?;
        let (now, tolerance) = (machine.now(), lyncsim_domain::DEFAULT_TOLERANCE_SECS);
        let mut best: Option<(i64, Vec<u8>, String)> = None;
        for entry in entries {
            match entry.is_lync_cert_of(user) {
                None => {
                    let reason = format!(
                        "personal certificate {} cannot be read: {}",
                        entry.thumbprint,
                        entry.info.as_ref().err().cloned().unwrap_or_default()
                    );
                    return Err(self.fail(SignInFailure::new(
                        Stage::Certificate,
                        FailureKind::Unreadable,
                        reason,
                    )));
                }
                Some(false) => continue,
                Some(true) => {}
            }
            let Ok(info) = &entry.info else { continue };
            if let Err(e) = info.validity.check(now, tolerance) {
                self.step(
                    Stage::Certificate,
                    format!("stored certificate {} is not usable: {e}", entry.thumbprint),
                );
                continue;
            }
            if best
                .as_ref()
                .is_none_or(|(nb, _, _)| info.validity.not_before > *nb)
            {
                best = Some((info.validity.not_before, entry.der, entry.thumbprint));
            }
        }
        Ok(best.map(|(_, der, thumb)| {
            self.step(
                Stage::Certificate,
                format!("using stored certificate {thumb}"),
            );
            der
        }))
    }

    async fn provision(
        &mut self,
        user: &str,
        pool: &Target,
        token: &str,
        master_key: &crate::dpapi::MasterKey,
    ) -> Result<(Vec<u8>, lyncsim_pki::PersonalKey), SignInFailure> {
        let profile = self.profile;
        let machine = profile.machine();
        let layout = profile.layout();
        let key = keycontainer::open_or_create(layout, master_key, user, &machine.machine_guid)
            .map_err(|reason| {
                self.fail(SignInFailure::new(
                    Stage::Certificate,
                    FailureKind::Unreadable,
                    reason,
                ))
            })?;
        let csr = lyncsim_pki::make_csr(&key, user).map_err(|e| {
            self.fail(SignInFailure::new(
                Stage::Certificate,
                FailureKind::Unreadable,
                e.to_string(),
            ))
        })?;
        self.step(
            Stage::Certificate,
            format!(
                "GetAndPublishCert at {} with a CSR for CN=sip:{user}",
                pool.host
            ),
        );
        let request = CertRequest {
            csr_pem: Some(lyncsim_pki::pem_encode("CERTIFICATE REQUEST", &csr)),
            csr_der_base64: None,
        };
        let response: CertResponse = self
            .call(
                Stage::Certificate,
                "GetAndPublishCert",
                pool,
                Call::post(paths::GET_AND_PUBLISH_CERT, &request).with_bearer(token),
            )
            .await?;
        let der =
            lyncsim_pki::pem_decode("CERTIFICATE", &response.certificate_pem).map_err(|e| {
                self.fail(SignInFailure::new(
                    Stage::Certificate,
                    FailureKind::BadResponse,
                    format!("GetAndPublishCert: {e}"),
                ))
            })?;
        let info = lyncsim_pki::inspect(&der).map_err(|e| {
            self.fail(SignInFailure::new(
                Stage::Certificate,
                FailureKind::BadResponse,
                format!("GetAndPublishCert returned {e}"),
            ))
        })?;
        if !info.subject_cn.eq_ignore_ascii_case(&format!("sip:{user}")) {
            return Err(self.fail(SignInFailure::new(
                Stage::Certificate,
                FailureKind::BadResponse,
                format!(
                    "GetAndPublishCert returned a certificate for {}, not sip:{user}",
                    info.subject_cn
                ),
            )));
        }
        if let Err(e) = info
            .validity
            .check(machine.now(), lyncsim_domain::DEFAULT_TOLERANCE_SECS)
        {
            return Err(self.fail(SignInFailure::new(
                Stage::Certificate,
                FailureKind::Rejected,
                format!(
                    "the new certificate is not valid by the machine's clock: {e} (skew {})",
                    Skew(machine.now() - info.validity.not_before)
                ),
            )));
        }
        let thumbprint = certstore::add(layout, &der).map_err(|e| {
            self.fail(SignInFailure::new(
                Stage::Certificate,
                FailureKind::Unreadable,
                format!("cannot store the certificate: {e}"),
            ))
        })?;
        self.step(
            Stage::Certificate,
            format!(
                "stored new certificate {thumbprint}, issued by {}",
                info.issuer_cn
            ),
        );
        Ok((der, key))
    }
}

/// Lync 2010's defect after an outage: when the connection is lost in the middle of a sign-in,
/// it rewrites its cached certificate and saved credential in place, and the interrupted
/// writes leave them truncated. Lync 2013 writes them atomically and has no such step.
fn lync2010_connection_lost(profile: &Profile, user: &str) -> std::io::Result<usize> {
    let user = user.trim().trim_start_matches("sip:");
    let mut files = Vec::new();
    let cred = credman::file_for(profile.layout(), &credman::lync_target(user));
    if cred.is_file() {
        files.push(cred);
    }
    for cert in certstore::list(profile.layout())? {
        if cert.is_lync_cert_of(user) == Some(true) {
            files.push(cert.path);
        }
    }
    for path in &files {
        let bytes = std::fs::read(path)?;
        // In place, not through a temporary file: the truncation is the defect.
        std::fs::write(path, &bytes[..bytes.len() / 2])?;
    }
    Ok(files.len())
}
