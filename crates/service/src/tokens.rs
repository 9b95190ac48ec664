//! The service's secrets and the tokens they make: the STS's token (a SAML assertion that only
//! the pools can read, AES-256-GCM under a key the STS shares with them) and the proof key of a
//! web ticket (sealed inside the ticket, bound to its id, user and conditions).
//!
//! Both keys come from the one persisted secret (`sts-signing-key.pk8`), so tokens and tickets
//! outlive a restart of the service, as the real ones outlived a server's.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use lyncsim_domain::Skew;
use lyncsim_wire::pool::WebTicket;
use lyncsim_wire::sts::{EncryptedToken, StsAssertion};
use lyncsim_wire::wsse::Lifetime;
use lyncsim_wire::{FromXml, ToXml};

/// How long the STS's token lives.
pub(crate) const TOKEN_LIFETIME_SECS: i64 = 8 * 3600;
/// How long a web ticket lives.
pub(crate) const TICKET_LIFETIME_SECS: i64 = 8 * 3600;
/// The `KeyName` of the STS token's key.
pub(crate) const STS_KEY_NAME: &str = "http://Passport.NET/STS";

pub(crate) struct StsKey {
    pkcs8: Vec<u8>,
    token_key: LessSafeKey,
    proof_key: LessSafeKey,
}

fn derive(label: &str, secret: &[u8]) -> anyhow::Result<LessSafeKey> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(label.as_bytes());
    ctx.update(secret);
    let key = UnboundKey::new(&AES_256_GCM, ctx.finish().as_ref())
        .map_err(|_| anyhow::anyhow!("could not make the {label} key"))?;
    Ok(LessSafeKey::new(key))
}

fn seal(key: &LessSafeKey, aad: &[u8], plain: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    let mut data = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut data,
    )
    .map_err(|_| anyhow::anyhow!("could not encrypt"))?;
    Ok([nonce.as_slice(), &data].concat())
}

fn open(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, data) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = data.to_vec();
    let plain = key.open_in_place(nonce, Aad::from(aad), &mut data).ok()?;
    Some(plain.to_vec())
}

/// The additional data that binds a sealed proof key to its ticket: its id, the web ticket
/// service that issued it (so the pool it is for), its user and its conditions.
fn ticket_aad(ticket: &WebTicket) -> Vec<u8> {
    format!(
        "{}\n{}\n{}\n{}\n{}",
        ticket.assertion_id,
        ticket.issuer,
        ticket.user,
        ticket.lifetime.created_ms,
        ticket.lifetime.expires_ms
    )
    .into_bytes()
}

/// Whether `now` is within `lifetime`, give or take `tolerance` seconds.
pub(crate) fn check_lifetime(
    what: &str,
    lifetime: &Lifetime,
    now_ms: i64,
    tolerance: i64,
) -> Result<(), String> {
    let tolerance_ms = i128::from(tolerance) * 1000;
    let (now, created, expires) = (
        i128::from(now_ms),
        i128::from(lifetime.created_ms),
        i128::from(lifetime.expires_ms),
    );
    if now < created - tolerance_ms {
        return Err(format!(
            "{what} is not valid yet: it starts {} ahead of the service clock, tolerance {}",
            Skew::from_millis(Skew::millis_between(lifetime.created_ms, now_ms)),
            Skew(tolerance)
        ));
    }
    if now > expires + tolerance_ms {
        return Err(format!(
            "{what} expired {} ago by the service clock, tolerance {}",
            Skew::from_millis(Skew::millis_between(now_ms, lifetime.expires_ms)),
            Skew(tolerance)
        ));
    }
    Ok(())
}

