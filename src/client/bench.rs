//! `node bench`: N client threads, each with its own connection, share M
//! requests and keep up to `window` requests in flight each; the run prints
//! throughput and the latency distribution. Latency is measured per request
//! from send to its response, so pipelining does not hide queueing. With
//! `--http` the same clients speak Consul's HTTP API instead
//! ([`super::http_bench`]).

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::client_message::{Consistency, RequestBody, ResponseBody, RpcResult};

use crate::client::cli::{CliError, ClientOptions};
use crate::client::latency_histogram::LatencyHistogram;
use crate::client::rpc_client::{RpcClient, RpcClientError};

/// More in flight than this per connection only measures queueing.
pub const MAX_WINDOW: usize = 64;
/// Bench threads are real OS threads; a bound keeps a typo from forking 10^6.
pub const MAX_CLIENTS: usize = 1024;
/// `get` reads this many distinct keys, written once before timing starts.
pub const GET_KEYSPACE: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchOperation {
    Put,
    Get,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchOptions {
    pub operation: BenchOperation,
    pub clients: usize,
    pub requests: u64,
    pub value_size_bytes: usize,
    pub consistency: Consistency,
    /// Requests in flight per connection.
    pub window: usize,
    /// The agent's HTTP API, for keep-alive HTTP clients instead of the
    /// native protocol.
    pub http_addr: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct BenchReport {
    pub completed: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub latency: LatencyHistogram,
}

impl BenchReport {
    pub fn throughput_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.completed as f64 / secs
        } else {
            0.0
        }
    }

    pub fn write_to(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let ms = |micros: u64| micros as f64 / 1000.0;
        writeln!(
            out,
            "requests: {} ok, {} errors",
            self.completed, self.errors
        )?;
        writeln!(out, "elapsed: {:.3} s", self.elapsed.as_secs_f64())?;
        writeln!(out, "throughput: {:.1} req/s", self.throughput_per_second())?;
        for (label, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0)] {
            writeln!(
                out,
                "latency {label}: {:.3} ms",
                ms(self.latency.percentile_micros(p))
            )?;
        }
        writeln!(out, "latency max: {:.3} ms", ms(self.latency.max_micros()))?;
        if let Some(err) = &self.first_error {
            writeln!(out, "first error: {err}")?;
        }
        Ok(())
    }
}

/// The share of `total` requests client `index` of `clients` makes.
pub fn requests_for_client(total: u64, clients: usize, index: usize) -> u64 {
    let clients = clients as u64;
    let index = index as u64;
    total / clients + u64::from(index < total % clients)
}

pub(crate) fn bench_key(client: usize, sequence: u64, operation: BenchOperation) -> String {
    match operation {
        BenchOperation::Put => format!("bench/{client}/{}", sequence % 1024),
        BenchOperation::Get => format!("bench/get/{}", sequence as usize % GET_KEYSPACE),
    }
}

fn validate(options: &BenchOptions) -> Result<(), CliError> {
    if options.clients == 0 || options.clients > MAX_CLIENTS {
        return Err(CliError::Message(format!(
            "--clients must be between 1 and {MAX_CLIENTS}"
        )));
    }
    if options.requests == 0 {
        return Err(CliError::Message("--requests must be at least 1".into()));
    }
    if options.value_size_bytes > crate::wire::client_message::MAX_VALUE_BYTES {
        return Err(CliError::Message(format!(
            "--value-size must be at most {} bytes",
            crate::wire::client_message::MAX_VALUE_BYTES
        )));
    }
    if options.window == 0 || options.window > MAX_WINDOW {
        return Err(CliError::Message(format!(
            "the window must be between 1 and {MAX_WINDOW}"
        )));
    }
    Ok(())
}

/// Runs the benchmark against the agent at `client_options.rpc_addr`, or at
/// `options.http_addr` over HTTP.
pub fn run(
    client_options: &ClientOptions,
    options: &BenchOptions,
) -> Result<BenchReport, CliError> {
    validate(options)?;
    let value = bytes::Bytes::from(vec![b'x'; options.value_size_bytes]);
    if let Some(http_addr) = options.http_addr {
        return super::http_bench::run(http_addr, client_options.timeouts, options, value);
    }
    if options.operation == BenchOperation::Get {
        // Reads of absent keys would measure a cheaper path than real reads.
        let mut client = RpcClient::connect(client_options.rpc_addr, client_options.timeouts)?;
        for i in 0..GET_KEYSPACE as u64 {
            client.call(RequestBody::KvPut {
                key: bench_key(0, i, BenchOperation::Get),
                value: value.clone(),
                cas: None,
            })?;
        }
    }
    // Connect every client before the clock starts.
    let mut connections = Vec::with_capacity(options.clients);
    for _ in 0..options.clients {
        connections.push(RpcClient::connect(
            client_options.rpc_addr,
            client_options.timeouts,
        )?);
    }
    run_clients(connections, options, &value, run_client)
}

