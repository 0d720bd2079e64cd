//! The one table of requests this agent sent to another agent and waits to
//! hear back on, with the one allocator of their request IDs: forwarded
//! client requests, the leader's identity queries to joining servers, and a
//! leaving server's check that it was removed. Each entry remembers the
//! connection it went out on, so a closed connection settles exactly what
//! it carried.

use std::collections::HashMap;
use std::time::Instant;

use crate::wire::client_message::ClientRequest;

use crate::agent::io::connection::ConnectionId;

/// Requests forwarded and not yet answered; past it new ones wait.
pub const MAX_OUTSTANDING_REQUESTS: usize = 65_536;

/// What an outstanding request is for.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// A client's request passed on to the leader (or, from a client agent,
    /// to a server): its answer goes back to `from`.
    Forwarded {
        from: ConnectionId,
        request: ClientRequest,
        /// The client's own deadline: past it the client has given up, and
        /// the request is neither waited for nor sent again.
        client_deadline: Instant,
    },
    /// The leader asks a joining server for its identity.
    Identity { address: String },
    /// A leaving server asks whether the leader removed it.
    RemovalCheck,
}

#[derive(Debug, Clone)]
pub struct Outstanding {
    pub purpose: Purpose,
    /// The connection it went out on.
    pub link: ConnectionId,
    /// Past it the request is answered `Timeout` (forwarded) or forgotten.
    pub deadline: Instant,
}

#[derive(Debug)]
pub struct OutstandingRequests {
    next_id: u64,
    entries: HashMap<u64, Outstanding>,
}

impl Default for OutstandingRequests {
    fn default() -> Self {
        OutstandingRequests {
            next_id: 1,
            entries: HashMap::new(),
        }
    }
}

impl OutstandingRequests {
    /// The ID the next request goes out with. IDs are never reused, so a
    /// late answer to a forgotten request matches nothing.
    pub fn allocate(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn has_room(&self) -> bool {
        self.entries.len() < MAX_OUTSTANDING_REQUESTS
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn insert(&mut self, id: u64, outstanding: Outstanding) {
        assert!(id < self.next_id, "request ID {id} was not allocated");
        assert!(self.has_room(), "outstanding requests past their bound");
        let previous = self.entries.insert(id, outstanding);
        assert!(previous.is_none(), "request ID {id} used twice");
    }

    /// The request an answer is for, once.
    pub fn take(&mut self, id: u64) -> Option<Outstanding> {
        self.entries.remove(&id)
    }

    /// Whether a request of this kind is out (at most one removal check).
    pub fn any(&self, matches: impl Fn(&Purpose) -> bool) -> bool {
        self.entries.values().any(|o| matches(&o.purpose))
    }

    /// Every request that went out on `link`, which closed.
    pub fn take_on_link(&mut self, link: ConnectionId) -> Vec<Outstanding> {
        self.take_where(|o| o.link == link)
    }

    /// Forgets the requests forwarded for a client whose connection closed:
    /// nobody reads their answers, which will match nothing.
    pub fn forget_from(&mut self, client: ConnectionId) {
        self.entries.retain(
            |_, o| !matches!(&o.purpose, Purpose::Forwarded { from, .. } if *from == client),
        );
    }

    /// Every request whose deadline has passed.
    pub fn take_expired(&mut self, now: Instant) -> Vec<Outstanding> {
        self.take_where(|o| o.deadline <= now)
    }

    fn take_where(&mut self, matches: impl Fn(&Outstanding) -> bool) -> Vec<Outstanding> {
        let ids: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, o)| matches(o))
            .map(|(id, _)| *id)
            .collect();
        let mut taken: Vec<(u64, Outstanding)> = ids
            .into_iter()
            .filter_map(|id| self.entries.remove(&id).map(|o| (id, o)))
            .collect();
        // In the order they were sent, so answers keep it.
        taken.sort_by_key(|(id, _)| *id);
        taken.into_iter().map(|(_, o)| o).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(link: usize, deadline: Instant) -> Outstanding {
        Outstanding {
            purpose: Purpose::RemovalCheck,
            link: ConnectionId(link),
            deadline,
        }
    }

    #[test]
    fn an_answer_settles_its_request_once() {
        let mut table = OutstandingRequests::default();
        let id = table.allocate();
        table.insert(id, entry(1, Instant::now()));
        assert!(table.take(id).is_some());
        assert!(
            table.take(id).is_none(),
            "a duplicated answer matches nothing"
        );
    }

    #[test]
    fn a_closed_link_settles_only_what_it_carried() {
        let mut table = OutstandingRequests::default();
        let now = Instant::now();
        let (a, b) = (table.allocate(), table.allocate());
        table.insert(a, entry(1, now));
        table.insert(b, entry(2, now));
        assert_eq!(table.take_on_link(ConnectionId(1)).len(), 1);
        assert_eq!(table.len(), 1);
        assert!(table.take(b).is_some());
    }

    #[test]
    fn requests_past_their_deadline_expire_in_the_order_sent() {
        let mut table = OutstandingRequests::default();
        let now = Instant::now();
        for link in [3, 1, 2] {
            let id = table.allocate();
            table.insert(id, entry(link, now));
        }
        let late = table.allocate();
        table.insert(late, entry(9, now + Duration::from_secs(5)));
        let expired: Vec<usize> = table.take_expired(now).iter().map(|o| o.link.0).collect();
        assert_eq!(expired, vec![3, 1, 2]);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn ids_are_never_reused() {
        let mut table = OutstandingRequests::default();
        let a = table.allocate();
        table.insert(a, entry(1, Instant::now()));
        table.take(a);
        assert_ne!(table.allocate(), a);
    }
}
