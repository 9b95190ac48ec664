//! The STS's signing key and the tokens it issues: ES256 JWTs with nbf, iat and exp.
//!
//! The library checks the signature and the audience; the times are checked here against the
//! service clock with the tolerance, because the library only knows the system clock.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lyncsim_domain::Skew;
use lyncsim_wire::TokenClaims;

/// How long a token lives.
pub(crate) const TOKEN_LIFETIME_SECS: i64 = 8 * 3600;
const AUDIENCE: &str = "lync";

pub(crate) struct StsKey {
    pkcs8: Vec<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl StsKey {
    pub(crate) fn generate() -> anyhow::Result<StsKey> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| anyhow::anyhow!("could not generate the STS signing key"))?;
        StsKey::from_pkcs8(doc.as_ref())
    }

    pub(crate) fn from_pkcs8(pkcs8: &[u8]) -> anyhow::Result<StsKey> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|e| anyhow::anyhow!("the STS signing key does not parse: {e}"))?;
        Ok(StsKey {
            pkcs8: pkcs8.to_vec(),
            encoding: EncodingKey::from_ec_der(pkcs8),
            decoding: DecodingKey::from_ec_der(pair.public_key().as_ref()),
        })
    }

    pub(crate) fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    pub(crate) fn issue(&self, user: &str, now: i64) -> anyhow::Result<(String, TokenClaims)> {
        let claims = TokenClaims {
            sub: user.to_owned(),
            aud: AUDIENCE.into(),
            iat: now,
            nbf: now,
            exp: now + TOKEN_LIFETIME_SECS,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// Checks the signature and audience, then nbf and exp against `now` with `tolerance`.
    pub(crate) fn verify(
        &self,
        token: &str,
        now: i64,
        tolerance: i64,
    ) -> Result<TokenClaims, String> {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["sub", "aud"]);
        let claims = jsonwebtoken::decode::<TokenClaims>(token, &self.decoding, &validation)
            .map_err(|e| format!("token rejected: {e}"))?
            .claims;
        if now < claims.nbf.saturating_sub(tolerance) {
            return Err(format!(
                "token not valid yet: nbf is {} ahead of the service clock, tolerance {}",
                Skew(claims.nbf.saturating_sub(now)),
                Skew(tolerance)
            ));
        }
        if now > claims.exp.saturating_add(tolerance) {
            return Err(format!(
                "token expired {} ago, tolerance {}",
                Skew(now.saturating_sub(claims.exp)),
                Skew(tolerance)
            ));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000;

    #[test]
    fn a_token_verifies_within_its_window_and_tolerance() {
        let key = StsKey::generate().unwrap();
        let (token, _) = key.issue("alice@contoso.com", NOW).unwrap();
        assert_eq!(
            key.verify(&token, NOW, 300).unwrap().sub,
            "alice@contoso.com"
        );
        assert!(key.verify(&token, NOW - 300, 300).is_ok());
        let early = key.verify(&token, NOW - 301, 300).unwrap_err();
        assert!(early.contains("not valid yet"), "{early}");
        let late = key
            .verify(&token, NOW + TOKEN_LIFETIME_SECS + 301, 300)
            .unwrap_err();
        assert!(late.contains("expired"), "{late}");
    }

    #[test]
    fn a_token_from_another_key_is_rejected() {
        let key = StsKey::generate().unwrap();
        let other = StsKey::generate().unwrap();
        let (token, _) = other.issue("alice@contoso.com", NOW).unwrap();
        assert!(
            key.verify(&token, NOW, 300)
                .unwrap_err()
                .contains("token rejected")
        );
        let again = StsKey::from_pkcs8(key.pkcs8()).unwrap();
        let (token, _) = key.issue("bob@contoso.com", NOW).unwrap();
        assert!(again.verify(&token, NOW, 300).is_ok());
    }
}
