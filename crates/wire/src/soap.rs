//! SOAP faults: how the STS (SOAP 1.2, with Passport's `psf:error` detail) and the pools' web
//! services (SOAP 1.1, with the `OCSDiagnosticsFault` detail of [MS-OCAUTHWS]) refuse a request.

use roxmltree::Node;

use crate::xml::{self, esc, ns};
use crate::{ToXml, WireError};

/// Which SOAP a fault is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    /// SOAP 1.1 (`faultcode`, `faultstring`, `detail`).
    Soap11,
    /// SOAP 1.2 (`Code/Subcode`, `Reason/Text`, `Detail`).
    Soap12,
}

/// A qualified fault code: a namespace and a local name (`wst:FailedAuthentication`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultCode {
    /// The namespace URI.
    pub ns: String,
    /// The local name.
    pub local: String,
}

impl FaultCode {
    /// A code in `ns`.
    pub fn new(ns: &str, local: &str) -> FaultCode {
        FaultCode {
            ns: ns.to_owned(),
            local: local.to_owned(),
        }
    }
}

/// What a fault's detail carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultDetail {
    /// Azure AD's STS: `psf:error` with the error value and the internal error.
    Passport {
        /// `psf:value`, an HRESULT such as `0x80048821`.
        value: String,
        /// `psf:internalerror/psf:code`.
        internal_code: String,
        /// `psf:internalerror/psf:text`.
        internal_text: String,
    },
    /// Lync's web services: `OCSDiagnosticsFault/Ms-Diagnostics-Fault`.
    Diagnostics {
        /// `ErrorId`.
        error_id: u32,
        /// `Reason`.
        reason: String,
    },
}

/// A SOAP fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    /// SOAP 1.1 or 1.2.
    pub version: SoapVersion,
    /// The code (SOAP 1.2: the subcode under `Sender`/`Receiver`).
    pub code: FaultCode,
    /// The reason text.
    pub reason: String,
    /// The detail, when there is one.
    pub detail: Option<FaultDetail>,
}

impl SoapFault {
    /// The fault for a header block marked `mustUnderstand` that the receiver does not
    /// understand: `MustUnderstand` in the envelope's own namespace (SOAP 1.1 section 4.4.1,
    /// SOAP 1.2 part 1 section 5.4.8), with the reason SOAP 1.2's examples give.
    pub fn must_understand(version: SoapVersion) -> SoapFault {
        let envelope = match version {
            SoapVersion::Soap11 => ns::SOAP11,
            SoapVersion::Soap12 => ns::SOAP12,
        };
        SoapFault {
            version,
            code: FaultCode::new(envelope, "MustUnderstand"),
            reason: "One or more mandatory SOAP header blocks not understood".into(),
            detail: None,
        }
    }

    /// The fault in a response body, if it is one.
    pub fn read(text: &str) -> Result<Option<SoapFault>, WireError> {
        let doc = xml::parse(text)?;
        SoapFault::read_in(doc.root_element())
    }

    /// The fault in a parsed envelope, if it holds one.
    pub(crate) fn read_in(root: Node<'_, '_>) -> Result<Option<SoapFault>, WireError> {
        if let Some(fault) = xml::find(root, ns::SOAP12, "Fault") {
            let code_node = xml::find(fault, ns::SOAP12, "Subcode")
                .and_then(|s| xml::find(s, ns::SOAP12, "Value"))
                .or_else(|| xml::find(fault, ns::SOAP12, "Value"))
                .ok_or_else(|| WireError::Missing("Code".into()))?;
            return Ok(Some(SoapFault {
                version: SoapVersion::Soap12,
                code: qname_value(code_node),
                reason: xml::find(fault, ns::SOAP12, "Text")
                    .map(xml::text)
                    .unwrap_or_default(),
                detail: read_detail(fault),
            }));
        }
        if let Some(fault) = xml::find(root, ns::SOAP11, "Fault") {
            let code_node = xml::find_local(fault, "faultcode")
                .ok_or_else(|| WireError::Missing("faultcode".into()))?;
            return Ok(Some(SoapFault {
                version: SoapVersion::Soap11,
                code: qname_value(code_node),
                reason: xml::find_local(fault, "faultstring")
                    .map(xml::text)
                    .unwrap_or_default(),
                detail: read_detail(fault),
            }));
        }
        Ok(None)
    }

    /// One line for a trace or a report: the code, the reason and the detail.
    pub fn describe(&self) -> String {
        let mut line = format!("SOAP fault {}: {}", self.code.local, self.reason);
        match &self.detail {
            Some(FaultDetail::Passport {
                value,
                internal_code,
                internal_text,
            }) if internal_code == value => {
                line.push_str(&format!(" ({value}: {})", internal_text.trim()))
            }
            Some(FaultDetail::Passport {
                value,
                internal_code,
                internal_text,
            }) => line.push_str(&format!(
                " ({value}; {internal_code}: {})",
                internal_text.trim()
            )),
            Some(FaultDetail::Diagnostics { error_id, reason }) => {
                line.push_str(&format!(" (ms-diagnostics {error_id}: {reason})"))
            }
            None => {}
        }
        line
    }
}

impl ToXml for SoapFault {
    /// The whole envelope.
    fn to_xml(&self) -> String {
        self.envelope("")
    }
}

