//! A routed HTTP request becomes the same internal request a native client
//! sends (a KV read, write or transaction, or a `Peers` question), with a
//! note of how its answer is shown; what has no internal request is
//! answered here.

use crate::http::api_request::{
    ApiRequest, KvDelete, KvDeleteMode, KvGet, KvPut, KvPutMode, KvVerb, RaftPeer, ServiceRead,
    ServiceReadKind, TxnKvOp, TxnRequest,
};
use crate::http::filter::Filter;
use crate::http::{BlockingParams, Consistency as HttpConsistency, HttpResponse};
use std::collections::BTreeMap;

use crate::wire::client_catalog::{CatalogQuery, CatalogRead};
use crate::wire::client_kv::{KvRead, KvReadKind, KvRemoveMode};
use crate::wire::client_message::{Consistency, PeerRef, RequestBody};
use crate::wire::command::TxnOp;

/// How an internal answer is shown to the HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerShape {
    /// One key: its entry in a list, or with `raw` the bare value; 404
    /// when absent.
    KvEntry {
        raw: bool,
    },
    /// Entries under a prefix; 404 when none.
    KvTree,
    /// Key names; 404 when none, except at the root (`[]`).
    KvKeys {
        root: bool,
    },
    /// `true` or `false`.
    KvApplied,
    Txn {
        read_only: bool,
    },
    StatusLeader,
    StatusPeers,
    /// `/v1/catalog/nodes`, keeping the nodes whose meta has these pairs
    /// and that match the `?filter` expression.
    CatalogNodes {
        node_meta: BTreeMap<String, String>,
        filter: Option<Filter>,
    },
    /// `/v1/catalog/node/<node>`: the node and its services, or `null`.
    CatalogNode,
    /// `/v1/operator/raft/configuration`.
    RaftConfiguration,
    /// `POST /v1/operator/raft/transfer-leader`: `{"Success": true}`.
    TransferLeader,
    /// `DELETE /v1/operator/raft/peer`: an empty 200 once committed.
    RemovePeer,
    /// `PUT /v1/agent/join/<address>`: 200 once a member was reached.
    AgentJoin,
    /// `PUT /v1/agent/leave`: 200 once the graceful leave is done.
    AgentLeave,
    /// `PUT /v1/agent/force-leave/<node>`: 200 once the failed member is left.
    AgentForceLeave,
    /// `PUT /v1/catalog/register` and `/deregister`: `true` once applied.
    CatalogWritten,
    /// `/v1/catalog/services`: service names and their tags.
    CatalogServices {
        node_meta: BTreeMap<String, String>,
    },
    /// `/v1/catalog/service/<name>` and `/v1/health/*`, keeping what is on
    /// nodes with this meta and matches the `?filter` expression.
    ServiceRead {
        shape: ServiceShape,
        node_meta: BTreeMap<String, String>,
        filter: Option<Filter>,
    },
}

/// Which of Consul's shapes a service or health read is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceShape {
    /// `structs.ServiceNode` per instance.
    CatalogService,
    /// `{Node, Service, Checks}` per instance.
    HealthService,
    /// `structs.HealthCheck` per check.
    Checks,
}

/// An internal request and how its answer is shown, with the read's
/// consistency for `X-Consul-Effective-Consistency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Internal {
    pub body: RequestBody,
    pub shape: AnswerShape,
    pub consistency: Consistency,
}

#[derive(Debug)]
pub enum Translated {
    Internal(Internal),
    /// Answered without the cluster.
    Answer(HttpResponse),
    /// Agent and catalog endpoints, answered from the agent's own view.
    Agent(ApiRequest),
}

/// What a request needs of the agent: its datacenter (another is
/// unreachable: this agent knows no other), and a random draw for a
/// blocking query's jitter.
pub struct Translation<'a> {
    pub datacenter: &'a str,
    pub random: u64,
}

fn not_implemented(what: &str) -> HttpResponse {
    HttpResponse::text(501, &format!("{what} is not implemented by this agent yet"))
}

fn consistency(mode: HttpConsistency) -> Consistency {
    match mode {
        HttpConsistency::Default => Consistency::Default,
        HttpConsistency::Stale => Consistency::Stale,
        HttpConsistency::Consistent => Consistency::Consistent,
    }
}

