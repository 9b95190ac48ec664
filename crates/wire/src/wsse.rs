//! WS-Security pieces shared by the messages: times, the `Lifetime`/`Timestamp` pair, the
//! WS-Trust computed key (P_SHA1) and the HMAC-SHA1 signature over `SignedInfo` that proves
//! possession of it.

use aws_lc_rs::{digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, SecondsFormat, Utc};
use roxmltree::Node;

use crate::WireError;
use crate::xml::{self, esc, ns};

/// Unix milliseconds as WS-Security writes times: `2026-11-27T17:40:00.000Z`.
pub fn format_time(unix_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(unix_ms)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A WS-Security time back to Unix milliseconds.
pub fn parse_time(text: &str) -> Result<i64, WireError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| WireError::Malformed(format!("{text:?} is not an xs:dateTime: {e}")))
}

/// A validity window: WS-Trust's `Lifetime`, WS-Security's `Timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// `wsu:Created`, Unix milliseconds.
    pub created_ms: i64,
    /// `wsu:Expires`, Unix milliseconds.
    pub expires_ms: i64,
}

impl Lifetime {
    /// `<wsu:Created>…</wsu:Created><wsu:Expires>…</wsu:Expires>`, with the `wsu` prefix bound
    /// by an ancestor.
    pub(crate) fn children_xml(&self) -> String {
        format!(
            "<wsu:Created>{}</wsu:Created><wsu:Expires>{}</wsu:Expires>",
            format_time(self.created_ms),
            format_time(self.expires_ms)
        )
    }

    /// A window whose end is after its start; one that ends before (or as) it begins is
    /// malformed, whatever the clock says.
    fn checked(created_ms: i64, expires_ms: i64, what: &str) -> Result<Lifetime, WireError> {
        if expires_ms <= created_ms {
            return Err(WireError::Window(format!(
                "the {what} ends at {} before it begins at {}",
                format_time(expires_ms),
                format_time(created_ms)
            )));
        }
        Ok(Lifetime {
            created_ms,
            expires_ms,
        })
    }

    /// Reads the one `wsu:Created` and the one `wsu:Expires` under `node`.
    pub(crate) fn read(node: Node<'_, '_>) -> Result<Lifetime, WireError> {
        let created = parse_time(&xml::text(xml::need(node, ns::WSU, "Created")?))?;
        let expires = parse_time(&xml::text(xml::need(node, ns::WSU, "Expires")?))?;
        Lifetime::checked(created, expires, node.tag_name().name())
    }

    /// Reads a SAML `Conditions` element's `NotBefore` and `NotOnOrAfter`.
    pub(crate) fn from_conditions(conditions: Node<'_, '_>) -> Result<Lifetime, WireError> {
        let time = |name: &str| {
            parse_time(
                conditions
                    .attribute(name)
                    .ok_or_else(|| WireError::Missing(format!("Conditions@{name}")))?,
            )
        };
        Lifetime::checked(time("NotBefore")?, time("NotOnOrAfter")?, "Conditions")
    }

    /// The Security header's timestamp made of this lifetime, as pidgin-sipe and Lync write it
    /// in front of a web ticket: already in canonical form, so its digest is the digest of
    /// these bytes.
    pub fn timestamp_xml(&self) -> String {
        format!(
            "<wsu:Timestamp xmlns:wsu=\"{}\" wsu:Id=\"timestamp\">{}</wsu:Timestamp>",
            ns::WSU,
            self.children_xml()
        )
    }
}

/// WS-Trust's computed key, `P_SHA1(client entropy, server entropy)` (the TLS 1.0 P_hash with
/// SHA-1), `len` bytes long.
pub fn p_sha1(secret: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mut out = Vec::with_capacity(len + 20);
    let mut a = hmac::sign(&key, seed).as_ref().to_vec();
    while out.len() < len {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&a);
        ctx.update(seed);
        out.extend_from_slice(ctx.sign().as_ref());
        a = hmac::sign(&key, &a).as_ref().to_vec();
    }
    out.truncate(len);
    out
}

