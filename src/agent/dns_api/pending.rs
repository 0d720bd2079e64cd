//! DNS queries waiting for their catalog read, keyed by the read's request
//! ID, bounded in number and in time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::dns::{DnsQuery, Transport};

use crate::agent::seam::DnsPeer;

/// Queries waiting for a catalog answer at once; past it a query is
/// answered SERVFAIL at once.
pub const MAX_PENDING_DNS_QUERIES: usize = 4096;

/// A query whose catalog answer has not come by then is SERVFAIL.
pub const DNS_ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct PendingQuery {
    pub peer: DnsPeer,
    pub transport: Transport,
    pub query: DnsQuery,
    /// The seam's clock when the query arrived, for its timing.
    pub started: Instant,
    pub deadline: Instant,
}

#[derive(Debug, Default)]
pub struct PendingQueries {
    by_request: BTreeMap<u64, PendingQuery>,
}

impl PendingQueries {
    pub fn is_full(&self) -> bool {
        self.by_request.len() >= MAX_PENDING_DNS_QUERIES
    }

    pub fn len(&self) -> usize {
        self.by_request.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_request.is_empty()
    }

    pub fn insert(&mut self, request_id: u64, pending: PendingQuery) {
        assert!(!self.is_full(), "pending DNS table over its bound");
        let previous = self.by_request.insert(request_id, pending);
        assert!(previous.is_none(), "DNS request ID {request_id} reused");
    }

    pub fn take(&mut self, request_id: u64) -> Option<PendingQuery> {
        self.by_request.remove(&request_id)
    }

    /// Every query whose deadline has passed, removed.
    pub fn take_expired(&mut self, now: Instant) -> Vec<PendingQuery> {
        let expired: Vec<u64> = self
            .by_request
            .iter()
            .filter(|(_, pending)| pending.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        expired
            .into_iter()
            .filter_map(|id| self.by_request.remove(&id))
            .collect()
    }

    /// Forgets the queries of a closed TCP connection.
    pub fn forget_connection(&mut self, peer: DnsPeer) {
        self.by_request.retain(|_, pending| pending.peer != peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{DnsConfig, parse_query};

    fn query() -> DnsQuery {
        let bytes = [
            0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w', b'e', b'b', 7, b's', b'e', b'r', b'v',
            b'i', b'c', b'e', 6, b'c', b'o', b'n', b's', b'u', b'l', 0, 0, 1, 0, 1,
        ];
        parse_query(&bytes, Transport::Udp, &DnsConfig::default()).unwrap()
    }

    fn pending(deadline: Instant) -> PendingQuery {
        PendingQuery {
            peer: DnsPeer::Udp("127.0.0.1:5353".parse().unwrap()),
            transport: Transport::Udp,
            query: query(),
            started: deadline,
            deadline,
        }
    }

    #[test]
    fn only_queries_past_their_deadline_expire() {
        let now = Instant::now();
        let mut table = PendingQueries::default();
        table.insert(1, pending(now));
        table.insert(2, pending(now + DNS_ANSWER_TIMEOUT));
        let expired = table.take_expired(now + Duration::from_millis(1));
        assert_eq!(expired.len(), 1);
        assert_eq!(table.len(), 1);
        assert!(table.take(2).is_some());
        assert!(table.take(1).is_none());
    }

    #[test]
    fn a_closed_connection_forgets_its_queries() {
        let now = Instant::now();
        let mut table = PendingQueries::default();
        let mut tcp = pending(now);
        tcp.peer = DnsPeer::Tcp(crate::agent::io::connection::ConnectionId(9));
        table.insert(1, tcp);
        table.insert(2, pending(now));
        table.forget_connection(DnsPeer::Tcp(crate::agent::io::connection::ConnectionId(9)));
        assert!(table.take(1).is_none());
        assert!(table.take(2).is_some());
    }
}
