//! One sign-in, stage by stage, in the order the real client speaks.
//!
//! credentials → (Lync 2010: the STS, through the Sign-In Assistant, at every sign-in) →
//! Lync 2013: Autodiscover at every sign-in (`lyncdiscover.<domain>` over HTTPS, else plain
//! HTTP, to webdir; the User resource's 401 asks for a web ticket, so the STS's token comes
//! here: the realm, then RST2.srf with a UsernameToken and a timestamp from the machine's
//! clock) → the registrar: the pool the endpoint cache names, else Autodiscover's (Lync 2013)
//! or the director that SRV names (Lync 2010, and Lync 2013 when Autodiscover cannot be
//! reached) → REGISTER, whose 401 challenges for TLS-DSK and
//! names certificate provisioning (`sts-uri`) → the personal certificate: the stored one
//! unless it expired by the machine's clock, else key container → CSR → provisioning's
//! metadata → a web ticket for the STS's token → GetAndPublishCert signed with the ticket's
//! proof key → TLS-DSK with it → 200 (or the director's 301 to the home pool, and REGISTER
//! there) → endpoint cache. Neither product replaces an unexpired stored certificate by
//! itself, even one the registrar rejects.
//!
//! Every message is the real one, written and read through `lyncsim_wire`; the trace names
//! each (never a password).

use hyper::header;
use lyncsim_domain::{ErrorId, FailureKind, Skew, Stage};
use lyncsim_wire::agent::UserAgent;
use lyncsim_wire::autodiscover;
use lyncsim_wire::paths;
use lyncsim_wire::pool::{
    CertErrorInfo, CertProvMex, CertRequest, CertResponse, WebTicket, WebTicketMex,
    WebTicketRequest, WebTicketResponse,
};
use lyncsim_wire::sts::{self, RealmInfo, StsFault, TokenRequest, TokenResponse, idcrl};
use lyncsim_wire::wsse::{Lifetime, format_time, p_sha1};
use lyncsim_wire::{FromXml, ToXml};
use serde::Serialize;

