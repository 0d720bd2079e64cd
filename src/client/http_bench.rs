//! `node bench --http`: the native bench's clients, shares, latency and
//! report, but each client holds one HTTP/1.1 keep-alive connection to the
//! agent's HTTP API and sends Consul's KV requests (`PUT /v1/kv/<key>` with
//! the raw value, `GET /v1/kv/<key>`). The agent serves a connection's
//! pipelined requests together and answers them in request order, so
//! `window` requests are pipelined and each answer belongs to the oldest
//! request in flight.

use std::collections::VecDeque;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use bytes::Bytes;

use crate::client::bench::{
    BenchOperation, BenchOptions, BenchReport, ClientResult, GET_KEYSPACE, abandon_with, bench_key,
    run_clients,
};
use crate::client::cli::CliError;
use crate::client::http_response::{HttpReply, ResponseBuffer};
use crate::client::rpc_client::RpcTimeouts;
use crate::wire::client_message::Consistency;

/// One keep-alive connection to the HTTP API, blocking, with the client's
/// timeouts on every read and write.
pub struct HttpConnection {
    stream: TcpStream,
    host: String,
    replies: ResponseBuffer,
}

impl HttpConnection {
    pub fn connect(address: SocketAddr, timeouts: RpcTimeouts) -> Result<Self, CliError> {
        let failed =
            |err: std::io::Error| CliError::Message(format!("HTTP API at {address}: {err}"));
        let stream = TcpStream::connect_timeout(&address, timeouts.connect).map_err(failed)?;
        stream.set_nodelay(true).map_err(failed)?;
        stream.set_read_timeout(Some(timeouts.io)).map_err(failed)?;
        stream
            .set_write_timeout(Some(timeouts.io))
            .map_err(failed)?;
        Ok(HttpConnection {
            stream,
            host: address.to_string(),
            replies: ResponseBuffer::default(),
        })
    }

    pub fn send(&mut self, request: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(request)
            .map_err(|err| format!("HTTP connection failed: {err}"))
    }

    /// The answer to the oldest request in flight.
    pub fn receive(&mut self) -> Result<HttpReply, String> {
        self.replies
            .read_reply(&mut self.stream)
            .map_err(|err| err.to_string())
    }

    /// One request and its answer.
    pub fn call(&mut self, request: &[u8]) -> Result<HttpReply, String> {
        self.send(request)?;
        self.receive()
    }

    pub fn host(&self) -> &str {
        &self.host
    }
}

/// Consul's `PUT /v1/kv/<key>` with the value as the raw body. Benchmark
/// keys are plain ASCII with `/`, so the path needs no escaping.
pub fn put_request(host: &str, key: &str, value: &[u8], out: &mut Vec<u8>) {
    let head = format!(
        "PUT /v1/kv/{key} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
        value.len()
    );
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(value);
}

/// Consul's `GET /v1/kv/<key>`, with `?consistent` or `?stale` as asked.
pub fn get_request(host: &str, key: &str, consistency: Consistency, out: &mut Vec<u8>) {
    let query = match consistency {
        Consistency::Default => "",
        Consistency::Consistent => "?consistent",
        Consistency::Stale => "?stale",
    };
    out.extend_from_slice(
        format!("GET /v1/kv/{key}{query} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
    );
}

/// Why an answer does not count as a completed request, if it does not: a
/// put must be 200 with the body `true` (Consul's acknowledgement), a get
/// any 2xx.
pub fn reply_failure(operation: BenchOperation, reply: &HttpReply) -> Option<String> {
    let body = || String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).into_owned();
    let ok = match operation {
        BenchOperation::Put => reply.status == 200 && reply.body == b"true",
        BenchOperation::Get => (200..300).contains(&reply.status),
    };
    (!ok).then(|| format!("HTTP {}: {}", reply.status, body().trim_end()))
}

pub(crate) fn run(
    address: SocketAddr,
    timeouts: RpcTimeouts,
    options: &BenchOptions,
    value: Bytes,
) -> Result<BenchReport, CliError> {
    if options.operation == BenchOperation::Get {
        // Reads of absent keys (404) would measure a cheaper path.
        let mut connection = HttpConnection::connect(address, timeouts)?;
        let mut request = Vec::new();
        for i in 0..GET_KEYSPACE as u64 {
            request.clear();
            let key = bench_key(0, i, BenchOperation::Get);
            put_request(connection.host(), &key, &value, &mut request);
            let reply = connection.call(&request).map_err(CliError::Message)?;
            if let Some(why) = reply_failure(BenchOperation::Put, &reply) {
                return Err(CliError::Message(format!("writing {key}: {why}")));
            }
        }
    }
    let mut connections = Vec::with_capacity(options.clients);
    for _ in 0..options.clients {
        connections.push(HttpConnection::connect(address, timeouts)?);
    }
    run_clients(connections, options, &value, run_client)
}

