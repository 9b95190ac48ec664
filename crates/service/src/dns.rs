//! The service's DNS server (hickory): A, CNAME and SRV records for every host, with TTLs,
//! answered as a resolver answers: a question for an address whose name is a CNAME into another
//! of the service's zones gets the CNAME and the target's records in one answer.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context;
use hickory_proto::op::{Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, SOA, SRV};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, MessageResponseBuilder, ZoneType};

/// TTL of every host record. Long, as for the real service, so that a client's resolver cache
/// outlives an address change.
pub(crate) const HOST_TTL_SECS: u32 = 3600;

/// One A record the service publishes.
#[derive(Debug, Clone)]
pub(crate) struct HostRecord {
    pub(crate) fqdn: String,
    pub(crate) ip: IpAddr,
}

fn name(text: &str) -> anyhow::Result<Name> {
    let mut n = Name::from_ascii(text).with_context(|| format!("bad DNS name {text:?}"))?;
    n.set_fqdn(true);
    Ok(n)
}

fn zone(origin: &str) -> anyhow::Result<InMemoryZoneHandler> {
    let origin_name = name(origin)?;
    let mut z =
        InMemoryZoneHandler::empty(origin_name.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = SOA::new(
        name(&format!("ns1.{origin}"))?,
        name(&format!("hostmaster.{origin}"))?,
        1,
        3600,
        600,
        86400,
        60,
    );
    z.upsert_mut(
        Record::from_rdata(origin_name, HOST_TTL_SECS, RData::SOA(soa)),
        1,
    );
    Ok(z)
}

/// Whether `fqdn` is `origin` or a name below it.
fn in_zone(fqdn: &str, origin: &str) -> bool {
    fqdn == origin
        || fqdn
            .strip_suffix(origin)
            .is_some_and(|head| head.ends_with('.'))
}

fn zone_of<'a>(fqdn: &str, origins: &'a [String]) -> Option<&'a String> {
    origins
        .iter()
        .filter(|o| in_zone(fqdn, o))
        .max_by_key(|o| o.len())
}

/// The zone of `fqdn` (written without the final dot) among `zones`: the most specific.
pub(crate) fn zone_for<'a>(zones: &'a Zones, fqdn: &str) -> Option<&'a Arc<InMemoryZoneHandler>> {
    zones
        .iter()
        .filter(|(origin, _)| in_zone(fqdn, origin))
        .max_by_key(|(origin, _)| origin.len())
        .map(|(_, zone)| zone)
}

/// Builds the catalog: the tenant's zone (the `lyncdiscover` and `sip` CNAMEs, the
/// `_sip._tls` and `_sipfederationtls._tcp` SRVs), `online.lync.com` and `microsoftonline.com`.
/// The zones, by origin, that the catalog serves: faults change their records.
pub(crate) type Zones = Vec<(String, Arc<InMemoryZoneHandler>)>;

pub(crate) fn catalog(
    domain: &str,
    hosts: &[HostRecord],
    https_port: u16,
) -> anyhow::Result<(Catalog, Zones)> {
    let origins = vec![
        domain.to_owned(),
        "online.lync.com".to_owned(),
        "microsoftonline.com".to_owned(),
    ];
    let mut zones: Vec<InMemoryZoneHandler> = origins
        .iter()
        .map(|o| zone(o))
        .collect::<anyhow::Result<_>>()?;
    let mut add = |fqdn: &str, rdata: RData| -> anyhow::Result<()> {
        let origin = zone_of(fqdn, &origins).with_context(|| format!("{fqdn} is in no zone"))?;
        let i = origins.iter().position(|o| o == origin).unwrap_or(0);
        zones[i].upsert_mut(Record::from_rdata(name(fqdn)?, HOST_TTL_SECS, rdata), 1);
        Ok(())
    };
    for h in hosts {
        let IpAddr::V4(v4) = h.ip else {
            anyhow::bail!("{} has no IPv4 address", h.fqdn)
        };
        add(&h.fqdn, RData::A(A(v4)))?;
    }
    add(
        &format!("lyncdiscover.{domain}"),
        RData::CNAME(CNAME(name("webdir.online.lync.com")?)),
    )?;
    // The other records Office 365 asks a tenant to publish: `sip` to the director, and
    // federation (which lyncsim does not serve) on 5061.
    add(
        &format!("sip.{domain}"),
        RData::CNAME(CNAME(name("sipdir.online.lync.com")?)),
    )?;
    add(
        &format!("_sipfederationtls._tcp.{domain}"),
        RData::SRV(SRV::new(100, 1, 5061, name("sipfed.online.lync.com")?)),
    )?;
    add(
        &format!("_sip._tls.{domain}"),
        RData::SRV(SRV::new(
            100,
            1,
            https_port,
            name("sipdir.online.lync.com")?,
        )),
    )?;
    let mut catalog = Catalog::new();
    let mut handles = Vec::new();
    for (origin, z) in origins.iter().zip(zones) {
        let z = Arc::new(z);
        catalog.upsert(LowerName::from(name(origin)?), vec![z.clone()]);
        handles.push((origin.clone(), z));
    }
    Ok((catalog, handles))
}

