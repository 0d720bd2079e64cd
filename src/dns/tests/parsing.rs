//! The bounded decoder: sizes, header checks, the question and EDNS0.

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use super::super::{DnsError, Lookup, Transport, parse_query};
use super::{config, decode, query_bytes};

#[test]
fn a_query_yields_its_id_question_and_lookup() {
    let bytes = query_bytes("web.service.consul.", RecordType::A, None);
    let query = parse_query(&bytes, Transport::Udp, &config()).unwrap();
    assert_eq!(query.id, 0x1234);
    assert_eq!(query.question.name, "web.service.consul.");
    assert_eq!(query.question.qtype, u16::from(RecordType::A));
    assert_eq!(query.question.qclass, 1);
    assert_eq!(query.edns_udp_payload_bytes, None);
    assert!(matches!(query.lookup, Lookup::Service { .. }));
}

#[test]
fn the_edns0_payload_size_is_reported() {
    let bytes = query_bytes("web.service.consul.", RecordType::A, Some(1232));
    let query = parse_query(&bytes, Transport::Udp, &config()).unwrap();
    assert_eq!(query.edns_udp_payload_bytes, Some(1232));
}

#[test]
fn a_udp_query_over_512_bytes_is_refused_but_not_over_tcp() {
    let mut bytes = query_bytes("web.service.consul.", RecordType::A, None);
    bytes.resize(513, 0);
    assert_eq!(
        parse_query(&bytes, Transport::Udp, &config()),
        Err(DnsError::TooLong {
            len_bytes: 513,
            max_bytes: 512
        })
    );
    // Trailing bytes after the message are ignored, as Go's DNS library does.
    assert!(parse_query(&bytes, Transport::Tcp, &config()).is_ok());
    let huge = vec![0u8; 65536];
    assert!(matches!(
        parse_query(&huge, Transport::Tcp, &config()),
        Err(DnsError::TooLong { .. })
    ));
}

#[test]
fn zero_or_two_questions_are_a_format_error_with_the_id() {
    for count in [0, 2] {
        let mut message = Message::new(77, MessageType::Query, OpCode::Query);
        for _ in 0..count {
            let name = Name::from_ascii("web.service.consul.").unwrap();
            message.add_query(Query::query(name, RecordType::A));
        }
        let error = parse_query(&message.to_vec().unwrap(), Transport::Udp, &config())
            .expect_err("not one question");
        assert_eq!(error, DnsError::QuestionCount { id: 77, count });
        let reply = decode(&error.response().expect("FORMERR is sent"));
        assert_eq!(reply.metadata.id, 77);
        assert_eq!(reply.metadata.response_code.low(), 1);
        assert_eq!(reply.metadata.message_type, MessageType::Response);
    }
}

#[test]
fn a_short_input_has_no_id_and_no_answer() {
    let error = parse_query(&[0x12], Transport::Udp, &config()).unwrap_err();
    assert_eq!(error, DnsError::NoHeader);
    assert_eq!(error.id(), None);
    assert_eq!(error.response(), None);
}

#[test]
fn a_truncated_question_is_a_format_error() {
    let bytes = query_bytes("web.service.consul.", RecordType::A, None);
    let error = parse_query(&bytes[..20], Transport::Udp, &config()).unwrap_err();
    assert!(matches!(error, DnsError::Malformed { id: 0x1234, .. }));
    assert_eq!(
        decode(&error.response().unwrap())
            .metadata
            .response_code
            .low(),
        1
    );
}

#[test]
fn a_response_is_never_answered() {
    let mut message = Message::new(5, MessageType::Response, OpCode::Query);
    message.add_query(Query::query(
        Name::from_ascii("web.service.consul.").unwrap(),
        RecordType::A,
    ));
    let error = parse_query(&message.to_vec().unwrap(), Transport::Udp, &config()).unwrap_err();
    assert_eq!(error, DnsError::NotAQuery { id: 5 });
    assert_eq!(error.response(), None);
}

#[test]
fn another_opcode_is_not_implemented() {
    let mut message = Message::new(9, MessageType::Query, OpCode::Update);
    message.add_query(Query::query(
        Name::from_ascii("consul.").unwrap(),
        RecordType::SOA,
    ));
    let error = parse_query(&message.to_vec().unwrap(), Transport::Udp, &config()).unwrap_err();
    assert!(matches!(error, DnsError::UnsupportedOpcode { id: 9, .. }));
    let reply = decode(&error.response().unwrap());
    assert_eq!(reply.metadata.response_code.low(), 4);
}

#[test]
fn more_records_than_a_query_carries_are_a_format_error() {
    let mut bytes = query_bytes("web.service.consul.", RecordType::A, None);
    // ARCOUNT (bytes 10..12) claims 3 additional records.
    bytes[11] = 3;
    let error = parse_query(&bytes, Transport::Udp, &config()).unwrap_err();
    assert_eq!(error, DnsError::TooManyRecords { id: 0x1234 });
}
