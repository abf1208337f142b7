//! stocks-core's integration tests, one binary: the handlers over the testkit's fakes, the
//! adapters on the wire (wiremock, moto), the log contract, hostile input and the market cache.

mod access_moto;
mod adapters;
mod authorize;
mod fleet_store;
mod hostile;
mod ingress;
mod market_cache;
mod polygon;
mod quota;
mod sqs_moto;
mod telemetry;
mod worker;