/// How many CNAMEs a chain may have before the answer is left to the catalog.
const MAX_CHAIN: usize = 8;

/// The DNS request handler: the catalog, and in front of it the resolver's courtesy of
/// following a CNAME across the service's zones (which the catalog, one zone at a time, does
/// not). What it cannot follow to an address it leaves to the catalog.
pub(crate) struct Resolving {
    catalog: Catalog,
    zones: Zones,
}

impl Resolving {
    pub(crate) fn new(catalog: Catalog, zones: Zones) -> Resolving {
        Resolving { catalog, zones }
    }

    /// The records of `name` of type `rtype`.
    async fn records(&self, name: &LowerName, rtype: RecordType) -> Vec<Record> {
        let text = name.to_string();
        let Some(zone) = zone_for(&self.zones, text.trim_end_matches('.')) else {
            return Vec::new();
        };
        let records = zone.records().await;
        records
            .get(&RrKey::new(name.clone(), rtype))
            .map(|set| set.records_without_rrsigs().cloned().collect())
            .unwrap_or_default()
    }

    /// For an address question whose name is a CNAME: the chain and the target's addresses.
    async fn chase(&self, request: &Request) -> Option<Vec<Record>> {
        if request.metadata.message_type != MessageType::Query
            || request.metadata.op_code != OpCode::Query
        {
            return None;
        }
        let info = request.request_info().ok()?;
        let rtype = info.query.query_type();
        if !matches!(rtype, RecordType::A | RecordType::AAAA) {
            return None;
        }
        let mut name = info.query.name().clone();
        let mut answers = Vec::new();
        for _ in 0..MAX_CHAIN {
            let found = self.records(&name, rtype).await;
            if !found.is_empty() {
                if answers.is_empty() {
                    // No CNAME on the way: the catalog answers this itself.
                    return None;
                }
                answers.extend(found);
                return Some(answers);
            }
            let cname = self.records(&name, RecordType::CNAME).await;
            let target = cname.iter().find_map(|r| match &r.data {
                RData::CNAME(CNAME(target)) => Some(LowerName::from(target)),
                _ => None,
            })?;
            answers.extend(cname);
            name = target;
        }
        None
    }
}

#[async_trait::async_trait]
impl RequestHandler for Resolving {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let Some(answers) = self.chase(request).await else {
            return self
                .catalog
                .handle_request::<R, T>(request, response_handle)
                .await;
        };
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        metadata.response_code = ResponseCode::NoError;
        let response = MessageResponseBuilder::from_message_request(request).build(
            metadata,
            answers.iter(),
            [],
            [],
            [],
        );
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!("DNS answer not sent: {e}");
                let mut metadata = Metadata::new(
                    request.metadata.id,
                    MessageType::Response,
                    request.metadata.op_code,
                );
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_land_in_the_most_specific_zone() {
        let origins = vec![
            "contoso.com".to_owned(),
            "online.lync.com".to_owned(),
            "lync.com".to_owned(),
        ];
        assert_eq!(
            zone_of("pool-a.online.lync.com", &origins).unwrap(),
            "online.lync.com"
        );
        assert_eq!(
            zone_of("_sip._tls.contoso.com", &origins).unwrap(),
            "contoso.com"
        );
        assert!(zone_of("fabrikam.com", &origins).is_none());
        assert!(zone_of("notcontoso.com", &origins).is_none());
    }
}
