//! The worked examples in `wire-spec.md` are checked against the code: each
//! example's bytes must decode to the message built here, and encoding that
//! message must give the same bytes. If the spec or the code changes alone,
//! this fails.

use concord::wire::Message;
use concord::wire::client_message::*;
use concord::wire::datagram::{decode_datagram, encode_datagram};
use concord::wire::frame::*;
use concord::wire::raft_message::*;

const SPEC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/wire-spec.md");
const MARKER_PREFIX: &str = "<!-- example: ";

/// Every `(name, bytes)` example in the spec: a marker line
/// `<!-- example: NAME -->` followed by a fenced ```hex block of hex byte
/// pairs, where `#` comments run to the end of the line.
fn spec_examples() -> Vec<(String, Vec<u8>)> {
    let spec = std::fs::read_to_string(SPEC_PATH).expect("wire-spec.md is readable");
    let mut examples = Vec::new();
    let mut lines = spec.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim().strip_prefix(MARKER_PREFIX) else {
            continue;
        };
        let name = rest
            .strip_suffix("-->")
            .unwrap_or_else(|| panic!("unterminated marker {line:?}"))
            .trim()
            .to_string();
        let fence = lines.next().unwrap_or_default().trim();
        assert_eq!(
            fence, "```hex",
            "example {name} must be followed by a hex block"
        );
        let mut bytes = Vec::new();
        for line in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            let data = line.split('#').next().unwrap_or_default();
            for pair in data.split_whitespace() {
                let byte = u8::from_str_radix(pair, 16)
                    .unwrap_or_else(|_| panic!("bad hex {pair:?} in example {name}"));
                bytes.push(byte);
            }
        }
        examples.push((name, bytes));
    }
    examples
}

fn example(name: &str) -> Vec<u8> {
    let examples = spec_examples();
    let matching: Vec<_> = examples.iter().filter(|(n, _)| n == name).collect();
    assert_eq!(
        matching.len(),
        1,
        "wire-spec.md must hold example {name} once"
    );
    matching[0].1.clone()
}

/// Decodes `bytes` as exactly one frame, then checks both directions.
fn assert_frame_matches<M: Message + PartialEq + std::fmt::Debug>(name: &str, expected: &M) {
    let bytes = example(name);
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
    assert_eq!(
        decoder.feed(&bytes),
        bytes.len(),
        "{name} is one whole frame"
    );
    let frame = decoder.next_frame().unwrap().expect("a complete frame");
    assert_eq!(&frame.decode::<M>().unwrap(), expected, "{name} decodes");
    let mut encoded = Vec::new();
    encode_frame(expected, &mut encoded);
    assert_eq!(encoded, bytes, "{name} encodes to the spec's bytes");
}

#[test]
fn spec_holds_an_example_of_each_message_family() {
    let names: Vec<String> = spec_examples().into_iter().map(|(n, _)| n).collect();
    for required in [
        "preamble-raft",
        "raft-append-entries-frame",
        "client-kv-put-request-frame",
        "client-kv-written-response-frame",
        "client-error-response-frame",
        "datagram-compound",
    ] {
        assert!(names.iter().any(|n| n == required), "missing {required}");
    }
}

#[test]
fn preamble_example_matches_the_code() {
    let bytes = example("preamble-raft");
    assert_eq!(decode_preamble(&bytes), Ok(Purpose::Raft));
    assert_eq!(encode_preamble(Purpose::Raft).to_vec(), bytes);
}

#[test]
fn append_entries_example_matches_the_code() {
    assert_frame_matches(
        "raft-append-entries-frame",
        &RaftMessage {
            cluster_id: 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
            from: 1,
            to: 2,
            term: 5,
            body: RaftBody::AppendEntries {
                prev_log_index: 9,
                prev_log_term: 4,
                leader_commit: 8,
                read_round: 0,
                entries: vec![Entry {
                    term: 5,
                    index: 10,
                    kind: EntryKind::Command,
                    data: bytes::Bytes::from_static(b"set"),
                }],
            },
        },
    );
}

#[test]
fn kv_put_request_example_matches_the_code() {
    assert_frame_matches(
        "client-kv-put-request-frame",
        &ClientRequest {
            request_id: 1,
            body: RequestBody::KvPut {
                key: "web/port".into(),
                value: bytes::Bytes::from_static(b"8080"),
                cas: Some(0),
            },
        },
    );
}

#[test]
fn response_examples_match_the_code() {
    assert_frame_matches(
        "client-kv-written-response-frame",
        &ClientResponse {
            request_id: 1,
            body: ResponseBody::Ok(RpcResult::KvWritten { index: 11 }),
        },
    );
    assert_frame_matches(
        "client-error-response-frame",
        &ClientResponse {
            request_id: 2,
            body: ResponseBody::Err(RpcError {
                code: ErrorCode::NotLeader,
                message: "not leader".into(),
                leader_hint: Some("10.0.0.2:8300".into()),
            }),
        },
    );
}

