//! Reading and writing the XML of the protocol: namespaces, escaping, finding elements in a
//! parsed document (roxmltree), and exclusive canonicalization for the signatures.

use std::collections::BTreeMap;
use std::rc::Rc;

use roxmltree::{Document, Node, ParsingOptions};

use crate::WireError;

/// The namespaces the messages use.
pub mod ns {
    /// SOAP 1.2 envelope (the STS).
    pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
    /// SOAP 1.1 envelope (the pools' web services).
    pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
    /// WS-Security 1.0 extensions.
    pub const WSSE: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    /// WS-Security 1.0 utility (Timestamp, Created, Expires, Id).
    pub const WSU: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    /// WS-Addressing 1.0.
    pub const WSA: &str = "http://www.w3.org/2005/08/addressing";
    /// WS-Policy 2004/09.
    pub const WSP: &str = "http://schemas.xmlsoap.org/ws/2004/09/policy";
    /// WS-Trust 2005/02 (the STS).
    pub const WST_2005: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust";
    /// WS-Trust 1.3 (the web ticket service and GetAndPublishCert).
    pub const WST_13: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512";
    /// SAML 1.1 assertions.
    pub const SAML: &str = "urn:oasis:names:tc:SAML:1.0:assertion";
    /// XML Encryption.
    pub const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
    /// XML Signature.
    pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
    /// Passport (Azure AD's STS) SOAP faults.
    pub const PSF: &str = "http://schemas.microsoft.com/Passport/SoapServices/SOAPFault";
    /// Passport client information (the Sign-In Assistant's AuthInfo).
    pub const PS: &str = "http://schemas.microsoft.com/Passport/SoapServices/PPCRL";
    /// Lync's authentication web services (GetAndPublishCert, their faults).
    pub const AUTHWS: &str = "http://schemas.microsoft.com/OCS/AuthWebServices/";
    /// The claims dialect of the web ticket request.
    pub const AUTH: &str = "http://schemas.xmlsoap.org/ws/2006/12/authorization";
    /// Windows certificate enrollment (RequestID, DispositionMessage).
    pub const WSTEP: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment";
    /// WSDL 1.1.
    pub const WSDL: &str = "http://schemas.xmlsoap.org/wsdl/";
    /// WSDL's SOAP 1.1 binding.
    pub const WSDL_SOAP: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
    /// WSDL's SOAP 1.2 binding.
    pub const WSDL_SOAP12: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
    /// WS-SecurityPolicy 1.2.
    pub const SP: &str = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702";
}

/// Escapes text for an element's content or an attribute value (double-quoted). A character
/// that XML 1.0 does not allow at all (most control characters; they can reach a message in
/// what a client sent, echoed in a fault) becomes U+FFFD, so that what is written always parses;
/// a CR is written as a character reference, so that it reads back.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A CR written as itself would be read back as part of a line end and lost
            // (XML 1.0 section 2.11); as a reference it stays, as in Passport's texts.
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// How deep a document may nest its elements. The protocol's deepest message (a web ticket
/// inside GetAndPublishCert's Security header) is about a dozen levels; a document nested
/// thousands deep is refused before anything walks it (lyncsim's own bound).
pub const MAX_DEPTH: usize = 64;

/// Parses a document. DTDs are refused (roxmltree's default), so no entity tricks; a document
/// nested deeper than [`MAX_DEPTH`] is refused too.
pub(crate) fn parse(text: &str) -> Result<Document<'_>, WireError> {
    let doc = Document::parse_with_options(
        text,
        ParsingOptions {
            allow_dtd: false,
            ..ParsingOptions::default()
        },
    )
    .map_err(|e| WireError::Malformed(format!("not well-formed XML: {e}")))?;
    let deepest = depth(&doc);
    if deepest > MAX_DEPTH {
        return Err(WireError::Malformed(format!(
            "the document nests {deepest} elements deep; at most {MAX_DEPTH} are read"
        )));
    }
    Ok(doc)
}

/// How many levels deep `doc` nests, found without recursion: in document order a parent
/// comes before its children, so each node's depth is its parent's plus one.
fn depth(doc: &Document<'_>) -> usize {
    let mut depths: Vec<usize> = Vec::new();
    let mut deepest = 0;
    for node in doc.descendants() {
        let at = node.id().get_usize();
        let d = node
            .parent()
            .and_then(|p| depths.get(p.id().get_usize()))
            .map_or(0, |d| d + 1);
        if depths.len() <= at {
            depths.resize(at + 1, 0);
        }
        depths[at] = d;
        deepest = deepest.max(d);
    }
    deepest
}