impl Translation<'_> {
    /// Consul answers `No path to datacenter` for a datacenter it cannot
    /// reach; a name the client got wrong is its mistake, so 400.
    fn check_datacenter(&self, datacenter: Option<&str>) -> Result<(), HttpResponse> {
        match datacenter {
            Some(dc) if dc != self.datacenter => {
                Err(HttpResponse::text(400, "No path to datacenter"))
            }
            _ => Ok(()),
        }
    }

    pub fn translate(&self, request: ApiRequest) -> Translated {
        let translated = match request {
            ApiRequest::KvGet(get) => self.kv_get(get),
            ApiRequest::KvPut(put) => self.kv_put(put),
            ApiRequest::KvDelete(delete) => self.kv_delete(delete),
            ApiRequest::Txn(txn) => self.txn(txn),
            ApiRequest::StatusLeader { blocking } => {
                self.status(blocking, AnswerShape::StatusLeader)
            }
            ApiRequest::StatusPeers { blocking } => self.status(blocking, AnswerShape::StatusPeers),
            ApiRequest::OperatorRaftConfiguration { blocking } => self.raft_configuration(blocking),
            ApiRequest::OperatorRaftTransferLeader { id } => transfer_leader(id.as_deref()),
            ApiRequest::OperatorRaftRemovePeer { peer, datacenter } => self
                .check_datacenter(datacenter.as_deref())
                .and_then(|()| remove_peer(peer)),
            ApiRequest::AgentJoin { wan: true, .. } => {
                Err(not_implemented("?wan (this agent has no WAN pool)"))
            }
            ApiRequest::AgentJoin {
                address,
                wan: false,
            } => Ok(agent_request(
                RequestBody::Join {
                    addresses: vec![address],
                },
                AnswerShape::AgentJoin,
            )),
            ApiRequest::AgentLeave => {
                Ok(agent_request(RequestBody::Leave, AnswerShape::AgentLeave))
            }
            ApiRequest::CatalogRegister(mut request) => {
                // Consul's RPC fills in the agent's datacenter.
                if request.datacenter.is_empty() {
                    request.datacenter = self.datacenter.to_string();
                }
                self.check_datacenter(Some(&request.datacenter)).map(|()| {
                    agent_request(
                        RequestBody::CatalogRegister(request),
                        AnswerShape::CatalogWritten,
                    )
                })
            }
            ApiRequest::CatalogDeregister(request) => Ok(agent_request(
                RequestBody::CatalogDeregister(request),
                AnswerShape::CatalogWritten,
            )),
            ApiRequest::AgentForceLeave { wan: true, .. } => {
                Err(not_implemented("?wan (this agent has no WAN pool)"))
            }
            ApiRequest::AgentForceLeave {
                node,
                prune,
                wan: false,
            } => Ok(agent_request(
                RequestBody::ForceLeave { node, prune },
                AnswerShape::AgentForceLeave,
            )),
            ApiRequest::CatalogNodes(nodes) => match parse_filter(nodes.filter.as_deref()) {
                Ok(filter) => {
                    let shape = AnswerShape::CatalogNodes {
                        node_meta: nodes.node_meta,
                        filter,
                    };
                    self.catalog(nodes.blocking, None, CatalogQuery::Nodes, shape)
                }
                Err(refusal) => Err(refusal),
            },
            ApiRequest::ServiceRead(read) => self.service_read(read),
            ApiRequest::CatalogNode { node, blocking } => {
                let query = CatalogQuery::NodeServices { name: node };
                self.catalog(blocking, None, query, AnswerShape::CatalogNode)
            }
            ApiRequest::CatalogServices(services) => {
                let shape = AnswerShape::CatalogServices {
                    node_meta: services.node_meta,
                };
                let query = CatalogQuery::Services;
                self.catalog(services.blocking, services.filter, query, shape)
            }
            ApiRequest::Options { allow } => Ok(Translated::Answer(
                HttpResponse::new(200).with_header("Allow", allow.join(",")),
            )),
            other => Ok(Translated::Agent(other)),
        };
        translated.unwrap_or_else(Translated::Answer)
    }

    fn kv_get(&self, get: KvGet) -> Result<Translated, HttpResponse> {
        let blocking = &get.blocking;
        self.check_datacenter(blocking.datacenter.as_deref())?;
        let (kind, shape) = if get.keys_only {
            let root = get.key.is_empty();
            let separator = get.separator.clone();
            (KvReadKind::Keys { separator }, AnswerShape::KvKeys { root })
        } else if get.recurse {
            (KvReadKind::Tree, AnswerShape::KvTree)
        } else {
            (KvReadKind::Entry, AnswerShape::KvEntry { raw: get.raw })
        };
        let consistency = consistency(blocking.consistency);
        let wait = blocking.timeout_with_jitter(self.random);
        let read = KvRead {
            key: get.key,
            kind,
            consistency,
            min_index: blocking.index,
            wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        };
        Ok(Translated::Internal(Internal {
            body: RequestBody::KvRead(read),
            shape,
            consistency,
        }))
    }

    fn kv_put(&self, put: KvPut) -> Result<Translated, HttpResponse> {
        self.check_datacenter(put.datacenter.as_deref())?;
        let cas = match put.mode {
            KvPutMode::Set => None,
            KvPutMode::Cas { index } => Some(index),
            KvPutMode::Acquire { .. } | KvPutMode::Release { .. } => {
                return Err(not_implemented("?acquire and ?release (sessions)"));
            }
        };
        Ok(write(RequestBody::KvSet {
            key: put.key,
            value: put.value,
            flags: put.flags,
            cas,
        }))
    }

    fn kv_delete(&self, delete: KvDelete) -> Result<Translated, HttpResponse> {
        self.check_datacenter(delete.datacenter.as_deref())?;
        let mode = match delete.mode {
            KvDeleteMode::Single => KvRemoveMode::Single,
            KvDeleteMode::Recurse => KvRemoveMode::Tree,
            KvDeleteMode::Cas { index } => KvRemoveMode::Cas { index },
        };
        Ok(write(RequestBody::KvRemove {
            key: delete.key,
            mode,
        }))
    }

    fn txn(&self, txn: TxnRequest) -> Result<Translated, HttpResponse> {
        self.check_datacenter(txn.blocking.datacenter.as_deref())?;
        let read_only = txn.is_read_only();
        // Consul honours the read options only for a transaction that
        // only reads.
        let consistency = match read_only {
            true => consistency(txn.blocking.consistency),
            false => Consistency::Default,
        };
        let ops = txn
            .ops
            .into_iter()
            .map(txn_op)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Translated::Internal(Internal {
            body: RequestBody::Txn { ops, consistency },
            shape: AnswerShape::Txn { read_only },
            consistency,
        }))
    }

    /// A catalog read, blocking as a KV read does. `filter` is a `?filter`
    /// this endpoint does not evaluate yet: refused rather than ignored,
    /// so nobody gets unfiltered results believing them filtered.
    fn catalog(
        &self,
        blocking: BlockingParams,
        filter: Option<String>,
        query: CatalogQuery,
        shape: AnswerShape,
    ) -> Result<Translated, HttpResponse> {
        self.check_datacenter(blocking.datacenter.as_deref())?;
        if filter.is_some() {
            return Err(not_implemented("?filter"));
        }
        let consistency = consistency(blocking.consistency);
        let wait = blocking.timeout_with_jitter(self.random);
        let read = CatalogRead {
            query,
            consistency,
            min_index: blocking.index,
            wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        };
        Ok(Translated::Internal(Internal {
            body: RequestBody::CatalogRead(read),
            shape,
            consistency,
        }))
    }

    fn service_read(&self, read: ServiceRead) -> Result<Translated, HttpResponse> {
        let filter = parse_filter(read.filter.as_deref())?;
        let (query, shape) = match read.kind {
            ServiceReadKind::CatalogService { name, tags } => (
                CatalogQuery::ServiceNodes { name, tags },
                ServiceShape::CatalogService,
            ),
            ServiceReadKind::HealthService {
                name,
                tags,
                passing,
            } => (
                CatalogQuery::HealthService {
                    name,
                    tags,
                    passing_only: passing,
                },
                ServiceShape::HealthService,
            ),
            ServiceReadKind::HealthChecks { service } => (
                CatalogQuery::ServiceChecks { name: service },
                ServiceShape::Checks,
            ),
            ServiceReadKind::HealthNode { node } => (
                CatalogQuery::NodeChecks { name: node },
                ServiceShape::Checks,
            ),
            ServiceReadKind::HealthState { state } => {
                (CatalogQuery::ChecksInState { state }, ServiceShape::Checks)
            }
        };
        let shape = AnswerShape::ServiceRead {
            shape,
            node_meta: read.node_meta,
            filter,
        };
        self.catalog(read.blocking, None, query, shape)
    }

    fn raft_configuration(&self, blocking: BlockingParams) -> Result<Translated, HttpResponse> {
        self.check_datacenter(blocking.datacenter.as_deref())?;
        let consistency = consistency(blocking.consistency);
        Ok(Translated::Internal(Internal {
            body: RequestBody::RaftConfiguration { consistency },
            shape: AnswerShape::RaftConfiguration,
            consistency,
        }))
    }

    fn status(
        &self,
        blocking: BlockingParams,
        shape: AnswerShape,
    ) -> Result<Translated, HttpResponse> {
        self.check_datacenter(blocking.datacenter.as_deref())?;
        Ok(Translated::Internal(Internal {
            body: RequestBody::Peers,
            shape,
            consistency: Consistency::Default,
        }))
    }
}