/// The XML Signature of a request signed with a proof key: `SignedInfo` references the
/// timestamp by its id, with its SHA-1 digest; the `SignatureValue` is HMAC-SHA1 of the
/// canonical `SignedInfo`; the key is named by the web ticket's `AssertionID`.
pub fn signature_xml(timestamp_xml: &str, proof_key: &[u8], assertion_id: &str) -> String {
    let digest = B64.encode(digest::digest(
        &digest::SHA1_FOR_LEGACY_USE_ONLY,
        timestamp_xml.as_bytes(),
    ));
    // Written in canonical form (end tags, no whitespace), so the bytes signed are these.
    let signed_info = format!(
        "<SignedInfo xmlns=\"{ds}\"><CanonicalizationMethod Algorithm=\"{c14n}\"></CanonicalizationMethod><SignatureMethod Algorithm=\"{ds}hmac-sha1\"></SignatureMethod><Reference URI=\"#timestamp\"><Transforms><Transform Algorithm=\"{c14n}\"></Transform></Transforms><DigestMethod Algorithm=\"{ds}sha1\"></DigestMethod><DigestValue>{digest}</DigestValue></Reference></SignedInfo>",
        ds = ns::DS,
        c14n = EXC_C14N
    );
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, proof_key);
    let value = B64.encode(hmac::sign(&key, signed_info.as_bytes()));
    format!(
        "<Signature xmlns=\"{ds}\">{signed_info}<SignatureValue>{value}</SignatureValue><KeyInfo><wsse:SecurityTokenReference xmlns:wsse=\"{wsse}\"><wsse:KeyIdentifier ValueType=\"http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.0#SAMLAssertionID\">{id}</wsse:KeyIdentifier></wsse:SecurityTokenReference></KeyInfo></Signature>",
        ds = ns::DS,
        wsse = ns::WSSE,
        id = esc(assertion_id)
    )
}

/// The algorithm URI of exclusive canonicalization.
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

/// A signature as received, ready to be checked once the key it names is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSignature {
    /// The `AssertionID` named in `KeyInfo`.
    pub key_identifier: String,
    /// The canonical form of the signed `Timestamp`.
    timestamp_c14n: String,
    /// The canonical form of `SignedInfo`.
    signed_info_c14n: String,
    /// The digest `SignedInfo` claims for the timestamp.
    digest_value: Vec<u8>,
    /// The HMAC.
    signature_value: Vec<u8>,
}

/// Why a signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The timestamp is not what `SignedInfo` digested.
    #[error("the digest of the signed timestamp does not match its Reference")]
    Digest,
    /// The HMAC over `SignedInfo` is not the one the proof key gives.
    #[error("the signature over SignedInfo does not verify with the proof key")]
    Value,
}

