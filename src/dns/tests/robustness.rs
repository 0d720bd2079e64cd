//! Hostile input never panics the decoder or the builders.

use hickory_proto::rr::RecordType;
use proptest::prelude::*;

use super::super::{
    DnsInstance, Lookup, Transport, addr_answer, authority_answer, node_answer, nxdomain,
    parse_query, refused, server_failure, service_answer, zone_transfer,
};
use super::{SERIAL, config, decode, instance, query_bytes};

fn answer_every_way(bytes: &[u8], transport: Transport) {
    let config = config();
    let Ok(query) = parse_query(bytes, transport, &config) else {
        return;
    };
    let mut external = instance("ext", "10.9.9.9", 1);
    external.service_address = "svc.example.com".to_string();
    let instances: Vec<DnsInstance> = vec![instance("n1", "10.0.0.1", 80), external];
    let answers = [
        service_answer(&query, &instances, transport, 5, SERIAL, &config),
        node_answer(&query, Some("10.0.0.1"), transport, SERIAL, &config),
        node_answer(&query, Some("host.example"), transport, SERIAL, &config),
        addr_answer(&query, transport, SERIAL, &config),
        authority_answer(&query, &instances, transport, 5, SERIAL, &config),
        zone_transfer(&query, &config),
        nxdomain(&query, SERIAL, &config),
        refused(&query),
        server_failure(&query, &config),
    ];
    for answer in answers {
        decode(&answer);
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        for transport in [Transport::Udp, Transport::Tcp] {
            if let Err(error) = parse_query(&bytes, transport, &config())
                && let Some(response) = error.response()
            {
                decode(&response);
            }
            answer_every_way(&bytes, transport);
        }
    }

    #[test]
    fn mutated_queries_never_panic(
        flips in proptest::collection::vec((0usize..64, any::<u8>()), 1..6),
        srv in any::<bool>(),
    ) {
        let qtype = if srv { RecordType::SRV } else { RecordType::A };
        let mut bytes = query_bytes("v1._web.service.dc1.consul.", qtype, Some(1232));
        for (at, value) in flips {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        answer_every_way(&bytes, Transport::Udp);
    }
}

#[test]
fn the_fixed_queries_answer_every_way() {
    for name in [
        "web.service.consul.",
        "n1.node.consul.",
        "0a000001.addr.consul.",
        "x.org.",
    ] {
        for qtype in [
            RecordType::A,
            RecordType::AAAA,
            RecordType::SRV,
            RecordType::ANY,
        ] {
            let bytes = query_bytes(name, qtype, None);
            let query = parse_query(&bytes, Transport::Udp, &config()).unwrap();
            assert_ne!(query.lookup, Lookup::Unknown, "{name}");
            answer_every_way(&bytes, Transport::Udp);
        }
    }
}
