//! The metrics the agent records, under Consul's names (its telemetry
//! reference, hashicorp/raft's and memberlist's metrics with Consul's
//! `consul.` prefix), each with the help text the Prometheus rendering
//! gives it. Where concord measures something Consul names differently,
//! the note says so.

/// Leader: from a client write's proposal to its entry committing
/// (hashicorp/raft measures from dispatch to commit; entries nobody waits
/// for, such as reconciliation's, are not timed).
/// Consul's DNS timing of a query for a name under the domain, labelled
/// with the node.
pub const DNS_DOMAIN_QUERY: &str = "consul.dns.domain_query";

pub const RAFT_COMMIT_TIME: &str = "consul.raft.commitTime";
/// Leader: client writes proposed to the Raft log.
pub const RAFT_APPLY: &str = "consul.raft.apply";
/// Time to apply one committed entry to the state machine.
pub const RAFT_FSM_APPLY: &str = "consul.raft.fsm.apply";
/// Time to append a Ready's entries to the log and fsync them (Consul's
/// storage metric for the same step; concord's log is not BoltDB).
pub const RAFT_STORE_LOGS: &str = "consul.raft.boltdb.storeLogs";
/// Times this server became leader, candidate, follower.
pub const RAFT_STATE_LEADER: &str = "consul.raft.state.leader";
pub const RAFT_STATE_CANDIDATE: &str = "consul.raft.state.candidate";
pub const RAFT_STATE_FOLLOWER: &str = "consul.raft.state.follower";
/// Leader: per follower, every 500 ms, the time since it was last heard.
pub const RAFT_LEADER_LAST_CONTACT: &str = "consul.raft.leader.lastContact";
/// 1 while this server leads, else 0.
pub const SERVER_IS_LEADER: &str = "consul.server.isLeader";
/// Leader: from a KV write's proposal to its answer (Consul: the KVS
/// endpoint's Apply RPC).
pub const KVS_APPLY: &str = "consul.kvs.apply";
/// Leader: the same for a transaction.
pub const TXN_APPLY: &str = "consul.txn.apply";
/// Leader: the same for a catalog registration or deregistration.
pub const CATALOG_REGISTER: &str = "consul.catalog.register";
pub const CATALOG_DEREGISTER: &str = "consul.catalog.deregister";
/// Blocking queries this server holds.
pub const RPC_QUERIES_BLOCKING: &str = "consul.rpc.queries_blocking";
/// Keys in the KV store (the state machine's, on servers).
pub const STATE_KV_ENTRIES: &str = "consul.state.kv_entries";
/// Time from a probe's ping to its ack or to giving up.
pub const MEMBERLIST_PROBE_NODE: &str = "consul.memberlist.probeNode";
/// Probes that got no ack and made their target suspect.
pub const MEMBERLIST_MSG_SUSPECT: &str = "consul.memberlist.msg.suspect";
/// An HTTP request's time to its answer, labelled `method`, `path` (the
/// router's endpoint pattern, Consul's label) and `code` (ours: Consul's
/// metric has no status code).
pub const API_HTTP: &str = "consul.api.http";
/// Consul's pre-1.9 name for the same timing, kept by Consul by default:
/// `consul.http.<METHOD>.<pattern parts>` (`consul.http.GET.v1.kv._`).
pub const HTTP_COMPAT_PREFIX: &str = "consul.http";
/// Resident memory of the agent's process (Consul's Go runtime reports
/// `consul.runtime.alloc_bytes`; a Rust process has no GC heap to report).
pub const RUNTIME_RSS_BYTES: &str = "consul.runtime.rss_bytes";

/// Help texts for Prometheus' `# HELP`; a series not listed here gets its
/// own name, as go-metrics' Prometheus sink does.
const HELP: &[(&str, &str)] = &[
    (
        RAFT_COMMIT_TIME,
        "Time from a write's proposal to its commit on the leader, in ms.",
    ),
    (RAFT_APPLY, "Client writes proposed to the Raft log."),
    (
        RAFT_FSM_APPLY,
        "Time to apply a committed entry to the state machine, in ms.",
    ),
    (
        RAFT_STORE_LOGS,
        "Time to append log entries and fsync them, in ms.",
    ),
    (
        RAFT_LEADER_LAST_CONTACT,
        "Time since the leader last heard a follower, in ms.",
    ),
    (RAFT_STATE_LEADER, "Times this server became the leader."),
    (
        RAFT_STATE_CANDIDATE,
        "Times this server started an election.",
    ),
    (RAFT_STATE_FOLLOWER, "Times this server became a follower."),
    (SERVER_IS_LEADER, "1 while this server is the leader."),
    (KVS_APPLY, "Time to apply a KV write on the leader, in ms."),
    (
        TXN_APPLY,
        "Time to apply a transaction on the leader, in ms.",
    ),
    (
        CATALOG_REGISTER,
        "Time to apply a catalog registration on the leader, in ms.",
    ),
    (
        CATALOG_DEREGISTER,
        "Time to apply a catalog deregistration on the leader, in ms.",
    ),
    (
        RPC_QUERIES_BLOCKING,
        "Blocking queries held by this server.",
    ),
    (STATE_KV_ENTRIES, "Keys in the KV store."),
    (MEMBERLIST_PROBE_NODE, "Time to probe a member, in ms."),
    (
        MEMBERLIST_MSG_SUSPECT,
        "Probes that got no ack and made their target suspect.",
    ),
    (API_HTTP, "Time to answer an HTTP API request, in ms."),
    (
        RUNTIME_RSS_BYTES,
        "Resident memory of the agent process, in bytes.",
    ),
];

/// The help text of the series named `name` (dotted).
pub fn help_of(name: &str) -> Option<&'static str> {
    HELP.iter().find(|(n, _)| *n == name).map(|(_, help)| *help)
}

/// HTTP methods kept as label values; any other is `OTHER`, so a client
/// inventing methods cannot add series.
const KNOWN_METHODS: &[&str] = &["GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH"];

pub fn method_label(method: &str) -> &'static str {
    KNOWN_METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("OTHER")
}

/// Consul's `path` label for an endpoint pattern: without the leading
/// slash, `/` replaced by `_` (`/v1/kv/` is `v1_kv_`).
pub fn path_label(pattern: &str) -> String {
    pattern.trim_start_matches('/').replace('/', "_")
}

/// Consul's pre-1.9 metric name for an endpoint: the pattern's parts,
/// an empty trailing part as `_` (`consul.http.GET.v1.kv._`).
pub fn http_compat_name(method: &str, pattern: &str) -> String {
    let mut name = format!("{HTTP_COMPAT_PREFIX}.{method}");
    for part in pattern.trim_start_matches('/').split('/') {
        name.push('.');
        name.push_str(if part.is_empty() { "_" } else { part });
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_names_follow_consul() {
        assert_eq!(path_label("/v1/kv/"), "v1_kv_");
        assert_eq!(path_label("/v1/status/leader"), "v1_status_leader");
        assert_eq!(
            http_compat_name("GET", "/v1/kv/"),
            "consul.http.GET.v1.kv._"
        );
        assert_eq!(http_compat_name("PUT", "/v1/txn"), "consul.http.PUT.v1.txn");
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("BREW"), "OTHER");
    }
}
