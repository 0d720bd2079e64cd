//! An internal answer shown as Consul shows it: JSON bodies with Consul's
//! field names, the read headers (`X-Consul-Index`, `-Knownleader`,
//! `-Lastcontact`, `-Effective-Consistency`, in Go's canonical spelling),
//! 404 for a missing key with its index, and the status an error deserves.

use crate::http::HttpResponse;
use crate::http::kv_json::{
    KeyListJson, KvEntryJson, TxnErrorJson, TxnReadMetaJson, TxnResponseJson, TxnResultJson,
};
use serde::Serialize;

use crate::wire::client_kv::{KvDirEntry, KvReadAnswer, ReadMeta, TxnAnswer};
use crate::wire::client_message::{Consistency, ErrorCode, ResponseBody, RpcError, RpcResult};
use crate::wire::client_operator::RaftConfigurationView;

use crate::agent::http_api::render_catalog::render_catalog;
use crate::agent::http_api::translate::AnswerShape;

/// What a response needs besides the answer.
#[derive(Debug, Clone, Copy)]
pub struct Rendering<'a> {
    pub shape: &'a AnswerShape,
    pub consistency: Consistency,
    pub pretty: bool,
}

/// Consul's `ConsistencyLevel` names.
fn consistency_level(consistency: Consistency) -> &'static str {
    match consistency {
        Consistency::Default => "leader",
        Consistency::Consistent => "consistent",
        Consistency::Stale => "stale",
    }
}

pub(crate) fn with_meta(
    response: HttpResponse,
    meta: &ReadMeta,
    consistency: Consistency,
) -> HttpResponse {
    response
        .with_header(
            "X-Consul-Effective-Consistency",
            consistency_level(consistency),
        )
        .with_header("X-Consul-Index", meta.index.max(1).to_string())
        .with_header("X-Consul-Knownleader", meta.known_leader.to_string())
        .with_header("X-Consul-Lastcontact", meta.last_contact_ms.to_string())
}

fn entry_json(entry: KvDirEntry) -> KvEntryJson {
    KvEntryJson {
        lock_index: entry.lock_index,
        key: entry.key,
        flags: entry.flags,
        value: entry.value,
        session: entry.session.unwrap_or_default(),
        create_index: entry.create_index,
        modify_index: entry.modify_index,
    }
}

/// The status and one-line text of an error. Only a request the client got
/// wrong is a 4xx; the cluster's own trouble is a 500 with Consul's words.
pub fn error_response(error: &RpcError) -> HttpResponse {
    let status = match error.code {
        ErrorCode::InvalidRequest | ErrorCode::KeyNotFound | ErrorCode::CasFailed => 400,
        ErrorCode::TooManyRequests => 429,
        ErrorCode::NotLeader
        | ErrorCode::NoLeader
        | ErrorCode::NoServers
        | ErrorCode::Timeout
        | ErrorCode::ClusterMismatch
        | ErrorCode::Internal => 500,
    };
    HttpResponse::text(status, &error.message)
}

pub fn render(body: ResponseBody, how: Rendering<'_>) -> HttpResponse {
    let result = match body {
        ResponseBody::Ok(result) => result,
        ResponseBody::Err(error) => return error_response(&error),
    };
    match (how.shape, result) {
        (AnswerShape::KvEntry { raw }, RpcResult::KvRead { meta, answer }) => {
            kv_entry(*raw, meta, answer, how)
        }
        (AnswerShape::KvTree, RpcResult::KvRead { meta, answer }) => kv_tree(meta, answer, how),
        (AnswerShape::KvKeys { root }, RpcResult::KvRead { meta, answer }) => {
            kv_keys(*root, meta, answer, how)
        }
        (AnswerShape::KvApplied, RpcResult::KvApplied { applied, .. }) => {
            HttpResponse::json(200, &applied, how.pretty)
        }
        (AnswerShape::Txn { read_only }, RpcResult::Txn { meta, answer }) => {
            txn(*read_only, meta, answer, how)
        }
        (AnswerShape::StatusLeader, RpcResult::Peers(peers)) => {
            let leader = peers
                .into_iter()
                .find(|peer| peer.state == "leader")
                .map(|peer| peer.address)
                .unwrap_or_default();
            HttpResponse::json(200, &leader, how.pretty)
        }
        (shape, RpcResult::CatalogRead { meta, answer }) => render_catalog(meta, answer, how)
            .unwrap_or_else(|| {
                HttpResponse::text(500, &format!("unexpected answer for {shape:?}"))
            }),
        (AnswerShape::AgentJoin, RpcResult::Joined { contacted, errors }) => {
            agent_join(contacted, errors)
        }
        (AnswerShape::AgentLeave, RpcResult::Left)
        | (AnswerShape::AgentForceLeave, RpcResult::ForcedLeave) => HttpResponse::new(200),
        (AnswerShape::CatalogWritten, RpcResult::CatalogWritten { .. }) => {
            HttpResponse::json(200, &true, how.pretty)
        }
        (AnswerShape::RemovePeer, RpcResult::PeerRemoved { .. }) => HttpResponse::new(200),
        (AnswerShape::TransferLeader, RpcResult::LeadershipTransferred { .. }) => {
            HttpResponse::json(200, &serde_json::json!({"Success": true}), how.pretty)
        }
        (AnswerShape::RaftConfiguration, RpcResult::RaftConfiguration(view)) => {
            HttpResponse::json(200, &RaftConfigurationJson::from(view), how.pretty)
        }
        (AnswerShape::StatusPeers, RpcResult::Peers(peers)) => {
            let addresses: Vec<String> = peers.into_iter().map(|peer| peer.address).collect();
            HttpResponse::json(200, &addresses, how.pretty)
        }
        (shape, other) => HttpResponse::text(
            500,
            &format!("unexpected answer {} for {shape:?}", other_name(&other)),
        ),
    }
}