impl SoapFault {
    /// The whole envelope, with `header` (already written, in the envelope's namespace
    /// prefix `S`/`s`) as the content of its Header when it is not empty.
    pub(crate) fn envelope(&self, header: &str) -> String {
        let header = if header.is_empty() {
            String::new()
        } else {
            match self.version {
                SoapVersion::Soap12 => format!("<S:Header>{header}</S:Header>"),
                SoapVersion::Soap11 => format!("<s:Header>{header}</s:Header>"),
            }
        };
        let detail = match &self.detail {
            None => String::new(),
            Some(FaultDetail::Passport {
                value,
                internal_code,
                internal_text,
            }) => format!(
                "<psf:error xmlns:psf=\"{psf}\"><psf:value>{}</psf:value><psf:internalerror><psf:code>{}</psf:code><psf:text>{}</psf:text></psf:internalerror></psf:error>",
                esc(value),
                esc(internal_code),
                esc(internal_text),
                psf = ns::PSF
            ),
            Some(FaultDetail::Diagnostics { error_id, reason }) => format!(
                "<af:OCSDiagnosticsFault xmlns:af=\"{af}\"><af:Ms-Diagnostics-Fault><af:ErrorId>{error_id}</af:ErrorId><af:Reason>{}</af:Reason></af:Ms-Diagnostics-Fault></af:OCSDiagnosticsFault>",
                esc(reason),
                af = ns::AUTHWS
            ),
        };
        let code = format!("a:{}", esc(&self.code.local));
        // SOAP 1.2's own codes (MustUnderstand, VersionMismatch) stand at the top of the Code;
        // any other is a subcode of Sender (part 1, section 5.4.6).
        let code12 = if self.code.ns == ns::SOAP12 {
            format!("<S:Value>S:{}</S:Value>", esc(&self.code.local))
        } else {
            format!(
                "<S:Value>S:Sender</S:Value><S:Subcode><S:Value xmlns:a=\"{}\">{code}</S:Value></S:Subcode>",
                esc(&self.code.ns)
            )
        };
        match self.version {
            SoapVersion::Soap12 => format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><S:Envelope xmlns:S=\"{s}\">{header}<S:Body><S:Fault><S:Code>{code12}</S:Code><S:Reason><S:Text xml:lang=\"en-US\">{reason}</S:Text></S:Reason>{detail}</S:Fault></S:Body></S:Envelope>",
                s = ns::SOAP12,
                reason = esc(&self.reason),
                detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!("<S:Detail>{detail}</S:Detail>")
                }
            ),
            SoapVersion::Soap11 => format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{s}\">{header}<s:Body><s:Fault><faultcode xmlns:a=\"{a}\">{code}</faultcode><faultstring xml:lang=\"en-US\">{reason}</faultstring>{detail}</s:Fault></s:Body></s:Envelope>",
                s = ns::SOAP11,
                a = esc(&self.code.ns),
                reason = esc(&self.reason),
                detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!("<detail>{detail}</detail>")
                }
            ),
        }
    }
}

/// A QName in element content, resolved with the namespaces in scope there.
fn qname_value(node: Node<'_, '_>) -> FaultCode {
    let value = xml::text(node);
    match value.split_once(':') {
        Some((prefix, local)) => FaultCode {
            ns: node
                .lookup_namespace_uri(Some(prefix))
                .unwrap_or_default()
                .to_owned(),
            local: local.to_owned(),
        },
        None => FaultCode {
            ns: String::new(),
            local: value,
        },
    }
}

fn read_detail(fault: Node<'_, '_>) -> Option<FaultDetail> {
    if let Some(error) = xml::find(fault, ns::PSF, "error") {
        let get = |name: &str| {
            xml::find(error, ns::PSF, name)
                .map(xml::text)
                .unwrap_or_default()
        };
        return Some(FaultDetail::Passport {
            value: get("value"),
            internal_code: get("code"),
            internal_text: get("text"),
        });
    }
    let diag = xml::find(fault, ns::AUTHWS, "Ms-Diagnostics-Fault")?;
    Some(FaultDetail::Diagnostics {
        error_id: xml::find(diag, ns::AUTHWS, "ErrorId")
            .map(xml::text)
            .and_then(|t| t.parse().ok())
            .unwrap_or_default(),
        reason: xml::find(diag, ns::AUTHWS, "Reason")
            .map(xml::text)
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_round_trip_in_both_soaps() {
        for fault in [
            SoapFault {
                version: SoapVersion::Soap12,
                code: FaultCode::new(ns::WST_2005, "FailedAuthentication"),
                reason: "Authentication Failure".into(),
                detail: Some(FaultDetail::Passport {
                    value: "0x80048821".into(),
                    internal_code: "0x80041012".into(),
                    internal_text: "The entered and stored passwords do not match.".into(),
                }),
            },
            SoapFault {
                version: SoapVersion::Soap11,
                code: FaultCode::new(ns::SOAP11, "Client"),
                reason: "a < b & c".into(),
                detail: Some(FaultDetail::Diagnostics {
                    error_id: 28020,
                    reason: "why".into(),
                }),
            },
            SoapFault {
                version: SoapVersion::Soap11,
                code: FaultCode::new(ns::WSSE, "InvalidSecurity"),
                reason: "r".into(),
                detail: None,
            },
            SoapFault::must_understand(SoapVersion::Soap11),
            SoapFault::must_understand(SoapVersion::Soap12),
        ] {
            assert_eq!(SoapFault::read(&fault.to_xml()).unwrap(), Some(fault));
        }
        assert_eq!(
            SoapFault::read("<a xmlns='urn:x'/>").unwrap(),
            None,
            "not a fault"
        );
    }
}