impl ReceivedSignature {
    /// Reads the `Signature` in `security` and the element it references.
    pub(crate) fn read(security: Node<'_, '_>) -> Result<ReceivedSignature, WireError> {
        let signature = xml::need(security, ns::DS, "Signature")?;
        let signed_info = xml::need(signature, ns::DS, "SignedInfo")?;
        for (name, expected) in [
            ("CanonicalizationMethod", EXC_C14N),
            (
                "SignatureMethod",
                "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            ),
            ("DigestMethod", "http://www.w3.org/2000/09/xmldsig#sha1"),
        ] {
            let alg = xml::need(signed_info, ns::DS, name)?
                .attribute("Algorithm")
                .unwrap_or_default();
            if alg != expected {
                return Err(WireError::Malformed(format!(
                    "{name} {alg:?} is not supported (expected {expected})"
                )));
            }
        }
        let reference = xml::need(signed_info, ns::DS, "Reference")?;
        let uri = reference.attribute("URI").unwrap_or_default();
        let id = uri
            .strip_prefix('#')
            .ok_or_else(|| WireError::Malformed(format!("Reference URI {uri:?} is not local")))?;
        let mut with_id = security
            .descendants()
            .filter(|n| n.is_element() && n.attribute((ns::WSU, "Id")) == Some(id));
        let referenced = with_id.next().ok_or_else(|| {
            WireError::Malformed(format!("no element with wsu:Id {id:?} to verify"))
        })?;
        if with_id.next().is_some() {
            return Err(WireError::Duplicate(format!("element with wsu:Id {id:?}")));
        }
        if !referenced.has_tag_name((ns::WSU, "Timestamp")) {
            return Err(WireError::Malformed(
                "the signature must reference the wsu:Timestamp".into(),
            ));
        }
        let b64 = |node: Node<'_, '_>, what: &str| {
            B64.decode(xml::text(node).as_bytes())
                .map_err(|e| WireError::Malformed(format!("{what} is not base64: {e}")))
        };
        Ok(ReceivedSignature {
            key_identifier: xml::text(xml::need(signature, ns::WSSE, "KeyIdentifier")?),
            timestamp_c14n: xml::exc_c14n(referenced),
            signed_info_c14n: xml::exc_c14n(signed_info),
            digest_value: b64(xml::need(reference, ns::DS, "DigestValue")?, "DigestValue")?,
            signature_value: b64(
                xml::need(signature, ns::DS, "SignatureValue")?,
                "SignatureValue",
            )?,
        })
    }

    /// Checks the timestamp's digest, then the HMAC over `SignedInfo` with `proof_key`.
    pub fn verify(&self, proof_key: &[u8]) -> Result<(), SignatureError> {
        let digest = digest::digest(
            &digest::SHA1_FOR_LEGACY_USE_ONLY,
            self.timestamp_c14n.as_bytes(),
        );
        if digest.as_ref() != self.digest_value.as_slice() {
            return Err(SignatureError::Digest);
        }
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, proof_key);
        hmac::verify(
            &key,
            self.signed_info_c14n.as_bytes(),
            &self.signature_value,
        )
        .map_err(|_| SignatureError::Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_sha1_matches_the_tls_1_0_p_hash() {
        // P_SHA1 by its definition, computed step by step: A(1) = HMAC(secret, seed),
        // out = HMAC(secret, A(1) + seed) || HMAC(secret, A(2) + seed).
        let (secret, seed) = (b"client entropy".as_slice(), b"server entropy".as_slice());
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
        let a1 = hmac::sign(&key, seed);
        let a2 = hmac::sign(&key, a1.as_ref());
        let mut expected = hmac::sign(&key, &[a1.as_ref(), seed].concat())
            .as_ref()
            .to_vec();
        expected.extend_from_slice(hmac::sign(&key, &[a2.as_ref(), seed].concat()).as_ref());
        assert_eq!(p_sha1(secret, seed, 32), expected[..32]);
        assert_eq!(p_sha1(secret, seed, 20), expected[..20]);
    }

    #[test]
    fn times_round_trip() {
        assert_eq!(format_time(1_780_000_000_123), "2026-05-28T20:26:40.123Z");
        assert_eq!(
            parse_time("2026-05-28T20:26:40.123Z").unwrap(),
            1_780_000_000_123
        );
        assert_eq!(
            parse_time("2026-05-28T20:26:40Z").unwrap(),
            1_780_000_000_000
        );
        assert!(parse_time("yesterday").is_err());
    }

    fn security(timestamp: &str, signature: &str) -> String {
        format!(
            "<wsse:Security xmlns:wsse=\"{}\">{timestamp}{signature}</wsse:Security>",
            ns::WSSE
        )
    }

    #[test]
    fn a_signature_verifies_with_its_key_only() {
        let life = Lifetime {
            created_ms: 1_780_000_000_000,
            expires_ms: 1_780_028_800_000,
        };
        let ts = life.timestamp_xml();
        let sig = signature_xml(&ts, b"proof key", "uuid-1");
        let text = security(&ts, &sig);
        let doc = xml::parse(&text).unwrap();
        let received = ReceivedSignature::read(doc.root_element()).unwrap();
        assert_eq!(received.key_identifier, "uuid-1");
        assert_eq!(received.verify(b"proof key"), Ok(()));
        assert_eq!(received.verify(b"other key"), Err(SignatureError::Value));

        // The timestamp changed after signing: its digest no longer matches.
        let later = Lifetime {
            expires_ms: life.expires_ms + 1000,
            ..life
        };
        let text = security(&later.timestamp_xml(), &sig);
        let doc = xml::parse(&text).unwrap();
        let received = ReceivedSignature::read(doc.root_element()).unwrap();
        assert_eq!(received.verify(b"proof key"), Err(SignatureError::Digest));
    }

    #[test]
    fn whitespace_between_the_tags_of_signed_info_is_signed_too() {
        let life = Lifetime {
            created_ms: 0,
            expires_ms: 1000,
        };
        let ts = life.timestamp_xml();
        let sig = signature_xml(&ts, b"k", "id").replace("<Reference", " <Reference");
        let text = security(&ts, &sig);
        let doc = xml::parse(&text).unwrap();
        let received = ReceivedSignature::read(doc.root_element()).unwrap();
        assert_eq!(received.verify(b"k"), Err(SignatureError::Value));
    }
}
