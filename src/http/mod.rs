//! The I/O-free HTTP layer of Consul's HTTP API: bytes in, typed requests
//! out, responses back to bytes. The agent's event loop feeds socket bytes
//! into a [`RequestDecoder`], passes each [`HttpRequest`] to [`route`], acts
//! on the [`ApiRequest`], and writes [`HttpResponse::encode`]'s bytes.
//! Consul's documented behaviour (paths, parameters, JSON field names,
//! status codes and error texts) is the specification.

pub mod agent_checks;
pub mod agent_local_request;
pub mod agent_services;
pub mod api_request;
pub mod blocking;
pub mod chunked;
pub mod duration;
pub mod error;
pub mod filter;
pub mod go_json;
pub mod kv_json;
pub mod limits;
pub mod query;
pub mod request;
pub mod request_head;
pub mod response;
pub mod routes;

pub use api_request::ApiRequest;
pub use blocking::{BlockingParams, Consistency};
pub use error::HttpError;
pub use limits::HttpLimits;
pub use request::{HttpRequest, RequestDecoder};
pub use response::{HttpResponse, ResponseFraming};
pub use routes::{RouteError, RoutedRequest, endpoint_pattern, route};
