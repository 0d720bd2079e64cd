//! Every byte on disk: the segmented, memory-mapped Raft log, the hard state
//! record and snapshot files. Disk I/O only: no networking, no Raft logic.
//! The byte layouts are in `wire-spec.md` (section 10, "On-disk formats"); the durability
//! contract is in the README ("Durability contract").

pub mod agent_definitions;
pub mod data_dir;
pub mod durable_file;
pub mod error;
pub mod hard_state_store;
pub mod log_compaction;
pub mod log_record;
pub mod log_start;
pub mod member_list;
pub mod node_id_file;
pub mod raft_log;
pub mod segment;
pub mod segment_header;
pub mod segment_index;
pub mod segment_preallocator;
pub mod snapshot_header;
pub mod snapshot_store;

pub use data_dir::DataDir;
pub use error::{Result, StorageError};
pub use hard_state_store::HardStateStore;
pub use log_record::EntryRef;
pub use raft_log::{LogOptions, RaftLog};
pub use segment::TailRecovery;
pub use snapshot_header::SnapshotHeader;
pub use snapshot_store::{SnapshotReader, SnapshotStore, SnapshotWriter};
