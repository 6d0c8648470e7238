//! core placeholder
