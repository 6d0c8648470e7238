//! Mock ERP.net Identity (placeholder while the crate is being written).
