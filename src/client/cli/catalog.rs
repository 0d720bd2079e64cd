//! `catalog services [--tags]` and `catalog nodes --service NAME`, as
//! Consul's `consul catalog` prints them, through the agent's native
//! protocol (the same catalog reads the HTTP API makes).

use std::io::Write;

use crate::wire::client_catalog::{CatalogAnswer, CatalogQuery, CatalogRead};
use crate::wire::client_message::{CatalogNode, Consistency, RequestBody, RpcResult};

use super::format::{catalog_table, columns};
use super::{CliError, ClientOptions, connect, unexpected};

fn read(options: &ClientOptions, query: CatalogQuery) -> Result<CatalogAnswer, CliError> {
    let mut client = connect(options)?;
    let body = RequestBody::CatalogRead(CatalogRead {
        query,
        consistency: Consistency::Default,
        min_index: 0,
        wait_ms: 0,
    });
    match client.call(body)? {
        RpcResult::CatalogRead { answer, .. } => Ok(answer),
        _ => Err(unexpected("catalog read")),
    }
}

/// One name per line; with `tags`, Consul's two columns (tags joined by
/// commas).
pub fn catalog_services(
    options: &ClientOptions,
    tags: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let CatalogAnswer::Services(services) = read(options, CatalogQuery::Services)? else {
        return Err(unexpected("catalog services"));
    };
    if !tags {
        for service in &services {
            writeln!(out, "{}", service.name)?;
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|s| vec![s.name.clone(), s.tags.join(",")])
        .collect();
    let table = columns(&["", ""], &rows);
    // Consul prints no header line for this listing.
    let body = table.split_once('\n').map_or("", |(_, rest)| rest);
    out.write_all(body.as_bytes())?;
    Ok(())
}

/// The nodes running `service`, in the `catalog nodes` table.
pub fn catalog_nodes_for_service(
    options: &ClientOptions,
    service: &str,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let query = CatalogQuery::ServiceNodes {
        name: service.to_string(),
        tags: Vec::new(),
    };
    let CatalogAnswer::Instances(instances) = read(options, query)? else {
        return Err(unexpected("catalog nodes --service"));
    };
    let mut nodes: Vec<CatalogNode> = Vec::new();
    for instance in instances {
        let node = instance.node.entry.node;
        if !nodes.iter().any(|n| n.name == node.name) {
            nodes.push(node);
        }
    }
    if nodes.is_empty() {
        return Err(CliError::Message(format!(
            "No nodes match the given query (service {service:?})"
        )));
    }
    out.write_all(catalog_table(&nodes).as_bytes())?;
    Ok(())
}