/// `?id` names a server by its Raft ID, as `/v1/agent/self` shows it.
fn transfer_leader(id: Option<&str>) -> Result<Translated, HttpResponse> {
    let target = match id {
        None | Some("") => None,
        Some(id) => Some(
            u64::from_str_radix(id, 16)
                .map_err(|_| HttpResponse::text(400, &format!("Invalid server ID {id:?}")))?,
        ),
    };
    Ok(agent_request(
        RequestBody::RaftTransferLeader { target },
        AnswerShape::TransferLeader,
    ))
}

fn remove_peer(peer: RaftPeer) -> Result<Translated, HttpResponse> {
    let peer = match peer {
        RaftPeer::Id(id) => PeerRef::Id(
            u64::from_str_radix(&id, 16)
                .map_err(|_| HttpResponse::text(400, &format!("Invalid server ID {id:?}")))?,
        ),
        RaftPeer::Address(address) => PeerRef::Address(address),
    };
    Ok(agent_request(
        RequestBody::RaftRemovePeer { peer },
        AnswerShape::RemovePeer,
    ))
}

/// A join or leave: the same request the CLI sends its agent.
/// A `?filter` expression, parsed before anything is sent to a server: a
/// bad one is the client's mistake, 400 with the parser's one line.
fn parse_filter(text: Option<&str>) -> Result<Option<Filter>, HttpResponse> {
    match text {
        None => Ok(None),
        Some(text) => Filter::parse(text)
            .map(Some)
            .map_err(|err| HttpResponse::text(400, &err.to_string())),
    }
}

