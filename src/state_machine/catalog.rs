//! The replicated node catalog: which nodes are registered, with their
//! address, role and datacenter, keyed and ordered by node name.

use imbl::OrdMap;

use crate::wire::client_message::CatalogNode;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Persistent map, for the same O(1) snapshot clone as the KV store.
    nodes: OrdMap<String, CatalogNode>,
}

impl Catalog {
    pub fn new() -> Self {
        Catalog::default()
    }

    /// Adds the node or replaces the entry with the same name; returns
    /// whether an entry was replaced.
    pub fn register(&mut self, node: CatalogNode) -> bool {
        self.nodes.insert(node.name.clone(), node).is_some()
    }

    /// Returns whether the node was registered.
    pub fn deregister(&mut self, name: &str) -> bool {
        self.nodes.remove(name).is_some()
    }

    pub fn get(&self, name: &str) -> Option<&CatalogNode> {
        self.nodes.get(name)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node, ordered by name.
    pub fn nodes(&self) -> impl Iterator<Item = &CatalogNode> {
        self.nodes.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, address: &str) -> CatalogNode {
        CatalogNode {
            name: name.into(),
            address: address.into(),
            role: "server".into(),
            datacenter: "dc1".into(),
        }
    }

    #[test]
    fn register_replaces_the_entry_of_the_same_name() {
        let mut catalog = Catalog::new();
        assert!(!catalog.register(node("n1", "127.0.0.1:8300")));
        assert!(catalog.register(node("n1", "127.0.0.2:8300")));
        assert_eq!(catalog.len(), 1);
        assert_eq!(catalog.get("n1").unwrap().address, "127.0.0.2:8300");
    }

    #[test]
    fn deregister_removes_only_the_named_node() {
        let mut catalog = Catalog::new();
        catalog.register(node("b", "x"));
        catalog.register(node("a", "y"));
        assert!(catalog.deregister("b"));
        assert!(!catalog.deregister("b"));
        let names: Vec<&str> = catalog.nodes().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a"]);
    }
}