/// Consul's `structs.RaftConfigurationResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct RaftConfigurationJson {
    servers: Vec<RaftServerJson>,
    index: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct RaftServerJson {
    /// The Raft ID as `/v1/agent/self` shows it (`NodeID`).
    #[serde(rename = "ID")]
    id: String,
    node: String,
    address: String,
    leader: bool,
    /// Consul's Raft protocol version (3: servers are known by ID).
    protocol_version: String,
    voter: bool,
    last_index: u64,
}

impl From<RaftConfigurationView> for RaftConfigurationJson {
    fn from(view: RaftConfigurationView) -> Self {
        let servers = view
            .servers
            .into_iter()
            .map(|server| RaftServerJson {
                id: format!("{:016x}", server.id),
                node: server.name,
                address: server.address,
                leader: server.leader,
                protocol_version: "3".into(),
                voter: server.voter,
                last_index: server.last_index,
            })
            .collect();
        RaftConfigurationJson {
            servers,
            index: view.index,
        }
    }
}

/// Consul answers a join with an empty 200, or a 500 naming what failed.
fn agent_join(contacted: u32, errors: Vec<(String, String)>) -> HttpResponse {
    if contacted > 0 {
        return HttpResponse::new(200);
    }
    let failures: Vec<String> = errors
        .into_iter()
        .map(|(address, error)| format!("Failed to join {address}: {error}"))
        .collect();
    match failures.is_empty() {
        true => HttpResponse::text(500, "no member was contacted"),
        false => HttpResponse::text(500, &failures.join("; ")),
    }
}

fn other_name(result: &RpcResult) -> &'static str {
    match result {
        RpcResult::KvRead { .. } => "KvRead",
        RpcResult::KvApplied { .. } => "KvApplied",
        RpcResult::Txn { .. } => "Txn",
        RpcResult::Peers(_) => "Peers",
        _ => "of another kind",
    }
}

fn entries(answer: KvReadAnswer) -> Vec<KvDirEntry> {
    match answer {
        KvReadAnswer::Entries(entries) => entries,
        KvReadAnswer::Keys(_) => Vec::new(),
    }
}

fn kv_entry(raw: bool, meta: ReadMeta, answer: KvReadAnswer, how: Rendering<'_>) -> HttpResponse {
    let mut found = entries(answer);
    let response = match found.pop() {
        None => HttpResponse::new(404),
        // Consul's guard against a value rendered as a page in a browser.
        Some(entry) if raw => HttpResponse::new(200)
            .with_body("text/plain", entry.value)
            .with_header("X-Content-Type-Options", "nosniff")
            .with_header("Content-Security-Policy", "sandbox"),
        Some(entry) => HttpResponse::json(200, &[entry_json(entry)], how.pretty),
    };
    with_meta(response, &meta, how.consistency)
}

fn kv_tree(meta: ReadMeta, answer: KvReadAnswer, how: Rendering<'_>) -> HttpResponse {
    let found: Vec<KvEntryJson> = entries(answer).into_iter().map(entry_json).collect();
    let response = match found.is_empty() {
        true => HttpResponse::new(404),
        false => HttpResponse::json(200, &found, how.pretty),
    };
    with_meta(response, &meta, how.consistency)
}

fn kv_keys(root: bool, meta: ReadMeta, answer: KvReadAnswer, how: Rendering<'_>) -> HttpResponse {
    let keys: KeyListJson = match answer {
        KvReadAnswer::Keys(keys) => keys,
        KvReadAnswer::Entries(_) => Vec::new(),
    };
    let response = match keys.is_empty() && !root {
        true => HttpResponse::new(404),
        false => HttpResponse::json(200, &keys, how.pretty),
    };
    with_meta(response, &meta, how.consistency)
}

/// 200 with `Results` or 409 with `Errors`; a read-only transaction also
/// carries its query metadata (in the body, as Go embeds `QueryMeta`, and as
/// the contact headers).
fn txn(read_only: bool, meta: ReadMeta, answer: TxnAnswer, how: Rendering<'_>) -> HttpResponse {
    let (status, body) = match answer {
        TxnAnswer::Committed { results } => {
            let results = results
                .into_iter()
                .map(|entry| TxnResultJson {
                    kv: entry_json(entry),
                })
                .collect();
            (200, TxnResponseJson::applied(results))
        }
        TxnAnswer::Failed { errors } => {
            let errors = errors
                .into_iter()
                .map(|(op_index, what)| TxnErrorJson {
                    op_index: op_index as usize,
                    what,
                })
                .collect();
            (409, TxnResponseJson::rejected(errors))
        }
    };
    if !read_only {
        return HttpResponse::json(status, &body, how.pretty);
    }
    let last_contact_ns =
        i64::try_from(meta.last_contact_ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
    // Consul's Txn.Read sets no index in its metadata.
    let body = body.with_read_meta(TxnReadMetaJson {
        index: 0,
        last_contact: last_contact_ns,
        known_leader: meta.known_leader,
        consistency_level: consistency_level(how.consistency).to_string(),
        not_modified: false,
        backend: 0,
        results_filtered_by_acls: false,
    });
    HttpResponse::json(status, &body, how.pretty)
        .with_header("X-Consul-Knownleader", meta.known_leader.to_string())
        .with_header("X-Consul-Lastcontact", meta.last_contact_ms.to_string())
}
