//! A waiting query's response once its catalog read is answered.

use crate::dns::{self, DnsConfig, DnsInstance, Lookup};
use crate::wire::client_catalog::CatalogAnswer;
use crate::wire::client_message::{ResponseBody, RpcResult};

use super::instances::{dns_instance, node_address};
use super::pending::PendingQuery;

/// The encoded response to `pending` given its read's answer; a failed
/// read, or an answer of the wrong shape, is SERVFAIL.
pub fn answer(
    pending: &PendingQuery,
    body: &ResponseBody,
    shuffle_seed: u64,
    soa_serial: u32,
    config: &DnsConfig,
) -> Vec<u8> {
    let query = &pending.query;
    let transport = pending.transport;
    let answer = match body {
        ResponseBody::Ok(RpcResult::CatalogRead { answer, .. }) => answer,
        ResponseBody::Ok(_) => return dns::server_failure(query, config),
        ResponseBody::Err(error) => {
            log::debug!(target: "agent.dns",
                "catalog read for {} failed: {}", query.question.name, error.message);
            return dns::server_failure(query, config);
        }
    };
    match (&query.lookup, answer) {
        (Lookup::Service { .. }, CatalogAnswer::Instances(list)) => {
            let instances: Vec<DnsInstance> = list.iter().map(dns_instance).collect();
            dns::service_answer(
                query,
                &instances,
                transport,
                shuffle_seed,
                soa_serial,
                config,
            )
        }
        (Lookup::Authority, CatalogAnswer::Instances(list)) => {
            let servers: Vec<DnsInstance> = list.iter().map(dns_instance).collect();
            dns::authority_answer(query, &servers, transport, shuffle_seed, soa_serial, config)
        }
        (Lookup::Node { .. }, CatalogAnswer::Node(entry)) => {
            let address = entry.as_ref().map(|e| node_address(&e.node.address));
            dns::node_answer(query, address.as_deref(), transport, soa_serial, config)
        }
        _ => dns::server_failure(query, config),
    }
}