fn agent_request(body: RequestBody, shape: AnswerShape) -> Translated {
    Translated::Internal(Internal {
        body,
        shape,
        consistency: Consistency::Default,
    })
}

fn write(body: RequestBody) -> Translated {
    Translated::Internal(Internal {
        body,
        shape: AnswerShape::KvApplied,
        consistency: Consistency::Default,
    })
}

/// One operation with the state machine's verbs; the session verbs come
/// with sessions.
fn txn_op(op: TxnKvOp) -> Result<TxnOp, HttpResponse> {
    let TxnKvOp {
        verb,
        key,
        value,
        flags,
        index,
        ..
    } = op;
    let value = bytes::Bytes::from(value.unwrap_or_default());
    Ok(match verb {
        KvVerb::Set => TxnOp::Set { key, value, flags },
        KvVerb::Cas => TxnOp::Cas {
            key,
            value,
            flags,
            index,
        },
        KvVerb::Get => TxnOp::Get { key },
        KvVerb::GetTree => TxnOp::GetTree { prefix: key },
        KvVerb::CheckIndex => TxnOp::CheckIndex { key, index },
        KvVerb::CheckNotExists => TxnOp::CheckNotExists { key },
        KvVerb::Delete => TxnOp::Delete { key },
        KvVerb::DeleteTree => TxnOp::DeleteTree { prefix: key },
        KvVerb::DeleteCas => TxnOp::DeleteCas { key, index },
        KvVerb::Lock | KvVerb::Unlock | KvVerb::CheckSession | KvVerb::GetOrEmpty => {
            return Err(not_implemented(&format!(
                "the transaction verb {:?}",
                verb.name()
            )));
        }
    })
}
