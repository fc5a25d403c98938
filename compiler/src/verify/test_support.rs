//! Helpers the interpreters' unit tests share: building connections and requests, and
//! asking a layer about them against the sample policy's world.

use super::{Connection, Endpoint, L4Port, Layer, Request, Transport, World};
use crate::ir::{Policy, SegmentId};

pub fn seg(id: SegmentId) -> Endpoint {
    Endpoint::Segment(id)
}

/// A TCP connection.
pub fn conn(source: Endpoint, destination: Endpoint, port: u16) -> Connection {
    Connection { source, destination, port: L4Port { number: port, transport: Transport::Tcp } }
}

pub fn req(method: &str, path: &str) -> Request {
    Request { method: method.into(), path: path.into() }
}

/// Whether `layer` lets `source` reach `destination:port` (with `request`, if given),
/// in the world of `policy`.
pub fn allowed(
    layer: &dyn Layer,
    policy: &Policy,
    source: Endpoint,
    destination: Endpoint,
    port: u16,
    request: Option<Request>,
) -> bool {
    let world = World::new(policy);
    layer.decide(&world, &conn(source, destination, port), request.as_ref()).allowed
}