fn run_client(
    mut connection: HttpConnection,
    index: usize,
    share: u64,
    value: &Bytes,
    options: &BenchOptions,
) -> ClientResult {
    let mut result = ClientResult::new();
    // Answers come in request order, so the oldest send time is theirs.
    let mut in_flight: VecDeque<Instant> = VecDeque::with_capacity(options.window);
    let mut sent = 0u64;
    let mut request = Vec::new();
    let host = connection.host().to_owned();
    while result.completed + result.errors < share {
        while sent < share && in_flight.len() < options.window {
            request.clear();
            let key = bench_key(index, sent, options.operation);
            match options.operation {
                BenchOperation::Put => put_request(&host, &key, value, &mut request),
                BenchOperation::Get => get_request(&host, &key, options.consistency, &mut request),
            }
            in_flight.push_back(Instant::now());
            if let Err(why) = connection.send(&request) {
                return abandon_with(result, share, why);
            }
            sent += 1;
        }
        let reply = match connection.receive() {
            Ok(reply) => reply,
            Err(why) => return abandon_with(result, share, why),
        };
        let Some(sent_at) = in_flight.pop_front() else {
            return abandon_with(result, share, "an HTTP answer to no request".into());
        };
        let micros = u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(u64::MAX);
        match reply_failure(options.operation, &reply) {
            None => {
                result.completed += 1;
                result.latency.record(micros);
            }
            Some(why) => result.failed(|| why),
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::http_response::parse_response;

    fn reply(status: u16, body: &[u8]) -> HttpReply {
        HttpReply {
            status,
            consul_index: None,
            body: body.to_vec(),
        }
    }

    #[test]
    fn requests_are_consul_kv_requests_with_their_framing() {
        let mut out = Vec::new();
        put_request("127.0.0.1:8500", "bench/0/1", b"xyz", &mut out);
        assert_eq!(
            out,
            b"PUT /v1/kv/bench/0/1 HTTP/1.1\r\nHost: 127.0.0.1:8500\r\nContent-Length: 3\r\n\r\nxyz"
        );
        for (consistency, path) in [
            (Consistency::Default, "/v1/kv/k "),
            (Consistency::Consistent, "/v1/kv/k?consistent "),
            (Consistency::Stale, "/v1/kv/k?stale "),
        ] {
            let mut out = Vec::new();
            get_request("h", "k", consistency, &mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.starts_with(&format!("GET {path}HTTP/1.1\r\n")),
                "{text}"
            );
            assert!(text.ends_with("\r\n\r\n"), "{text}");
        }
    }

    #[test]
    fn a_put_counts_only_when_acknowledged_with_true() {
        assert_eq!(
            reply_failure(BenchOperation::Put, &reply(200, b"true")),
            None
        );
        assert_eq!(
            reply_failure(BenchOperation::Put, &reply(200, b"false")).as_deref(),
            Some("HTTP 200: false")
        );
        assert_eq!(
            reply_failure(BenchOperation::Put, &reply(500, b"No cluster leader\n")).as_deref(),
            Some("HTTP 500: No cluster leader")
        );
        assert_eq!(reply_failure(BenchOperation::Get, &reply(200, b"[]")), None);
        assert!(reply_failure(BenchOperation::Get, &reply(404, b"")).is_some());
    }

    #[test]
    fn the_agents_own_encoding_parses_back_into_the_reply_judged() {
        let mut bytes = Vec::new();
        let put =
            crate::http::HttpResponse::json(200, &true, false).with_header("X-Consul-Index", "9");
        put.encode(true, &mut bytes);
        crate::http::HttpResponse::text(404, "").encode(true, &mut bytes);
        let (parsed, used) = parse_response(&bytes).unwrap().unwrap();
        assert_eq!(reply_failure(BenchOperation::Put, &parsed), None);
        assert_eq!(parsed.consul_index, Some(9));
        let (missing, _) = parse_response(&bytes[used..]).unwrap().unwrap();
        assert_eq!(missing.status, 404);
    }
}
