//! Sanity checks on claims that arrive from the network, before the
//! membership rules act on them. Gossip is unauthenticated: a confused or
//! hostile peer can send any incarnation, name or address, and the rules in
//! `membership.rs` must never be driven into arithmetic overflow or into
//! sending datagrams to strings that are not addresses.

use std::net::SocketAddr;

use super::membership::Gossip;

/// Claims above this incarnation are ignored. A member raises its own
/// incarnation by one per refutation, so no honest record ever gets near it;
/// accepting `u64::MAX` would leave no higher incarnation to refute with
/// (our record could then be declared dead for good), and `+ 1` on it would
/// overflow.
pub const MAX_INCARNATION: u64 = u64::MAX / 2;

/// A member address must be a literal `IP:PORT` with a non-zero port: it is
/// where probes and gossip are sent, so anything else would be a datagram
/// to nowhere (or, through an indirect ping, a reflection to a third party).
pub fn is_member_address(address: &str) -> bool {
    address
        .parse::<SocketAddr>()
        .is_ok_and(|socket| socket.port() != 0)
}

/// Why a claim about `name` at `incarnation` (with `address`, for alive
/// claims) must not reach the membership rules, or `None` if it may.
pub(super) fn claim_problem(incarnation: u64, name: &str, address: Option<&str>) -> Option<String> {
    if name.is_empty() {
        Some("an empty member name".to_owned())
    } else if incarnation > MAX_INCARNATION {
        Some(format!(
            "incarnation {incarnation} above the limit {MAX_INCARNATION}"
        ))
    } else {
        address
            .filter(|a| !is_member_address(a))
            .map(|a| format!("address {a:?} that is not IP:PORT"))
    }
}

impl Gossip {
    /// [`claim_problem`] for one claim from a datagram; logs a refusal.
    pub(super) fn claim_is_sane(
        &mut self,
        from: &str,
        incarnation: u64,
        name: &str,
        address: Option<&str>,
    ) -> bool {
        let Some(problem) = claim_problem(incarnation, name, address) else {
            return true;
        };
        self.log(
            log::Level::Warn,
            format!("Ignoring a claim about '{name}' from {from}: {problem}"),
        );
        false
    }
}