impl StsKey {
    pub(crate) fn generate() -> anyhow::Result<StsKey> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| anyhow::anyhow!("could not generate the STS key"))?;
        StsKey::from_pkcs8(doc.as_ref())
    }

    pub(crate) fn from_pkcs8(pkcs8: &[u8]) -> anyhow::Result<StsKey> {
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|e| anyhow::anyhow!("the STS key does not parse: {e}"))?;
        Ok(StsKey {
            pkcs8: pkcs8.to_vec(),
            token_key: derive("lyncsim sts token", pkcs8)?,
            proof_key: derive("lyncsim web ticket proof key", pkcs8)?,
        })
    }

    pub(crate) fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The STS's token for `user`, valid from `now_ms` for [`TOKEN_LIFETIME_SECS`].
    pub(crate) fn issue(
        &self,
        user: &str,
        audience: &str,
        now_ms: i64,
    ) -> anyhow::Result<(Lifetime, EncryptedToken)> {
        let lifetime = Lifetime {
            created_ms: now_ms,
            expires_ms: now_ms.saturating_add(TOKEN_LIFETIME_SECS * 1000),
        };
        let assertion = StsAssertion {
            user: user.to_owned(),
            audience: audience.to_owned(),
            lifetime,
        };
        let cipher = seal(
            &self.token_key,
            STS_KEY_NAME.as_bytes(),
            assertion.to_xml().as_bytes(),
        )?;
        Ok((
            lifetime,
            EncryptedToken {
                key_name: STS_KEY_NAME.into(),
                cipher,
            },
        ))
    }

    /// Decrypts a token: only one this service's STS made opens.
    pub(crate) fn open_token(&self, token: &EncryptedToken) -> Result<StsAssertion, String> {
        let plain = open(&self.token_key, STS_KEY_NAME.as_bytes(), &token.cipher)
            .ok_or("the token was not issued by this STS (it does not decrypt)")?;
        let text = String::from_utf8(plain).map_err(|_| "the token is not text")?;
        StsAssertion::from_xml(&text).map_err(|e| format!("the token does not read: {e}"))
    }

    /// Seals `proof_key` into `ticket`.
    pub(crate) fn seal_proof_key(
        &self,
        ticket: &mut WebTicket,
        proof_key: &[u8],
    ) -> anyhow::Result<()> {
        ticket.key_cipher = seal(&self.proof_key, &ticket_aad(ticket), proof_key)?;
        Ok(())
    }

    /// The proof key of a ticket this service issued, if the ticket is as it was issued.
    pub(crate) fn open_proof_key(&self, ticket: &WebTicket) -> Result<Vec<u8>, String> {
        open(&self.proof_key, &ticket_aad(ticket), &ticket.key_cipher).ok_or_else(|| {
            "the web ticket was not issued by this service or was changed since".to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000_000;

    #[test]
    fn a_token_opens_with_its_key_only_and_survives_a_restart() {
        let key = StsKey::generate().unwrap();
        let (life, token) = key.issue("alice@contoso.com", "urn:x", NOW).unwrap();
        assert_eq!(life.created_ms, NOW);
        let opened = key.open_token(&token).unwrap();
        assert_eq!(opened.user, "alice@contoso.com");
        assert_eq!(opened.lifetime, life);
        let again = StsKey::from_pkcs8(key.pkcs8()).unwrap();
        assert!(again.open_token(&token).is_ok());
        let other = StsKey::generate().unwrap();
        assert!(other.open_token(&token).is_err());
        let mut bent = token.clone();
        bent.cipher[20] ^= 1;
        assert!(key.open_token(&bent).is_err());
    }

    #[test]
    fn a_proof_key_is_bound_to_its_ticket() {
        let key = StsKey::generate().unwrap();
        let mut ticket = WebTicket {
            assertion_id: "uuid-1".into(),
            issuer: "i".into(),
            user: "sip:alice@contoso.com".into(),
            lifetime: Lifetime {
                created_ms: NOW,
                expires_ms: NOW + 1000,
            },
            key_cipher: vec![],
        };
        key.seal_proof_key(&mut ticket, b"0123456789abcdef")
            .unwrap();
        assert_eq!(key.open_proof_key(&ticket).unwrap(), b"0123456789abcdef");
        let mut other_user = ticket.clone();
        other_user.user = "sip:bob@contoso.com".into();
        assert!(key.open_proof_key(&other_user).is_err());
        let mut longer = ticket.clone();
        longer.lifetime.expires_ms += 1;
        assert!(key.open_proof_key(&longer).is_err());
        let mut other_pool = ticket.clone();
        other_pool.issuer = "another pool".into();
        assert!(key.open_proof_key(&other_pool).is_err());
    }

    #[test]
    fn lifetimes_are_judged_with_the_tolerance() {
        let life = Lifetime {
            created_ms: NOW,
            expires_ms: NOW + 3_600_000,
        };
        assert!(check_lifetime("t", &life, NOW - 300_000, 300).is_ok());
        assert!(
            check_lifetime("t", &life, NOW - 300_001, 300)
                .unwrap_err()
                .contains("not valid yet")
        );
        assert!(check_lifetime("t", &life, NOW + 3_900_000, 300).is_ok());
        assert!(
            check_lifetime("t", &life, NOW + 3_900_001, 300)
                .unwrap_err()
                .contains("expired")
        );
        assert!(check_lifetime("t", &life, i64::MIN, i64::MAX).is_ok());
    }
}
