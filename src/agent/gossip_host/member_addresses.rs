//! The addresses the gossip host works with: those a restart rejoins from
//! the remembered member list, and a join's addresses without repeats.

use std::collections::HashSet;

use crate::storage::member_list::MemberList;

/// The addresses a restart would rejoin from `list`.
pub(super) fn addresses_of(list: &MemberList) -> HashSet<String> {
    list.members
        .iter()
        .map(|(_, address)| address.clone())
        .collect()
}

/// The addresses without repeats, first occurrences in order. A set keeps
/// it linear: a join may name up to `MAX_JOIN_ADDRESSES` addresses.
pub(super) fn unique_in_order(addresses: &[String]) -> Vec<String> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(addresses.len());
    addresses
        .iter()
        .filter(|address| seen.insert(address.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_addresses_are_contacted_once_each_in_the_order_given() {
        let given: Vec<String> = ["b:1", "a:1", "b:1", "c:1", "a:1", "b:1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(unique_in_order(&given), ["b:1", "a:1", "c:1"]);
        let many: Vec<String> = (0..10_000)
            .map(|i| format!("10.0.0.{}:1", i % 256))
            .collect();
        assert_eq!(unique_in_order(&many).len(), 256);
    }
}