/// The one descendant element (or `node` itself) named `{ns}name`, if there is one. A second
/// is refused: a duplicated element is never resolved by taking the first.
pub(crate) fn unique<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &str,
    name: &str,
) -> Result<Option<Node<'a, 'i>>, WireError> {
    let mut found = node
        .descendants()
        .filter(|n| n.is_element() && n.has_tag_name((ns, name)));
    let first = found.next();
    if first.is_some() && found.next().is_some() {
        return Err(WireError::Duplicate(name.to_owned()));
    }
    Ok(first)
}

/// The first descendant element (or `node` itself) named `{ns}name`.
pub(crate) fn find<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    node.descendants()
        .find(|n| n.is_element() && n.has_tag_name((ns, name)))
}

/// The one descendant named `{ns}name`: a missing one or a second one is refused (see
/// [`unique`]).
pub(crate) fn need<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &str,
    name: &str,
) -> Result<Node<'a, 'i>, WireError> {
    unique(node, ns, name)?.ok_or_else(|| WireError::Missing(name.to_owned()))
}

/// The header blocks the service understands: WS-Addressing's, WS-Security's, and the
/// Sign-In Assistant's Passport `AuthInfo`. A block marked `mustUnderstand` that is not one of
/// these is refused, as SOAP requires.
const UNDERSTOOD: [(&str, &str); 9] = [
    (ns::WSA, "Action"),
    (ns::WSA, "To"),
    (ns::WSA, "ReplyTo"),
    (ns::WSA, "MessageID"),
    (ns::WSA, "From"),
    (ns::WSA, "FaultTo"),
    (ns::WSA, "RelatesTo"),
    (ns::WSSE, "Security"),
    (ns::PS, "AuthInfo"),
];

/// The element children of `node` named `{ns}name`.
fn children_named<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.children()
        .filter(move |n| n.is_element() && n.has_tag_name((ns, name)))
}

/// The one `wsse:Security` header block of a SOAP envelope (`soap` is its namespace), after
/// checking the header: one `Header`, one `Security` in it, and no block marked
/// `mustUnderstand` (`1` or `true`) that the service does not understand (SOAP 1.1 section
/// 4.2.3, SOAP 1.2 part 1 section 5.2.3).
pub(crate) fn security_header<'a, 'i>(
    envelope: Node<'a, 'i>,
    soap: &'a str,
) -> Result<Node<'a, 'i>, WireError> {
    let mut headers = children_named(envelope, soap, "Header");
    let header = headers
        .next()
        .ok_or_else(|| WireError::Missing("Header".into()))?;
    if headers.next().is_some() {
        return Err(WireError::Duplicate("Header".into()));
    }
    for block in header.children().filter(|n| n.is_element()) {
        let must = block
            .attribute((soap, "mustUnderstand"))
            .is_some_and(|v| matches!(v.trim(), "1" | "true"));
        let known = UNDERSTOOD
            .iter()
            .any(|(ns, name)| block.has_tag_name((*ns, *name)));
        if must && !known {
            return Err(WireError::NotUnderstood(element_qname(block).to_owned()));
        }
    }
    let mut security = children_named(header, ns::WSSE, "Security");
    let first = security
        .next()
        .ok_or_else(|| WireError::Missing("wsse:Security header".into()))?;
    if security.next().is_some() {
        return Err(WireError::Duplicate("wsse:Security header".into()));
    }
    Ok(first)
}

/// The first descendant element with this local name, whatever its namespace.
pub(crate) fn find_local<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

/// The text of an element's content, trimmed.
pub(crate) fn text(node: Node<'_, '_>) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The prefix a start tag or attribute was written with (`None` when unprefixed).
fn prefix_of(qname: &str) -> Option<&str> {
    qname.split_once(':').map(|(p, _)| p)
}

/// The qualified name of an element as written in the input.
fn element_qname<'i>(node: Node<'_, 'i>) -> &'i str {
    let input = node.document().input_text();
    let tag = &input[node.range()];
    let tag = tag.strip_prefix('<').unwrap_or(tag);
    let end = tag
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(tag.len());
    &tag[..end]
}

