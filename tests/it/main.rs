//! The integration tests, one module per subject, in one binary so they
//! share `support`. Tests that open sockets each use their own loopback
//! addresses (127.0.0.0/8; the module docs say which), so they run in
//! parallel. The seeded simulations are binaries of their own
//! (`raft_sim`, `gossip_sim`), run with their own `SIM_SEEDS`.
//!
//!     cargo test --release --test it
//!     cargo test --release --test it agent_gossip::

mod support;

mod agent_bench;
mod agent_bounded_answers;
mod agent_config_files;
mod agent_event_loop;
mod agent_failed_server_removal;
mod agent_gossip;
mod agent_metrics;
mod agent_process;
mod agent_services;
mod agent_source_address;
mod bench_http;
mod cli_args;
mod cli_kv_detailed;
mod cli_output;
mod cli_services;
mod consul_client_library;
mod consul_sd_victoria_metrics;
mod dns_health_and_truncation;
mod dns_hostile;
mod dns_lookups;
mod dns_recursor;
mod dns_serving;
mod gossip_force_leave;
mod gossip_rules;
mod gossip_wire;
mod hostile_gossip;
mod hostile_storage_files;
mod http_agent_ops;
mod http_api;
mod http_catalog;
mod http_catalog_register;
mod http_codec;
mod http_filter;
mod http_force_leave;
mod http_health;
mod http_hostile;
mod http_pipelining;
mod http_serving;
mod linearizability;
mod seed_bootstrapping;
mod state_machine_command_codec;
mod storage_hard_state;
mod storage_hostile;
mod storage_lock;
mod storage_log_model;
mod storage_recovery;
mod storage_snapshot;
mod wire_hostile_input;
mod wire_roundtrip;
mod wire_spec_examples;