/// Starts the clock, runs one thread per connection, and merges what they
/// measured.
pub(crate) fn run_clients<C: Send + 'static>(
    connections: Vec<C>,
    options: &BenchOptions,
    value: &bytes::Bytes,
    client: fn(C, usize, u64, &bytes::Bytes, &BenchOptions) -> ClientResult,
) -> Result<BenchReport, CliError> {
    let started = Instant::now();
    let handles: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(index, connection)| {
            let share = requests_for_client(options.requests, options.clients, index);
            let value = value.clone();
            let options = *options;
            std::thread::spawn(move || client(connection, index, share, &value, &options))
        })
        .collect();
    let mut report = BenchReport {
        completed: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latency: LatencyHistogram::new(),
    };
    for handle in handles {
        let result = handle
            .join()
            .map_err(|_| CliError::Message("a bench client thread panicked".into()))?;
        report.completed += result.completed;
        report.errors += result.errors;
        report.latency.merge(&result.latency);
        if report.first_error.is_none() {
            report.first_error = result.first_error;
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

pub(crate) struct ClientResult {
    pub(crate) completed: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) latency: LatencyHistogram,
}

impl ClientResult {
    pub(crate) fn new() -> Self {
        ClientResult {
            completed: 0,
            errors: 0,
            first_error: None,
            latency: LatencyHistogram::new(),
        }
    }

    /// A request that failed; the first failure's text is kept.
    pub(crate) fn failed(&mut self, why: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(why());
        }
    }
}

fn run_client(
    mut client: RpcClient,
    index: usize,
    share: u64,
    value: &bytes::Bytes,
    options: &BenchOptions,
) -> ClientResult {
    let mut result = ClientResult::new();
    let mut in_flight: HashMap<u64, Instant> = HashMap::with_capacity(options.window);
    let mut sent = 0u64;
    while result.completed + result.errors < share {
        while sent < share && in_flight.len() < options.window {
            let key = bench_key(index, sent, options.operation);
            let body = match options.operation {
                BenchOperation::Put => RequestBody::KvPut {
                    key,
                    value: value.clone(),
                    cas: None,
                },
                BenchOperation::Get => RequestBody::KvGet {
                    key,
                    consistency: options.consistency,
                },
            };
            match client.send(body) {
                Ok(id) => {
                    in_flight.insert(id, Instant::now());
                    sent += 1;
                }
                Err(err) => return abandon(result, share, err),
            }
        }
        let response = match client.receive() {
            Ok(response) => response,
            Err(err) => return abandon(result, share, err),
        };
        let Some(sent_at) = in_flight.remove(&response.request_id) else {
            return abandon(
                result,
                share,
                RpcClientError::UnexpectedRequestId {
                    expected: 0,
                    received: response.request_id,
                },
            );
        };
        let micros = u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(u64::MAX);
        match response.body {
            ResponseBody::Ok(RpcResult::KvWritten { .. } | RpcResult::KvValue(_)) => {
                result.completed += 1;
                result.latency.record(micros);
            }
            ResponseBody::Ok(_) => {
                result.errors += 1;
                result
                    .first_error
                    .get_or_insert_with(|| "the agent sent a result of the wrong kind".to_owned());
            }
            ResponseBody::Err(err) => {
                result.errors += 1;
                result.first_error.get_or_insert(err.message);
            }
        }
    }
    result
}

/// A broken connection fails every request this client had left.
fn abandon(result: ClientResult, share: u64, err: RpcClientError) -> ClientResult {
    abandon_with(result, share, err.to_string())
}

pub(crate) fn abandon_with(mut result: ClientResult, share: u64, why: String) -> ClientResult {
    result.errors = share - result.completed;
    result.first_error.get_or_insert(why);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_shares_add_up_to_the_total() {
        for (total, clients) in [(10u64, 3usize), (1, 4), (1000, 7), (5, 5)] {
            let sum: u64 = (0..clients)
                .map(|i| requests_for_client(total, clients, i))
                .sum();
            assert_eq!(sum, total);
            let shares: Vec<u64> = (0..clients)
                .map(|i| requests_for_client(total, clients, i))
                .collect();
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn zero_clients_or_oversized_values_are_refused() {
        let options = BenchOptions {
            operation: BenchOperation::Put,
            clients: 0,
            requests: 10,
            value_size_bytes: 10,
            consistency: Consistency::Default,
            window: 4,
            http_addr: None,
        };
        assert!(validate(&options).is_err());
        let options = BenchOptions {
            clients: 1,
            value_size_bytes: 600 * 1024,
            ..options
        };
        assert!(validate(&options).is_err());
    }

    #[test]
    fn report_prints_throughput_and_percentiles() {
        let mut latency = LatencyHistogram::new();
        latency.record(1500);
        let report = BenchReport {
            completed: 100,
            errors: 0,
            first_error: None,
            elapsed: Duration::from_secs(2),
            latency,
        };
        let mut out = Vec::new();
        report.write_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("throughput: 50.0 req/s"));
        for label in ["p50", "p90", "p99", "max"] {
            assert!(
                text.contains(&format!("latency {label}: 1.500 ms")),
                "{text}"
            );
        }
    }
}
