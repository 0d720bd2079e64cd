//! The operator's view of Raft that Consul's HTTP API serves
//! (`/v1/operator/raft/configuration`): the servers of the configuration
//! with who leads, who votes and how far each has replicated, and the
//! configuration's log index. Served by the leader (by any server with
//! `stale`), so it is the cluster's view rather than one server's guess;
//! layouts in `wire-spec.md` (5.1, 5.2).

use super::client_message::{MAX_ADDRESS_BYTES, MAX_NAME_BYTES};
use super::error::WireError;
use super::reader::Reader;
use super::writer::WriteExt;

/// One server of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct RaftServerView {
    pub id: u64,
    pub name: String,
    pub address: String,
    pub leader: bool,
    pub voter: bool,
    /// The last log index the serving server knows this server to hold:
    /// on the leader, the follower's match index (its own last index for
    /// itself); 0 when unknown.
    pub last_index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct RaftConfigurationView {
    /// The log index of the configuration's entry.
    pub index: u64,
    pub servers: Vec<RaftServerView>,
}

/// id, last_index, two strings, two bools.
const MIN_SERVER_BYTES: usize = 8 + 8 + 4 + 4 + 2;
/// More servers than any configuration holds is a hostile count.
pub const MAX_CONFIGURATION_SERVERS: usize = 1024;

impl RaftConfigurationView {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.index);
        out.put_count(self.servers.len());
        for server in &self.servers {
            out.put_u64(server.id);
            out.put_string(&server.name);
            out.put_string(&server.address);
            out.put_bool(server.leader);
            out.put_bool(server.voter);
            out.put_u64(server.last_index);
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<RaftConfigurationView, WireError> {
        let index = r.u64()?;
        let count = r.count_at_most(
            MIN_SERVER_BYTES,
            MAX_CONFIGURATION_SERVERS,
            "raft_configuration.servers",
        )?;
        let mut servers = Vec::with_capacity(count);
        for _ in 0..count {
            servers.push(RaftServerView {
                id: r.u64()?,
                name: r.string("raft_server.name", MAX_NAME_BYTES)?,
                address: r.string("raft_server.address", MAX_ADDRESS_BYTES)?,
                leader: r.bool("raft_server.leader")?,
                voter: r.bool("raft_server.voter")?,
                last_index: r.u64()?,
            });
        }
        Ok(RaftConfigurationView { index, servers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::client_message::{
        ClientRequest, ClientResponse, Consistency, PeerRef, RequestBody, ResponseBody, RpcResult,
        TYPE_RAFT_CONFIGURATION_RESULT,
    };
    use crate::wire::message::Message;
    use crate::wire::test_support::round_trip;

    #[test]
    fn the_configuration_request_and_answer_round_trip() {
        round_trip(&ClientRequest {
            request_id: 9,
            body: RequestBody::RaftConfiguration {
                consistency: Consistency::Stale,
            },
        });
        let server = RaftServerView {
            id: 0xabc,
            name: "s1".into(),
            address: "127.0.0.1:8300".into(),
            leader: true,
            voter: true,
            last_index: 41,
        };
        round_trip(&ClientResponse {
            request_id: 9,
            body: ResponseBody::Ok(RpcResult::RaftConfiguration(RaftConfigurationView {
                index: 7,
                servers: vec![server.clone(), server],
            })),
        });
    }

    #[test]
    fn the_transfer_and_removal_requests_and_answers_round_trip() {
        for body in [
            RequestBody::RaftTransferLeader { target: None },
            RequestBody::RaftTransferLeader { target: Some(5) },
            RequestBody::RaftRemovePeer {
                peer: PeerRef::Id(0xfeed),
            },
            RequestBody::RaftRemovePeer {
                peer: PeerRef::Address("127.0.0.3:8300".into()),
            },
        ] {
            round_trip(&ClientRequest {
                request_id: 2,
                body,
            });
        }
        for result in [
            RpcResult::LeadershipTransferred { leader: 7 },
            RpcResult::PeerRemoved { id: 7, index: 40 },
        ] {
            round_trip(&ClientResponse {
                request_id: 2,
                body: ResponseBody::Ok(result),
            });
        }
    }

    #[test]
    fn a_server_count_over_the_limit_is_refused() {
        let mut payload = 1u64.to_be_bytes().to_vec();
        payload.extend_from_slice(&7u64.to_be_bytes());
        payload.extend_from_slice(&((MAX_CONFIGURATION_SERVERS + 1) as u32).to_be_bytes());
        payload.extend(std::iter::repeat_n(
            0u8,
            (MAX_CONFIGURATION_SERVERS + 1) * 26,
        ));
        let decoded = ClientResponse::decode(TYPE_RAFT_CONFIGURATION_RESULT, &payload);
        assert!(decoded.is_err());
    }
}