/// Exclusive XML Canonicalization 1.0 without comments (`http://www.w3.org/2001/10/xml-exc-c14n#`)
/// of the element `node` and its content: the form that XML Signature digests and signs.
///
/// Namespace declarations are emitted only where a prefix is visibly used and not already in
/// force in the output; attributes are sorted by namespace URI then local name; empty elements
/// get an end tag; text and attribute values are escaped as the recommendation says.
pub fn exc_c14n(node: Node<'_, '_>) -> String {
    /// What is left to write, in order: an element's start tag and content, with the
    /// namespaces in force in the output around it; an element's end tag; a text or a
    /// processing instruction.
    enum Step<'a, 'i> {
        Open(Node<'a, 'i>, Rc<BTreeMap<String, String>>),
        Close(&'i str),
        Leaf(Node<'a, 'i>),
    }
    let mut out = String::new();
    // An explicit stack, not recursion: however deep a document nests, the thread's stack
    // does not grow with it.
    let mut todo = vec![Step::Open(node, Rc::new(BTreeMap::new()))];
    while let Some(step) = todo.pop() {
        match step {
            Step::Open(element, in_force) => {
                let in_force = Rc::new(start_tag(element, &in_force, &mut out));
                todo.push(Step::Close(element_qname(element)));
                // Pushed last first, so that the children are written in order.
                let children: Vec<Node<'_, '_>> = element.children().collect();
                for child in children.into_iter().rev() {
                    todo.push(if child.is_element() {
                        Step::Open(child, in_force.clone())
                    } else {
                        Step::Leaf(child)
                    });
                }
            }
            Step::Close(qname) => {
                out.push_str("</");
                out.push_str(qname);
                out.push('>');
            }
            Step::Leaf(leaf) => {
                if leaf.is_text() {
                    escape_text(leaf.text().unwrap_or(""), &mut out);
                } else if let Some(pi) = leaf.pi() {
                    out.push_str("<?");
                    out.push_str(pi.target);
                    if let Some(v) = pi.value {
                        out.push(' ');
                        out.push_str(v);
                    }
                    out.push_str("?>");
                }
            }
        }
    }
    out
}

/// Writes an element's start tag in canonical form; returns the namespaces in force in the
/// output inside it.
fn start_tag(
    node: Node<'_, '_>,
    in_force: &BTreeMap<String, String>,
    out: &mut String,
) -> BTreeMap<String, String> {
    let qname = element_qname(node);
    // The prefixes this element visibly uses: its own, and those of its prefixed attributes.
    let mut used: BTreeMap<String, String> = BTreeMap::new();
    let own = prefix_of(qname).unwrap_or("");
    let own_uri = node.tag_name().namespace().unwrap_or("");
    used.insert(own.to_owned(), own_uri.to_owned());
    let input = node.document().input_text();
    let mut attrs: Vec<(&str, &str, &str, &str)> = Vec::new();
    for a in node.attributes() {
        let aq = &input[a.range_qname()];
        let uri = a.namespace().unwrap_or("");
        if let Some(p) = prefix_of(aq)
            && p != "xml"
        {
            used.insert(p.to_owned(), uri.to_owned());
        }
        attrs.push((uri, a.name(), aq, a.value()));
    }
    let mut now_in_force = in_force.clone();
    let mut decls = Vec::new();
    for (prefix, uri) in used {
        let current = in_force.get(&prefix).map(String::as_str);
        let render = if prefix.is_empty() {
            // The default namespace: declared when it differs from the one in force in the
            // output (an empty one only undoes a non-empty one).
            current.unwrap_or("") != uri
        } else {
            current != Some(uri.as_str())
        };
        if render {
            now_in_force.insert(prefix.clone(), uri.clone());
            decls.push((prefix, uri));
        }
    }
    attrs.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    out.push('<');
    out.push_str(qname);
    for (prefix, uri) in decls {
        if prefix.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(&prefix);
            out.push_str("=\"");
        }
        escape_attr(&uri, out);
        out.push('"');
    }
    for (_, _, aq, value) in attrs {
        out.push(' ');
        out.push_str(aq);
        out.push_str("=\"");
        escape_attr(value, out);
        out.push('"');
    }
    out.push('>');
    now_in_force
}

fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(xml: &str, local: &str) -> String {
        let doc = Document::parse(xml).unwrap();
        let node = doc
            .descendants()
            .find(|n| n.is_element() && n.tag_name().name() == local)
            .unwrap();
        exc_c14n(node)
    }

    #[test]
    fn namespaces_are_declared_where_used_and_attributes_sorted() {
        let xml = r#"<s:Envelope xmlns:s="urn:s" xmlns:u="urn:u" xmlns:x="urn:x"><s:Header><u:T u:Id="t" b="2" a="1" x:z="3"><u:C>now</u:C><Empty/></u:T></s:Header></s:Envelope>"#;
        assert_eq!(
            canon(xml, "T"),
            r#"<u:T xmlns:u="urn:u" xmlns:x="urn:x" a="1" b="2" u:Id="t" x:z="3"><u:C>now</u:C><Empty></Empty></u:T>"#
        );
    }

    #[test]
    fn a_default_namespace_is_declared_once_and_text_is_escaped() {
        let xml = "<a:root xmlns:a=\"urn:a\"><SignedInfo xmlns=\"urn:ds\"><R URI=\"#t\">x &amp; y &gt; z\r\n</R></SignedInfo></a:root>";
        assert_eq!(
            canon(xml, "SignedInfo"),
            "<SignedInfo xmlns=\"urn:ds\"><R URI=\"#t\">x &amp; y &gt; z\n</R></SignedInfo>"
        );
    }

    #[test]
    fn the_canonical_form_of_a_canonical_element_is_itself() {
        let signed_info = r##"<SignedInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></CanonicalizationMethod><Reference URI="#timestamp"><DigestValue>abc=</DigestValue></Reference></SignedInfo>"##;
        assert_eq!(canon(signed_info, "SignedInfo"), signed_info);
    }

    #[test]
    fn what_is_written_escaped_parses_whatever_it_held() {
        let nasty = "a\u{1d}b\u{0}c<&>\"'\u{ffff}\td";
        let doc = format!("<a x=\"{}\">{}</a>", esc(nasty), esc(nasty));
        let parsed = parse(&doc).unwrap();
        let root = parsed.root_element();
        assert_eq!(text(root), "a\u{fffd}b\u{fffd}c<&>\"'\u{fffd}\td");
        assert_eq!(
            root.attribute("x"),
            Some("a\u{fffd}b\u{fffd}c<&>\"'\u{fffd} d")
        );
    }

    #[test]
    fn a_document_nested_deeper_than_the_bound_is_refused() {
        let nested = |depth: usize| format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        // The root element is at depth 1.
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        let err = parse(&nested(MAX_DEPTH + 1)).unwrap_err().to_string();
        assert!(err.contains("nests 65 elements deep"), "{err}");
        assert!(parse(&nested(100_000)).is_err());
    }

    /// Canonicalization walks with a stack of its own: a tree nested 100,000 deep, read
    /// without the depth bound, is written out on a thread with a 256 KiB stack.
    #[test]
    fn canonicalization_does_not_recurse() {
        let depth = 100_000;
        let xml = format!(
            "<s xmlns=\"urn:x\">{}t{}</s>",
            "<a>".repeat(depth),
            "</a>".repeat(depth)
        );
        let out = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let doc = Document::parse(&xml).unwrap();
                exc_c14n(doc.root_element())
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(out.starts_with("<s xmlns=\"urn:x\"><a><a>"));
        assert!(out.ends_with("</a></a></s>"));
        // `<s xmlns="urn:x">`, each `<a>` and `</a>`, the text, `</s>`.
        assert_eq!(out.len(), 17 + 7 * depth + 1 + 4);
    }

    #[test]
    fn a_second_element_is_refused_where_one_is_read() {
        let doc = parse("<r xmlns=\"urn:x\"><a>1</a><b/><a>2</a></r>").unwrap();
        let root = doc.root_element();
        assert_eq!(
            need(root, "urn:x", "a"),
            Err(WireError::Duplicate("a".into()))
        );
        assert_eq!(need(root, "urn:x", "b").unwrap().tag_name().name(), "b");
        assert_eq!(
            need(root, "urn:x", "c"),
            Err(WireError::Missing("c".into()))
        );
        assert!(unique(root, "urn:x", "c").unwrap().is_none());
    }

    #[test]
    fn the_security_header_is_one_and_mandatory_blocks_are_understood() {
        let envelope = |header: &str| {
            format!(
                "<S:Envelope xmlns:S=\"{s}\" xmlns:wsse=\"{wsse}\" xmlns:x=\"urn:x\"><S:Header>{header}</S:Header><S:Body/></S:Envelope>",
                s = ns::SOAP12,
                wsse = ns::WSSE
            )
        };
        let read = |header: &str| {
            let text = envelope(header);
            let doc = parse(&text).unwrap();
            security_header(doc.root_element(), ns::SOAP12).map(|_| ())
        };
        assert_eq!(read("<wsse:Security/><x:Note/>"), Ok(()));
        assert_eq!(
            read("<wsse:Security/><x:Note S:mustUnderstand=\"0\"/>"),
            Ok(())
        );
        assert_eq!(
            read("<wsse:Security/><wsse:Security/>"),
            Err(WireError::Duplicate("wsse:Security header".into()))
        );
        assert_eq!(
            read("<wsse:Security/><x:Note S:mustUnderstand=\"true\"/>"),
            Err(WireError::NotUnderstood("x:Note".into()))
        );
        assert_eq!(
            read("<x:Note/>"),
            Err(WireError::Missing("wsse:Security header".into()))
        );
        // A Security element anywhere but the header is not the header.
        let text = format!(
            "<S:Envelope xmlns:S=\"{}\" xmlns:wsse=\"{}\"><S:Header/><S:Body><wsse:Security/></S:Body></S:Envelope>",
            ns::SOAP12,
            ns::WSSE
        );
        let doc = parse(&text).unwrap();
        assert!(security_header(doc.root_element(), ns::SOAP12).is_err());
    }

    #[test]
    fn a_dtd_is_refused() {
        let xml = r#"<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#;
        assert!(parse(xml).is_err());
    }
}
