//! The operator queue (ACD). See the crate description.