use crate::certstore;
use crate::credman;
use crate::endpoint_cache::{self, EndpointCache};
use crate::https::{Call, HttpFailure, Https, Target};
use crate::keycontainer;
use crate::profile::Profile;
use crate::resolver::Resolver;
use crate::sip::Registration;
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
    /// The public-key operations of the sign-in, both sides together.
    #[serde(skip)]
    pub cost: crate::PublicKeyCost,
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
    /// The real reason, as the client could log it: the server's answer (a fault, its code,
    /// a SIP status and its diagnostics) or Windows' error for what failed on the machine.
    pub reason: String,
    /// What lyncsim worked out beyond what the client logged (how far the clock was off,
    /// which client was refused, the detail behind a Windows error), for QA. The trace log
    /// writes it on a line of its own marked `lyncsim:`, which the training console does not
    /// show (see [`crate::views::lync_trace`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl SignInFailure {
    fn new(stage: Stage, kind: FailureKind, reason: impl Into<String>) -> Self {
        SignInFailure {
            error: ErrorId::shown_for(stage, kind),
            stage,
            kind,
            reason: reason.into(),
            note: None,
        }
    }

    fn noted(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// The reason, and lyncsim's note after it when there is one.
    pub fn explained(&self) -> String {
        match &self.note {
            Some(note) => format!("{}; {note}", self.reason),
            None => self.reason.clone(),
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

/// Where a REGISTER succeeded.
struct Registered {
    user: String,
    pool: String,
}

/// The outcome of one sign-in.
pub type SignInOutcome = Result<SignedIn, SignInFailure>;

/// Signs in on `profile`. `Err` of the outer result is a usage problem (no password given
/// or saved, a profile that cannot be read); a sign-in failure is `Ok(Err(..))`.
pub async fn sign_in(profile: &Profile, request: &SignInRequest) -> anyhow::Result<SignInOutcome> {
    // What a script or a person changed in machine.toml since it was read takes effect now.
    profile.reload()?;
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
        cached_pool: None,
        token: None,
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
            trace.note(format!(
                "connection lost: Lync 2010 rewrote its cached certificate and credential in place and the writes did not complete ({damaged} files left truncated)"
            ));
        }
    }
    match &outcome {
        Ok(Ok(done)) => trace.line(format!("signed in as {} at {}", done.user, done.pool)),
        Ok(Err(f)) => trace.note(format!(
            "sign-in failed at {}: {} ({})",
            f.stage,
            f.explained(),
            f.error
        )),
        Err(e) => trace.note(format!("sign-in not attempted: {e:#}")),
    }
    trace.flush()?;
    outcome
}

struct Run<'a, 't> {
    profile: &'a Profile,
    trace: &'t mut Trace<'a>,
    resolver: Option<Resolver>,
    https: Option<Https>,
    /// The home pool the endpoint cache named, if it named one.
    cached_pool: Option<String>,
    /// The STS's token, once this sign-in has one (Lync 2013 gets it during Autodiscover).
    token: Option<TokenResponse>,
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

/// The web ticket service's `AppliesTo` for the STS: Lync's web authentication component.
/// The stage provisioning runs in.
const CERT: Stage = Stage::Certificate;

const LYNC_WEB_AUTH: &str = "urn:component:Microsoft.Rtc.WebAuthentication.2010";
/// How long the client says its STS request is good for.
const REQUEST_LIFETIME_MS: i64 = 5 * 60 * 1000;

/// Who is signing in, once the address and password are known.
struct Who {
    user: String,
    domain: String,
    password: String,
    /// Whether the user typed the password at this sign-in (else it came from Credential
    /// Manager).
    typed: bool,
}

/// An absolute URL a document gave: its host, port (when written) and path with query.
struct Url {
    host: String,
    port: Option<u16>,
    path: String,
}

impl Url {
    fn parse(url: &str) -> Option<Url> {
        let uri: hyper::Uri = url.parse().ok()?;
        if uri.scheme_str() != Some("https") {
            return None;
        }
        Some(Url {
            host: uri.host()?.to_owned(),
            port: uri.port_u16(),
            path: uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
                .to_owned(),
        })
    }
}

impl Run<'_, '_> {
    fn step(&mut self, stage: Stage, text: impl AsRef<str>) {
        self.trace.line(format!("[{stage}] {}", text.as_ref()));
    }

    /// A line of lyncsim's own about `stage` (see [`Trace::note`]).
    fn note(&mut self, stage: Stage, text: impl AsRef<str>) {
        self.trace.note(format!("[{stage}] {}", text.as_ref()));
    }

    /// Logs the failure as the client would (the stage and the reason), then lyncsim's
    /// reading of it: the kind, and the note if there is one.
    fn fail(&mut self, failure: SignInFailure) -> SignInFailure {
        self.trace
            .line(format!("[{}] FAILED: {}", failure.stage, failure.reason));
        let kind = failure.kind.id();
        match &failure.note {
            Some(note) => self.note(failure.stage, format!("{kind}: {note}")),
            None => self.note(failure.stage, kind),
        }
        failure
    }

    async fn resolve(&mut self, stage: Stage, host: &str) -> Result<Target, SignInFailure> {
        let port = self.profile.machine().network.https_port;
        self.resolve_port(stage, host, port).await
    }

    async fn resolve_port(
        &mut self,
        stage: Stage,
        host: &str,
        port: u16,
    ) -> Result<Target, SignInFailure> {
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
            // As WinHTTP names a name it could not resolve (winhttp.h); what the resolver
            // met (a DNS server's error, in its library's words) is lyncsim's note.
            Err(e) => {
                let failure = SignInFailure::new(
                    Stage::Resolve,
                    FailureKind::Unreachable,
                    format!("ERROR_WINHTTP_NAME_NOT_RESOLVED (12007): {host}"),
                );
                Err(self.fail(failure.noted(e.to_string())))
            }
        }
    }

    /// The target of a URL a service document gave: `near` when it names the same host.
    async fn follow(
        &mut self,
        stage: Stage,
        what: &str,
        url: &str,
        near: &Target,
    ) -> Result<(Target, String), SignInFailure> {
        let Some(parsed) = Url::parse(url) else {
            return Err(self.fail(SignInFailure::new(
                stage,
                FailureKind::BadResponse,
                format!("{what} gave {url:?}, which is not an https URL"),
            )));
        };
        let target = if near.tls && parsed.host.eq_ignore_ascii_case(&near.host) {
            near.clone()
        } else {
            let port = parsed
                .port
                .unwrap_or(self.profile.machine().network.https_port);
            self.resolve_port(stage, &parsed.host, port).await?
        };
        Ok((target, parsed.path))
    }

    /// One request; its failure is this stage's, traced.
    async fn call(
        &mut self,
        stage: Stage,
        what: &str,
        target: &Target,
        call: Call<'_>,
    ) -> Result<crate::https::Reply, SignInFailure> {
        match self.request(target, call).await {
            Ok(v) => Ok(v),
            Err(e) => Err(self.fail(SignInFailure::http(stage, what, e))),
        }
    }

    /// One request, not traced: the caller says what its failure means.
    async fn request(
        &self,
        target: &Target,
        call: Call<'_>,
    ) -> Result<crate::https::Reply, HttpFailure> {
        match &self.https {
            Some(https) => https.request(target, call).await,
            None => Err(HttpFailure::Refused("no HTTPS client".into())),
        }
    }

    /// A request whose answer is one of the protocol's XML documents, read by `read`.
    async fn exchange<T>(
        &mut self,
        stage: Stage,
        what: &str,
        target: &Target,
        call: Call<'_>,
        read: impl FnOnce(&str) -> Result<T, lyncsim_wire::WireError>,
    ) -> Result<T, SignInFailure> {
        let reply = self.call(stage, what, target, call).await?;
        let parsed = reply.text(target).and_then(|text| {
            read(&text).map_err(|e| HttpFailure::BadResponse(format!("{}: {e}", target.host)))
        });
        parsed.map_err(|e| self.fail(SignInFailure::http(stage, what, e)))
    }

    async fn stages(&mut self, request: &SignInRequest) -> anyhow::Result<SignInOutcome> {
        let profile = self.profile;
        let machine = profile.machine();
        let who = match self.credentials(request)? {
            Ok(who) => who,
            Err(failure) => return Ok(Err(failure)),
        };
        let user = who.user.as_str();
        let https = match Https::new(&machine.trusted_roots, user_agent(&machine, false)) {
            Ok(h) => h,
            Err(e) => anyhow::bail!("the machine's trusted roots are unusable: {e}"),
        };
        self.https = Some(https);
        self.resolver = Some(Resolver::new(
            profile.layout(),
            machine.network.dns_server,
            machine.now(),
        ));

        // Lync 2010: the Sign-In Assistant signs the user in to Microsoft Online Services
        // before Lync signs in, at every sign-in (KB 2604176 names it among the causes: it
        // authenticates the user). Lync 2013 meets the STS in Autodiscover (below).
        if machine.product.uses_sign_in_assistant() {
            stage!(self.token(&who).await);
        }
        let (registrar, port) = stage!(self.registrar(&who).await);
        let (registered, cert_der, new_certificate) =
            stage!(self.register(&who, &registrar, port).await);

        let layout = profile.layout();
        // The pool that registered the user: where the next sign-in goes first. Written when
        // it is not the one the cache named already.
        if self.cached_pool.as_deref() != Some(registered.pool.as_str()) {
            endpoint_cache::write(
                layout,
                &EndpointCache {
                    user: user.to_owned(),
                    home_pool: registered.pool.clone(),
                    written: rfc3339(machine.now()),
                },
            )?;
        }
        if request.save_password {
            let master = profile.master_key();
            credman::save_lync_password(
                layout,
                &master,
                user,
                &who.password,
                rfc3339(machine.now()),
            )?;
            self.step(
                Stage::Credentials,
                format!("saved the password as {}", credman::lync_target(user)),
            );
        }
        Ok(Ok(SignedIn {
            user: registered.user,
            pool: registered.pool,
            certificate: lyncsim_pki::thumbprint(&cert_der),
            new_certificate,
            cost: self.https.as_ref().map(Https::cost).unwrap_or_default(),
        }))
    }

    /// Credentials: the typed password, else the one saved in Credential Manager.
    fn credentials(
        &mut self,
        request: &SignInRequest,
    ) -> anyhow::Result<Result<Who, SignInFailure>> {
        let profile = self.profile;
        let user = request.user.trim().trim_start_matches("sip:").to_owned();
        let Some((_, domain)) = user.split_once('@') else {
            anyhow::bail!("sign-in address {user:?} is not of the form name@domain");
        };
        let domain = domain.to_ascii_lowercase();
        let password = match &request.password {
            Some(p) => p.clone(),
            None => {
                match credman::read_lync_password(profile.layout(), &profile.master_key(), &user) {
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
                }
            }
        };
        Ok(Ok(Who {
            user,
            domain,
            password,
            typed: request.password.is_some(),
        }))
    }

    /// Where the first REGISTER goes. Lync 2013 asks Autodiscover at every sign-in, so that
    /// it holds a web ticket for the User resource (which needs the STS's token: how a skewed
    /// clock fails a machine that already holds a certificate); that it asks even when its
    /// endpoint cache names a pool is lyncsim's own reading of the KB, which has a stale cache
    /// fail the sign-in until it is deleted. Then the pool the endpoint cache names, else
    /// Autodiscover's (Lync 2013) or the director that SRV `_sip._tls.<domain>` names (Lync
    /// 2010, which reaches the home pool by the director's 301, as pidgin-sipe does).
    ///
    /// Lync 2013 falls back to DNS SRV, as Lync 2010 finds its registrar, when Autodiscover
    /// cannot be reached (`lyncdiscover.<domain>` does not resolve, or its host does not
    /// answer): the client's lookup order goes from the Autodiscover names on to the SRV
    /// records (Lync Server 2013, "DNS summary - Autodiscover"; "Client DNS Queries
    /// Drilldown" for the SRV records a client outside the network asks, `_sip._tls`). An
    /// Autodiscover that answered and refused is not fallen back from.
    async fn registrar(&mut self, who: &Who) -> Result<(String, u16), SignInFailure> {
        let https_port = self.profile.machine().network.https_port;
        let discovered = match self.profile.machine().product {
            lyncsim_domain::Product::Lync2013 => match self.autodiscover(who).await {
                Ok(found) => {
                    self.step(
                        Stage::Discover,
                        format!(
                            "Autodiscover: SipClientExternalAccess fqdn={} port={}: the home pool",
                            found.external.fqdn, found.external.port
                        ),
                    );
                    Some((found.external.fqdn, found.external.port))
                }
                Err(failure) if falls_back_to_srv(&failure) => {
                    self.step(
                        Stage::Discover,
                        "Autodiscover could not be reached: the registrar from DNS SRV",
                    );
                    None
                }
                Err(failure) => return Err(failure),
            },
            lyncsim_domain::Product::Lync2010 => None,
        };
        if let Some(cache) = endpoint_cache::read(self.profile.layout(), &who.user) {
            self.step(
                Stage::Discover,
                format!("endpoint cache names home pool {}", cache.home_pool),
            );
            self.cached_pool = Some(cache.home_pool.clone());
            return Ok((cache.home_pool, https_port));
        }
        match discovered {
            Some(found) => Ok(found),
            None => self.director(&who.domain).await,
        }
    }

    /// Autodiscover: its first document ([`Self::autodiscover_first`]), then its User link and
    /// every `Redirect` (of a root or of a User document) to the next hop, as [MS-OCDISCWS]
    /// 3.1.5.2 and 3.1.5.3 have it; a loop, or more than [`MAX_AUTODISCOVER_HOPS`] documents,
    /// is refused.
    async fn autodiscover(&mut self, who: &Who) -> Result<autodiscover::SipAccess, SignInFailure> {
        let (mut near, first, mut doc) = self.autodiscover_first(who).await?;
        let mut asked = std::collections::HashSet::from([first]);
        loop {
            let next = match doc {
                autodiscover::Answer::User(autodiscover::User {
                    access: Some(access),
                    ..
                }) => return Ok(access),
                autodiscover::Answer::User(autodiscover::User {
                    redirect: Some(to), ..
                })
                | autodiscover::Answer::Root(autodiscover::Root {
                    redirect: Some(to), ..
                }) => {
                    self.step(Stage::Discover, format!("Link token=Redirect: {to}"));
                    to
                }
                autodiscover::Answer::Root(autodiscover::Root { user: Some(to), .. }) => {
                    self.step(Stage::Discover, format!("Link token=User: {to}"));
                    to
                }
                autodiscover::Answer::Root(_) | autodiscover::Answer::User(_) => {
                    return Err(self.fail(SignInFailure::new(
                        Stage::Discover,
                        FailureKind::BadResponse,
                        "Autodiscover's answer has neither a User link, a Redirect nor the user's access",
                    )));
                }
            };
            let why = if !asked.insert(next.clone()) {
                format!("Autodiscover redirected in a loop: {next} again")
            } else if asked.len() > MAX_AUTODISCOVER_HOPS {
                format!(
                    "Autodiscover sent more than {MAX_AUTODISCOVER_HOPS} documents without the user's access"
                )
            } else {
                (near, doc) = self.autodiscover_get(who, &next, &near).await?;
                continue;
            };
            return Err(self.fail(SignInFailure::new(
                Stage::Discover,
                FailureKind::BadResponse,
                why,
            )));
        }
    }

    /// Autodiscover's first document, at `lyncdiscover.<domain>`: the root over HTTPS, and
    /// when that fails before any answer (a certificate that does not name the host, as
    /// webdir's did not name `lyncdiscover.<tenant>`, or no connection) the root over plain
    /// HTTP, whose `Redirect` leads to HTTPS (Lync Server 2013, "Certificate summary -
    /// Autodiscover": a first request over port 80 needs no certificate for the tenant's
    /// name). pidgin-sipe's `sipe_lync_autodiscover_request` sends both at once; HTTPS first,
    /// then HTTP, is lyncsim's own order. The emulated machine is outside the tenant's
    /// network: the real client's first question, `lyncdiscoverinternal.<domain>`, which does
    /// not exist for an Office 365 tenant, is not asked. The target that answered, the URL
    /// asked, and the document.
    async fn autodiscover_first(
        &mut self,
        who: &Who,
    ) -> Result<(Target, String, autodiscover::Answer), SignInFailure> {
        let host = format!("lyncdiscover.{}", who.domain);
        let tls = self.resolve(Stage::Discover, &host).await?;
        let network = &self.profile.machine().network;
        let (port, http_port) = (network.https_port, network.http_port);
        let path = format!("{}?sipuri=sip:{}", paths::AUTODISCOVER, who.user);
        let url = format!("https://{}:{port}{path}", tls.host);
        self.step(
            Stage::Discover,
            format!("GET {url} (Accept: {})", autodiscover::MEDIA_XML),
        );
        let (target, url, answer) = match self.request(&tls, discover_get(&path)).await {
            Err(e) if e.before_answer() && http_port != 0 => {
                let plain = Target::plain(&tls.host, tls.addr.ip(), http_port);
                let http_url = format!("http://{}:{http_port}{path}", tls.host);
                self.step(Stage::Discover, format!("{}; GET {http_url}", e.describe()));
                let answer = self.request(&plain, discover_get(&path)).await;
                (plain, http_url, answer)
            }
            answer => (tls, url, answer),
        };
        let doc = self.autodiscover_doc(&target, answer)?;
        Ok((target, url, doc))
    }

    /// One Autodiscover document at `url`. A 401 that names a web ticket service
    /// (`X-MS-WebTicketURL`, the User resource's, [MS-OCDISCWS] 3.1.5.3) is answered once: the
    /// STS's token, a web ticket from that service for this address, and the same GET with
    /// `X-MS-WebTicket`.
    async fn autodiscover_get(
        &mut self,
        who: &Who,
        url: &str,
        near: &Target,
    ) -> Result<(Target, autodiscover::Answer), SignInFailure> {
        let (target, path) = self
            .follow(Stage::Discover, "Autodiscover", url, near)
            .await?;
        self.step(
            Stage::Discover,
            format!("GET {url} (Accept: {})", autodiscover::MEDIA_XML),
        );
        let first = self.request(&target, discover_get(&path)).await;
        let service = match first {
            Err(HttpFailure::NeedsWebTicket(service)) => service,
            answer => {
                let doc = self.autodiscover_doc(&target, answer)?;
                return Ok((target, doc));
            }
        };
        self.step(
            Stage::Discover,
            format!("401: X-MS-WebTicketURL {service}: a web ticket is needed"),
        );
        let token = self.token(who).await?;
        let (ticket, _proof_key) = self
            .web_ticket(Stage::Discover, &who.user, &target, &token, (&service, url))
            .await?;
        self.step(
            Stage::Discover,
            format!(
                "GET {url} with X-MS-WebTicket (AssertionID {})",
                ticket.assertion_id
            ),
        );
        let call = discover_get(&path).header(
            header::HeaderName::from_static("x-ms-webticket"),
            WebTicket::header_value(&ticket.assertion_xml),
        );
        let again = self.request(&target, call).await;
        let doc = self.autodiscover_doc(&target, again)?;
        Ok((target, doc))
    }

    /// An Autodiscover answer read as a document, or the stage's failure.
    fn autodiscover_doc(
        &mut self,
        target: &Target,
        answer: Result<crate::https::Reply, HttpFailure>,
    ) -> Result<autodiscover::Answer, SignInFailure> {
        let read = answer.and_then(|reply| {
            let text = reply.text(target)?;
            autodiscover::Answer::from_xml(&text)
                .map_err(|e| HttpFailure::BadResponse(format!("{}: {e}", target.host)))
        });
        read.map_err(|e| self.fail(SignInFailure::http(Stage::Discover, "Autodiscover", e)))
    }

    /// The director that SRV `_sip._tls.<domain>` names, and its port.
    async fn director(&mut self, domain: &str) -> Result<(String, u16), SignInFailure> {
        let srv = format!("_sip._tls.{domain}");
        let resolver = self.resolver.as_mut().ok_or_else(|| {
            SignInFailure::new(Stage::Resolve, FailureKind::Unreachable, "no resolver")
        })?;
        match resolver.resolve_srv(&srv).await {
            Ok((host, port, source)) => {
                self.step(
                    Stage::Resolve,
                    format!("SRV {srv} names {host}:{port} ({})", source.describe()),
                );
                Ok((host, port))
            }
            Err(e) => Err(self.fail(SignInFailure::new(
                Stage::Resolve,
                FailureKind::Unreachable,
                e.to_string(),
            ))),
        }
    }

    /// The STS's token for this sign-in: the one it already has, or a new one.
    async fn token(&mut self, who: &Who) -> Result<TokenResponse, SignInFailure> {
        if let Some(token) = &self.token {
            return Ok(token.clone());
        }
        let token = self.fetch_token(who).await?;
        self.token = Some(token.clone());
        Ok(token)
    }

    /// Token: on every sign-in, the realm, then RST2.srf with the password and a timestamp from
    /// the machine's clock (through the Sign-In Assistant on Lync 2010).
    async fn fetch_token(&mut self, who: &Who) -> Result<TokenResponse, SignInFailure> {
        let machine = self.profile.machine();
        let sts = self
            .resolve(Stage::Token, "login.microsoftonline.com")
            .await?;
        let realm_path = format!("{}?login={}&xml=1", paths::REALM, who.user);
        self.step(
            Stage::Token,
            format!("GET https://{}{realm_path}", sts.host),
        );
        let realm = self
            .exchange(Stage::Token, "STS", &sts, Call::get(&realm_path), |t| {
                RealmInfo::from_xml(t)
            })
            .await?;
        self.step(
            Stage::Token,
            format!("RealmInfo: NameSpaceType {}", realm.namespace_type),
        );
        if realm.namespace_type != "Managed" {
            return Err(self.fail(SignInFailure::new(
                Stage::Token,
                FailureKind::Rejected,
                format!(
                    "the realm of {} is {}, not a managed Office 365 domain",
                    who.user, realm.namespace_type
                ),
            )));
        }
        let created = machine.now_ms();
        let request = TokenRequest {
            user: who.user.clone(),
            password: who.password.clone(),
            timestamp: Some(Lifetime {
                created_ms: created,
                expires_ms: created.saturating_add(REQUEST_LIFETIME_MS),
            }),
            applies_to: LYNC_WEB_AUTH.into(),
        };
        let via_sia = machine.product.uses_sign_in_assistant();
        let agent = user_agent(&machine, via_sia);
        self.step(
            Stage::Token,
            format!(
                "POST {}: wst:RequestSecurityToken (WS-Trust 2005/02) with wsse:UsernameToken {} and wsu:Timestamp Created {}; User-Agent: {agent}",
                sts::RST2_URL,
                who.user,
                format_time(created)
            ),
        );
        let call = Call::post(paths::TOKEN, sts::SOAP12_MEDIA, request.to_xml())
            .header(header::USER_AGENT, agent);
        let me = describe_client(&machine, via_sia);
        let token = self.sts_answer(&sts, call, (&me, who.typed)).await?;
        self.step(
            Stage::Token,
            format!(
                "wst:RequestSecurityTokenResponse: EncryptedData ({} bytes), Lifetime {} to {}; psf:serverInfo ServerTime {}",
                token.token.cipher.len(),
                format_time(token.lifetime.created_ms),
                format_time(token.lifetime.expires_ms),
                format_time(token.server_time_ms)
            ),
        );
        Ok(token)
    }

    /// RST2.srf's answer: the token, or Passport's refusal (a fault sent with HTTP 200).
    async fn sts_answer(
        &mut self,
        sts: &Target,
        call: Call<'_>,
        (me, typed): (&str, bool),
    ) -> Result<TokenResponse, SignInFailure> {
        let reply = self.call(Stage::Token, "STS", sts, call).await?;
        // This machine's clock when the answer came, to set against the STS's ServerTime.
        let received_ms = self.profile.machine().now_ms();
        let text = match reply.text(sts) {
            Ok(text) => text,
            Err(e) => return Err(self.fail(SignInFailure::http(Stage::Token, "STS", e))),
        };
        let not_token = match TokenResponse::from_xml(&text) {
            Ok(token) => return Ok(token),
            Err(e) => e,
        };
        let failure = match StsFault::from_xml(&text) {
            // IDCRL's invalid member name says the address itself is wrong, and a bad
            // password for one the user just typed says they typed it wrong: the text that
            // asks the user to check them. A saved password refused is the KB's cached
            // credentials out of date; any other refusal is the token's.
            Ok(refusal) => {
                let kind = match refusal.value() {
                    Some(idcrl::INVALID_MEMBER_NAME) => FailureKind::UnknownAddress,
                    Some(idcrl::BAD_MEMBER_NAME_OR_PASSWORD) if typed => FailureKind::WrongPassword,
                    _ => FailureKind::Rejected,
                };
                let (reason, note) = sts_refused(&refusal, received_ms, me);
                SignInFailure {
                    note,
                    ..SignInFailure::new(Stage::Token, kind, reason)
                }
            }
            Err(_) => SignInFailure::http(
                Stage::Token,
                "STS",
                HttpFailure::BadResponse(format!("{}: {not_token}", sts.host)),
            ),
        };
        Err(self.fail(failure))
    }

    /// Certificate: the stored one unless expired (and only with its private key), else a new
    /// one from the certificate provisioning service the registrar's challenge named
    /// (`sts-uri`), for the STS's token. The certificate, its key, and whether it is new.
    async fn certificate(
        &mut self,
        who: &Who,
        sts_uri: Option<&str>,
        near: &Target,
    ) -> Result<(Vec<u8>, Vec<u8>, bool), SignInFailure> {
        let profile = self.profile;
        let machine = profile.machine();
        let master = profile.master_key();
        let user = who.user.as_str();
        // A locked container fails the sign-in; a missing one makes the certificate useless.
        if let Some(der) = self.stored_certificate(user)? {
            match keycontainer::open_pkcs8(profile.layout(), &master, user, &machine.machine_guid)
            {
                Ok(Some(k)) => return Ok((der, k, false)),
                Ok(None) => self.step(
                    Stage::Certificate,
                    "the stored certificate has no private key (its RSA key container is gone): requesting a new one",
                ),
                Err(reason) => {
                    return Err(self.fail(SignInFailure::new(
                        Stage::Certificate,
                        FailureKind::Unreadable,
                        reason,
                    )));
                }
            }
        }
        let Some(sts_uri) = sts_uri else {
            return Err(self.fail(SignInFailure::new(
                Stage::Register,
                FailureKind::BadResponse,
                format!(
                    "{}'s challenge names no certificate provisioning service (sts-uri)",
                    near.host
                ),
            )));
        };
        let token = self.token(who).await?;
        let (der, key) = self
            .provision(user, (sts_uri, near), &token, &master)
            .await?;
        Ok((der, key.pkcs8_der(), true))
    }

    /// REGISTER first, as both products do: the registrar's 401 challenges for TLS-DSK and
    /// names the certificate provisioning service (`sts-uri`); the personal certificate
    /// (stored, else provisioned there: [`Self::certificate`]) then authenticates the
    /// dialog. A director's 301 sends the client to the home pool, where it registers again
    /// with the same certificate. Where it registered, the certificate, and whether it is new.
    async fn register(
        &mut self,
        who: &Who,
        registrar: &str,
        port: u16,
    ) -> Result<(Registered, Vec<u8>, bool), SignInFailure> {
        const MAX_REDIRECTS: usize = 3;
        let user = who.user.as_str();
        let mut target = self.resolve_port(Stage::Register, registrar, port).await?;
        let mut certificate: Option<(Vec<u8>, Vec<u8>, bool)> = None;
        for _ in 0..=MAX_REDIRECTS {
            self.step(
                Stage::Register,
                format!("REGISTER sip:{user} at {}", target.host),
            );
            let challenged = self.challenge(user, &target).await?;
            let (cert_der, key, new) = match certificate.take() {
                Some(known) => known,
                None => self.certificate(who, challenged.sts_uri(), &target).await?,
            };
            self.step(
                Stage::Register,
                format!(
                    "TLS-DSK with certificate {}",
                    lyncsim_pki::thumbprint(&cert_der)
                ),
            );
            let mut notes = Vec::new();
            let result = match &self.https {
                Some(https) => {
                    challenged
                        .authenticate(https, (&cert_der, &key), &mut notes)
                        .await
                }
                None => Err(HttpFailure::Refused("no HTTPS client".into())),
            };
            for note in notes {
                self.step(Stage::Register, note);
            }
            match result {
                Ok(Registration::Registered { expires }) => {
                    self.step(
                        Stage::Register,
                        format!("registered at {} for {expires}s", target.host),
                    );
                    let registered = Registered {
                        user: user.to_owned(),
                        pool: target.host,
                    };
                    return Ok((registered, cert_der, new));
                }
                Ok(Registration::Redirected { host, port }) => {
                    self.step(Stage::Register, format!("301: go to {host}:{port}"));
                    target = self.resolve_port(Stage::Register, &host, port).await?;
                    certificate = Some((cert_der, key, new));
                }
                Err(e) => {
                    return Err(self.fail(SignInFailure::http(Stage::Register, "registrar", e)));
                }
            }
        }
        Err(self.fail(SignInFailure::new(
            Stage::Register,
            FailureKind::BadResponse,
            format!("registrar: more than {MAX_REDIRECTS} redirects"),
        )))
    }

    /// The first REGISTER at `target`, without credentials: its TLS-DSK challenge.
    async fn challenge(
        &mut self,
        user: &str,
        target: &Target,
    ) -> Result<crate::sip::Challenged, SignInFailure> {
        let mut notes = Vec::new();
        let endpoint = crate::sip::Endpoint::of(user, &self.profile.machine().machine_guid);
        let result = match &self.https {
            Some(https) => crate::sip::challenge(https, target, (user, endpoint), &mut notes).await,
            None => Err(HttpFailure::Refused("no HTTPS client".into())),
        };
        for note in notes {
            self.step(Stage::Register, note);
        }
        result.map_err(|e| self.fail(SignInFailure::http(Stage::Register, "registrar", e)))
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
                    format!(
                        "stored certificate {} is not usable: {CERT_E_EXPIRED}",
                        entry.thumbprint
                    ),
                );
                self.note(Stage::Certificate, e.to_string());
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

    /// A new certificate: the key container and a CSR, then certificate provisioning's
    /// metadata, a web ticket for the STS's token, and GetAndPublishCert signed with the
    /// ticket's proof key.
    async fn provision(
        &mut self,
        user: &str,
        (sts_uri, near): (&str, &Target),
        token: &TokenResponse,
        master_key: &crate::dpapi::MasterKey,
    ) -> Result<(Vec<u8>, lyncsim_pki::PersonalKey), SignInFailure> {
        let machine = self.profile.machine();
        let unreadable = |reason: String| SignInFailure::new(CERT, FailureKind::Unreadable, reason);
        let (key, new_key) = keycontainer::open_or_create(
            self.profile.layout(),
            master_key,
            user,
            &machine.machine_guid,
        )
        .await
        .map_err(|reason| self.fail(unreadable(reason)))?;
        let csr =
            lyncsim_pki::make_csr(&key, user).map_err(|e| self.fail(unreadable(e.to_string())))?;
        let (pool, mex) = self.cert_prov_mex(sts_uri, near).await?;
        let (ticket, proof_key) = self
            .web_ticket(
                CERT,
                user,
                &pool,
                token,
                (&mex.web_ticket_service, &mex.address),
            )
            .await?;
        let request = CertRequest {
            to: &mex.address,
            ticket: &ticket,
            proof_key: &proof_key,
            device_id: &machine.machine_guid,
            entity: user,
            csr_der: &csr,
            request_id: &lyncsim_wire::random_guid(),
        };
        let der = self
            .get_and_publish_cert(user, &pool, &mex, request)
            .await?;
        let info = self.check_issued(user, &der)?;
        if let Some(https) = &self.https {
            https.count_provisioning(new_key.then_some(info.key), &der);
        }
        let thumbprint = certstore::add(self.profile.layout(), &der)
            .map_err(|e| self.fail(unreadable(format!("cannot store the certificate: {e}"))))?;
        self.step(
            CERT,
            format!(
                "stored new certificate {thumbprint}, issued by {}",
                info.issuer_cn
            ),
        );
        Ok((der, key))
    }

    /// Certificate provisioning's metadata, at the `sts-uri` the registrar named: its signed
    /// port and the web ticket service. The provisioning host, and the metadata.
    async fn cert_prov_mex(
        &mut self,
        sts_uri: &str,
        near: &Target,
    ) -> Result<(Target, CertProvMex), SignInFailure> {
        let mex_url = format!("{sts_uri}/mex");
        let (pool, mex_path) = self
            .follow(CERT, "certificate provisioning", &mex_url, near)
            .await?;
        self.step(CERT, format!("GET {mex_url}"));
        let mex = self
            .exchange(
                CERT,
                "certificate provisioning",
                &pool,
                Call::get(&mex_path),
                CertProvMex::from_xml,
            )
            .await?;
        self.step(
            CERT,
            format!(
                "port {}: {}; web tickets from {}",
                lyncsim_wire::pool::CERT_PROV_PORT,
                mex.address,
                mex.web_ticket_service
            ),
        );
        Ok((pool, mex))
    }

    /// A web ticket for the service at `applies_to`, from the web ticket service at
    /// `service`, for the STS's token: the web ticket service's `mex`, then its `WsFedBearer`
    /// port. The ticket, and its proof key. Its failures are `stage`'s.
    async fn web_ticket(
        &mut self,
        stage: Stage,
        user: &str,
        near: &Target,
        token: &TokenResponse,
        (service, applies_to): (&str, &str),
    ) -> Result<(WebTicketResponse, Vec<u8>), SignInFailure> {
        let wt_mex_url = format!("{service}/mex");
        let (wt_target, wt_mex_path) = self
            .follow(stage, "web ticket service", &wt_mex_url, near)
            .await?;
        let wt_mex = self
            .exchange(
                stage,
                "web ticket service",
                &wt_target,
                Call::get(&wt_mex_path),
                WebTicketMex::from_xml,
            )
            .await?;
        let (bearer_target, bearer_path) = self
            .follow(
                stage,
                "web ticket service",
                &wt_mex.ws_fed_bearer,
                &wt_target,
            )
            .await?;
        let entropy: [u8; 32] = rand::random();
        let request = WebTicketRequest {
            to: wt_mex.ws_fed_bearer.clone(),
            sts_lifetime: token.lifetime,
            sts_token: token.token.clone(),
            // The address of the port from the `mex`, as pidgin-sipe asks (`sipe_svc_webticket`
            // with `service_auth_uri`, sipe-webticket.c).
            applies_to: applies_to.to_owned(),
            claim: format!("sip:{user}"),
            entropy: entropy.to_vec(),
            context: lyncsim_wire::random_guid(),
        };
        self.step(
            stage,
            format!(
                "POST {}: wst:RequestSecurityToken (WS-Trust 1.3) Claims sip:{user}, 256-bit Entropy, KeyType SymmetricKey",
                wt_mex.ws_fed_bearer
            ),
        );
        let call = Call::post(&bearer_path, SOAP11_MEDIA, request.to_xml()).header(
            header::HeaderName::from_static("soapaction"),
            format!("\"{}\"", lyncsim_wire::pool::ACTION_WEB_TICKET),
        );
        let ticket = self
            .exchange(
                stage,
                "web ticket service",
                &bearer_target,
                call,
                WebTicketResponse::from_xml,
            )
            .await?;
        let proof_key = p_sha1(&entropy, &ticket.entropy, entropy.len());
        self.step(
            stage,
            format!(
                "web ticket saml:Assertion AssertionID={}, Lifetime to {}; proof key = P_SHA1(client entropy, server entropy)",
                ticket.assertion_id,
                format_time(ticket.lifetime.expires_ms)
            ),
        );
        Ok((ticket, proof_key))
    }

    /// GetAndPublishCert with the PKCS#10, signed with the web ticket's proof key: the DER
    /// certificate.
    async fn get_and_publish_cert(
        &mut self,
        user: &str,
        pool: &Target,
        mex: &CertProvMex,
        request: CertRequest<'_>,
    ) -> Result<Vec<u8>, SignInFailure> {
        let (cert_target, cert_path) = self
            .follow(CERT, "certificate provisioning", &mex.address, pool)
            .await?;
        self.step(
            CERT,
            format!(
                "POST {}: GetAndPublishCert with a PKCS#10 for CN=sip:{user}, signed (HMAC-SHA1 over SignedInfo) with the proof key",
                mex.address
            ),
        );
        let call = Call::post(&cert_path, SOAP11_MEDIA, request.to_xml()).header(
            header::HeaderName::from_static("soapaction"),
            format!("\"{}\"", lyncsim_wire::pool::ACTION_GET_AND_PUBLISH_CERT),
        );
        // The certificate, or the service's refusal of the request in ErrorInfo.
        let answer = self
            .exchange(CERT, "GetAndPublishCert", &cert_target, call, |text| {
                CertResponse::from_xml(text)
                    .map(Ok)
                    .or_else(|e| CertErrorInfo::from_xml(text).map(Err).map_err(|_| e))
            })
            .await?;
        match answer {
            Ok(response) => Ok(response.cert_der),
            Err(info) => Err(self.fail(SignInFailure::new(
                CERT,
                FailureKind::Rejected,
                format!(
                    "GetAndPublishCert: ErrorInfo {}: {}",
                    info.error_id, info.reason
                ),
            ))),
        }
    }

    /// What GetAndPublishCert returned: a certificate for `user`, valid by the machine's
    /// clock (the client checks it as Windows would).
    fn check_issued(
        &mut self,
        user: &str,
        der: &[u8],
    ) -> Result<lyncsim_pki::CertInfo, SignInFailure> {
        let info = lyncsim_pki::inspect(der).map_err(|e| {
            self.fail(SignInFailure::new(
                CERT,
                FailureKind::BadResponse,
                format!("GetAndPublishCert returned {e}"),
            ))
        })?;
        if !info.subject_cn.eq_ignore_ascii_case(&format!("sip:{user}")) {
            return Err(self.fail(SignInFailure::new(
                CERT,
                FailureKind::BadResponse,
                format!(
                    "GetAndPublishCert returned a certificate for {}, not sip:{user}",
                    info.subject_cn
                ),
            )));
        }
        let now = self.profile.machine().now();
        if let Err(e) = info
            .validity
            .check(now, lyncsim_domain::DEFAULT_TOLERANCE_SECS)
        {
            return Err(self.fail(
                SignInFailure::new(
                    CERT,
                    FailureKind::Rejected,
                    format!("the new certificate: {CERT_E_EXPIRED}"),
                )
                .noted(format!(
                    "by the machine's clock: {e} (skew {})",
                    Skew(now - info.validity.not_before)
                )),
            ));
        }
        Ok(info)
    }
}

/// What Windows says of a certificate outside its validity period by the system clock
/// (CertVerifyTimeValidity's failure): winerror.h's text for `CERT_E_EXPIRED`.
const CERT_E_EXPIRED: &str = "CERT_E_EXPIRED (0x800B0101): A required certificate is not within its validity period when verifying against the current system clock or the timestamp in the signed file.";

const SOAP11_MEDIA: &str = "text/xml; charset=utf-8";

/// Whether Lync 2013 looks for its registrar in DNS SRV after Autodiscover failed so: its
/// name or its host could not be reached (not a refusal, and not the STS, which the
/// registrar's provisioning needs as much).
fn falls_back_to_srv(failure: &SignInFailure) -> bool {
    failure.kind == FailureKind::Unreachable
        && matches!(failure.stage, Stage::Resolve | Stage::Discover)
}

/// A GET of an Autodiscover resource, asking for its XML form.
/// What the client makes of Passport's refusal: the fault, IDCRL's name for its code and the
/// STS's ServerTime (what the answer says); and lyncsim's note: when the STS refused the
/// request's timestamp, how far this machine's clock (when the answer came: `received_ms`) was
/// from the STS's; when it refused the client, which client this is (`me`). The server says
/// which check failed; the note works out the rest from what the client knows of itself.
fn sts_refused(refusal: &StsFault, received_ms: i64, me: &str) -> (String, Option<String>) {
    let mut reason = format!("STS: {}", refusal.fault.describe());
    if let Some(name) = refusal.value().and_then(idcrl::name) {
        reason.push_str(&format!(" [{name}]"));
    }
    reason.push_str(&format!(
        "; psf:serverInfo ServerTime {}",
        format_time(refusal.server_time_ms)
    ));
    let note = match refusal.value() {
        Some(idcrl::INVALID_SERVICE_TIMESTAMP) => {
            let skew = Skew::from_millis(Skew::millis_between(received_ms, refusal.server_time_ms));
            Some(format!(
                "the STS rejected the request timestamp: skew {skew} (this machine's clock read {} when the STS's answer came, the STS's ServerTime {})",
                format_time(received_ms),
                format_time(refusal.server_time_ms)
            ))
        }
        Some(idcrl::CLIENT_DEPRECATED) => Some(format!("this client is {me}")),
        _ => None,
    };
    (reason, note)
}

/// The client as it names itself in a trace: the product and build, and the Sign-In
/// Assistant it went through.
fn describe_client(machine: &crate::machine::MachineSettings, via_sia: bool) -> String {
    let mut me = format!("{} {}", machine.product.display_name(), machine.build);
    match (&machine.sign_in_assistant, via_sia) {
        (Some(sia), true) => me.push_str(&format!(
            " through the Microsoft Online Services Sign-In Assistant {sia}"
        )),
        (None, true) => me.push_str(" without the Microsoft Online Services Sign-In Assistant"),
        _ => {}
    }
    me
}

/// The most Autodiscover documents one discovery reads ([MS-OCDISCWS] sets no number; this
/// one is lyncsim's own).
const MAX_AUTODISCOVER_HOPS: usize = 8;

fn discover_get(path: &str) -> Call<'_> {
    Call::get(path).header(header::ACCEPT, autodiscover::MEDIA_XML)
}

/// The `User-Agent` of this machine's Lync; with the Sign-In Assistant's token on requests that
/// go through it.
fn user_agent(machine: &crate::machine::MachineSettings, via_sia: bool) -> String {
    UserAgent {
        client: Some((machine.product, machine.build.clone())),
        sign_in_assistant: if via_sia {
            machine.sign_in_assistant.clone()
        } else {
            None
        },
    }
    .header()
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
