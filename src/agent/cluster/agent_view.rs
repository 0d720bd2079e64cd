//! What the agent answers about itself without waiting: `node info`,
//! `node members` and, on a server, `node peers`.

use crate::wire::client_message::{
    InfoSection, PeerInfo, RequestBody, RpcError, RpcResult, ServerIdentity,
};
use crate::wire::raft_message::Suffrage;

use crate::agent::config::Bootstrap;
use crate::agent::handler::AgentHandler;

impl AgentHandler {
    /// The answer to an agent-level request that needs no waiting, without
    /// I/O (so it is testable alone). `None` for requests that are routed
    /// (KV, catalog; peers on a client agent) and for join and leave, which
    /// are answered when they finish.
    pub fn answer(&self, body: &RequestBody) -> Option<Result<RpcResult, RpcError>> {
        Some(match body {
            RequestBody::Info => Ok(RpcResult::Info(self.info())),
            RequestBody::Members => Ok(RpcResult::Members(self.membership.members())),
            RequestBody::Peers => Ok(RpcResult::Peers(self.peers()?)),
            RequestBody::Identity => Ok(RpcResult::Identity(self.identity())),
            _ => return None,
        })
    }

    fn info(&self) -> Vec<InfoSection> {
        let bootstrap = match self.config.bootstrap {
            Bootstrap::None => "false".to_string(),
            Bootstrap::Single => "true".to_string(),
            Bootstrap::Expect(n) => format!("expect {n}"),
        };
        let pair = |k: &str, v: String| (k.to_string(), v);
        let uptime = self.last_now.saturating_duration_since(self.started_at);
        vec![
            InfoSection {
                name: "agent".into(),
                fields: vec![
                    pair("name", self.config.node_name.clone()),
                    pair("datacenter", self.config.datacenter.clone()),
                    pair("server", self.config.server.to_string()),
                    pair("bootstrap", bootstrap),
                    pair("bind", self.config.bind.to_string()),
                    pair("advertise", self.config.advertise.to_string()),
                    pair("data_dir", self.config.data_dir.display().to_string()),
                    pair("version", env!("CARGO_PKG_VERSION").into()),
                    pair("uptime_seconds", uptime.as_secs().to_string()),
                ],
            },
            match &self.raft {
                Some(raft) => {
                    let mut section = raft.info().section();
                    section.fields.extend(raft.identity_fields());
                    section
                }
                None => InfoSection {
                    name: "raft".into(),
                    fields: vec![pair("state", "client agent: no Raft state".into())],
                },
            },
            self.membership.info().section(),
        ]
    }

    fn identity(&self) -> ServerIdentity {
        match &self.raft {
            Some(raft) => raft.identity(&self.config.node_name),
            None => ServerIdentity {
                node_name: self.config.node_name.clone(),
                raft_id: 0,
                cluster_id: 0,
                has_raft_data: false,
                committed_servers: None,
            },
        }
    }

    /// `node peers` from this server's latest configuration.
    fn peers(&self) -> Option<Vec<PeerInfo>> {
        let raft = self.raft.as_ref()?;
        let leader = raft.node().leader();
        Some(
            raft.node()
                .latest_configuration()
                .servers
                .iter()
                .map(|s| PeerInfo {
                    name: s.name.clone(),
                    id: s.id,
                    address: s.address.clone(),
                    state: if Some(s.id) == leader {
                        "leader"
                    } else if s.suffrage == Suffrage::Voter {
                        "follower"
                    } else {
                        "non-voter"
                    }
                    .into(),
                    voter: s.suffrage == Suffrage::Voter,
                })
                .collect(),
        )
    }
}
