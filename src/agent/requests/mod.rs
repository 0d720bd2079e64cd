//! Client requests: where each is served (here, on the leader, or on a
//! server for a client agent) and how reads are answered from the state.

pub mod catalog_answers;
pub mod kv_answers;
pub mod outstanding;
pub mod reply;
pub mod router;
pub mod routing;
pub mod service_answers;
