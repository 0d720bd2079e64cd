//! Sanity checks on claims that arrive from the network, before the
//! membership rules act on them. Gossip is unauthenticated: a confused or
//! hostile peer can send any incarnation, name or address, and the rules in
//! `membership.rs` must never be driven into arithmetic overflow or into
//! sending datagrams to strings that are not addresses.

use std::net::SocketAddr;

use super::membership::Gossip;

/// Alive claims above this incarnation are ignored, and accusations
/// (suspect, dead, left) at or above it: an accusation must leave room for
/// the accused's refutation at `incarnation + 1`, which every member must
/// still accept, or one claim at the top would declare a member dead for
/// good. A member raises its own incarnation by one per refutation, so no
/// honest record ever gets near the limit; without it `+ 1` on a claimed
/// `u64::MAX` would overflow.
pub const MAX_INCARNATION: u64 = u64::MAX / 2;

/// What a claim from the network says about a member.
#[derive(Debug, Clone, Copy)]
pub(super) enum Claim<'a> {
    /// Alive at this address.
    Alive(&'a str),
    /// Suspect, dead or left.
    Accusation,
}

/// A member address must be a literal `IP:PORT` with a non-zero port: it is
/// where probes and gossip are sent, so anything else would be a datagram
/// to nowhere (or, through an indirect ping, a reflection to a third party).
pub fn is_member_address(address: &str) -> bool {
    address
        .parse::<SocketAddr>()
        .is_ok_and(|socket| socket.port() != 0)
}

/// Why `claim` about `name` at `incarnation` must not reach the membership
/// rules, or `None` if it may.
pub(super) fn claim_problem(claim: Claim<'_>, incarnation: u64, name: &str) -> Option<String> {
    let max_incarnation = match claim {
        Claim::Alive(_) => MAX_INCARNATION,
        Claim::Accusation => MAX_INCARNATION - 1,
    };
    if name.is_empty() {
        Some("an empty member name".to_owned())
    } else if incarnation > max_incarnation {
        Some(format!(
            "incarnation {incarnation} above the limit {max_incarnation}"
        ))
    } else if let Claim::Alive(address) = claim
        && !is_member_address(address)
    {
        Some(format!("address {address:?} that is not IP:PORT"))
    } else {
        None
    }
}

impl Gossip {
    /// [`claim_problem`] for one claim from a datagram; logs a refusal.
    pub(super) fn claim_is_sane(
        &mut self,
        from: &str,
        claim: Claim<'_>,
        incarnation: u64,
        name: &str,
    ) -> bool {
        let Some(problem) = claim_problem(claim, incarnation, name) else {
            return true;
        };
        self.log(
            log::Level::Warn,
            format!("Ignoring a claim about '{name}' from {from}: {problem}"),
        );
        false
    }
}
