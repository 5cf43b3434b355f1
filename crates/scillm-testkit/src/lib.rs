//! Test support: mock upstream servers bound to ephemeral loopback ports.
pub mod chaos;
pub mod chat_mock;
pub mod external;
pub mod otlp;
pub mod prometheus;
pub mod redis_server;
pub mod responses_mock;

pub use external::external;
