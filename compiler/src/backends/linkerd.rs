//! (being written)
use super::Object;
use crate::ir::Policy;

pub fn emit(_policy: &Policy) -> Vec<Object> {
    Vec::new()
}
