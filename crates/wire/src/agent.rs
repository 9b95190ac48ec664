//! The client's `User-Agent`, as Lync wrote it (`UCCAPI/4.0.7577.0 OC/4.0.7577.0 (Microsoft
//! Lync 2010)`), with the Sign-In Assistant's own product token (`MSOIDCRL/7.250.4303.0`) on a
//! request that went through it. This is how the service learns the client build and the
//! Sign-In Assistant version; a client that sends neither token (curl, pidgin-sipe) is not a
//! Lync client and no Lync minimum applies to it.

use lyncsim_domain::{Build, Product};

/// What a `User-Agent` says about the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgent {
    /// The Lync product and build, when the agent is Lync.
    pub client: Option<(Product, Build)>,
    /// The Sign-In Assistant's version, when the request went through it.
    pub sign_in_assistant: Option<Build>,
}

impl UserAgent {
    /// The header value.
    pub fn header(&self) -> String {
        let mut parts = Vec::new();
        if let Some((product, build)) = &self.client {
            let name = match product {
                Product::Lync2010 => "Microsoft Lync 2010",
                Product::Lync2013 => "Microsoft Lync",
            };
            parts.push(format!("UCCAPI/{build} OC/{build} ({name})"));
        }
        if let Some(sia) = &self.sign_in_assistant {
            parts.push(format!("MSOIDCRL/{sia}"));
        }
        parts.join(" ")
    }

    /// Reads a header value; tokens it does not know are ignored.
    pub fn parse(value: &str) -> UserAgent {
        let token = |name: &str| {
            value
                .split_whitespace()
                .find_map(|t| t.strip_prefix(name))
                .and_then(|v| v.parse::<Build>().ok())
        };
        let product = if value.contains("(Microsoft Lync 2010)") {
            Some(Product::Lync2010)
        } else if value.contains("(Microsoft Lync)") {
            Some(Product::Lync2013)
        } else {
            None
        };
        UserAgent {
            client: product.zip(token("OC/")),
            sign_in_assistant: token("MSOIDCRL/"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_round_trip_and_others_are_nobody() {
        let b = |s: &str| s.parse::<Build>().unwrap();
        for agent in [
            UserAgent {
                client: Some((Product::Lync2010, b("4.0.7577.4087"))),
                sign_in_assistant: Some(b("7.250.4303.0")),
            },
            UserAgent {
                client: Some((Product::Lync2013, b("15.0.4551.1005"))),
                sign_in_assistant: None,
            },
        ] {
            assert_eq!(UserAgent::parse(&agent.header()), agent);
        }
        let nobody = UserAgent::parse("curl/8.5.0");
        assert_eq!(nobody.client, None);
        assert_eq!(nobody.sign_in_assistant, None);
    }
}
