//! The behaviour behind the `scillm` command line: batches, the verification checklist,
//! credentials checks and configuration display. The binary only parses and prints.

pub mod args;
pub mod auth;
pub mod batch;
pub mod chat;
pub mod doctor;
pub mod inspect;