#[test]
fn datagram_example_matches_the_code() {
    let bytes = example("datagram-compound");
    let messages = vec![
        RaftMessage {
            cluster_id: 7,
            from: 3,
            to: 1,
            term: 2,
            body: RaftBody::RequestVoteResponse {
                pre_vote: true,
                granted: true,
            },
        },
        RaftMessage {
            cluster_id: 7,
            from: 1,
            to: 3,
            term: 2,
            body: RaftBody::TimeoutNow,
        },
    ];
    assert_eq!(decode_datagram::<RaftMessage>(&bytes), Ok(messages.clone()));
    assert_eq!(encode_datagram(&messages), Ok(bytes));
}

#[test]
fn spec_states_the_crc_check_value_the_code_computes() {
    let spec = std::fs::read_to_string(SPEC_PATH).unwrap();
    assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    assert!(spec.contains("`0xCBF43926`"));
}

/// The type byte tables must name the bytes the code uses: a line of the spec
/// holds both the byte (as `0xNN`) and the message name.
#[test]
fn spec_type_byte_tables_match_the_code() {
    let spec = std::fs::read_to_string(SPEC_PATH).unwrap();
    let types = [
        (TYPE_REQUEST_VOTE, "RequestVote"),
        (TYPE_REQUEST_VOTE_RESPONSE, "RequestVoteResponse"),
        (TYPE_APPEND_ENTRIES, "AppendEntries"),
        (TYPE_APPEND_ENTRIES_RESPONSE, "AppendEntriesResponse"),
        (TYPE_INSTALL_SNAPSHOT, "InstallSnapshot"),
        (TYPE_INSTALL_SNAPSHOT_RESPONSE, "InstallSnapshotResponse"),
        (TYPE_TIMEOUT_NOW, "TimeoutNow"),
        (TYPE_KV_GET, "KvGet"),
        (TYPE_KV_PUT, "KvPut"),
        (TYPE_KV_DELETE, "KvDelete"),
        (TYPE_KV_LIST, "KvList"),
        (TYPE_JOIN, "Join"),
        (TYPE_LEAVE, "Leave"),
        (TYPE_MEMBERS, "Members"),
        (TYPE_PEERS, "Peers"),
        (TYPE_INFO, "Info"),
        (TYPE_CATALOG_NODES, "CatalogNodes"),
        (TYPE_KV_VALUE_RESULT, "KvValue"),
        (TYPE_KV_ENTRIES_RESULT, "KvEntries"),
        (TYPE_KV_WRITTEN_RESULT, "KvWritten"),
        (TYPE_KV_DELETED_RESULT, "KvDeleted"),
        (TYPE_JOINED_RESULT, "Joined"),
        (TYPE_LEFT_RESULT, "Left"),
        (TYPE_MEMBERS_RESULT, "Members"),
        (TYPE_PEERS_RESULT, "Peers"),
        (TYPE_INFO_RESULT, "Info"),
        (TYPE_CATALOG_NODES_RESULT, "CatalogNodes"),
        (TYPE_ERROR_RESULT, "Error"),
    ];
    for (byte, name) in types {
        let code = format!("`0x{byte:02X}`");
        let found = spec.lines().any(|line| {
            line.split(&code).nth(1).is_some_and(|after| {
                after
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| w == name)
            })
        });
        assert!(found, "wire-spec.md has no line naming {code} {name}");
    }
}

#[test]
fn spec_states_the_limits_the_code_enforces() {
    let spec = std::fs::read_to_string(SPEC_PATH).unwrap();
    for (what, text) in [
        ("key limit", format!("`string({MAX_KEY_BYTES})`")),
        ("value limit", format!("`bytes({MAX_VALUE_BYTES})`")),
        ("name limit", format!("`string({MAX_NAME_BYTES})`")),
        ("text limit", format!("`string({MAX_TEXT_BYTES})`")),
        (
            "datagram limit",
            format!("{}", concord::wire::datagram::MAX_DATAGRAM_BYTES),
        ),
        (
            "datagram message count",
            format!("1 to {}", concord::wire::datagram::MAX_DATAGRAM_MESSAGES),
        ),
        (
            "frame limit",
            format!(
                "16 MiB ({})",
                group_thousands(DEFAULT_MAX_FRAME_BYTES as usize)
            ),
        ),
        (
            "entry data limit",
            format!("`bytes({})`", group_thousands(MAX_ENTRY_DATA_BYTES)),
        ),
        (
            "version",
            format!("`PROTOCOL_VERSION` is **{PROTOCOL_VERSION}**"),
        ),
    ] {
        assert!(
            spec.contains(&text),
            "wire-spec.md does not state the {what}: {text}"
        );
    }
}

/// 16777216 -> "16 777 216", the way the spec writes large numbers.
fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}
