//! End-to-end tests: the real service, the real client emulator and the real `lyncsim` binary,
//! over real DNS, HTTPS and SIP with TLS-DSK on loopback. One test binary (see Cargo.toml).

#![allow(unreachable_pub, clippy::unwrap_used)]

mod support;

mod binary;
mod certificates;
mod console;
mod durability;
mod fuzz;
mod hardening;
mod harness;
mod load;
mod matrix;
mod newcomer;
mod pidgin;
mod protocol;
mod registrar;
mod service;
mod signin;
mod stubbed;
mod train;
